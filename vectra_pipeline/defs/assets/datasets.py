"""Datasets: a versioned dataset of every kind over every day that built fully, and the Minari export.

``training_dataset`` publishes ``<data>/datasets/<kind>/<id>/`` for each kind (player, market) with its lineage and
card (``vectra_pipeline.datasets``); ``minari_datasets`` exports the latest version of each kind.
"""

import dagster as dg
import polars as pl

from vectra_pipeline import storage, warehouse
from vectra_pipeline.datasets import days, registry
from vectra_pipeline.datasets.contents import DatasetParams, reason_not_to_publish
from vectra_pipeline.datasets.identity import asset_code_version
from vectra_pipeline.datasets.kinds import DEFAULT_KIND, KINDS, Kind, kind_of
from vectra_pipeline.datasets.publish import publish
from vectra_pipeline.datasets.splits import SPLITS
from vectra_pipeline.defs.metadata import notes
from vectra_pipeline.defs.resources import VectraPaths
from vectra_pipeline.gold.policy import EpisodePolicy

OWNERS = ["team:vectra-pipeline"]
GROUP = "datasets"


class DatasetConfig(dg.Config):
    """Parameters of the dataset versions (all of them are part of each id)."""

    kinds: list[str] = list(KINDS)  # the kinds to publish
    split_seed: int = 0
    train_fraction: float = 0.8
    val_fraction: float = 0.1
    train_completeness: list[str] = []  # empty = the kind's default (player: complete; market: complete, history_only)
    min_transitions: int = 1
    partitions: list[str] = []  # dates to include; empty = every built day

    def dates(self, built: list[str]) -> list[str]:
        if not self.partitions:
            return built
        missing = sorted(set(self.partitions) - set(built))
        if missing:
            raise dg.Failure(f"no gold partition for {', '.join(missing)}: materialise episodes and observations for it first")
        return sorted(set(self.partitions))

    def params(self, kind: str = DEFAULT_KIND) -> DatasetParams:
        test = round(1.0 - self.train_fraction - self.val_fraction, 10)
        if test < 0:
            raise dg.Failure(f"train_fraction + val_fraction must be ≤ 1, got {self.train_fraction} + {self.val_fraction}")
        try:
            default = kind_of(kind).policy
        except ValueError as error:
            raise dg.Failure(str(error)) from None
        completeness = frozenset(self.train_completeness) or default.train_completeness
        return DatasetParams(
            kind=kind,
            split_seed=self.split_seed,
            split_fractions=(self.train_fraction, self.val_fraction, test),
            policy=EpisodePolicy(completeness, self.min_transitions, default.require_player),
        )


def _read_episodes(paths: VectraPaths, kind: Kind, dates: list[str]) -> pl.DataFrame:
    frames = [storage.read_parquet(storage.table_path(paths.root, kind.episodes, d)).with_columns(pl.lit(d).alias("partition")) for d in dates]
    return pl.concat(frames, how="vertical_relaxed")


def _scan_observations(paths: VectraPaths, kind: Kind, dates: list[str]) -> dict[str, pl.LazyFrame]:
    """Lazy per-day scans: the dataset is written one day at a time."""
    return {d: storage.scan_table(paths.root, kind.observations, d) for d in dates}


