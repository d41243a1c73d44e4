"""Player episodes: one per game, the recording player's involvement in the market episode of the game.

The tick run is the game's market episode (:mod:`.market`: tick 0, or the first recorded tick, to the rug tick,
never stitched over a gap; terminated when it reaches the rug, truncated otherwise). The recording player is the
player of the game's ``player_state`` rows (the one with most rows if a game was recorded by several accounts;
``recording_players`` counts them); a game no account recorded — every game of a public socket — has none and is
excluded (``no recording player``): its rows would all be "hold" with no account. ``capture_id`` is the capture
that recorded the player and ``previous_game_id`` its previous consecutive game there (:mod:`.carry`).

:class:`EpisodePolicy` decides which episodes a training dataset uses; the rest are kept in ``episodes`` with their
``exclusion_reason`` and counted in the dataset manifest.
"""

from __future__ import annotations

import polars as pl

from capture_agent.protocol.rules import PRE_GAME_PHASES
from vectra_pipeline.gold.carry import recording_captures
from vectra_pipeline.gold.policy import EpisodePolicy, apply_policy
from vectra_pipeline.schema import conform

VERSION = 2  # bump when the output would change (tests/pipeline/test_stage_versions.py)

PLAYER_POLICY = EpisodePolicy()

PRE_GAME_TICK = -1


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


def build_episodes(market_episodes: pl.DataFrame, trades: pl.DataFrame, sidebets: pl.DataFrame,
                   player_state: pl.DataFrame, actions: pl.DataFrame, policy: EpisodePolicy = PLAYER_POLICY) -> pl.DataFrame:
    """One row per market episode (every game of silver ``games``; see the module docstring)."""
    players = recording_players(player_state)
    placed = placed_actions(actions, player_state, players)
    episodes = (
        market_episodes.select("game_id", "completeness", "history_only", "fair_verified", "rug_tick", "peak", "first_tick",
                               "last_tick", "first_gap_tick", "ticks", "transitions", "terminated", "truncated")
        .join(players, on="game_id", how="left")
        .join(recording_captures(player_state, players), on="game_id", how="left")
        .with_columns(pl.col("recording_players").fill_null(0))
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
        .with_columns((pl.col("own_trades") > 0).alias("traded"), (pl.col("own_sidebets") > 0).alias("placed_sidebet"))
    )
    return conform(apply_policy(episodes, policy), "episodes").sort("game_id")
