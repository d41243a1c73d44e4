"""Player observations: one row per (game, tick) of every episode with a recording player — the market rows of the
tick, the player's account and actions, the action taken, the reward, the flags.

A row at tick t holds the features at t and describes the transition t → t+1: ``action`` is what the recording
player sent while looking at tick t (0 hold when nothing, see the action table), ``reward`` = equity(t+1) −
equity(t) once the account is known (0 while it is not), ``terminated`` when t+1 is the rug tick, ``truncated`` when
t+1 is the last recorded tick of an episode that did not reach the rug (recording ended, or a gap follows). The last
row of an episode (``is_final``) is the final observation only: its ``action``/``reward`` are null and it is not a
transition. So an episode of n rows has n−1 transitions, the layout Minari uses (n observations, n−1 actions).
``action_amount`` (SOL of a buy/sidebet/short), ``action_ack_ok`` and ``actions_in_tick`` describe the label.

The account at a game's first ticks is carried from its previous consecutive game (:mod:`.carry`), so an
episode's rewards sum exactly to its equity change from its first known row, and it starts from the equity the
previous consecutive game ended with.
"""

from __future__ import annotations

import polars as pl

from vectra_pipeline.gold.action_space import action_code_expr
from vectra_pipeline.gold.carry import carried_states
from vectra_pipeline.gold.episodes import placed_actions
from vectra_pipeline.gold.feature_spec import MARKET_FEATURE_NAMES
from vectra_pipeline.gold.features import compute_features
from vectra_pipeline.gold.market import episode_labels, episode_ticks
from vectra_pipeline.gold.rewards import reward
from vectra_pipeline.schema import conform

VERSION = 2  # bump when the output would change (tests/pipeline/test_stage_versions.py)

KEY = ("game_id", "tick")


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


def build_observations(game_ticks: pl.DataFrame, market: pl.DataFrame, trades: pl.DataFrame, player_state: pl.DataFrame,
                       actions: pl.DataFrame, episodes: pl.DataFrame) -> pl.DataFrame:
    """Observation rows of every episode in ``episodes`` with a recording player (see the module docstring), sorted by
    (game_id, tick); ``market`` holds the market observation rows of those games."""
    mine = episodes.filter(pl.col("player_id").is_not_null())
    ticks = episode_ticks(game_ticks, mine)
    games = ticks.select("game_id").unique()
    players = mine.select("game_id", "player_id")  # the episode's player
    states = player_state.join(players, on=["game_id", "player_id"], how="inner")
    states = pl.concat([states.with_columns(pl.lit(False).alias("carried")), carried_states(player_state, mine, game_ticks)])
    placed = placed_actions(actions.join(games, on="game_id", how="inner"), player_state, players)
    market_rows = market.join(ticks.select("game_id", "tick"), on=KEY, how="inner").select(
        "game_id", "tick", *(c for c in market.columns if c in MARKET_FEATURE_NAMES)
    )
    features = compute_features(market_rows, ticks, trades.join(games, on="game_id", how="inner"), states, placed)
    labelled = episode_labels(features.join(tick_actions(placed), on=list(KEY), how="left"), mine).sort(*KEY)
    next_equity = pl.col("equity").shift(-1).over("game_id")
    next_known = pl.col("player_state_known").shift(-1).over("game_id")
    transition = ~pl.col("is_final")
    return labelled.with_columns(
        pl.when(transition).then(pl.col("action").fill_null(0)).cast(pl.Int8).alias("action"),
        pl.when(transition).then(pl.col("actions_in_tick").fill_null(0)).cast(pl.Int16).alias("actions_in_tick"),
        pl.when(transition)
        .then(pl.when((pl.col("player_state_known") > 0) & (next_known > 0)).then(reward(pl.col("equity"), next_equity)).otherwise(0.0))
        .cast(pl.Float64)
        .alias("reward"),
    ).pipe(conform, "observations")
