"""A simulated authenticated session with trades through the chain: ``actions`` and ``player_state`` must match
what the simulator engine did, to the tick.

The session (``tests/pipeline/simulated_session.py``, shared with gold) is driven sans-I/O: :class:`SimulatorEngine` (the same engine the simulator server runs) is
advanced in 50 ms steps; everything it sends to our client, our orders (with trace ids and ack ids), the
acks and the clicks that caused the orders are landed with the real :class:`LandingWriter`, in the order a
capture agent would see them. The engine's own record (game, phase, tick, fill and player state at every
order) is the truth the silver tables are compared with.
"""

from __future__ import annotations

import polars as pl
import pytest

from capture_agent.protocol.game import rug_tick
from capture_agent.protocol.rules import GAME_STATE_UPDATE, rug_tick_of_path
from capture_agent.protocol.socketio import decode_frame


def test_every_order_is_an_action_with_the_engine_context(simulated_session):
    chain, truths = simulated_session
    actions = chain.actions.sort("seq")
    assert actions.height == len(truths) >= 12
    for action, truth in zip(actions.iter_rows(named=True), truths):
        assert action["seq"] == truth.seq and action["event"] == truth.event
        assert action["game_id"] == truth.game_id
        assert action["phase"] == truth.phase
        assert action["tick"] == truth.tick
        assert action["ack_ok"] is truth.ack_ok
        assert action["ack_latency_ms"] == 3.0
        assert action["cash_before"] == pytest.approx(truth.cash_before)
        assert action["position_qty_before"] == pytest.approx(truth.qty_before)
        assert action["click_seq"] == truth.click_seq
        adjusts = [c["seq"] for c in pl.Series([action["bet_adjust_clicks"]]).str.json_decode().to_list()[0]] if action["bet_adjust_clicks"] != "[]" else []
        assert adjusts == ([truth.adjust_seq] if truth.adjust_seq is not None else [])


def test_executions_match_the_engine_to_the_tick(simulated_session):
    chain, truths = simulated_session
    actions = chain.actions.sort("seq")
    trades = chain.trades.filter(pl.col("is_own"))
    executed = 0
    for action, truth in zip(actions.iter_rows(named=True), truths):
        if truth.ack_ok and truth.phase == "active" and action["kind"] != "sidebet":
            executed += 1
            assert action["trade_id"] in trades["trade_id"].to_list()
            assert action["exec_tick"] == truth.tick and action["slippage_ticks"] == 0
        elif action["kind"] == "sidebet" and truth.ack_ok:
            assert action["exec_tick"] == truth.tick
        elif not truth.ack_ok:
            assert action["trade_id"] is None and action["ack_reason"]
        if truth.phase == "presale":
            assert action["trade_id"] is None  # presale buys execute at tick 0 and are not broadcast (§3.3)
    assert executed >= 6
    matched = actions["trade_id"].drop_nulls()
    assert matched.is_unique().all()


def test_player_state_matches_the_engine_after_every_order(simulated_session):
    chain, truths = simulated_session
    state = chain.player_state.sort("seq")
    assert {"playerUpdate", "gameStatePlayerUpdate"} <= set(state["source"])
    updates = state.filter(pl.col("source") == "playerUpdate")
    for truth in truths:
        if not truth.ack_ok:
            continue
        after = updates.filter(pl.col("seq") > truth.seq).row(0, named=True)
        assert after["position_qty"] == pytest.approx(truth.qty_after, abs=1e-9)
        assert after["cash"] == pytest.approx(truth.cash_after, abs=1e-9)
        assert after["game_id"] == truth.game_id
    # own trades and playerUpdate agree in the simulator: no trade-implied disagreement
    assert not updates["disagreement"].is_not_null().any()
    # the player's state exists at every tick the capture observed (gameStatePlayerUpdate follows every tick)
    observed = chain.game_ticks.filter(pl.col("price_source") == "observed")
    checked = 0
    for game_id in {t.game_id for t in truths}:
        ticks = set(observed.filter(pl.col("game_id") == game_id)["tick"])
        checked += bool(ticks)
        assert ticks <= set(state.filter(pl.col("game_id") == game_id)["tick"].drop_nulls())
    assert checked >= 3  # the last game of the session ends in its presale


def test_state_is_carried_to_ticks_without_own_frames(simulated_session):
    """Without gameStatePlayerUpdate (a capture that lost them), each tick frame gets a carried row."""
    from vectra_pipeline.silver.player_state import build_player_state

    chain, _ = simulated_session
    events = chain.events.filter(pl.col("event") != "gameStatePlayerUpdate")
    state = build_player_state(events, chain.trades).sort("seq")
    carried = state.filter(pl.col("source") == "carried")
    assert carried.height > 100
    assert carried["disagreement"].is_null().all()
    updates = state.filter(pl.col("source") == "playerUpdate")
    for row in carried.sample(20, seed=1).iter_rows(named=True):
        last = updates.filter(pl.col("seq") < row["seq"]).tail(1).row(0, named=True)
        assert (row["cash"], row["position_qty"]) == (last["cash"], last["position_qty"])


def test_silver_rug_ticks_follow_the_protocol_rules(simulated_session):
    """One rug-tick rule: silver ``games.rug_tick`` is ``game.rug_tick`` of the game's rug frame, and for a game only
    seen in gameHistory the last index of its revealed path (``rules.rug_tick_of_path``)."""
    chain, _ = simulated_session
    from_rug_frames, from_history = {}, {}
    for text in chain.frames_with_text["payload_text"].drop_nulls():
        for packet in decode_frame(text):
            if packet.event != GAME_STATE_UPDATE or not isinstance(packet.payload, dict):
                continue
            if (tick := rug_tick(packet.payload)) is not None:
                from_rug_frames[packet.payload["gameId"]] = tick
            for entry in packet.payload.get("gameHistory", []):
                from_history[entry["id"]] = rug_tick_of_path(len(entry["prices"]))
    silver = dict(chain.games.select("game_id", "rug_tick").iter_rows())
    assert len(from_rug_frames) >= 3 and len(from_history) >= 10
    assert {game: silver[game] for game in from_rug_frames} == from_rug_frames
    assert {game: silver[game] for game in from_history} == from_history
