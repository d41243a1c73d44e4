"""Rejected and untraced orders in ``actions``, and the context tick across games in ``actions``/``player_state``.

A sans-I/O :class:`SimulatorEngine` session (as in ``test_pipeline_simulator.py``) whose scripted player also sends
what the server refuses: sells in cooldown, presale and after the rug, a second sidebet while one is open, a sell
with no position left, and sidebets on the rugged game. Sells carry no trace (as the real UI's ``sellOrder``, docs/PROTOCOL.md §4), so
their executions can only be matched by the fallback rule. In every other game the acks of the orders sent after
the rug are lost (never landed): those orders must still not take the next game's trades. The engine's reply to each order (ack,
``standard/newTrade`` id, ``currentSidebet`` start tick) is the truth.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl
import pytest
from pipeline_kit import SimulatedClient, run_chain, trace

from capture_agent.landing.schema import Source
from capture_agent.landing.segments import read_landing
from capture_agent.landing.writer import LandingWriter
from capture_agent.protocol import socketio
from simulator.engine.lifecycle import SimulatorEngine

START_MS = 1_766_275_200_000  # 2025-12-21 00:00 UTC
ME = "me"
STEP_MS = 50
SIDEBET = {"amount": 0.01, "coinAddress": "So11111111111111111111111111111111111111112", "xPayout": 5}
# (trigger, event, payload, traced): a phase name fires once per game in that phase, a number at that tick
SCRIPT = (
    ("cooldown", "sellOrder", {"percentage": 100}, False),  # refused: trading is not open
    ("cooldown", "requestSidebet", SIDEBET, True),  # accepted in presale only
    ("presale", "buyOrder", {"amount": 0.1}, True),  # executes at tick 0, not broadcast
    ("presale", "sellOrder", {"percentage": 50}, False),  # refused: no presale sells
    (2, "sellOrder", {"percentage": 25}, False),
    (2, "sellOrder", {"percentage": 25}, False),  # two untraced sells on one tick
    (3, "requestSidebet", SIDEBET, True),
    (3, "requestSidebet", SIDEBET, True),  # refused: a sidebet is already open
    (4, "sellOrder", {"percentage": 100}, False),
    (5, "sellOrder", {"percentage": 100}, False),  # refused: no position
    (6, "buyOrder", {"amount": 0.05}, True),
    (7, "shortOrder", {"amount": 0.02}, True),
    (8, "closeShort", {}, True),
    (9, "sellOrder", {"percentage": 100}, False),
    ("rugged", "sellOrder", {"percentage": 100}, False),  # refused: the game has rugged
    ("rugged", "requestSidebet", SIDEBET, True),
)
TRADE_EVENTS = {"buyOrder", "sellOrder", "shortOrder", "closeShort"}


@dataclass
class Sent:
    seq: int
    event: str
    game_id: str
    phase: str
    tick: int | None
    price: float | None
    ack_ok: bool | None  # None: the ack was lost (not landed)
    trade_id: str | None  # the engine's own standard/newTrade for this order
    exec_tick: int | None


def _execution(emissions, event: str, player_id: str) -> tuple[str | None, int | None]:
    """(trade id, tick) of the order's own execution among the frames the engine sent in reply."""
    for emission in emissions:
        payload = next((a for a in emission.args if isinstance(a, dict) and not socketio.is_trace_arg(a)), None)
        if payload is None or payload.get("playerId") != player_id:
            continue
        if event in TRADE_EVENTS and emission.event == "standard/newTrade":
            return payload["id"], payload["tickIndex"]
        if event == "requestSidebet" and emission.event == "currentSidebet":
            return None, payload["startTick"]
    return None, None


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("rejections")
    engine = SimulatorEngine("rejections-test", START_MS, bots=4)
    sent: list[Sent] = []
    with LandingWriter(data_dir, Source.SIMULATOR, capture_id="sim-rejections") as writer:
        client = SimulatedClient(engine, writer, ME)
        now = START_MS
        client.land(engine.connect(ME, now))
        client.land(engine.request(ME, "authenticate", (trace(1),), now).emissions)
        me = engine.player_of(ME).id
        done: dict[str, set] = {}
        ack_id = 10
        while len({s.game_id for s in sent if s.phase == "rugged"}) < 5 and now < START_MS + 60 * 60_000:
            now += STEP_MS
            client.land(engine.advance(now))
            game_id, phase = engine.game.game_id, engine.phase
            fired = done.setdefault(game_id, set())
            for index, (trigger, event, payload, traced) in enumerate(SCRIPT):
                due = phase == trigger if isinstance(trigger, str) else phase == "active" and engine.tick >= trigger
                if not due or index in fired:
                    continue
                fired.add(index)
                ack_id += 1
                args = (trace(ack_id), payload) if traced else (payload,)
                in_game = phase in ("active", "rugged")
                lose_ack = phase == "rugged" and len(done) % 2 == 0
                seq, reply = client.send(now, event, args, ack_id, lose_ack=lose_ack)
                trade_id, exec_tick = _execution(reply.emissions, event, me)
                sent.append(Sent(
                    seq, event, game_id, phase, engine.tick if in_game else None,
                    engine.game.prices[engine.tick] if in_game else None,
                    None if lose_ack else bool(reply.ack and reply.ack[0].get("success")), trade_id, exec_tick,
                ))  # fmt: skip
    chain = run_chain(read_landing(data_dir, ["2025-12-21"]))
    return chain, sent


