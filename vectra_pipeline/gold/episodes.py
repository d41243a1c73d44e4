"""Episodes: one per game, from tick 0 (or the first recorded tick) to the rug tick, never stitched over a gap.

An episode covers the game's **contiguous** run of ticks from its first recorded tick. When a tick is missing
(``gapped``) the episode stops at the last tick before the gap and is marked truncated — the ticks after a gap are
not glued on. It is terminated when that run reaches the rug tick, truncated otherwise (recording started late,
ended early, or a gap). The recording player is the player of the game's ``player_state`` rows (the one with most
rows if a game was recorded by several accounts; ``recording_players`` counts them).

:class:`EpisodePolicy` decides which episodes a training dataset uses; the rest are kept in ``episodes`` with their
``exclusion_reason`` and counted in the dataset manifest.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from capture_agent.protocol.rules import PHASE_RANK, PRE_GAME_PHASES
from vectra_pipeline.schema import conform

VERSION = 1  # bump when the output would change (tests/pipeline/test_stage_versions.py)

PRE_GAME_TICK = -1


@dataclass(frozen=True)
class EpisodePolicy:
    """Which episodes go into training. Default: complete games with at least one transition."""

    train_completeness: frozenset[str] = field(default_factory=lambda: frozenset({"complete"}))
    min_transitions: int = 1

    def as_dict(self) -> dict:
        return {"train_completeness": sorted(self.train_completeness), "min_transitions": self.min_transitions}


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
    ).with_columns(
        pl.when(~pl.col("_whole")).then(pl.col("last_tick") + 1).alias("first_gap_tick")
    ).drop("_whole")


def recording_players(player_state: pl.DataFrame) -> pl.DataFrame:
    """(game_id, player_id, recording_players): the game's recording player (most rows, then smallest id)."""
    counts = player_state.filter(pl.col("player_id").is_not_null()).group_by("game_id", "player_id").agg(pl.len().alias("_n"))
    return (
        counts.sort("game_id", pl.col("_n"), pl.col("player_id"), descending=[False, True, False])
        .group_by("game_id", maintain_order=True)
        .agg(pl.col("player_id").first(), pl.len().cast(pl.Int32).alias("recording_players"))
    )


def placed_actions(actions: pl.DataFrame, player_state: pl.DataFrame, players: pl.DataFrame) -> pl.DataFrame:
    """The recording player's actions with ``placed_tick``: the observation tick at which each was decided.

    Actions sent in cooldown/presale get ``PRE_GAME_TICK`` (−1): they precede every observation of the game, so
    they are no tick's label, but the action-history features see them from tick 0 and their effect shows in the
    state at tick 0. Otherwise the tick of the last frame received before sending. Actions of a capture whose player
    is not the game's recording player are left out.
    """
    capture_players = player_state.filter(pl.col("player_id").is_not_null()).select("capture_id", "player_id").unique()
    mine = (
        actions.join(capture_players, on="capture_id", how="left")
        .join(players.select("game_id", pl.col("player_id").alias("_episode_player")), on="game_id", how="left")
        .filter(
            pl.col("_episode_player").is_null() | pl.col("player_id").is_null() | (pl.col("player_id") == pl.col("_episode_player"))
        )
    )
    return mine.with_columns(
        pl.when(pl.col("phase").is_in(PRE_GAME_PHASES)).then(pl.lit(PRE_GAME_TICK, dtype=pl.Int32)).otherwise(pl.col("tick")).cast(pl.Int32).alias("placed_tick")
    ).drop("player_id", "_episode_player")


def build_episodes(games: pl.DataFrame, game_ticks: pl.DataFrame, trades: pl.DataFrame, sidebets: pl.DataFrame,
                   player_state: pl.DataFrame, actions: pl.DataFrame, policy: EpisodePolicy = EpisodePolicy()) -> pl.DataFrame:
    """One row per game of ``games`` (see the module docstring)."""
    runs = contiguous_runs(dedupe_ticks(game_ticks), games)
    players = recording_players(player_state)
    placed = placed_actions(actions, player_state, players)
    episodes = (
        games.select("game_id", "completeness", "history_only", "fair_verified", "rug_tick", "peak")
        .join(runs, on="game_id", how="left")
        .join(players, on="game_id", how="left")
        .with_columns(pl.col("recording_players").fill_null(0), pl.col("ticks").fill_null(0))
    )
    own_trades = trades.filter(pl.col("is_own").fill_null(False)).group_by("game_id").agg(pl.len().cast(pl.Int32).alias("own_trades"))
    own_sidebets = (
        sidebets.filter(pl.col("is_own").fill_null(False))
        .unique(["game_id", "player_id", "start_tick"])
        .group_by("game_id")
        .agg(pl.len().cast(pl.Int32).alias("own_sidebets"))
    )
    placed_tick = pl.col("placed_tick")
    presale = (placed_tick == PRE_GAME_TICK).fill_null(False)
    # a label needs a transition: first_tick ≤ tick < last_tick
    outside = (placed_tick.is_null() | pl.col("first_tick").is_null() | (placed_tick < pl.col("first_tick"))
               | (placed_tick >= pl.col("last_tick"))).fill_null(True)
    action_counts = (
        placed.join(episodes.select("game_id", "first_tick", "last_tick"), on="game_id", how="left")
        .group_by("game_id")
        .agg(
            pl.len().cast(pl.Int32).alias("actions"),
            presale.sum().cast(pl.Int32).alias("presale_actions"),
            (~presale & outside).sum().cast(pl.Int32).alias("actions_unplaced"),
        )
    )
    episodes = (
        episodes.join(own_trades, on="game_id", how="left")
        .join(own_sidebets, on="game_id", how="left")
        .join(action_counts, on="game_id", how="left")
        .with_columns(pl.col(c).fill_null(0) for c in ("own_trades", "own_sidebets", "actions", "presale_actions", "actions_unplaced"))
        .with_columns(
            (pl.col("own_trades") > 0).alias("traded"),
            (pl.col("own_sidebets") > 0).alias("placed_sidebet"),
            (pl.col("ticks") - 1).clip(lower_bound=0).cast(pl.Int32).alias("transitions"),
            (pl.col("rug_tick").is_not_null() & (pl.col("last_tick") == pl.col("rug_tick"))).fill_null(False).alias("terminated"),
        )
        .with_columns((~pl.col("terminated") & (pl.col("ticks") > 0)).alias("truncated"))
    )
    return conform(apply_policy(episodes, policy), "episodes").sort("game_id")


def apply_policy(episodes: pl.DataFrame, policy: EpisodePolicy) -> pl.DataFrame:
    """(Re)compute ``exclusion_reason`` and ``in_training`` from the episode columns and the policy."""
    reason = (
        pl.when(pl.col("ticks") == 0).then(pl.lit("no ticks"))
        .when(~pl.col("completeness").is_in(sorted(policy.train_completeness))).then(pl.lit("completeness ") + pl.col("completeness"))
        .when(pl.col("first_gap_tick").is_not_null()).then(pl.lit("gap at tick ") + pl.col("first_gap_tick").cast(pl.String))
        .when(pl.col("transitions") < policy.min_transitions).then(pl.lit("too short"))
    )
    return episodes.with_columns(reason.alias("exclusion_reason")).with_columns(
        pl.col("exclusion_reason").is_null().alias("in_training")
    )
