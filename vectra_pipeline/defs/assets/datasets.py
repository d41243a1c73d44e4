"""Datasets: the versioned training dataset over every day that built fully, and its Minari export.

``training_dataset`` publishes ``<data>/datasets/<name>/<id>/`` with its lineage (``vectra_pipeline.datasets``);
``minari_datasets`` exports the latest version.
"""

import dagster as dg
import polars as pl

from vectra_pipeline import storage, warehouse
from vectra_pipeline.datasets import days, registry
from vectra_pipeline.datasets.contents import DatasetParams, reason_not_to_publish
from vectra_pipeline.datasets.identity import asset_code_version
from vectra_pipeline.datasets.publish import publish
from vectra_pipeline.datasets.splits import SPLITS
from vectra_pipeline.defs.metadata import notes
from vectra_pipeline.defs.resources import VectraPaths
from vectra_pipeline.gold.episodes import EpisodePolicy

OWNERS = ["team:vectra-pipeline"]
GROUP = "datasets"


class DatasetConfig(dg.Config):
    """Parameters of a training dataset version (all of them are part of its id)."""

    name: str = "default"
    split_seed: int = 0
    train_fraction: float = 0.8
    val_fraction: float = 0.1
    train_completeness: list[str] = ["complete"]
    min_transitions: int = 1
    partitions: list[str] = []  # dates to include; empty = every built day

    def dates(self, built: list[str]) -> list[str]:
        if not self.partitions:
            return built
        missing = sorted(set(self.partitions) - set(built))
        if missing:
            raise dg.Failure(f"no gold partition for {', '.join(missing)}: materialise episodes and observations for it first")
        return sorted(set(self.partitions))

    def params(self) -> DatasetParams:
        test = round(1.0 - self.train_fraction - self.val_fraction, 10)
        if test < 0:
            raise dg.Failure(f"train_fraction + val_fraction must be ≤ 1, got {self.train_fraction} + {self.val_fraction}")
        return DatasetParams(
            name=self.name,
            split_seed=self.split_seed,
            split_fractions=(self.train_fraction, self.val_fraction, test),
            policy=EpisodePolicy(frozenset(self.train_completeness), self.min_transitions),
        )


def _read_episodes(paths: VectraPaths, dates: list[str]) -> pl.DataFrame:
    frames = [storage.read_parquet(storage.table_path(paths.root, "episodes", d)).with_columns(pl.lit(d).alias("partition")) for d in dates]
    return pl.concat(frames, how="vertical_relaxed")


def _scan_observations(paths: VectraPaths, dates: list[str]) -> dict[str, pl.LazyFrame]:
    """Lazy per-day scans: the dataset is written one day at a time."""
    return {d: storage.scan_table(paths.root, "observations", d) for d in dates}


def _lineage_markdown(manifest: dict) -> str:
    lines = ["| input | bytes | sha256 |", "|---|---|---|"]
    for entry in manifest["inputs"]["landing"][:50]:
        lines.append(f"| `{entry['path']}` | {entry['bytes']} | `{entry['sha256'][:16]}…` |")
    if len(manifest["inputs"]["landing"]) > 50:
        lines.append(f"| … {len(manifest['inputs']['landing']) - 50} more in manifest.json | | |")
    return "\n".join(lines)


