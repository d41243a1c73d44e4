"""Session fixture: a simulated authenticated session with trades, landed and run through the pure silver chain.

:class:`SimulatorEngine` (the engine the simulator server runs) is advanced sans-I/O in 50 ms steps while a scripted
player orders; every frame, order, ack and click is landed with the real :class:`LandingWriter`. The engine's own
record of each order (:class:`Truth`) is what the pipeline and gold tests compare silver and gold with.
``tests/conftest.py`` registers the fixture.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from pipeline_kit import Chain, SimulatedClient, run_chain, trace

from capture_agent.landing.schema import Source
from capture_agent.landing.segments import read_landing
from capture_agent.landing.writer import LandingWriter
from simulator.engine.lifecycle import SimulatorEngine

START_MS = 1_766_188_800_000  # 2025-12-20 00:00 UTC
ME = "me"
STEP_MS = 50
# (game-relative trigger, event, payload, click control); phase triggers fire once per game
SCRIPT = (
    ("presale", "buyOrder", {"amount": 0.1}, "buy"),
    (2, "buyOrder", {"amount": 0.05}, "buy"),
    (3, "requestSidebet", {"amount": 0.01, "coinAddress": "So11111111111111111111111111111111111111112", "xPayout": 5}, "sidebet"),
    (4, "shortOrder", {"amount": 0.02}, "short-open"),
    (6, "sellOrder", {"percentage": 25}, "sell-25"),
    (8, "closeShort", {}, "short-close"),
    (10, "sellOrder", {"percentage": 100}, "sell-100"),
)


@dataclass
class Truth:
    seq: int
    event: str
    game_id: str
    phase: str
    tick: int | None
    ack_ok: bool
    cash_before: float
    qty_before: float
    cash_after: float
    qty_after: float
    click_seq: int
    adjust_seq: int | None


@pytest.fixture(scope="session")
def simulated_session(tmp_path_factory) -> tuple[Chain, list[Truth]]:
    """(silver chain, the engine's record of every order): built once, shared read-only."""
    data_dir = tmp_path_factory.mktemp("sim")
    engine = SimulatorEngine("pipeline-test", START_MS, bots=4)
    truths: list[Truth] = []
    with LandingWriter(data_dir, Source.SIMULATOR, capture_id="sim-session") as writer:
        client = SimulatedClient(engine, writer, ME)

        now = START_MS
        client.land(engine.connect(ME, now))
        client.send(now, "authenticate", (trace(1),), 1)
        done: dict[str, set] = {}
        ack_id, orders = 10, 0
        while len({t.game_id for t in truths}) < 4 and now < START_MS + 30 * 60_000:
            now += STEP_MS
            client.land(engine.advance(now))
            game_id = engine.game.game_id
            fired = done.setdefault(game_id, set())
            for trigger, event, payload, control in SCRIPT:
                due = engine.phase == "presale" if trigger == "presale" else engine.phase == "active" and engine.tick >= trigger
                if not due or (trigger, event) in fired:
                    continue
                fired.add((trigger, event))
                player = engine.player_of(ME)
                cash_before, qty_before = player.cash, player.position_qty
                adjust_seq = writer.click({"selector": "#half", "id": "half", "text": "1/2"}, recv_wall_ns=(now - 2) * 1_000_000) if event == "buyOrder" else None
                click_seq = writer.click({"selector": f"#{control}", "id": control, "amount": str(payload.get("amount"))}, recv_wall_ns=(now - 1) * 1_000_000)
                orders += 1
                ack_id += 1
                tick = engine.tick if engine.phase in ("active", "rugged") else None
                phase_at_send = engine.phase
                seq, reply = client.send(now, event, (trace(100 + orders), payload), ack_id)
                ack = reply.ack
                truths.append(
                    Truth(seq, event, game_id, phase_at_send, tick, bool(ack and ack[0].get("success")), cash_before, qty_before,
                          player.cash, player.position_qty, click_seq, adjust_seq)
                )  # fmt: skip
    chain = run_chain(read_landing(data_dir, ["2025-12-20"]))
    return chain, truths
