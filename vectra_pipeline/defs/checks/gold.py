"""Asset checks on gold: finite features, no look-ahead (by perturbing the future), splits disjoint by game."""


import dagster as dg
import numpy as np
import polars as pl

from vectra_pipeline.defs.assets.gold import read_silver
from vectra_pipeline.defs.resources import VectraPaths
from vectra_pipeline.datasets import publish as gold_datasets
from vectra_pipeline.gold.features import FEATURE_NAMES
from vectra_pipeline.gold.lookahead import look_ahead_violations

LOOK_AHEAD_SAMPLE = 5  # games rebuilt per partition (the longest episodes: the most ticks to leak into)


def _observations(paths: VectraPaths, date: str) -> pl.DataFrame:
    return pl.read_parquet(gold_datasets.gold_partition_path(paths.root, "observations", date))


@dg.asset_check(asset="observations", description="No NaN or ±inf in any feature or reward.")
def observations_finite(context: dg.AssetCheckExecutionContext, paths: VectraPaths) -> dg.AssetCheckResult:
    table = _observations(paths, context.partition_key)
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
    episodes = pl.read_parquet(gold_datasets.gold_partition_path(paths.root, "episodes", date))
    sample = episodes.filter(pl.col("ticks") >= 4).sort(["ticks", "game_id"], descending=[True, False]).head(LOOK_AHEAD_SAMPLE)
    games = sample["game_id"].to_list()
    violations = look_ahead_violations(read_silver(paths, date), games)
    return dg.AssetCheckResult(
        passed=not violations,
        metadata={"games_checked": dg.MetadataValue.json(games), "violations": dg.MetadataValue.json(violations)},
    )


@dg.asset_check(asset="episodes", description="Every game of silver games has exactly one episode.")
def episodes_one_per_game(context: dg.AssetCheckExecutionContext, paths: VectraPaths) -> dg.AssetCheckResult:
    from vectra_pipeline import storage

    date = context.partition_key
    episodes = pl.read_parquet(gold_datasets.gold_partition_path(paths.root, "episodes", date))
    games = storage.read_table(paths.root, "games", date, columns=["game_id"])
    missing = games.join(episodes, on="game_id", how="anti").height
    duplicated = episodes.height - episodes["game_id"].n_unique()
    return dg.AssetCheckResult(passed=missing == 0 and duplicated == 0, metadata={"missing": missing, "duplicated": duplicated})


def _split_overlaps(version: gold_datasets.DatasetVersion) -> dict:
    rows = pl.read_parquet(version.path / "observations.parquet", columns=["game_id", "split"])
    games = {s: set(rows.filter(pl.col("split") == s)["game_id"].unique()) for s in gold_datasets.SPLITS}
    overlaps = {
        f"{a}&{b}": len(games[a] & games[b])
        for i, a in enumerate(gold_datasets.SPLITS) for b in gold_datasets.SPLITS[i + 1:]
    }
    files_ok = all(
        gold_datasets.file_sha256(version.path / name) == entry["sha256"] for name, entry in version.manifest["files"].items()
    )
    return {"overlapping_games": overlaps, "files_match_manifest": files_ok, "games_per_split": {s: len(g) for s, g in games.items()}}


@dg.asset_check(asset="training_dataset", description="In the latest version of every dataset name: train, val and test hold "
                "disjoint games, and the files match the manifest's hashes.")
def training_dataset_splits_disjoint(context: dg.AssetCheckExecutionContext, paths: VectraPaths) -> dg.AssetCheckResult:
    root = paths.root / gold_datasets.DATASETS_DIR
    names = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")) if root.is_dir() else []
    report = {}
    for name in names:
        version = gold_datasets.latest_dataset(paths.root, name)
        if version is not None:
            report[f"{name}/{version.id}"] = _split_overlaps(version)
    # no version yet (nothing to train on) leaves nothing to check: not a failure
    passed = all(not any(r["overlapping_games"].values()) and r["files_match_manifest"] for r in report.values())
    return dg.AssetCheckResult(passed=passed, metadata={"versions": dg.MetadataValue.json(report) if report else "no dataset published yet"})


checks = [observations_finite, observations_no_look_ahead, episodes_one_per_game, training_dataset_splits_disjoint]
