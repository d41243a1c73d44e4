"""Versioned, immutable training datasets: ``<data>/datasets/<name>/<id>/``.

- **id** = sha256 of the inputs — landing segment files and their hashes, the feature-spec version and
  fingerprint, the code version (hash of the pipeline's source), the parameters and the partitions — so the same
  inputs always give the same id and any change gives a new one.
- **files**: ``episodes.parquet`` (every episode, with its ``split``: train / val / test, or ``excluded`` by the
  policy), ``observations.parquet`` (rows of the train/val/test episodes, with ``split``) and ``manifest.json``
  (lineage: partitions, input files + hashes, asset versions, counts, split seed). Rows are sorted (observations by
  partition, game, tick — written one partition at a time, so memory stays at one day), Parquet is written with
  fixed settings and nothing inside a version holds a timestamp, so a rebuild is byte-identical.
- **splits** by game: ``sha256("<seed>:<game_id>")``'s first 8 bytes / 2⁶⁴ against the cumulative fractions.
- **publish**: written into a temp folder beside the target (``.<id>.<pid>.tmp``), the manifest last, fsynced, then
  renamed into place: a kill at any moment leaves no version or a complete one, and the dead writer's temp folder
  is swept by the next publish (``storage.sweep``). An existing id is reused, never rewritten. ``history.jsonl``
  beside the versions (outside them) records when each id was published, which :func:`latest_dataset` reads
  (``latest_dataset(data_dir, name="default")`` → id, path, manifest, or None).
- **DuckDB**: the view ``datasets`` (:func:`datasets_view_sql`, created by ``vectra_pipeline.warehouse`` with the
  table views) has one row per version, read from the manifests; a dot-prefixed folder is never a row.
- **Dagster**: the ``training_dataset`` asset spans every day that built fully (``datasets.days``;
  ``DatasetConfig`` holds the parameters); ``minari_datasets`` exports the latest version.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq

from capture_agent.landing.segments import fsync_dir, fsync_file
from vectra_pipeline import storage
from vectra_pipeline.gold import features as feature_spec
from vectra_pipeline.gold.action_space import Action
from vectra_pipeline.gold.episodes import EpisodePolicy, apply_policy
from vectra_pipeline.gold.observations import OBSERVATION_SCHEMA

FORMAT_VERSION = 1
DATASETS_DIR = "datasets"
GOLD_DIR = "gold"
GOLD_TABLES = ("episodes", "observations")
MANIFEST = "manifest.json"
HISTORY = "history.jsonl"
SPLITS = ("train", "val", "test")
EXCLUDED = "excluded"

REPO = Path(__file__).resolve().parents[2]
# Source whose behaviour shapes a dataset's rows: a change to any of it is a new code version (new dataset ids).
CODE_SOURCES = (
    "vectra_pipeline/bronze",
    "vectra_pipeline/silver",
    "vectra_pipeline/gold",
    "vectra_pipeline/schema.py",
    "capture_agent/protocol",  # the wire, and the game's rules (rules.py, trading.py) the rewards and labels follow
    "capture_agent/landing/schema.py",
)
# Per gold asset: the modules that define it (its Dagster code_version and the manifest's asset_versions).
ASSET_SOURCES = {
    "episodes": ("vectra_pipeline/gold/episodes.py",),
    "observations": (
        "vectra_pipeline/gold/observations.py",
        "vectra_pipeline/gold/features.py",
        "vectra_pipeline/gold/timeline.py",
        "vectra_pipeline/gold/rewards.py",
        "vectra_pipeline/gold/action_space.py",
        "capture_agent/protocol/rules.py",
    ),
    "training_dataset": ("vectra_pipeline/datasets/publish.py",),
}


@dataclass(frozen=True)
class DatasetParams:
    name: str = "default"
    split_seed: int = 0
    split_fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)
    policy: EpisodePolicy = field(default_factory=EpisodePolicy)

    def as_dict(self) -> dict:
        return {
            "name": self.name,
            "split_seed": self.split_seed,
            "split_fractions": list(self.split_fractions),
            "policy": self.policy.as_dict(),
        }


@dataclass(frozen=True)
class DatasetVersion:
    id: str
    path: Path
    manifest: dict

    @property
    def name(self) -> str:
        return self.manifest["name"]


# -- hashing -------------------------------------------------------------------------------------------------------

def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _sources_sha256(paths: tuple[str, ...]) -> str:
    digest = hashlib.sha256()
    for entry in paths:
        root = REPO / entry
        files = sorted(root.rglob("*.py")) if root.is_dir() else [root]
        for file in files:
            if file.exists():
                digest.update(file.relative_to(REPO).as_posix().encode() + b"\0" + file.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


@functools.cache
def code_version() -> str:
    """Hash of the pipeline's source, read once per process: the code this process runs, not later edits."""
    return _sources_sha256(CODE_SOURCES)