def _pairs(session):
    chain, sent = session
    actions = chain.actions.sort("seq")
    assert actions["seq"].to_list() == [s.seq for s in sent]
    return list(zip(actions.iter_rows(named=True), sent))


def test_the_session_exercises_rejections_lost_acks_and_untraced_sells(session):
    _, sent = session
    refused = [s for s in sent if s.ack_ok is False]
    assert {s.phase for s in refused} >= {"cooldown", "presale", "active", "rugged"}
    assert {s.event for s in refused} >= {"sellOrder", "requestSidebet"}
    assert sum(s.ack_ok is None for s in sent) >= 4
    executed_sells = [s for s in sent if s.event == "sellOrder" and s.trade_id]
    assert len(executed_sells) >= 10
    assert any(a.tick == b.tick and a.game_id == b.game_id for a, b in zip(executed_sells, executed_sells[1:]))


def test_a_refused_order_has_no_execution(session):
    for action, truth in _pairs(session):
        assert action["ack_ok"] is truth.ack_ok
        if truth.ack_ok is False:
            assert action["ack_reason"]
            assert (action["trade_id"], action["exec_tick"], action["exec_price"], action["slippage_ticks"]) == (None, None, None, None)


def test_every_execution_is_the_orders_own(session):
    chain, _ = session
    trades = chain.trades.filter(pl.col("is_own"))
    for action, truth in _pairs(session):
        assert action["trade_id"] == truth.trade_id, (truth.event, truth.phase, truth.tick)
        assert action["exec_tick"] == truth.exec_tick, (truth.event, truth.phase, truth.tick)
        if truth.trade_id is not None:
            trade = trades.filter(pl.col("trade_id") == truth.trade_id).row(0, named=True)
            assert trade["seq"] > action["seq"] and trade["game_id"] == action["game_id"]
            assert action["exec_price"] == pytest.approx(trade["price"])
            assert action["slippage_ticks"] == trade["tick"] - action["tick"] == 0  # the engine fills on the send tick
        if truth.event == "requestSidebet" and truth.ack_ok:
            assert action["trade_id"] is None and action["exec_tick"] is not None
        if truth.phase in ("cooldown", "presale"):
            assert action["trade_id"] is None  # presale buys execute at tick 0 and are not broadcast (§3.3)
    assert chain.actions["trade_id"].drop_nulls().is_unique().all()


def test_context_at_send_is_the_engines(session):
    for action, truth in _pairs(session):
        assert action["game_id"] == truth.game_id  # in cooldown/presale: the upcoming game, never the rugged one
        assert action["phase"] == truth.phase
        assert action["tick"] == truth.tick  # null before the game's first tick; the rug tick once rugged
        if truth.price is None:
            assert action["price"] is None
        else:
            assert action["price"] == pytest.approx(truth.price)


def test_player_state_rows_before_a_game_starts_have_no_tick(session):
    chain, sent = session
    state = chain.player_state
    pre_game = state.filter(pl.col("phase").is_in(["cooldown", "presale"]))
    assert pre_game.height > 10
    assert pre_game["tick"].is_null().all()
    # they belong to the upcoming game: the one whose tick frames follow them in the capture
    ticks = chain.game_ticks.filter(pl.col("price_source") == "observed")
    for row in pre_game.unique("game_id").iter_rows(named=True):
        assert ticks.filter(pl.col("game_id") == row["game_id"]).height > 0
    presale_buys = [s for s in sent if s.event == "buyOrder" and s.phase == "presale" and s.ack_ok]
    assert presale_buys
    for truth in presale_buys:
        after = state.filter((pl.col("seq") > truth.seq) & (pl.col("source") == "playerUpdate")).sort("seq").row(0, named=True)
        assert (after["game_id"], after["phase"], after["tick"]) == (truth.game_id, "presale", None)
    in_game = state.filter(pl.col("phase").is_in(["active", "rugged"]))
    assert in_game["tick"].is_not_null().all()
    # The one disagreement a simulator session records is explained: after a presale buy the gameStatePlayerUpdate
    # comes before the playerUpdate (docs/PROTOCOL.md §3.3 Q1), so it is ahead of the last playerUpdate of the game (here
    # the authentication's, in the first game's cooldown) and the next playerUpdate shows the same position.
    updates = state.filter(pl.col("source") == "playerUpdate").sort("seq")
    disagreements = state.filter(pl.col("disagreement").is_not_null())
    assert disagreements.height <= 1
    for row in disagreements.iter_rows(named=True):
        assert (row["source"], row["phase"]) == ("gameStatePlayerUpdate", "presale")
        following = updates.filter(pl.col("seq") > row["seq"]).row(0, named=True)
        assert following["position_qty"] == pytest.approx(row["position_qty"])
