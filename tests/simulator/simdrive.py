"""Drive a :class:`SimulatorEngine` step by step as one client would see it (tests only)."""

from __future__ import annotations

from collections.abc import Callable

from capture_agent.protocol import socketio
from simulator.engine.lifecycle import SimulatorEngine
from simulator.engine.wire import Emission, Reply

START_MS = 1_765_577_800_000  # 2025-12-12T22:16:40Z


def trace(n: int) -> dict:
    return socketio.trace_arg(f"{n:032x}", f"{n:016x}")


class Driver:
    """Advances the engine one lifecycle step at a time and keeps what ``client`` receives."""

    def __init__(self, seed: str = "tests", *, speed: float = 1.0, bots: int = 8, client: str = "c1") -> None:
        self.engine = SimulatorEngine(seed, START_MS, bots=bots, speed=speed)
        self.client = client
        self.now = START_MS
        self.received: list[Emission] = []
        self._keep(self.engine.connect(client, START_MS))

    def _keep(self, emissions: list[Emission]) -> list[Emission]:
        mine = [e for e in emissions if e.target in (None, self.client)]
        self.received.extend(mine)
        return mine

    def step(self) -> list[Emission]:
        self.now = self.engine.next_at
        return self._keep(self.engine.advance(self.now))

    def until(self, predicate: Callable[[Emission], bool], limit: int = 200_000) -> Emission:
        for _ in range(limit):
            for emission in self.step():
                if predicate(emission):
                    return emission
        raise AssertionError("condition never met")

    def until_state(self, predicate: Callable[[dict], bool]) -> Emission:
        return self.until(lambda e: e.event == "gameStateUpdate" and predicate(e.args[-1]))

    def request(self, event: str, *args, at: int | None = None) -> Reply:
        reply = self.engine.request(self.client, event, args, self.now if at is None else at)
        self._keep(reply.emissions)
        return reply


def seed_whose_next_games(predicate: Callable[[list[int]], bool], count: int = 2, prefix: str = "seed") -> str:
    """A simulator seed whose first ``count`` live games, started now, have rug ticks satisfying ``predicate``.

    Game ids carry today's UTC date, so a fixed seed's game lengths change from day to day; tests that run a
    real-time server pick their seed this way to stay fast and deterministic in what they can do."""
    import time

    from capture_agent.protocol.fairness import price_path
    from capture_agent.protocol.rules import HISTORY_LENGTH
    from simulator.engine.games import chain_game_id, chain_seed

    now = int(time.time() * 1000)
    for n in range(500):
        seed = f"{prefix}-{n}"
        indexes = range(HISTORY_LENGTH, HISTORY_LENGTH + count)
        ticks = [len(price_path(chain_seed(seed, i), chain_game_id(seed, i, now)).prices) for i in indexes]
        if predicate(ticks):
            return seed
    raise AssertionError("no seed found")
