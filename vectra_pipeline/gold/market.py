"""The market kind: every game's tick path and market features, with no player — for price, rug and world-model work.

**Episodes** (``market_episodes``): one per game of silver ``games`` — live games and history-only games alike (a
``gameHistory`` entry carries the full price path of a game played before the capture started: ``history_only``,
every tick backfilled, no frame statistics). An episode is the game's **contiguous** run of ticks from its first
recorded tick, never stitched over a gap; terminated when the run reaches the rug tick, truncated otherwise. Each
episode states the trade feed's **coverage**: the trades broadcast (``standard/newTrade``) received between the
game's first and last frames with a ``tradeCount``, against that count's rise (``trade_coverage``; a public socket
sees only part of the trades — measured, never assumed).

**Observation rows** (``market_observations``): one per (game, tick) of every episode, the market, flow and quality
features of ``MARKET_FEATURES``. Every kind takes its market features from these rows, so a (game, tick) has the
same market features in the player and market datasets. Labels: ``action`` is always 0 (hold: no player),
``action_amount`` null, and ``reward`` = ln(price(t+1) / price(t)), the log return of holding through the transition
(0 when a price is 0), so an episode's rewards sum to ln(last price / first price); ``terminated`` when t+1 is the
rug tick (its reward is the rug's collapse), ``truncated`` when t+1 ends a run that did not reach it.

**Frame statistics** (the *statistics rule*): server statistics at tick t — connectedPlayers, averageMultiplier,
count2x…100x, rugpool, highestToday — are those of the last frame of the same capture received at or before tick
t's own frame (a backfilled tick uses the last observed tick's frame), so they carry across frames and across games
within a capture: the 14-key tick-0 frame has no statistics, and highestToday only appears in full frames. The flags
``stats_known``/``stats_carried``, ``highest_today_known``/``highest_today_carried`` and ``game_trade_count_known``
say when a value is carried or unknown (0). ``tradeCount`` is per game: only frames showing a tick of this game count.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from capture_agent.protocol.rules import PHASE_RANK
from vectra_pipeline.gold.feature_spec import F32, MARKET_FEATURES
from vectra_pipeline.gold.features import FLOW_FEATURES, flow_features, price_features
from vectra_pipeline.gold.policy import EpisodePolicy, apply_policy
from vectra_pipeline.gold.timeline import frame_clock
from vectra_pipeline.schema import conform
from vectra_pipeline.silver.ticks import game_state_rows, observed_ticks

VERSION = 1  # bump when the output would change (tests/pipeline/test_stage_versions.py)

MARKET_POLICY = EpisodePolicy(frozenset({"complete", "history_only"}), require_player=False)

# The columns of silver ``events`` the gold stages read (the frame statistics, the board frames).
EVENT_COLUMNS = ("capture_id", "seq", "packet_index", "recv_wall_ns", "event", "contract_ok", "game_id", "tick_count",
                 "phase", "frame_shape", "active", "rugged", "trade_count", "connected_players", "average_multiplier",
                 "count2x", "count10x", "count50x", "count100x", "rugpool_amount", "rugpool_threshold",
                 "instarug_count", "highest_today")
# feature → frame column; the first one marks a frame that carries the group
STATS = {"average_multiplier": "average_multiplier", "count_2x": "count2x", "count_10x": "count10x",
         "count_50x": "count50x", "count_100x": "count100x", "rugpool_amount": "rugpool_amount",
         "rugpool_threshold": "rugpool_threshold", "instarug_count": "instarug_count",
         "connected_players": "connected_players"}
EPISODE_TICK_COLUMNS = ("game_id", "tick", "phase", "price_source")  # what build_market_episodes reads of game_ticks
COUNTED_COLUMNS = ("capture_id", "seq", "recv_wall_ns", "game_id", "shows_tick", "trade_count")  # of counted_frames
FRAME_STATS_SCHEMA = {
    "capture_id": pl.String, "seq": pl.Int64, "packet_index": pl.Int32, "recv_wall_ns": pl.Int64, "game_id": pl.String,
    "tick": pl.Int32, "shows_tick": pl.Boolean, "phase": pl.String, "trade_count": pl.Int32, "highest_today": pl.Float64,
    **{column: pl.Float64 for column in STATS.values()},
}


def frame_stats(events: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame | pl.LazyFrame:
    """Every gameStateUpdate of silver ``events`` (contract kept) in capture order, with its statistics and whether
    it shows a tick of its own (``tick``: its tickCount then, else null). Lazy in, lazy out: a scan of the partition
    collected by the streaming engine never holds the day's events whole."""
    states = game_state_rows(events)
    showing = observed_ticks(states).select("capture_id", "seq", "packet_index", pl.lit(True).alias("shows_tick"))
    return (
        states.join(showing, on=["capture_id", "seq", "packet_index"], how="left")
        .with_columns(pl.col("shows_tick").fill_null(False))
        .with_columns(pl.when(pl.col("shows_tick")).then(pl.col("tick_count")).alias("tick"))
        .select([pl.col(name).cast(dtype) for name, dtype in FRAME_STATS_SCHEMA.items()])
        .sort("capture_id", "seq", "packet_index")
    )


