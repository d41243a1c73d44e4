"""Publish a dataset version: ``<data>/datasets/<name>/<id>/`` whole or not at all, or reuse the one with the same id.

The files come from the datasets stage (:mod:`.contents`): ``episodes.parquet``, ``observations.parquet`` (written
a run of games at a time), the card ``README.md`` (:mod:`.card`, derived from the manifest, whose statistics are read
back from the written rows a day and a column at a time) and ``manifest.json`` last.
``storage.publish_folder`` makes the version appear whole: on a local root the files are filled into a temp folder
beside the version and renamed in (the dead writer's temp folder is swept by the next publish); on an object store
they are uploaded under ``<id>/`` and ``manifest.json`` is created last with ``If-None-Match: *`` (a version exists
only if its manifest does; unsealed leftovers are collected after a grace period). Either way a kill at any moment
leaves no version or a complete one, and a second publisher of the same content-addressed id finds it already
published: it is reused, never rewritten. The history records each publish.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import polars as pl

from vectra_pipeline import storage
from vectra_pipeline.datasets import card, contents, identity, registry
from vectra_pipeline.datasets.contents import DatasetParams
from vectra_pipeline.datasets.registry import DatasetVersion


def _by_partition(observations: pl.DataFrame | Mapping[str, pl.LazyFrame | pl.DataFrame]) -> dict[str, pl.LazyFrame]:
    if isinstance(observations, pl.DataFrame):
        if observations.is_empty():
            return {}
        return {key[0]: frame.lazy() for key, frame in observations.partition_by("partition", as_dict=True).items()}
    return {date: frame.lazy() for date, frame in observations.items()}


def publish(data_dir: Path, partitions: list[str], episodes: pl.DataFrame,
            observations: pl.DataFrame | Mapping[str, pl.LazyFrame | pl.DataFrame], inputs: list[dict],
            params: DatasetParams | None = None, gold_files: list[dict] | None = None) -> tuple[DatasetVersion, bool]:
    """Publish the dataset of these partitions, or reuse the version with the same id. Returns (version, created).

    ``episodes`` (all partitions, with a ``partition`` column) is small and read whole; ``observations`` is either
    one frame with a ``partition`` column or a mapping date → (lazy) frame, written one partition at a time, so
    memory stays at one day's rows however many days the dataset spans.
    """
    params = params or DatasetParams()
    code = identity.code_version()
    version_id = identity.dataset_id(inputs, partitions, params, code)
    final = storage.version_path(data_dir, params.name, version_id)
    storage.collect_leftovers(final.parent)  # what killed publishes left
    if storage.is_published(final):
        registry.record_published(data_dir, params.name, version_id)
        return registry.load_version(final), False
    version_episodes, duplicates = contents.version_episodes(episodes, params)
    by_partition = {d: f for d, f in _by_partition(observations).items() if d in set(partitions)}

    def fill(folder: Path) -> None:
        kind = params.spec
        episodes_file = storage.write_dataset_file(version_episodes, kind.dataset_episodes, folder)
        rows, day_rows = contents.empty_row_counts(), []
        appender = storage.DatasetFileAppender(kind.dataset_observations, folder)
        try:
            for date in sorted(by_partition):
                before = appender.rows
                for run in contents.version_row_runs(by_partition[date], version_episodes, date, kind.key):
                    appender.add(run)
                    contents.add_row_counts(rows, run)
                appender.flush()  # a day ends its last row group, as when days were written whole
                day_rows.append(appender.rows - before)
        finally:
            appender.close()
        counts = contents.counts(version_episodes, rows, duplicates)
        files = {
            path.name: {"rows": count, "bytes": storage.file_stat(path)[0], "sha256": storage.file_sha256(path)}
            for path, count in ((episodes_file, version_episodes.height), (appender.path, counts["rows"]))
        }
        storage.crash_point("dataset:files-written")
        # the card's figures from the rows as written, a day and a column at a time (never a day's rows in memory)
        stats = card.FeatureStats(kind.features, kind.key)
        written, start = storage.scan_dataset_file(folder, kind.dataset_observations), 0
        for day in day_rows:
            if day:
                stats.add_day(written.slice(start, day), day)
            start += day
        version_identity = {"id": version_id, "code_version": code, "stage_versions": identity.stage_versions()}
        summaries = {"feature_stats": stats.features_summary(), "episode_returns": stats.returns_summary()}
        manifest = contents.manifest(version_identity, params, partitions, inputs, gold_files or [], version_episodes, counts, files, summaries)
        storage.write_text(storage.location(folder, card.CARD), card.render_card(manifest))
        storage.write_new_json(storage.manifest_path(folder), manifest)  # last: a folder without it is no version

    created = storage.publish_folder(final, fill, ready="dataset:manifest-written")
    if created:
        storage.crash_point("dataset:published")
    registry.record_published(data_dir, params.name, version_id)
    return registry.load_version(final), created
