"""Silver ``sidebets``: placed and settled, one row per (game, player, start tick) with its latest status. Pure.

Two sources: the recording player's own ``currentSidebet`` / ``currentSidebetResult`` events, and every player's
``gameHistory[].globalSidebets`` records (read from silver ``game_history``). A bet is ``is_own`` when its player is
a capture's recording player (``silver.trades.own_player_ids``); a win is rug tick ≤ end tick (docs/PROTOCOL.md §3.1).
"""

from __future__ import annotations

import orjson
import polars as pl

from capture_agent.protocol.rules import (
    CURRENT_SIDEBET,
    CURRENT_SIDEBET_RESULT,
    SIDEBET_RESULT_EVENTS,
    sidebet_end_tick,
)
from vectra_pipeline.schema import conform
from vectra_pipeline.silver.trades import own_player_ids, payload_rows, typed_value

VERSION = 1  # bump when the output would change (tests/pipeline/test_stage_versions.py)

_SIDEBET_FIELDS = {
    "game_id": ("gameId", pl.String),
    "player_id": ("playerId", pl.String),
    "username": ("username", pl.String),
    "start_tick": ("startTick", pl.Int32),
    "end_tick": ("endTick", pl.Int32),
    "bet_amount": ("betAmount", pl.Float64),
    "x_payout": ("xPayout", pl.Float64),
    "payout": ("payout", pl.Float64),
    "profit": ("profit", pl.Float64),
    "tick_index": ("tickIndex", pl.Int32),
    "type": ("type", pl.String),
}
_STATUS_RANK = {"placed": 0, "lost": 1, "won": 1}


def _global_sidebets(history: pl.DataFrame) -> pl.DataFrame:
    """gameHistory[].globalSidebets: placed (startedAtTick/end) and payout (startTick/endTick) records."""
    rows = []
    for game_id, sidebets_json, wall in history.select("game_id", "global_sidebets", "recv_wall_ns").iter_rows():
        for bet in orjson.loads(sidebets_json):
            if not isinstance(bet, dict):
                continue
            placed = bet.get("type") == "placed"
            start = bet.get("startedAtTick") if placed else bet.get("startTick")
            end = bet.get("end") if placed else bet.get("endTick")
            values = {
                "player_id": bet.get("playerId"), "username": bet.get("username"), "start_tick": start, "end_tick": end,
                "bet_amount": bet.get("betAmount"), "x_payout": bet.get("xPayout"), "payout": None if placed else bet.get("payout"),
                "profit": None if placed else bet.get("profit"), "tick_index": bet.get("tickIndex"), "type": bet.get("type"),
            }  # fmt: skip
            row = {name: typed_value(value, _SIDEBET_FIELDS[name][1]) for name, value in values.items()}
            rows.append({**row, "game_id": typed_value(bet.get("gameId"), pl.String) or game_id, "recv_wall_ns": wall,
                         "capture_id": None, "source": "gameHistory"})  # fmt: skip
    schema = {name: dtype for name, (_, dtype) in _SIDEBET_FIELDS.items()} | {
        "recv_wall_ns": pl.Int64, "capture_id": pl.String, "source": pl.String,
    }  # fmt: skip
    return pl.DataFrame(rows, schema=schema)


def build_sidebets(events: pl.DataFrame, games: pl.DataFrame, history: pl.DataFrame) -> pl.DataFrame:
    """``history`` is the partition's silver ``game_history``."""
    own_events = payload_rows(
        events, pl.col("event").is_in([CURRENT_SIDEBET, *SIDEBET_RESULT_EVENTS]), _SIDEBET_FIELDS
    ).with_columns(
        pl.when(pl.col("event") == CURRENT_SIDEBET).then(pl.lit(CURRENT_SIDEBET)).otherwise(pl.lit(CURRENT_SIDEBET_RESULT)).alias("source")
    )
    columns = [*_SIDEBET_FIELDS, "recv_wall_ns", "capture_id", "source"]
    bets = pl.concat([own_events.select(columns), _global_sidebets(history).select(columns)], how="vertical_relaxed")
    bets = bets.filter(pl.col("player_id").is_not_null() & pl.col("game_id").is_not_null() & pl.col("start_tick").is_not_null())
    bets = bets.with_columns(
        pl.coalesce("end_tick", sidebet_end_tick(pl.col("start_tick"))).alias("end_tick"),
        pl.when(pl.col("type") != "payout")
        .then(pl.lit("placed"))
        .when(pl.col("payout") > 0)
        .then(pl.lit("won"))
        .otherwise(pl.lit("lost"))
        .alias("status"),
    )
    latest = (
        bets.with_columns(pl.col("status").replace_strict(_STATUS_RANK).alias("_rank"))
        .sort(["game_id", "player_id", "start_tick", "_rank", "recv_wall_ns"], descending=[False, False, False, True, False], nulls_last=True)
        .group_by(["game_id", "player_id", "start_tick"], maintain_order=True)
        .agg(
            pl.col("status").first(),
            pl.col("payout").first(),
            pl.col("profit").first(),
            pl.col("recv_wall_ns").first(),
            pl.col("source").first(),
            *[pl.col(c).drop_nulls().first() for c in ("username", "end_tick", "bet_amount", "x_payout")],
            pl.col("capture_id").drop_nulls().first(),
        )
    )
    own = own_player_ids(events).with_columns(pl.lit(True).alias("is_own"))
    own_any = own.select("player_id", "is_own").unique()
    result = (
        latest.join(games.select("game_id", "rug_tick"), on="game_id", how="left")
        .join(own_any, on="player_id", how="left")
        .with_columns(pl.col("is_own").fill_null(False))
        .sort(["game_id", "player_id", "start_tick"])
    )
    return conform(result.drop("capture_id"), "sidebets")
