"""What a build read and wrote, as files and hashes: the landing segments of a day (cached sha256), a day's gold
files, and a cheap fingerprint of a day's landing listing. Dataset manifests and day records hold these."""

from __future__ import annotations

import hashlib
from pathlib import Path

from vectra_pipeline import storage
from vectra_pipeline.schema import TABLES

GOLD_TABLES = tuple(name for name, table in TABLES.items() if table.stage == "gold")


def landing_inputs(data_dir: Path, partitions: list[str]) -> list[dict]:
    """Landing segment files of the partitions: path (relative to the data dir), bytes, sha256.

    Published segments are immutable, so hashes are cached in ``<data>/datasets/.landing-sha256.json`` by
    (path, size, mtime): a nightly build hashes only the new day.
    """
    cache_path = storage.landing_hash_cache(data_dir)
    cache = storage.read_json(cache_path) or {}
    files, fresh = [], {}
    for date in sorted(partitions):
        for path in storage.landing_segments(data_dir, date):
            relative, (size, mtime) = storage.relative(data_dir, path), storage.file_stat(path)
            cached = cache.get(relative)
            digest = cached[2] if cached and cached[:2] == [size, mtime] else storage.file_sha256(path)
            fresh[relative] = [size, mtime, digest]
            files.append({"path": relative, "bytes": size, "sha256": digest})
    if any(cache.get(k) != v for k, v in fresh.items()):
        storage.write_json(cache_path, {**cache, **fresh})
    return files


def gold_files(data_dir: Path, date: str) -> list[dict]:
    """The day's gold partition files (path relative to the data root, sha256); absent files are left out."""
    paths = (storage.table_path(data_dir, table, date) for table in GOLD_TABLES)
    return [{"path": storage.relative(data_dir, p), "sha256": storage.file_sha256(p)} for p in paths if p.exists()]


def landing_fingerprint(data_dir: Path, date: str) -> str:
    """A cheap digest of the day's landing listing (path, size, mtime): equal before and after a run means the run
    read exactly the segments there are now (segments are immutable once published)."""
    stats = ((p.name, *storage.file_stat(p)) for p in storage.landing_segments(data_dir, date))
    listing = sorted(f"{name}:{size}:{mtime}" for name, size, mtime in stats)
    return hashlib.sha256("\n".join(listing).encode()).hexdigest()[:16]
