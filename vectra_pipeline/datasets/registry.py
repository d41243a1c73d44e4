"""The published versions of a dataset: list them, find the latest, open one, read its rows.

``<data>/datasets/<name>/_history/`` (beside the versions, outside them) holds one record per publish or new request,
``<UTC time>-<id>.json`` (a new object each time: an object store cannot append; the ``history.jsonl`` of earlier
releases is read first); :func:`latest_dataset` reads it (``latest_dataset(data_dir, name="player")`` → id, path,
manifest, or None). A folder without a manifest, or dot-prefixed, is never a version.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from vectra_pipeline import storage
from vectra_pipeline.datasets.kinds import DEFAULT_KIND, kind_of
from vectra_pipeline.datasets.splits import SPLITS


@dataclass(frozen=True)
class DatasetVersion:
    id: str
    path: Path
    manifest: dict

    @property
    def name(self) -> str:
        return self.manifest["name"]

    @property
    def kind(self) -> str:
        """player | market (a version from before the kinds is a player version)."""
        return self.manifest.get("kind", "player")


def load_version(path: Path) -> DatasetVersion:
    path = storage.location(path)
    manifest = storage.read_json(storage.manifest_path(path))
    if manifest is None:
        raise FileNotFoundError(f"{path} is no dataset version (it has no {storage.MANIFEST})")
    return DatasetVersion(manifest["id"], path, manifest)


def as_version(version: DatasetVersion | Path | str) -> DatasetVersion:
    """A version, or the version at a folder."""
    return version if isinstance(version, DatasetVersion) else load_version(storage.location(version))


def list_versions(data_dir: Path, name: str = DEFAULT_KIND) -> list[DatasetVersion]:
    return [load_version(folder) for folder in storage.version_folders(data_dir, name)]


def _history(data_dir: Path, name: str) -> list[str]:
    """The ids published or requested again, oldest first."""
    earlier = [json.loads(line)["id"] for line in storage.read_lines(storage.dataset_root(data_dir, name) / storage.HISTORY)]
    return earlier + [record.removesuffix(".json").split("-", 1)[1] for record in storage.history_records(data_dir, name)]


def record_published(data_dir: Path, name: str, version_id: str) -> None:
    """Record the id's publish unless it already is the latest entry: one new record, whole or absent (two
    publishers at once each add theirs; the newest names the latest)."""
    entries = _history(data_dir, name)
    if entries and entries[-1] == version_id:
        return
    when = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    storage.write_json(storage.history_record(data_dir, name, f"{when}-{version_id}.json"), {"id": version_id, "published_ns": time.time_ns()})


def latest_dataset(data_dir: Path, name: str = DEFAULT_KIND) -> DatasetVersion | None:
    """The most recently published (or re-requested) version of a dataset; None when there is none."""
    for version_id in reversed(_history(data_dir, name)):
        folder = storage.version_path(data_dir, name, version_id)
        if storage.is_published(folder):
            return load_version(folder)
    versions = list_versions(data_dir, name)
    return max(versions, key=lambda v: storage.file_stat(storage.manifest_path(v.path))[1]) if versions else None


def feature_names(version: DatasetVersion | Path | str) -> list[str]:
    """The observation vector's features, in order."""
    return list(as_version(version).manifest["feature_spec"]["features"])


def read_observations(version: DatasetVersion | Path | str, split: str | None = None,
                      columns: list[str] | None = None, games: list[str] | None = None) -> pl.DataFrame:
    """The observation rows of a version (one split or all), sorted by (game_id, tick) — (game_id, player_id, tick)
    for the crowd; only ``columns`` of them when given (the sort and split columns are read too, and dropped unless
    asked for); only the rows of ``games`` when given (a run of :func:`games_of_split`: memory that run's rows)."""
    if split is not None and split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    version = as_version(version)
    kind = kind_of(version.kind)
    order = [*kind.key, "tick"]
    read = None if columns is None else list(dict.fromkeys([*columns, *order, "split"]))
    if games is None:
        frame = storage.read_dataset_file(version.path, kind.dataset_observations, read)
    else:  # each day's rows are sorted by game: the range lets row-group statistics skip the other games' rows
        scan = storage.scan_dataset_file(version.path, kind.dataset_observations)
        wanted = pl.col("game_id").is_between(pl.lit(min(games)), pl.lit(max(games))) & pl.col("game_id").is_in(games) if games else pl.lit(False)
        frame = scan.filter(wanted).select(read or pl.all()).collect()
    if split is not None:
        frame = frame.filter(pl.col("split") == split)
    frame = frame.sort(*order)
    return frame if columns is None else frame.select(columns)


def games_of_split(version: DatasetVersion | Path | str, split: str | None = None) -> list[str]:
    """The games of a split's observation rows (all splits: None), sorted as :func:`read_observations` sorts them."""
    version = as_version(version)
    rows = storage.scan_dataset_file(version.path, kind_of(version.kind).dataset_observations)
    if split is not None:
        rows = rows.filter(pl.col("split") == split)
    # streamed: memory the games, not the version's rows (a 1M-frame day's crowd version: 40 MB, not 210)
    return rows.select(pl.col("game_id").unique()).collect(engine="streaming")["game_id"].sort().to_list()


def read_episodes(version: DatasetVersion | Path | str) -> pl.DataFrame:
    version = as_version(version)
    return storage.read_dataset_file(version.path, kind_of(version.kind).dataset_episodes)


def describe(version: DatasetVersion) -> str:
    """A few lines for people (the demo's summary): id, size, splits, exclusions, where the files are."""
    counts, manifest = version.manifest["counts"], version.manifest
    splits = ", ".join(f"{s} {counts['per_split'][s]['episodes']} episodes / {counts['per_split'][s]['transitions']:,} transitions" for s in SPLITS)
    excluded = ", ".join(f"{reason}: {n}" for reason, n in counts["excluded_by_reason"].items()) or "none"
    return "\n".join([
        f"{version.kind} dataset version {version.id} ({', '.join(manifest['partitions'])})",
        f"  {counts['episodes_in_training']} of {counts['episodes_total']} episodes, {counts['rows']:,} rows, "
        f"{len(manifest['feature_spec']['features'])} features (spec {manifest['feature_spec']['version']})",
        f"  splits: {splits}",
        f"  excluded: {excluded}",
        *([f"  note: {counts['splits_note']}"] if counts.get("splits_note") else []),
        f"  files: {version.path}",
    ])
