"""Gold on the real captures (tests/realdata.py) through the real silver chain: order flow recomputed by hand.

Every real trade is placed on its game's frame clock here with a plain loop — visible at max(trade tick, first tick
whose frame arrived at or after the trade), from tick + 1 without a frame clock — and the per-tick flow features
must equal the sums of what became visible at each tick. The one complete real game is checked feature by feature.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import polars as pl
import pytest
from gold_kit import expected_market

from vectra_pipeline.gold.feature_spec import MARKET_FEATURE_NAMES
from vectra_pipeline.gold.lookahead import SILVER_INPUTS, gold_tables, look_ahead_violations


@pytest.fixture(scope="module")
def real_gold(real_chains):
    out = {}
    for date, chain in real_chains.items():
        tables = {name: getattr(chain, name) for name in SILVER_INPUTS}
        gold = gold_tables({**tables, "frames": chain.frames_with_text})
        out[date] = (tables, gold["market_episodes"], gold["market_observations"], gold)
    return out


def _visible_tick(frames: list[tuple[int, int]], tick: int, recv: int | None) -> int:
    """The no-look-ahead rule, written out: frames = [(tick, recv_ns)] of the game's observed ticks, by tick."""
    if recv is None or not frames:
        return tick + 1
    running = 0
    for frame_tick, frame_recv in frames:
        running = max(running, frame_recv)
        if running >= recv:
            return max(tick, frame_tick)
    return max(tick, frames[-1][0]) + 1


def test_real_order_flow_matches_a_hand_placement_on_the_frame_clock(real_gold):
    checked_trades = 0
    for tables, _, obs, _ in real_gold.values():
        ticks = tables["game_ticks"]
        for game_id in obs["game_id"].unique().to_list():
            frames = ticks.filter((pl.col("game_id") == game_id) & pl.col("recv_wall_ns").is_not_null()).sort("tick")
            clock = list(zip(frames["tick"].to_list(), frames["recv_wall_ns"].to_list()))
            expected = defaultdict(lambda: {"count": 0, "buy": 0.0, "sell": 0.0, "players": set()})
            for trade in tables["trades"].filter(pl.col("game_id") == game_id).iter_rows(named=True):
                cell = expected[_visible_tick(clock, trade["tick"], trade["recv_wall_ns"])]
                cell["count"] += 1
                cell["players"].add(trade["player_id"])
                if trade["type"] in ("buy", "sell"):
                    cell[trade["type"]] += trade["amount"] or 0.0
                checked_trades += 1
            for row in obs.filter(pl.col("game_id") == game_id).iter_rows(named=True):
                cell = expected.get(row["tick"], {"count": 0, "buy": 0.0, "sell": 0.0, "players": set()})
                assert row["flow_trade_count"] == cell["count"], (game_id, row["tick"])
                assert row["flow_distinct_traders"] == len(cell["players"]), (game_id, row["tick"])
                assert row["flow_buy_volume"] == pytest.approx(cell["buy"], rel=1e-6), (game_id, row["tick"])
                assert row["flow_sell_volume"] == pytest.approx(cell["sell"], rel=1e-6), (game_id, row["tick"])
    assert checked_trades >= 40


def test_the_complete_real_game(real_gold):
    complete = [(tables, episodes, obs) for tables, episodes, obs, _ in real_gold.values()
                if episodes.filter(pl.col("completeness") == "complete").height]
    assert complete, "the real captures hold one complete game (2025-12-12)"
    for tables, episodes, obs in complete:
        episode = episodes.filter(pl.col("completeness") == "complete").row(0, named=True)
        assert episode["in_training"] and episode["terminated"] and episode["first_tick"] == 0
        rows = obs.filter(pl.col("game_id") == episode["game_id"]).sort("tick")
        assert rows.height == episode["rug_tick"] + 1 and rows["is_final"][-1] and rows["terminated"][-2]
        prices = tables["game_ticks"].filter(pl.col("game_id") == episode["game_id"]).sort("tick")["price"].to_list()
        for expected, actual in zip(expected_market(prices), rows.iter_rows(named=True)):
            for name in ("price", "price_velocity", "return_1", "return_5", "return_20", "volatility_20", "drawdown_from_peak", "ticks_since_peak"):
                assert actual[name] == pytest.approx(expected[name], rel=1e-5, abs=1e-6), (name, expected["game_tick"])
        observed = tables["game_ticks"].filter(pl.col("game_id") == episode["game_id"]).sort("tick")
        assert rows["tick_observed"].to_list() == (observed["price_source"] == "observed").cast(pl.Float32).to_list()
        assert rows["connected_players"][0] > 0  # real statistics are carried, not zero


def test_real_partitions_are_finite_and_free_of_look_ahead(real_gold):
    for tables, episodes, obs, _ in real_gold.values():
        assert np.isfinite(obs.select(MARKET_FEATURE_NAMES).to_numpy()).all()
        assert episodes.height == tables["games"].height
        longest = episodes.filter(pl.col("ticks") >= 4).sort("ticks", descending=True)["game_id"].head(3).to_list()
        assert look_ahead_violations(tables, longest) == {}


def test_real_public_captures_make_market_rows_and_no_player_rows(real_gold):
    """Most real captures are public sockets: a game no account recorded has no player rows (never "hold" rows with
    no account); every game is a market episode, history-only ones included, and a day statistic is carried across
    games, flagged."""
    market_games = history_only = carried_high = 0
    for tables, market_episodes, market_rows, gold in real_gold.values():
        players = gold["episodes"]
        assert not players.filter(pl.col("player_id").is_null())["in_training"].any()
        assert set(gold["observations"]["game_id"].unique()) <= set(players.filter(pl.col("player_id").is_not_null())["game_id"])
        assert market_episodes.height == tables["games"].height
        market_games += market_episodes.filter(pl.col("in_training")).height
        history_only += market_episodes.filter(pl.col("in_training") & pl.col("history_only")).height
        carried = market_rows.filter(pl.col("highest_today_carried") > 0)
        assert (carried["highest_today_known"] == 1).all() and (carried["highest_today"] > 0).all()
        carried_high += carried.height
        unknown = market_rows.filter(pl.col("highest_today_known") == 0)
        assert (unknown["highest_today"] == 0).all()  # unknown is 0, and flagged
        covered = market_episodes.filter(pl.col("trade_count_rise") > 0)
        assert (covered["trades_seen"] <= covered["trade_count_rise"]).all()  # the feed shows part of the trades
    assert market_games > 0 and history_only > 0 and carried_high > 0


def test_real_crowd_flags_what_the_partial_feed_cannot_explain(real_gold):
    """On the real site the feed shows only part of the trades: board position changes the trades seen do not explain
    are flagged and counted, never filled; every trajectory's rewards still sum to its P&L change."""
    trajectories = unexplained = 0
    for _, market_episodes, _, gold in real_gold.values():
        crowd, rows = gold["crowd_episodes"], gold["crowd_observations"]
        flagged = rows.filter(pl.col("unexplained_qty").is_not_null())
        assert flagged.height == int(crowd["unexplained_changes"].sum())
        assert (flagged["on_board"] == 1).all()  # a flag sits on the board that showed the change
        trained = crowd.filter(pl.col("in_training"))
        for episode in trained.iter_rows(named=True):
            assert episode["episode_return"] == pytest.approx(episode["end_pnl"] - episode["start_pnl"], abs=1e-9)
        assert set(crowd["game_id"]) <= set(market_episodes["game_id"])
        trajectories += trained.height
        unexplained += flagged.height
    assert trajectories > 0 and unexplained > 0