@dg.asset(
    group_name=GROUP,
    owners=OWNERS,
    kinds={"python", "parquet", "json"},
    deps=["episodes", "observations"],
    code_version=asset_code_version("training_dataset"),
    description="A versioned, immutable training snapshot of every day that built fully: <data>/datasets/<name>/<id>/ "
    "with episodes.parquet, observations.parquet (train/val/test split by game) and manifest.json (lineage). The id "
    "hashes the landing segments, the stage versions, the feature spec version and the parameters: same inputs, same "
    "id, no rewrite. A day whose last build failed or whose gold is stale blocks the version (named in the failure); "
    "the latest stays. Nothing is published while no episode qualifies for training (no complete game yet).",
)
def training_dataset(context: dg.AssetExecutionContext, config: DatasetConfig, paths: VectraPaths) -> dg.MaterializeResult:
    dates = config.dates(days.gold_dates(paths.root))
    if not dates:
        raise dg.Failure("no gold partitions yet: materialise episodes and observations for a date first (vectra build)")
    params = config.params()
    # Every day must have built fully and be current: a version missing a day, or holding a day's stale gold under
    # new landing hashes, would be a lie. The previous version stays the latest until the day is fixed.
    problems = {date: problem for date in dates if (problem := days.day_problem(paths.root, date))}
    if problems:
        latest = registry.latest_dataset(paths.root, params.name)
        date, problem = next(iter(problems.items()))
        more = f" (and {len(problems) - 1} more day{'s' if len(problems) > 2 else ''})" if len(problems) > 1 else ""
        raise dg.Failure(
            f"dataset {params.name} not published: {date} {problem}{more}; latest stays "
            f"{latest.id if latest else 'none'}. Rebuild with `vectra build --date {date}`, or leave the day out "
            "with the training_dataset config `partitions`."
        )
    records = [days.read_record(paths.root, date) for date in dates]
    inputs = [entry for record in records for entry in record["landing"]]  # exactly what was built
    gold_files = [entry for record in records for entry in record["gold"]]
    episodes = _read_episodes(paths, dates)
    skipped = reason_not_to_publish(episodes, params)
    if skipped:
        context.log.info(skipped)
        warehouse.refresh(paths.root)  # the datasets view exists (empty) all the same
        return dg.MaterializeResult(metadata={"dagster/row_count": 0, "published": False, "reason": skipped, **notes([skipped])})
    version, created = publish(paths.root, dates, episodes, _scan_observations(paths, dates), inputs, params, gold_files)
    warehouse.refresh(paths.root)
    manifest = version.manifest
    context.log.info(f"dataset {params.name} version {version.id} {'published' if created else 'already existed (reused)'} at {version.path}")
    return dg.MaterializeResult(
        metadata={
            "dataset_id": version.id,
            "path": dg.MetadataValue.path(str(version.path)),
            "created": created,
            "dagster/row_count": manifest["counts"]["rows"],
            "partitions": dg.MetadataValue.json(manifest["partitions"]),
            "landing_files": len(manifest["inputs"]["landing"]),
            "lineage": dg.MetadataValue.md(_lineage_markdown(manifest)),
            "code_version": manifest["code_version"],
            "stage_versions": dg.MetadataValue.json(manifest["stage_versions"]),
            "feature_spec": manifest["feature_spec"]["version"],
            "counts": dg.MetadataValue.json(manifest["counts"]),
            "parameters": dg.MetadataValue.json(manifest["parameters"]),
        }
    )


@dg.asset(
    group_name=GROUP,
    owners=OWNERS,
    kinds={"python", "minari"},
    deps=["training_dataset"],
    description="Minari datasets (arrow, offline) of the latest training dataset version, one per split, in "
    "<version>/minari/ (MINARI_DATASETS_PATH); written once per version. Nothing to export before a version exists.",
)
def minari_datasets(context: dg.AssetExecutionContext, config: DatasetConfig, paths: VectraPaths) -> dg.MaterializeResult:
    from vectra_pipeline.exports.minari import export_minari, minari_id  # gymnasium and minari only when exporting

    version = registry.latest_dataset(paths.root, config.name)
    if version is None:  # nothing to train on yet (training_dataset says why): nothing to export, not a failure
        return dg.MaterializeResult(metadata={"exported": False, "reason": f"no dataset {config.name!r} has been published yet"})
    root = export_minari(version)
    return dg.MaterializeResult(
        metadata={
            "dataset_id": version.id,
            "path": dg.MetadataValue.path(str(root)),
            "minari_ids": dg.MetadataValue.json([minari_id(version, s) for s in SPLITS if (root / minari_id(version, s)).is_dir()]),
        }
    )


assets = [training_dataset, minari_datasets]
