"""Silver ``games``: one row per game of the partition, with completeness and the provably-fair replay. Pure.

Completeness (first that applies):
  ``history_only``  no frame of the game was received; its row and ticks come from a gameHistory entry;
  ``partial_start`` the capture joined mid-game: no pre-game frame (cooldown/presale/genesis) and tick 0 not seen;
  ``partial_end``   rug frame #1 never arrived (capture ended, or the partition's day ended, mid-game);
  ``gapped``        start and rug seen, but some ticks only backfilled or missing;
  ``complete``      every tick 0..rug observed in a frame of its own.

``fair_verified``: the path replayed from the revealed seed (:func:`capture_agent.protocol.fairness.price_paths`,
the day's games in one compiled batch; ``prices[0..R-1]``) equals the recorded ticks before the rug, and its length
gives the same rug tick; with no recorded ticks (a history entry without ``prices``) the replayed peak must equal
``peakMultiplier``. Entries come from silver ``game_history``.
"""

from __future__ import annotations

import polars as pl

from capture_agent.protocol.fairness import VERSIONS, price_paths, verify_seed
from capture_agent.protocol.game import FrameShape, is_rug_frame
from vectra_pipeline.schema import conform
from vectra_pipeline.silver.ticks import game_state_rows, rug_ticks

VERSION = 1  # bump when the output would change (tests/pipeline/test_stage_versions.py)

PRE_GAME_SHAPES = [FrameShape.COOLDOWN.value, FrameShape.PRESALE.value, FrameShape.PRESALE_OPENING.value, FrameShape.GENESIS.value]


def replay(path: list[float], recorded: dict[int, float], rug_tick: int | None, peak: float | None):
    """(fair_verified, first_mismatch_tick) of a game's recorded path against the one replayed from its seed."""
    for tick in sorted(recorded):
        if rug_tick is not None and tick >= rug_tick:
            break
        if tick >= len(path) or path[tick] != recorded[tick]:
            return False, tick
    if rug_tick is not None and rug_tick != len(path):
        return False, min(rug_tick, len(path))
    if not recorded and peak is not None:
        return max(path) == peak, None
    return (True, None) if recorded or rug_tick is not None else (None, None)


def build_games(events: pl.DataFrame, game_ticks: pl.DataFrame, history: pl.DataFrame) -> pl.DataFrame:
    """``history`` is the partition's silver ``game_history``."""
    states = game_state_rows(events).filter(pl.col("game_id").is_not_null())
    rugs = rug_ticks(states, history)
    seen = states.group_by("game_id").agg(
        pl.col("recv_wall_ns").min().alias("first_seen_ns"),
        pl.col("recv_wall_ns").max().alias("last_seen_ns"),
        pl.len().cast(pl.Int32).alias("frames"),
        pl.col("frame_shape").is_in(PRE_GAME_SHAPES).any().alias("_pre_game"),
        is_rug_frame(pl.col("frame_shape")).any().alias("_rug_seen"),
        pl.col("server_seed_hash").drop_nulls().mode().sort().first().alias("_announced_hash"),
        pl.col("game_version").drop_nulls().first().alias("_frame_version"),
        pl.col("trade_count").drop_nulls().last().alias("trade_count"),
    )
    tick_stats = game_ticks.group_by("game_id").agg(
        (pl.col("price_source") == "observed").sum().cast(pl.Int32).alias("ticks_observed"),
        pl.col("tick").filter(pl.col("price_source") == "observed").min().alias("_first_observed"),
        pl.col("tick").max().alias("_last_tick"),
        pl.len().alias("_ticks"),
        pl.col("price").max().alias("_peak_ticks"),
        pl.col("price").filter(pl.col("is_rug_tick")).first().alias("rug_price"),
    )
    ids = pl.concat([seen.select("game_id"), history.select("game_id")]).unique()
    games = (
        ids.join(seen, on="game_id", how="left")
        .join(history.drop("global_sidebets", "recv_wall_ns"), on="game_id", how="left")
        .join(rugs, on="game_id", how="left")
        .join(tick_stats, on="game_id", how="left")
        .with_columns(
            pl.col("frames").is_null().alias("history_only"),
            pl.col("ticks_observed").fill_null(0),
            pl.coalesce(pl.col("rug_tick") + 1, pl.col("_last_tick") + 1).cast(pl.Int32).alias("ticks_expected"),
            pl.coalesce("peak_multiplier", "_peak_ticks").alias("peak"),
            pl.coalesce("server_seed_hash", "_announced_hash").alias("server_seed_hash"),
            pl.coalesce("game_version", "_frame_version").alias("game_version"),
            pl.col("timestamp_ms").alias("history_timestamp_ms"),
        )
        .with_columns(
            pl.when(pl.col("history_only"))
            .then(pl.lit("history_only"))
            .when(~pl.col("_pre_game") & (pl.col("_first_observed").is_null() | (pl.col("_first_observed") > 0)))
            .then(pl.lit("partial_start"))
            .when(~pl.col("_rug_seen"))
            .then(pl.lit("partial_end"))
            .when(pl.col("ticks_observed") < pl.col("ticks_expected"))
            .then(pl.lit("gapped"))
            .otherwise(pl.lit("complete"))
            .alias("completeness")
        )
        .sort("game_id")
    )
    rows = games.select("game_id", "server_seed", "server_seed_hash", "game_version", "rug_tick", "peak_multiplier").rows()
    replayable = [(seed, game_id, version) for game_id, seed, _, version, _, _ in rows if seed is not None and version in VERSIONS]
    paths = {path.game_id: path.prices for path in price_paths(replayable)}  # one compiled call for the day
    recorded = _recorded_paths(game_ticks)
    seed_ok, verified, mismatch = [], [], []
    for game_id, seed, seed_hash, _, rug_tick, peak in rows:
        seed_ok.append(verify_seed(seed, seed_hash) if seed is not None and seed_hash else None)
        ok, tick = replay(paths[game_id], recorded.get(game_id, {}), rug_tick, peak) if game_id in paths else (None, None)
        verified.append(ok)
        mismatch.append(tick)
    games = games.with_columns(
        pl.Series("seed_hash_ok", seed_ok, dtype=pl.Boolean),
        pl.Series("fair_verified", verified, dtype=pl.Boolean),
        pl.Series("first_mismatch_tick", mismatch, dtype=pl.Int32),
    )
    return conform(games.select([c for c in games.columns if not c.startswith("_") and c not in _HISTORY_ONLY_COLUMNS]), "games")


_HISTORY_ONLY_COLUMNS = {"prices", "peak_multiplier", "timestamp_ms"}


def _recorded_paths(game_ticks: pl.DataFrame) -> dict[str, dict[int, float]]:
    paths: dict[str, dict[int, float]] = {}
    for game_id, ticks, prices in (
        game_ticks.group_by("game_id").agg(pl.col("tick"), pl.col("price")).iter_rows()
    ):
        paths[game_id] = dict(zip(ticks, prices))
    return paths