@functools.cache
def _asset_versions() -> tuple[tuple[str, str], ...]:
    return tuple((asset, _sources_sha256(paths)) for asset, paths in ASSET_SOURCES.items())


def asset_versions() -> dict[str, str]:
    return dict(_asset_versions())


HASH_CACHE = ".landing-sha256.json"


def landing_inputs(data_dir: Path, partitions: list[str]) -> list[dict]:
    """Landing segment files of the partitions: path (relative to the data dir), bytes, sha256.

    Published segments are immutable, so hashes are cached in ``<data>/datasets/.landing-sha256.json`` by
    (path, size, mtime): a nightly build hashes only the new day.
    """
    from capture_agent.landing.segments import segment_paths

    data_dir = Path(data_dir)
    cache_path = data_dir / DATASETS_DIR / HASH_CACHE
    cache = json.loads(cache_path.read_text(encoding="utf-8")) if cache_path.exists() else {}
    files, fresh = [], {}
    for date in sorted(partitions):
        for path in segment_paths(data_dir, date):
            relative, stat = path.relative_to(data_dir).as_posix(), path.stat()
            cached = cache.get(relative)
            digest = cached[2] if cached and cached[:2] == [stat.st_size, stat.st_mtime_ns] else file_sha256(path)
            fresh[relative] = [stat.st_size, stat.st_mtime_ns, digest]
            files.append({"path": relative, "bytes": stat.st_size, "sha256": digest})
    if any(cache.get(k) != v for k, v in fresh.items()):
        cache.update(fresh)
        cache_path.parent.mkdir(parents=True, exist_ok=True)
        storage.sweep(cache_path.parent)
        temp = storage.temp_path(cache_path)
        temp.write_text(json.dumps(cache, sort_keys=True), encoding="utf-8")
        os.replace(temp, cache_path)
    return files


def dataset_id(inputs: list[dict], partitions: list[str], params: DatasetParams, code: str | None = None) -> str:
    """The version id: same inputs, spec, code and parameters → same id."""
    identity = {
        "format_version": FORMAT_VERSION,
        "inputs": [[f["path"], f["sha256"]] for f in sorted(inputs, key=lambda f: f["path"])],
        "partitions": sorted(partitions),
        "feature_spec": [feature_spec.FEATURE_SPEC_VERSION, feature_spec.spec_fingerprint()],
        "code_version": code or code_version(),
        "parameters": params.as_dict(),
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]


# -- splits --------------------------------------------------------------------------------------------------------

def split_of(game_id: str, seed: int, fractions: tuple[float, float, float]) -> str:
    u = int.from_bytes(hashlib.sha256(f"{seed}:{game_id}".encode()).digest()[:8], "big") / 2**64
    bound = 0.0
    for name, fraction in zip(SPLITS, fractions):
        bound += fraction
        if u < bound:
            return name
    return SPLITS[-1]


def assign_splits(episodes: pl.DataFrame, params: DatasetParams) -> pl.DataFrame:
    splits = [split_of(g, params.split_seed, params.split_fractions) for g in episodes["game_id"].to_list()]
    return episodes.with_columns(
        pl.when(pl.col("in_training")).then(pl.Series("split", splits, dtype=pl.String)).otherwise(pl.lit(EXCLUDED)).alias("split")
    )


# -- files ---------------------------------------------------------------------------------------------------------

def write_parquet(frame: pl.DataFrame, path: Path) -> None:
    """Fixed writer settings: the same frame always gives the same bytes."""
    frame.write_parquet(path, compression="zstd", compression_level=3, statistics=True, row_group_size=65_536)


def gold_partition_path(data_dir: Path, table: str, date: str) -> Path:
    return Path(data_dir) / GOLD_DIR / table / f"date={date}" / "part.parquet"


def write_gold_partition(data_dir: Path, table: str, date: str, frame: pl.DataFrame) -> Path:
    """Atomically (temp file + rename) write one gold partition."""
    final = gold_partition_path(data_dir, table, date)
    final.parent.mkdir(parents=True, exist_ok=True)
    storage.sweep(final.parent)
    temp = storage.temp_path(final)
    write_parquet(frame, temp)
    os.replace(temp, final)
    return final