@dg.asset(
    group_name=GROUP,
    owners=OWNERS,
    kinds={"python", "parquet", "json"},
    deps=["episodes", "observations", "market_episodes", "market_observations", "crowd_episodes", "crowd_observations"],
    code_version=asset_code_version("training_dataset"),
    description="Versioned, immutable dataset snapshots of every day that built fully, one per kind (player, crowd, market): "
    "`<data>/datasets/<kind>/<id>/` with episodes.parquet, observations.parquet (train/val/test split by game), "
    "README.md (the dataset card) and manifest.json (lineage). The id hashes the landing segments, the stage versions, "
    "the feature spec version and the parameters: same inputs, same id, no rewrite. A day whose last build failed or "
    "whose gold is stale blocks every version (named in the failure); the latest stay. A kind with no episode its "
    "policy trains on publishes nothing and says why.",
)
def training_dataset(context: dg.AssetExecutionContext, config: DatasetConfig, paths: VectraPaths) -> dg.MaterializeResult:
    dates = config.dates(days.gold_dates(paths.root))
    if not dates:
        raise dg.Failure("no gold partitions yet: materialise episodes and observations for a date first (vectra build)")
    all_params = [config.params(kind) for kind in config.kinds]
    # Every day must have built fully and be current: a version missing a day, or holding a day's stale gold under
    # new landing hashes, would be a lie. The previous versions stay the latest until the day is fixed.
    problems = {date: problem for date in dates if (problem := days.day_problem(paths.root, date))}
    if problems:
        latest = {params.kind: registry.latest_dataset(paths.root, params.name) for params in all_params}
        date, problem = next(iter(problems.items()))
        more = f" (and {len(problems) - 1} more day{'s' if len(problems) > 2 else ''})" if len(problems) > 1 else ""
        stays = ", ".join(f"{kind} {version.id if version else 'none'}" for kind, version in latest.items())
        raise dg.Failure(
            f"datasets not published: {date} {problem}{more}; latest stay {stays}. Rebuild with "
            f"`vectra build --date {date}`, or leave the day out with the training_dataset config `partitions`."
        )
    records = [days.read_record(paths.root, date) for date in dates]
    inputs = [entry for record in records for entry in record["landing"]]  # exactly what was built
    gold_files = [entry for record in records for entry in record["gold"]]
    published, skipped, reused = {}, {}, []
    for params in all_params:
        kind = params.spec
        episodes = _read_episodes(paths, kind, dates)
        reason = reason_not_to_publish(episodes, params)
        if reason:
            context.log.info(f"{kind.name}: {reason}")
            skipped[kind.name] = reason
            continue
        version, created = publish(paths.root, dates, episodes, _scan_observations(paths, kind, dates), inputs, params, gold_files)
        context.log.info(f"{kind.name} dataset {version.id} {'published' if created else 'already published (reused)'} at {version.path}")
        if not created:
            reused.append(f"{kind.name} dataset {version.id} already published (same inputs, same id): reused")
        published[kind.name] = {"id": version.id, "path": storage.relative(paths.root, version.path), "created": created,
                                "counts": {k: version.manifest["counts"][k] for k in ("episodes_in_training", "rows", "transitions")}}
    warehouse.refresh(paths.root)  # the datasets view exists (empty) all the same
    first = next(iter(published.values()), None)
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": sum(p["counts"]["rows"] for p in published.values()),
            "published": dg.MetadataValue.json(published),
            "partitions": dg.MetadataValue.json(dates),
            "landing_files": len(inputs),
            **({"path": dg.MetadataValue.path(str(storage.location(paths.root, first["path"])))} if first else {}),
            **({"not_published": dg.MetadataValue.json(skipped)} if skipped else {}),
            **notes([f"{k}: {r}" for k, r in skipped.items()] + reused),
        }
    )


@dg.asset(
    group_name=GROUP,
    owners=OWNERS,
    kinds={"python", "minari"},
    deps=["training_dataset"],
    description="Minari datasets (arrow, offline) of the latest version of each kind, one per split, in "
    "`<version>/minari/` (MINARI_DATASETS_PATH); written once per version. A kind with no version yet exports nothing.",
)
def minari_datasets(context: dg.AssetExecutionContext, config: DatasetConfig, paths: VectraPaths) -> dg.MaterializeResult:
    from vectra_pipeline.exports.minari import export_minari, minari_id  # gymnasium and minari only when exporting

    exported, missing = {}, []
    for kind in config.kinds:  # the crowd too: its episodes are (game, player) trajectories, never merged
        version = registry.latest_dataset(paths.root, kind)
        if version is None:  # nothing to train on yet (training_dataset says why): nothing to export, not a failure
            missing.append(kind)
            continue
        root = export_minari(version)
        exported[kind] = {"id": version.id, "path": storage.relative(paths.root, root),
                          "minari_ids": [minari_id(version, s) for s in SPLITS if (root / minari_id(version, s)).is_dir()]}
    return dg.MaterializeResult(metadata={
        "exported": dg.MetadataValue.json(exported),
        **({"not_exported": f"no {' or '.join(missing)} dataset has been published yet"} if missing else {}),
    })


assets = [training_dataset, minari_datasets]
