"""Asset checks on gold: finite features, no look-ahead (by perturbing the future), one episode per game."""

import dagster as dg
import numpy as np
import polars as pl

from vectra_pipeline import storage
from vectra_pipeline.defs.assets.gold import read_silver
from vectra_pipeline.defs.resources import VectraPaths
from vectra_pipeline.gold.feature_spec import FEATURE_NAMES
from vectra_pipeline.gold.lookahead import look_ahead_violations

LOOK_AHEAD_SAMPLE = 5  # games rebuilt per partition (the longest episodes: the most ticks to leak into)


def _gold(paths: VectraPaths, table: str, date: str) -> pl.DataFrame:
    return storage.read_parquet(storage.table_path(paths.root, table, date))  # the asset checked wrote it


@dg.asset_check(asset="observations", description="No NaN or ±inf in any feature or reward.")
def observations_finite(context: dg.AssetCheckExecutionContext, paths: VectraPaths) -> dg.AssetCheckResult:
    table = _gold(paths, "observations", context.partition_key)
    matrix = table.select(FEATURE_NAMES).to_numpy()
    bad = {name: int((~np.isfinite(matrix[:, i])).sum()) for i, name in enumerate(FEATURE_NAMES) if not np.isfinite(matrix[:, i]).all()}
    rewards = table.filter(~pl.col("is_final"))["reward"].to_numpy()
    bad_rewards = int((~np.isfinite(rewards)).sum()) + int(table.filter(~pl.col("is_final"))["reward"].null_count())
    return dg.AssetCheckResult(
        passed=not bad and bad_rewards == 0,
        metadata={"rows": table.height, "non_finite_by_feature": dg.MetadataValue.json(bad), "bad_rewards": bad_rewards},
    )


@dg.asset_check(
    asset="observations",
    description=f"Features at tick t use data ≤ t only: for the {LOOK_AHEAD_SAMPLE} longest episodes, everything after "
    "the middle tick is perturbed (prices, stats, trades, states, actions, the rug) and the earlier rows must not change.",
)
def observations_no_look_ahead(context: dg.AssetCheckExecutionContext, paths: VectraPaths) -> dg.AssetCheckResult:
    date = context.partition_key
    episodes = _gold(paths, "episodes", date)
    sample = episodes.filter(pl.col("ticks") >= 4).sort(["ticks", "game_id"], descending=[True, False]).head(LOOK_AHEAD_SAMPLE)
    games = sample["game_id"].to_list()
    violations = look_ahead_violations(read_silver(paths, date), games)
    return dg.AssetCheckResult(
        passed=not violations,
        metadata={"games_checked": dg.MetadataValue.json(games), "violations": dg.MetadataValue.json(violations)},
    )


@dg.asset_check(asset="episodes", description="Every game of silver games has exactly one episode.")
def episodes_one_per_game(context: dg.AssetCheckExecutionContext, paths: VectraPaths) -> dg.AssetCheckResult:
    date = context.partition_key
    episodes = _gold(paths, "episodes", date)
    games = storage.read_table(paths.root, "games", date, columns=["game_id"])
    missing = games.join(episodes, on="game_id", how="anti").height
    duplicated = episodes.height - episodes["game_id"].n_unique()
    return dg.AssetCheckResult(passed=missing == 0 and duplicated == 0, metadata={"missing": missing, "duplicated": duplicated})


checks = [observations_finite, observations_no_look_ahead, episodes_one_per_game]