def gold_partitions(data_dir: Path) -> list[str]:
    """Dates that have both gold tables."""
    dates = None
    for table in GOLD_TABLES:
        found = {p.parent.name.removeprefix("date=") for p in (Path(data_dir) / GOLD_DIR / table).glob("date=*/part.parquet")}
        dates = found if dates is None else dates & found
    return sorted(dates or ())


def _best_partitions(episodes: pl.DataFrame) -> tuple[pl.DataFrame, int]:
    """A game seen in two partitions (midnight UTC) keeps the partition with more ticks; the other is counted."""
    best = episodes.sort("game_id", "ticks", "partition", descending=[False, True, False]).unique("game_id", keep="first", maintain_order=True)
    return best, episodes.height - best.height


def _by_partition(observations: pl.DataFrame | Mapping[str, pl.LazyFrame | pl.DataFrame]) -> dict[str, pl.LazyFrame]:
    if isinstance(observations, pl.DataFrame):
        if observations.is_empty():
            return {}
        return {key[0]: frame.lazy() for key, frame in observations.partition_by("partition", as_dict=True).items()}
    return {date: frame.lazy() for date, frame in observations.items()}


class _ObservationWriter:
    """Appends each partition's rows to one Parquet file with fixed settings and schema (byte-stable output)."""

    def __init__(self, path: Path) -> None:
        self.path, self.writer, self.rows = path, None, 0
        self.schema = pl.Schema({**OBSERVATION_SCHEMA, "partition": pl.String, "split": pl.String})

    def write(self, frame: pl.DataFrame) -> None:
        table = frame.select(pl.col(name).cast(dtype) for name, dtype in self.schema.items()).to_arrow()
        if self.writer is None:
            self.writer = pq.ParquetWriter(self.path, table.schema, compression="zstd", compression_level=3, write_statistics=True)
        if table.num_rows:
            self.writer.write_table(table, row_group_size=65_536)
            self.rows += table.num_rows

    def close(self) -> None:
        if self.writer is None:  # no partition at all: an empty file of the schema
            self.write(pl.DataFrame(schema=self.schema))
        self.writer.close()


def _write_observations(path: Path, observations: dict[str, pl.LazyFrame], keep: pl.DataFrame) -> dict:
    """Stream the kept episodes' rows partition by partition (memory: one day); returns the row counts."""
    counts = {split: {"rows": 0, "transitions": 0} for split in SPLITS}
    counts["actions_not_hold"] = 0
    writer = _ObservationWriter(path)
    try:
        for date in sorted(observations):
            kept = keep.filter(pl.col("partition") == date).select("game_id", "split")
            rows = (
                observations[date].drop("partition", "split", strict=False)
                .join(kept.lazy(), on="game_id", how="inner")
                .with_columns(pl.lit(date).alias("partition"))
                .sort("game_id", "tick")
                .collect()
            )
            writer.write(rows)
            for (split,), group in rows.group_by("split"):
                counts[split]["rows"] += group.height
                counts[split]["transitions"] += group.filter(~pl.col("is_final")).height
            counts["actions_not_hold"] += rows.filter(pl.col("action").fill_null(0) != 0).height
    finally:
        writer.close()
    return counts


def _counts(episodes: pl.DataFrame, rows: dict, duplicates: int) -> dict:
    excluded = episodes.filter(pl.col("split") == EXCLUDED)
    reasons = excluded.group_by(pl.col("exclusion_reason").str.replace(r" at tick \d+$", "")).len().sort("exclusion_reason")
    per_split = {split: {"episodes": int(episodes.filter(pl.col("split") == split).height), **rows[split]} for split in SPLITS}
    return {
        "episodes_total": int(episodes.height),
        "episodes_in_training": int(episodes.filter(pl.col("split") != EXCLUDED).height),
        "episodes_excluded": int(excluded.height),
        "excluded_by_reason": {r: int(n) for r, n in reasons.iter_rows()},
        "duplicate_episodes_dropped": duplicates,
        "rows": sum(rows[s]["rows"] for s in SPLITS),
        "transitions": sum(rows[s]["transitions"] for s in SPLITS),
        "actions_not_hold": rows["actions_not_hold"],
        "per_split": per_split,
    }


NOTHING_TO_TRAIN = "no complete game yet: nothing to train on"