def dedupe_ticks(game_ticks: pl.DataFrame) -> pl.DataFrame:
    """One row per (game_id, tick) — silver already guarantees it; the latest phase wins if it did not."""
    return (
        game_ticks.filter(pl.col("tick") >= 0)
        .with_columns(pl.col("phase").replace_strict(PHASE_RANK, default=2, return_dtype=pl.Int8).alias("_rank"))
        .sort("game_id", "tick", "_rank")
        .unique(["game_id", "tick"], keep="last", maintain_order=True)
        .drop("_rank")
    )


def contiguous_runs(ticks: pl.DataFrame, games: pl.DataFrame) -> pl.DataFrame:
    """Per game: first_tick, last_tick of the contiguous run from the first tick (up to the rug), first_gap_tick."""
    rugs = games.select("game_id", "rug_tick")
    run = (
        ticks.join(rugs, on="game_id", how="left")
        .filter(pl.col("rug_tick").is_null() | (pl.col("tick") <= pl.col("rug_tick")))
        .sort("game_id", "tick")
        .with_columns(
            ((pl.col("tick") - pl.col("tick").first().over("game_id")) == pl.int_range(pl.len()).over("game_id")).alias("_contig")
        )
    )
    return run.group_by("game_id").agg(
        pl.col("tick").first().alias("first_tick"),
        pl.col("tick").filter(pl.col("_contig")).last().alias("last_tick"),
        pl.col("_contig").all().alias("_whole"),
        pl.col("_contig").sum().cast(pl.Int32).alias("ticks"),
        (pl.col("price_source") == "observed").sum().cast(pl.Int32).alias("ticks_observed"),
    ).with_columns(
        pl.when(~pl.col("_whole")).then(pl.col("last_tick") + 1).alias("first_gap_tick")
    ).drop("_whole")


def counted_frames(stats: pl.DataFrame) -> pl.DataFrame:
    """The rows of :func:`frame_stats` that :func:`trade_coverage` reads: frames showing a tick of their own with a
    tradeCount, and only the columns it reads (a 1M-frame day's frame statistics collected whole: 0.7–0.8 GB)."""
    return stats.filter(pl.col("shows_tick") & pl.col("trade_count").is_not_null()).select(COUNTED_COLUMNS)


