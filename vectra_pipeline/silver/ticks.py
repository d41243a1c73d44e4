"""Silver ``game_ticks`` and ``cooldowns`` from decoded gameStateUpdate events. Pure.

A tick is *observed* when a frame of its own showed it: an active frame (tick-0, active, full or snapshot
while running) or rug frame #1, whose tickCount is the rug tick (``capture_agent.protocol.game.is_rug_frame``, the
rule ``game.rug_tick`` applies to one payload). Rug frame #2's advanced tickCount is never a tick. Ticks never received are
filled, in this order of trust, from the ``partialPrices`` of later frames, the connect snapshot's ``prices``
and the ``gameHistory`` entry of the game (silver ``game_history``). Duplicate frames of a tick are merged (first
receipt wins) and counted in ``frames``.
"""

from __future__ import annotations

import orjson
import polars as pl

from capture_agent.protocol.game import FrameShape, is_rug_frame
from capture_agent.protocol.rules import GAME_STATE_UPDATE, Phase, rug_tick_of_path
from vectra_pipeline.schema import conform

VERSION = 1  # bump when the output would change (tests/pipeline/test_stage_versions.py)

SOURCE_RANK = {"observed": 0, "partial_prices": 1, "snapshot": 2, "history": 3}
HISTORY_COLUMNS = ("game_id", "prices")  # what build_game_ticks reads of game_history
_STATS = (
    "trade_count", "connected_players", "average_multiplier", "count2x", "count10x", "count50x", "count100x",
    "rugpool_amount", "rugpool_threshold", "instarug_count", "highest_today",
)  # fmt: skip


def game_state_rows(events: pl.DataFrame) -> pl.DataFrame:
    """gameStateUpdate rows that passed their contract, in receipt order."""
    return events.filter((pl.col("event") == GAME_STATE_UPDATE) & pl.col("contract_ok")).sort(
        ["recv_wall_ns", "capture_id", "seq", "packet_index"]
    )


def _snapshot_prices(states: pl.DataFrame) -> pl.DataFrame:
    rows = []
    for game_id, payload_json in states.filter(pl.col("has_prices") == True).select("game_id", "payload_json").iter_rows():  # noqa: E712
        prices = orjson.loads(payload_json).get("prices")
        if isinstance(prices, list):
            rows += [(game_id, tick, float(p)) for tick, p in enumerate(prices) if isinstance(p, (int, float))]
    return pl.DataFrame(rows, schema={"game_id": pl.String, "tick": pl.Int32, "price": pl.Float64}, orient="row")


def observed_ticks(states: pl.DataFrame) -> pl.DataFrame:
    """Frames that show a tick of their own: running (active, not rugged) or rug frame #1."""
    running = (pl.col("active") == True) & (pl.col("rugged") == False)  # noqa: E712
    return states.filter((running | is_rug_frame(pl.col("frame_shape"))) & pl.col("tick_count").is_not_null())


def rug_ticks(states: pl.DataFrame, history: pl.DataFrame) -> pl.DataFrame:
    """game_id → rug_tick: rug frame #1's tickCount, else ``len(gameHistory.prices) - 1``."""
    observed = (
        states.filter(is_rug_frame(pl.col("frame_shape")))
        .group_by("game_id")
        .agg(pl.col("tick_count").first().alias("rug_tick_observed"))
    )
    from_history = history.filter(pl.col("prices").is_not_null()).select(
        "game_id", rug_tick_of_path(pl.col("prices").list.len()).cast(pl.Int32).alias("rug_tick_history")
    )
    return observed.join(from_history, on="game_id", how="full", coalesce=True).select(
        "game_id", pl.coalesce("rug_tick_observed", "rug_tick_history").cast(pl.Int32).alias("rug_tick")
    )


def build_game_ticks(events: pl.DataFrame, history: pl.DataFrame) -> pl.DataFrame:
    """``history`` is the partition's silver ``game_history``."""
    states = game_state_rows(events)
    observed = (
        observed_ticks(states)
        .group_by("game_id", pl.col("tick_count").alias("tick"))
        .agg(
            pl.col("price").first(),
            pl.col("recv_wall_ns").first(),
            *[pl.col(c).drop_nulls().first().alias(c) for c in _STATS],  # tick 0: the 14-key frame has none, the full one has
            pl.len().cast(pl.Int32).alias("frames"),
        )
        .with_columns(pl.lit("observed").alias("price_source"))
    )
    partial = (
        states.filter(pl.col("partial_prices").is_not_null())
        .select("game_id", "partial_prices")
        .explode("partial_prices", empty_as_null=True)
        .unnest("partial_prices")
        .drop_nulls("tick")
        .with_columns(pl.lit("partial_prices").alias("price_source"))
    )
    snapshot = _snapshot_prices(states).with_columns(pl.lit("snapshot").alias("price_source"))
    from_history = (
        history.filter(pl.col("prices").is_not_null())
        .select("game_id", pl.col("prices").alias("price"))
        .with_columns(pl.int_ranges(0, pl.col("price").list.len(), dtype=pl.Int32).alias("tick"))
        .explode("price", "tick", empty_as_null=True)
        .with_columns(pl.lit("history").alias("price_source"))
    )
    seen = observed.select("game_id", "tick")
    # backfill candidates only for ticks no frame showed (most partialPrices repeat observed ticks)
    candidates = pl.concat(
        [observed.select("game_id", pl.col("tick").cast(pl.Int32), "price", "price_source")]
        + [
            frame.select("game_id", pl.col("tick").cast(pl.Int32), "price", "price_source").join(seen, on=["game_id", "tick"], how="anti")
            for frame in (partial, snapshot, from_history)
        ]
    )
    best = (
        candidates.with_columns(pl.col("price_source").replace_strict(SOURCE_RANK).alias("_rank"))
        .sort(["game_id", "tick", "_rank"])
        .unique(["game_id", "tick"], keep="first", maintain_order=True)
        .drop("_rank")
    )
    rugs = rug_ticks(states, history)
    ticks = (
        best.join(observed.drop("price", "price_source"), on=["game_id", "tick"], how="left")
        .join(rugs, on="game_id", how="left")
        # ticks after the rug tick (rug frame #2's frozen partial prices) are not part of the game
        .filter(pl.col("rug_tick").is_null() | (pl.col("tick") <= pl.col("rug_tick")))
        .with_columns((pl.col("tick") == pl.col("rug_tick")).fill_null(False).alias("is_rug_tick"))
        .with_columns(
            pl.when(pl.col("is_rug_tick")).then(pl.lit(Phase.RUGGED.value)).otherwise(pl.lit(Phase.ACTIVE.value)).alias("phase"),
            pl.col("frames").fill_null(0),
        )
        .sort(["game_id", "tick"])
    )
    return conform(ticks.drop("rug_tick"), "game_ticks")


COOLDOWN_SHAPES = [FrameShape.COOLDOWN.value, FrameShape.PRESALE.value, FrameShape.PRESALE_OPENING.value, FrameShape.GENESIS.value]


def build_cooldowns(events: pl.DataFrame) -> pl.DataFrame:
    states = game_state_rows(events).filter(pl.col("frame_shape").is_in(COOLDOWN_SHAPES))
    steps = (
        states.group_by("game_id", "cooldown_timer")
        .agg(
            pl.col("allow_pre_round_buys").first(),
            pl.col("phase").first(),
            pl.col("recv_wall_ns").first(),
            pl.col("connected_players").first(),
            pl.len().cast(pl.Int32).alias("frames"),
        )
        .sort(["game_id", "cooldown_timer"], descending=[False, True])
    )
    return conform(steps, "cooldowns")
