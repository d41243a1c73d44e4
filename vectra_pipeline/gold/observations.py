"""Observations: one row per (game, tick) of every episode — features, the action taken, the reward, the flags.

A row at tick t holds the features at t and describes the transition t → t+1: ``action`` is what the recording
player sent while looking at tick t (0 hold when nothing, see the action table), ``reward`` = equity(t+1) −
equity(t) (0 when either state is not yet known), ``terminated`` when t+1 is the rug tick, ``truncated`` when t+1
is the last recorded tick of an episode that did not reach the rug (recording ended, or a gap follows). The last
row of an episode (``is_final``) is the final observation only: its ``action``/``reward`` are null and it is not a
transition. So an episode of n rows has n−1 transitions, the layout Minari uses (n observations, n−1 actions).
``action_amount`` (SOL of a buy/sidebet/short), ``action_ack_ok`` and ``actions_in_tick`` describe the label.
"""

from __future__ import annotations

import polars as pl

from vectra_pipeline.gold.action_space import action_code_expr
from vectra_pipeline.gold.episodes import dedupe_ticks, placed_actions
from vectra_pipeline.gold.features import compute_features
from vectra_pipeline.gold.rewards import reward
from vectra_pipeline.schema import conform

VERSION = 1  # bump when the output would change (tests/pipeline/test_stage_versions.py)

KEY = ("game_id", "tick")


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
        .sort(*KEY)
    )


def tick_actions(placed: pl.DataFrame) -> pl.DataFrame:
    """(game_id, tick, action, action_amount, action_ack_ok, actions_in_tick): the first action sent at each tick."""
    return (
        placed.filter(pl.col("placed_tick").is_not_null())
        .with_columns(action_code_expr(pl.col("kind"), pl.col("percentage")).alias("action"))
        .sort("game_id", "placed_tick", "send_wall_ns", "capture_id", "seq")
        .group_by("game_id", "placed_tick", maintain_order=True)
        .agg(
            pl.col("action").first(),
            pl.col("amount").first().alias("action_amount"),
            pl.col("ack_ok").first().alias("action_ack_ok"),
            pl.len().cast(pl.Int16).alias("actions_in_tick"),
        )
        .rename({"placed_tick": "tick"})
    )


def build_observations(game_ticks: pl.DataFrame, trades: pl.DataFrame, player_state: pl.DataFrame,
                       actions: pl.DataFrame, episodes: pl.DataFrame) -> pl.DataFrame:
    """Observation rows of every episode in ``episodes`` (see the module docstring), sorted by (game_id, tick)."""
    ticks = episode_ticks(game_ticks, episodes)
    games = ticks.select("game_id").unique()
    players = episodes.filter(pl.col("player_id").is_not_null()).select("game_id", "player_id")  # the episode's player
    states = player_state.join(players, on=["game_id", "player_id"], how="inner")
    placed = placed_actions(actions.join(games, on="game_id", how="inner"), player_state, players)
    features = compute_features(
        ticks, trades.join(games, on="game_id", how="inner"), states.join(games, on="game_id", how="inner"), placed
    )
    ends = episodes.select("game_id", "last_tick", "terminated")
    labelled = (
        features.join(tick_actions(placed), on=list(KEY), how="left")
        .join(ends, on="game_id", how="left")
        .sort(*KEY)
        .with_columns((pl.col("tick") == pl.col("last_tick")).alias("is_final"))
    )
    next_equity = pl.col("equity").shift(-1).over("game_id")
    next_known = pl.col("player_state_known").shift(-1).over("game_id")
    transition = ~pl.col("is_final")
    into_last = pl.col("tick") + 1 == pl.col("last_tick")
    return labelled.with_columns(
        pl.when(transition).then(pl.col("action").fill_null(0)).cast(pl.Int8).alias("action"),
        pl.when(transition).then(pl.col("actions_in_tick").fill_null(0)).cast(pl.Int16).alias("actions_in_tick"),
        pl.when(transition)
        .then(pl.when((pl.col("player_state_known") > 0) & (next_known > 0)).then(reward(pl.col("equity"), next_equity)).otherwise(0.0))
        .cast(pl.Float64)
        .alias("reward"),
        (transition & into_last & pl.col("terminated")).alias("terminated"),
        (transition & into_last & ~pl.col("terminated")).alias("truncated"),
    ).drop("last_tick").pipe(conform, "observations")
