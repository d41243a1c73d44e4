"""Gold: episodes and observations per day, then the versioned training dataset and its Minari export.

Thin wrappers over ``vectra_pipeline.gold``: read the silver partition, call the pure stage, write the
gold partition atomically (``<data>/gold/<table>/date=YYYY-MM-DD/part.parquet``), report metadata. The dataset
asset spans every built day and publishes ``<data>/datasets/<name>/<id>/`` with its lineage.
"""


import dagster as dg
import polars as pl

from vectra_pipeline import storage, warehouse
from vectra_pipeline.defs.metadata import counts, notes, preview
from vectra_pipeline.defs.partitions import daily
from vectra_pipeline.defs.resources import VectraPaths
from vectra_pipeline.datasets import publish as gold_datasets
from vectra_pipeline.datasets import days
from vectra_pipeline.gold.episodes import EpisodePolicy, build_episodes
from vectra_pipeline.gold.features import FEATURE_NAMES, FEATURE_SPEC_VERSION, spec_fingerprint
from vectra_pipeline.gold.lookahead import SILVER_INPUTS
from vectra_pipeline.gold.observations import build_observations

OWNERS = ["team:vectra-pipeline"]
GROUP = "gold"
VERSIONS = gold_datasets.asset_versions()


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

    def params(self) -> gold_datasets.DatasetParams:
        test = round(1.0 - self.train_fraction - self.val_fraction, 10)
        if test < 0:
            raise dg.Failure(f"train_fraction + val_fraction must be ≤ 1, got {self.train_fraction} + {self.val_fraction}")
        return gold_datasets.DatasetParams(
            name=self.name,
            split_seed=self.split_seed,
            split_fractions=(self.train_fraction, self.val_fraction, test),
            policy=EpisodePolicy(frozenset(self.train_completeness), self.min_transitions),
        )


def read_silver(paths: VectraPaths, date: str) -> dict[str, pl.DataFrame]:
    return {name: storage.read_table(paths.root, name, date) for name in SILVER_INPUTS}


def _write(paths: VectraPaths, table: str, date: str, frame: pl.DataFrame) -> None:
    gold_datasets.write_gold_partition(paths.root, table, date, frame)
    warehouse.refresh(paths.root, [table])


@dg.asset(
    group_name=GROUP,
    partitions_def=daily,
    owners=OWNERS,
    kinds={"python", "polars", "parquet"},
    deps=["games", "game_ticks", "trades", "sidebets", "player_state", "actions"],
    code_version=VERSIONS["episodes"],
    description="One episode per game (tick 0 → rug tick, never stitched over a gap) with the recording player's "
    "involvement, completeness and whether the default policy trains on it (exclusion_reason otherwise).",
    metadata={"storage": "<data>/gold/episodes/date=YYYY-MM-DD/part.parquet", "key": "game_id"},
)
def episodes(context: dg.AssetExecutionContext, paths: VectraPaths) -> dg.MaterializeResult:
    date = context.partition_key
    silver = read_silver(paths, date)
    table = build_episodes(*(silver[name] for name in SILVER_INPUTS))
    _write(paths, "episodes", date, table)
    # actions that belong to no game of the partition are kept in silver; here they are counted, not lost silently
    orphan_actions = silver["actions"].join(table.select("game_id"), on="game_id", how="anti").height
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": table.height,
            "actions_without_episode": orphan_actions,
            "actions_unplaced": int(table["actions_unplaced"].sum()),
            "presale_actions": int(table["presale_actions"].sum()),
            "in_training": int(table["in_training"].sum()),
            "excluded": counts(table.filter(~pl.col("in_training")), "exclusion_reason"),
            "completeness": counts(table, "completeness"),
            "with_actions": int((table["actions"] > 0).sum()),
            "preview": preview(table),
        }
    )