def coverage_bounds(stats: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame | pl.LazyFrame:
    """The first and last of each game's :func:`counted_frames` in receipt order: all :func:`trade_coverage` reads
    of them, so the bounds of parts of a day's frames (a row group at a time) give the day's coverage."""
    counted = counted_frames(stats).sort("recv_wall_ns", "capture_id", "seq")
    return pl.concat([counted.unique("game_id", keep="first", maintain_order=True),
                      counted.unique("game_id", keep="last", maintain_order=True)])


def trade_coverage(trades: pl.DataFrame, stats: pl.DataFrame) -> pl.DataFrame:
    """(game_id, trades_seen, trade_count_rise): the game's trade broadcasts received after its first tick frame with
    a tradeCount and up to its last one, against the rise of that count between the two frames; ``stats``:
    :func:`frame_stats`, or only its :func:`counted_frames` or their :func:`coverage_bounds` (the same result)."""
    counted = counted_frames(stats).sort("recv_wall_ns", "capture_id", "seq")
    window = counted.group_by("game_id").agg(
        pl.col("recv_wall_ns").first().alias("_from"), pl.col("recv_wall_ns").last().alias("_to"),
        (pl.col("trade_count").last() - pl.col("trade_count").first()).cast(pl.Int32).alias("trade_count_rise"),
    )
    seen = (
        trades.join(window, on="game_id", how="inner")
        .filter((pl.col("recv_wall_ns") > pl.col("_from")) & (pl.col("recv_wall_ns") <= pl.col("_to")))
        .group_by("game_id").agg(pl.len().cast(pl.Int32).alias("trades_seen"))
    )
    return window.join(seen, on="game_id", how="left").select(
        "game_id", pl.col("trades_seen").fill_null(0), "trade_count_rise"
    )


def build_market_episodes(games: pl.DataFrame, game_ticks: pl.DataFrame, trades: pl.DataFrame, stats: pl.DataFrame,
                          policy: EpisodePolicy = MARKET_POLICY) -> pl.DataFrame:
    """One row per game of ``games`` (see the module docstring); ``stats`` is :func:`frame_stats`."""
    runs = contiguous_runs(dedupe_ticks(game_ticks), games)
    episodes = (
        games.select("game_id", "completeness", "history_only", "fair_verified", "rug_tick", "peak")
        .join(runs, on="game_id", how="left")
        .join(trade_coverage(trades, stats), on="game_id", how="left")
        .with_columns(
            pl.col("ticks").fill_null(0), pl.col("ticks_observed").fill_null(0), pl.col("trades_seen").fill_null(0),
            (pl.col("trades_seen") / pl.col("trade_count_rise")).alias("trade_coverage"),
        )
        .with_columns(
            pl.when(pl.col("trade_count_rise") > 0).then(pl.col("trade_coverage")).alias("trade_coverage"),
            (pl.col("ticks") - 1).clip(lower_bound=0).cast(pl.Int32).alias("transitions"),
            (pl.col("rug_tick").is_not_null() & (pl.col("last_tick") == pl.col("rug_tick"))).fill_null(False).alias("terminated"),
        )
        .with_columns((~pl.col("terminated") & (pl.col("ticks") > 0)).alias("truncated"))
    )
    return conform(apply_policy(episodes, policy), "market_episodes").sort("game_id")


def episode_ticks(game_ticks: pl.DataFrame, episodes: pl.DataFrame) -> pl.DataFrame:
    """The game_ticks rows of each episode's contiguous run, with ``rug_tick`` (−1 when the run ends before it)."""
    bounds = episodes.filter(pl.col("ticks") > 0).select(
        "game_id", "first_tick", "last_tick",
        pl.when(pl.col("terminated")).then(pl.col("rug_tick")).otherwise(-1).cast(pl.Int32).alias("rug_tick"),
    )
    return (
        dedupe_ticks(game_ticks)
        .join(bounds, on="game_id", how="inner")
        .filter(pl.col("tick").is_between(pl.col("first_tick"), pl.col("last_tick")))
        .drop("first_tick", "last_tick")
        .sort("game_id", "tick")
    )


TIMELINE_COLUMNS = ("_frame", "capture_id", "seq", "recv_wall_ns", "game_id", "tick", *(f"_v_{name}" for name in STATS),
                    "_v_highest_today", "_stats_frame", "_highest_game", "_v_trade_count", "_count_game")
_CARRIED = TIMELINE_COLUMNS[6:]  # what the statistics rule carries forward within a capture


def _carried_values(stats: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame | pl.LazyFrame:
    """Frame statistics numbered ``_frame`` with the values each frame gives the statistics rule (null: none, the
    previous frame's carries)."""
    group = pl.col("average_multiplier").is_not_null()
    highest = pl.col("highest_today").is_not_null()
    counted = pl.col("shows_tick") & pl.col("trade_count").is_not_null()
    return stats.with_columns(
        *(pl.col(column).alias(f"_v_{name}") for name, column in STATS.items()),
        pl.col("highest_today").alias("_v_highest_today"),
        pl.when(group).then(pl.col("_frame")).alias("_stats_frame"),
        pl.when(highest).then(pl.col("game_id")).alias("_highest_game"),
        pl.when(counted).then(pl.col("trade_count")).alias("_v_trade_count"),
        pl.when(counted).then(pl.col("game_id")).alias("_count_game"),
    )


def _carried(values: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame | pl.LazyFrame:
    return values.with_columns(pl.col(_CARRIED).forward_fill().over("capture_id"))


def stats_timeline(stats: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame | pl.LazyFrame:
    """The frames of :func:`frame_stats` that show a tick of their own, each with the statistics the statistics rule
    carries to it (forward-filled in capture order, per capture) and the frame it took them from. Made once for a
    day: a run of games looks up its own frames in it (:func:`frame_statistics`)."""
    numbered = stats.sort("capture_id", "seq", "packet_index").with_row_index("_frame")
    return _carried(_carried_values(numbered)).filter(pl.col("shows_tick")).select(TIMELINE_COLUMNS)


class StatsTimeline:
    """:func:`stats_timeline` of a day's frame statistics given a piece at a time, in capture order (each piece sorted
    by capture, seq, packet_index and after the previous one): memory one piece, not the day's frames. Each piece
    starts from the last frame of the one before, whose carried values it carries on."""

    def __init__(self) -> None:
        self._frames, self._last = 0, None

    def add(self, stats: pl.DataFrame) -> pl.DataFrame:
        """The timeline's rows of the frames of ``stats``."""
        values = _carried_values(stats.with_row_index("_frame", offset=self._frames))
        self._frames += stats.height
        seeded = values if self._last is None else pl.concat([self._last, values])
        filled = _carried(seeded).slice(seeded.height - values.height)
        if filled.height:
            self._last = filled.tail(1)
        return filled.filter(pl.col("shows_tick")).select(TIMELINE_COLUMNS)


def frame_statistics(ticks: pl.DataFrame, timeline: pl.DataFrame) -> pl.DataFrame:
    """(game_id, tick, statistics features and their flags) for episode ticks, by the statistics rule;
    ``timeline``: :func:`stats_timeline` of the day (only the frames of the ticks' games are read)."""
    timeline = timeline.filter(pl.col("game_id").is_in(ticks["game_id"].unique().implode()))
    own = (
        timeline.sort("recv_wall_ns", "capture_id", "seq")
        .unique(["game_id", "tick"], keep="first", maintain_order=True)
        .select("game_id", "tick", pl.col("_frame").alias("_own"))
    )
    located = (
        ticks.select("game_id", "tick")
        .join(own, on=["game_id", "tick"], how="left")
        .sort("game_id", "tick")
        .with_columns(pl.col("_own").forward_fill().over("game_id").alias("_frame"))
        .join(timeline.drop("game_id", "tick"), on="_frame", how="left")
    )
    same_game_count = pl.col("_count_game") == pl.col("game_id")
    return located.select(
        "game_id", "tick",
        *(pl.col(f"_v_{name}").fill_null(0.0).alias(name) for name in STATS),
        pl.col("_v_highest_today").fill_null(0.0).alias("highest_today"),
        pl.when(same_game_count).then(pl.col("_v_trade_count")).fill_null(0).cast(pl.Float64).alias("game_trade_count"),
        pl.col("_v_average_multiplier").is_not_null().cast(pl.Float64).alias("stats_known"),
        (pl.col("_stats_frame").is_not_null() & (pl.col("_own").is_null() | (pl.col("_stats_frame") != pl.col("_own"))))
        .fill_null(False).cast(pl.Float64).alias("stats_carried"),
        pl.col("_v_highest_today").is_not_null().cast(pl.Float64).alias("highest_today_known"),
        (pl.col("_highest_game") != pl.col("game_id")).fill_null(False).cast(pl.Float64).alias("highest_today_carried"),
        same_game_count.fill_null(False).cast(pl.Float64).alias("game_trade_count_known"),
    )


def market_rows(ticks: pl.DataFrame, trades: pl.DataFrame, timeline: pl.DataFrame) -> pl.DataFrame:
    """(game_id, tick, every market feature in spec order with spec dtypes) of contiguous, sorted episode ticks;
    ``timeline``: :func:`stats_timeline`."""
    frame = (
        price_features(ticks)
        .join(frame_statistics(ticks, timeline), on=["game_id", "tick"], how="left")
        .join(flow_features(trades, frame_clock(ticks)), on=["game_id", "tick"], how="left")
        .with_columns(pl.col(c).fill_null(0.0) for c in FLOW_FEATURES)
        .with_columns(
            pl.when(pl.col("rugpool_threshold") > 0).then(pl.col("rugpool_amount") / pl.col("rugpool_threshold")).otherwise(0.0).alias("rugpool_ratio"),
        )
        .sort("game_id", "tick")
    )
    return frame.select(
        "game_id", pl.col("tick").cast(pl.Int32),
        *(pl.col(f.name).cast(pl.Float32 if f.dtype == F32 else pl.Float64) for f in MARKET_FEATURES),
    )


def log_return(price_before, price_after):
    """The market reward: ln(after / before), 0 when either price is not positive (numpy or scalars)."""
    before, after = np.asarray(price_before, dtype=np.float64), np.asarray(price_after, dtype=np.float64)
    positive = (before > 0) & (after > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(positive, np.log(np.where(positive, after / np.where(positive, before, 1.0), 1.0)), 0.0)


def episode_labels(rows: pl.DataFrame, episodes: pl.DataFrame) -> pl.DataFrame:
    """``is_final``, ``terminated`` and ``truncated`` of sorted episode rows (the shared end-of-episode rule)."""
    ends = episodes.select("game_id", "last_tick", pl.col("terminated").alias("_reaches_rug"))
    into_last = pl.col("tick") + 1 == pl.col("last_tick")
    return (
        rows.join(ends, on="game_id", how="left")
        .with_columns((pl.col("tick") == pl.col("last_tick")).alias("is_final"))
        .with_columns(
            (~pl.col("is_final") & into_last & pl.col("_reaches_rug")).alias("terminated"),
            (~pl.col("is_final") & into_last & ~pl.col("_reaches_rug")).alias("truncated"),
        )
        .drop("last_tick", "_reaches_rug")
    )


def build_market_observations(game_ticks: pl.DataFrame, trades: pl.DataFrame, timeline: pl.DataFrame,
                              episodes: pl.DataFrame) -> pl.DataFrame:
    """Observation rows of every market episode (see the module docstring), sorted by (game_id, tick);
    ``timeline``: :func:`stats_timeline` of the day's :func:`frame_stats` (the same for a run of the day's games)."""
    ticks = episode_ticks(game_ticks, episodes)
    games = ticks.select("game_id").unique()
    rows = episode_labels(market_rows(ticks, trades.join(games, on="game_id", how="inner"), timeline), episodes).sort("game_id", "tick")
    next_price = rows["price"].shift(-1).to_numpy()
    transition = ~rows["is_final"].to_numpy()
    reward = np.where(transition, log_return(rows["price"].to_numpy(), np.nan_to_num(next_price, nan=0.0)), np.nan)
    return rows.with_columns(
        pl.when(~pl.col("is_final")).then(pl.lit(0, dtype=pl.Int8)).alias("action"),
        pl.Series("reward", reward, dtype=pl.Float64).fill_nan(None),
    ).pipe(conform, "market_observations")
