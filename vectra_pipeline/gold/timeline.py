"""When does an event become visible to an agent looking at tick frames? The one no-look-ahead rule.

An observation at tick t is what the player knew when tick t's frame arrived. A trade, a player-state update or
an ack received at wall time r (ns) with game tick k becomes **visible at tick**

    max(k, first tick whose frame arrived at or after r)

so a trade executed at tick t but broadcast after tick t's frame (the usual case) shows at t+1, and a settlement
``playerUpdate`` that arrives just before the rug frame shows on the rug tick, not on the tick before it.
When the arrival cannot be placed on the frame clock (no receipt time, or the game's ticks were all backfilled from
history) the event is visible from tick k+1. An event that arrived after the last observed frame is visible from
max(k, last observed tick) + 1.
"""

from __future__ import annotations

import polars as pl


def frame_clock(ticks: pl.DataFrame) -> pl.DataFrame:
    """(game_id, frame_recv_ns, arrival_tick): for each observed tick frame, the earliest tick at or after it.

    Receipt times are made non-decreasing along the ticks (a late first frame of an earlier tick cannot make a
    later tick see less), and equal times keep the smallest tick.
    """
    return (
        ticks.filter(pl.col("recv_wall_ns").is_not_null())
        .sort("game_id", "tick")
        .select(
            "game_id",
            pl.col("recv_wall_ns").cum_max().over("game_id").alias("frame_recv_ns"),
            pl.col("tick").alias("arrival_tick"),
        )
        .group_by("game_id", "frame_recv_ns")
        .agg(pl.col("arrival_tick").min())
        .sort("frame_recv_ns")
    )


def with_visible_tick(events: pl.DataFrame, clock: pl.DataFrame, tick: str, recv: str, out: str = "visible_tick") -> pl.DataFrame:
    """Add ``out``: the tick at which each row of ``events`` becomes visible (see the module rule).

    ``events`` needs ``game_id``, the game-tick column ``tick`` and the receipt-time column ``recv`` (ns, nullable).
    """
    if events.is_empty():
        return events.with_columns(pl.lit(None, dtype=pl.Int32).alias(out))
    last_observed = clock.group_by("game_id").agg(pl.col("arrival_tick").max().alias("_last_observed"))
    keyed = events.with_row_index("_row").with_columns(pl.col(recv).alias("_recv"))
    known = keyed.filter(pl.col("_recv").is_not_null()).sort("_recv")
    arrived = known.join_asof(
        clock, left_on="_recv", right_on="frame_recv_ns", by="game_id", strategy="forward", check_sortedness=False
    ).select("_row", "arrival_tick")
    result = (
        keyed.join(arrived, on="_row", how="left")
        .join(last_observed, on="game_id", how="left")
        .with_columns(
            pl.when(pl.col("arrival_tick").is_not_null())
            .then(pl.max_horizontal(pl.col(tick), pl.col("arrival_tick")))
            .when(pl.col("_recv").is_not_null() & pl.col("_last_observed").is_not_null())
            .then(pl.max_horizontal(pl.col(tick), pl.col("_last_observed")) + 1)
            .otherwise(pl.col(tick) + 1)
            .cast(pl.Int32)
            .alias(out)
        )
        .sort("_row")
        .drop("_row", "_recv", "arrival_tick", "_last_observed")
    )
    return result


def last_event_at(ticks: pl.DataFrame, events: pl.DataFrame, key: str, columns: list[str], lag: int = 0) -> pl.DataFrame:
    """(game_id, tick, *columns): per episode tick t, the last event (in ``events``' row order) with key ≤ t − lag.

    Events keyed before a game's first tick land on it; events keyed after its last tick are never seen. Columns are
    null until the first event. (An exact join plus a forward fill of the event's row number: linear, unlike an
    as-of join per game.)
    """
    frame = ticks.select("game_id", "tick")
    first = frame.group_by("game_id").agg(pl.col("tick").min().alias("_first"))
    keyed = (
        events.select("game_id", key, *columns)
        .with_row_index("_event")
        .join(first, on="game_id", how="inner")
        .with_columns(pl.max_horizontal(pl.col(key) + lag, pl.col("_first")).cast(pl.Int32).alias("tick"))
        .filter(pl.col("tick").is_not_null())
    )
    landing = keyed.group_by("game_id", "tick").agg(pl.col("_event").max())
    located = (
        frame.join(landing, on=["game_id", "tick"], how="left")
        .sort("game_id", "tick")
        .with_columns(pl.col("_event").forward_fill().over("game_id"))
    )
    return located.join(keyed.select("_event", *columns), on="_event", how="left").drop("_event")
