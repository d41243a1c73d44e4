"""Asset checks on datasets: in the latest version of every dataset, splits disjoint by game and files as the
manifest says."""

import dagster as dg
import polars as pl

from vectra_pipeline import storage
from vectra_pipeline.datasets import registry
from vectra_pipeline.datasets.kinds import kind_of
from vectra_pipeline.datasets.registry import DatasetVersion
from vectra_pipeline.datasets.splits import SPLITS
from vectra_pipeline.defs.resources import VectraPaths


def _split_overlaps(version: DatasetVersion) -> dict:
    # the distinct (game, split) pairs, streamed: memory the games, not the rows (a 7-day crowd version's 27M rows
    # read and sorted took 4.7 GB)
    table = kind_of(version.kind).dataset_observations
    pairs = storage.scan_dataset_file(version.path, table).select("game_id", "split").unique().collect(engine="streaming")
    games = {s: set(pairs.filter(pl.col("split") == s)["game_id"]) for s in SPLITS}
    overlaps = {
        f"{a}&{b}": len(games[a] & games[b])
        for i, a in enumerate(SPLITS) for b in SPLITS[i + 1:]
    }
    files_ok = all(
        storage.file_sha256(storage.location(version.path, name)) == entry["sha256"] for name, entry in version.manifest["files"].items()
    )
    return {"overlapping_games": overlaps, "files_match_manifest": files_ok, "games_per_split": {s: len(g) for s, g in games.items()}}


@dg.asset_check(asset="training_dataset", description="In the latest version of every dataset name: train, val and test hold "
                "disjoint games, and the files match the manifest's hashes.")
def training_dataset_splits_disjoint(context: dg.AssetCheckExecutionContext, paths: VectraPaths) -> dg.AssetCheckResult:
    report = {}
    for name in storage.dataset_names(paths.root):
        version = registry.latest_dataset(paths.root, name)
        if version is not None:
            report[f"{name}/{version.id}"] = _split_overlaps(version)
    # no version yet (nothing to train on) leaves nothing to check: not a failure
    passed = all(not any(r["overlapping_games"].values()) and r["files_match_manifest"] for r in report.values())
    return dg.AssetCheckResult(passed=passed, metadata={"versions": dg.MetadataValue.json(report) if report else "no dataset published yet"})


checks = [training_dataset_splits_disjoint]