def reason_not_to_publish(episodes: pl.DataFrame, params: DatasetParams = DatasetParams()) -> str | None:
    """Why no dataset version is published for these episodes (all partitions, with ``partition``), or None to publish.

    The one place that decides it. Zero episodes the policy trains on (a first short session, no complete game yet)
    is a normal outcome, not a failure: nothing is published for nothing.
    """
    best, _ = _best_partitions(episodes)
    if apply_policy(best, params.policy).filter(pl.col("in_training")).is_empty():
        return f"{NOTHING_TO_TRAIN} ({best.height} episode{'' if best.height == 1 else 's'}, none the policy trains on; no dataset version published)"
    return None


def build_dataset(data_dir: Path, partitions: list[str], episodes: pl.DataFrame,
                  observations: pl.DataFrame | Mapping[str, pl.LazyFrame | pl.DataFrame], inputs: list[dict],
                  params: DatasetParams = DatasetParams(), gold_files: list[dict] | None = None) -> tuple[DatasetVersion, bool]:
    """Publish the dataset of these partitions, or reuse the version with the same id. Returns (version, created).

    ``episodes`` (all partitions, with a ``partition`` column) is small and read whole; ``observations`` is either
    one frame with a ``partition`` column or a mapping date → (lazy) frame, written one partition at a time, so
    memory stays at one day's rows however many days the dataset spans. Observation rows are sorted by
    (partition, game_id, tick).
    """
    code = code_version()
    version_id = dataset_id(inputs, partitions, params, code)
    root = Path(data_dir) / DATASETS_DIR / params.name
    final = root / version_id
    storage.sweep(root)  # temp folders of killed publishes
    if (final / MANIFEST).exists():
        _record_history(root, version_id)
        return load_version(final), False
    best, duplicates = _best_partitions(episodes)
    episodes = assign_splits(apply_policy(best, params.policy).sort("game_id"), params)
    keep = episodes.filter(pl.col("split") != EXCLUDED).select("game_id", "partition", "split")
    by_partition = {d: f for d, f in _by_partition(observations).items() if d in set(partitions)}
    manifest = {
        "name": params.name,
        "id": version_id,
        "format_version": FORMAT_VERSION,
        "feature_spec": {
            "version": feature_spec.FEATURE_SPEC_VERSION,
            "fingerprint": feature_spec.spec_fingerprint(),
            "features": list(feature_spec.FEATURE_NAMES),
            "float64_features": list(feature_spec.FLOAT64_FEATURES),
        },
        "actions": {a.name.lower(): int(a) for a in Action},
        "code_version": code,
        "asset_versions": asset_versions(),
        "parameters": params.as_dict(),
        "partitions": sorted(partitions),
        "inputs": {"landing": sorted(inputs, key=lambda f: f["path"]), "gold": sorted(gold_files or [], key=lambda f: f["path"])},
        "splits": {
            "seed": params.split_seed,
            "fractions": list(params.split_fractions),
            "method": "sha256('<seed>:<game_id>') first 8 bytes / 2^64 against cumulative fractions train, val, test",
            "games": {s: episodes.filter(pl.col("split") == s)["game_id"].to_list() for s in SPLITS},
        },
        "files": {},
    }
    root.mkdir(parents=True, exist_ok=True)
    temp = storage.temp_path(final)
    shutil.rmtree(temp, ignore_errors=True)  # a dead process that had this PID
    temp.mkdir()
    try:
        write_parquet(episodes, temp / "episodes.parquet")
        rows = _write_observations(temp / "observations.parquet", by_partition, keep)
        manifest["counts"] = _counts(episodes, rows, duplicates)
        for name, count in (("episodes.parquet", episodes.height), ("observations.parquet", manifest["counts"]["rows"])):
            manifest["files"][name] = {"rows": count, "bytes": (temp / name).stat().st_size, "sha256": file_sha256(temp / name)}
        storage.crash_point("dataset:files-written")
        # The manifest last, then one rename: a kill at any moment leaves no version or a complete one.
        (temp / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        for file in temp.iterdir():
            fsync_file(file)
        fsync_dir(temp)
        storage.crash_point("dataset:manifest-written")
        try:
            os.rename(temp, final)
        except OSError:
            if not (final / MANIFEST).exists():  # not a concurrent publish of the same id: a real failure
                raise
            shutil.rmtree(temp)
            return load_version(final), False
        fsync_dir(root)
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise
    storage.crash_point("dataset:published")
    _record_history(root, version_id)
    return load_version(final), True


def _record_history(root: Path, version_id: str) -> None:
    """Add the id to history.jsonl unless it already is the latest entry (rewritten whole, atomically: a kill
    never leaves a torn line)."""
    entries = _history(root)
    if entries and entries[-1]["id"] == version_id:
        return
    entries.append({"id": version_id, "published_ns": time.time_ns()})
    temp = storage.temp_path(root / HISTORY)
    temp.write_text("".join(json.dumps(entry) + "\n" for entry in entries), encoding="utf-8")
    os.replace(temp, root / HISTORY)


def _history(root: Path) -> list[dict]:
    path = root / HISTORY
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def load_version(path: Path) -> DatasetVersion:
    manifest = json.loads((Path(path) / MANIFEST).read_text(encoding="utf-8"))
    return DatasetVersion(manifest["id"], Path(path), manifest)


def list_versions(data_dir: Path, name: str = "default") -> list[DatasetVersion]:
    root = Path(data_dir) / DATASETS_DIR / name
    return [load_version(p.parent) for p in sorted(root.glob(f"*/{MANIFEST}")) if not p.parent.name.startswith(".")]


def latest_dataset(data_dir: Path, name: str = "default") -> DatasetVersion | None:
    """The most recently published (or re-requested) version of a dataset; None when there is none."""
    root = Path(data_dir) / DATASETS_DIR / name
    for entry in reversed(_history(root)):
        if (root / entry["id"] / MANIFEST).exists():
            return load_version(root / entry["id"])
    versions = list_versions(data_dir, name)
    return max(versions, key=lambda v: (v.path / MANIFEST).stat().st_mtime) if versions else None


def describe(version: DatasetVersion) -> str:
    """A few lines for people (the demo's summary): id, size, splits, exclusions, where the files are."""
    counts, manifest = version.manifest["counts"], version.manifest
    splits = ", ".join(f"{s} {counts['per_split'][s]['episodes']} episodes / {counts['per_split'][s]['transitions']:,} transitions" for s in SPLITS)
    excluded = ", ".join(f"{reason}: {n}" for reason, n in counts["excluded_by_reason"].items()) or "none"
    return "\n".join([
        f"dataset {manifest['name']} version {version.id} ({', '.join(manifest['partitions'])})",
        f"  {counts['episodes_in_training']} of {counts['episodes_total']} episodes, {counts['rows']:,} rows, "
        f"{len(manifest['feature_spec']['features'])} features (spec {manifest['feature_spec']['version']})",
        f"  splits: {splits}",
        f"  excluded: {excluded}",
        f"  files: {version.path}",
    ])


# -- DuckDB --------------------------------------------------------------------------------------------------------

_VIEW_COLUMNS = {
    "name": "VARCHAR", "id": "VARCHAR", "path": "VARCHAR", "feature_spec_version": "VARCHAR", "code_version": "VARCHAR",
    "partitions": "VARCHAR[]", "episodes_total": "BIGINT", "episodes_in_training": "BIGINT",
    "episodes_excluded": "BIGINT", "rows": "BIGINT", "transitions": "BIGINT", "train_episodes": "BIGINT",
    "val_episodes": "BIGINT", "test_episodes": "BIGINT", "landing_files": "BIGINT", "split_seed": "BIGINT",
}


MANIFEST_GLOB = f"{DATASETS_DIR}/[!.]*/[!.]*/{MANIFEST}"  # never a temp (dot-prefixed) folder


def datasets_view_sql(data_dir: Path) -> str:
    """``datasets``: one row per published version, read from the manifests (an empty view when there are none).

    Paths are relative to the data root (``file_search_path``, as every warehouse view); ``path`` is the version's
    folder relative to it, e.g. ``datasets/default/<id>``.
    """
    if not list(Path(data_dir).glob(MANIFEST_GLOB)):
        columns = ", ".join(f"CAST(NULL AS {t}) AS {n}" for n, t in _VIEW_COLUMNS.items())
        return f"CREATE OR REPLACE VIEW datasets AS SELECT {columns} WHERE false"
    return f"""
        CREATE OR REPLACE VIEW datasets AS
        SELECT name, id, regexp_extract(filename, '({DATASETS_DIR}/[^/]+/[^/]+)/{MANIFEST}$', 1) AS path,
               feature_spec.version AS feature_spec_version, code_version,
               CAST(partitions AS VARCHAR[]) AS partitions,
               counts.episodes_total, counts.episodes_in_training, counts.episodes_excluded,
               counts.rows, counts.transitions,
               counts.per_split.train.episodes AS train_episodes,
               counts.per_split.val.episodes AS val_episodes,
               counts.per_split.test.episodes AS test_episodes,
               len(inputs.landing) AS landing_files, splits.seed AS split_seed
        FROM read_json('{MANIFEST_GLOB}', filename = true, format = 'auto', maximum_object_size = 268435456)
        ORDER BY name, id
        """