@dg.asset(
    group_name=GROUP,
    partitions_def=daily,
    owners=OWNERS,
    kinds={"python", "polars", "parquet"},
    deps=["episodes", "game_ticks", "trades", "player_state", "actions"],
    code_version=VERSIONS["observations"],
    description="One row per (game, tick) of every episode: the feature vector of docs/FEATURES.md (spec "
    f"{FEATURE_SPEC_VERSION}), the action sent at the tick, the reward (change in mark-to-market equity) and "
    "terminated/truncated/is_final flags.",
    metadata={"storage": "<data>/gold/observations/date=YYYY-MM-DD/part.parquet", "key": "game_id, tick",
              "features": len(FEATURE_NAMES)},
)
def observations(context: dg.AssetExecutionContext, paths: VectraPaths) -> dg.MaterializeResult:
    date = context.partition_key
    silver = read_silver(paths, date)
    episode_table = pl.read_parquet(gold_datasets.gold_partition_path(paths.root, "episodes", date))
    table = build_observations(silver["game_ticks"], silver["trades"], silver["player_state"], silver["actions"], episode_table)
    _write(paths, "observations", date, table)
    transitions = table.filter(~pl.col("is_final"))
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": table.height,
            "episodes": table["game_id"].n_unique(),
            "transitions": transitions.height,
            "actions": counts(transitions, "action"),
            "reward_sum_sol": float(transitions["reward"].sum() or 0.0),
            "feature_spec": f"{FEATURE_SPEC_VERSION} ({spec_fingerprint()})",
            "preview": preview(table.select("game_id", "tick", "price", "cash", "position_qty", "equity", "action", "reward", "terminated", "truncated")),
        }
    )


def _read_episodes(paths: VectraPaths, dates: list[str]) -> pl.DataFrame:
    frames = [pl.read_parquet(gold_datasets.gold_partition_path(paths.root, "episodes", d)).with_columns(pl.lit(d).alias("partition")) for d in dates]
    return pl.concat(frames, how="vertical_relaxed")


def _scan_observations(paths: VectraPaths, dates: list[str]) -> dict[str, pl.LazyFrame]:
    """Lazy per-day scans: the dataset is written one day at a time."""
    return {d: pl.scan_parquet(gold_datasets.gold_partition_path(paths.root, "observations", d)) for d in dates}


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
    code_version=VERSIONS["training_dataset"],
    description="A versioned, immutable training snapshot of every day that built fully: <data>/datasets/<name>/<id>/ "
    "with episodes.parquet, observations.parquet (train/val/test split by game) and manifest.json (lineage). The id "
    "hashes the landing segments, feature spec, code version and parameters: same inputs, same id, no rewrite. A day "
    "whose last build failed or whose gold is stale blocks the version (named in the failure); the latest stays. "
    "Nothing is published while no episode qualifies for training (no complete game yet).",
)
def training_dataset(context: dg.AssetExecutionContext, config: DatasetConfig, paths: VectraPaths) -> dg.MaterializeResult:
    dates = config.dates(gold_datasets.gold_partitions(paths.root))
    if not dates:
        raise dg.Failure("no gold partitions yet: materialise episodes and observations for a date first (vectra build)")
    params = config.params()
    # Every day must have built fully and be current: a version missing a day, or holding a day's stale gold under
    # new landing hashes, would be a lie. The previous version stays the latest until the day is fixed.
    problems = {date: problem for date in dates if (problem := days.day_problem(paths.root, date))}
    if problems:
        latest = gold_datasets.latest_dataset(paths.root, params.name)
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
    skipped = gold_datasets.reason_not_to_publish(episodes, params)
    if skipped:
        context.log.info(skipped)
        warehouse.refresh(paths.root)  # the datasets view exists (empty) all the same
        return dg.MaterializeResult(metadata={"dagster/row_count": 0, "published": False, "reason": skipped, **notes([skipped])})
    version, created = gold_datasets.build_dataset(
        paths.root, dates, episodes, _scan_observations(paths, dates), inputs, params, gold_files,
    )
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
            "asset_versions": dg.MetadataValue.json(manifest["asset_versions"]),
            "feature_spec": dg.MetadataValue.json({k: manifest["feature_spec"][k] for k in ("version", "fingerprint")}),
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
    from vectra_pipeline.exports.minari import export_minari, minari_id

    version = gold_datasets.latest_dataset(paths.root, config.name)
    if version is None:  # nothing to train on yet (training_dataset says why): nothing to export, not a failure
        return dg.MaterializeResult(metadata={"exported": False, "reason": f"no dataset {config.name!r} has been published yet"})
    root = export_minari(version)
    exported = sorted(p.parent.name for p in root.rglob("metadata.json"))
    return dg.MaterializeResult(
        metadata={
            "dataset_id": version.id,
            "path": dg.MetadataValue.path(str(root)),
            "minari_ids": dg.MetadataValue.json([minari_id(version, s) for s in ("train", "val", "test") if f"{version.name}-{s}-v0" in exported]),
        }
    )


assets = [episodes, observations, training_dataset, minari_datasets]
