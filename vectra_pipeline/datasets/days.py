"""Which days built fully: the record a day's bronze → gold build leaves, and the test every dataset day must pass.

A build of one day writes ``<data>/gold/_built/date=YYYY-MM-DD.json``: the landing segments it read (path, bytes,
sha256, listed *before* the run, so a segment landing mid-run makes the record stale rather than claim it), the
code version, and — when every per-day asset materialised and no ERROR check failed — the sha256 of the day's gold
files; otherwise the problems, one line each. The record holds no timestamp: a rebuild writes the same bytes.

:func:`day_problem` is what a dataset version asks of each day it would cover: ``None`` when the day's last build
succeeded and its gold is still what that build wrote, from the landing files as they are now, by this code.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from vectra_pipeline import storage
from vectra_pipeline.datasets.publish import GOLD_DIR, GOLD_TABLES, code_version, file_sha256, gold_partition_path, landing_inputs

RECORDS_DIR = "_built"


def record_path(data_dir: Path, date: str) -> Path:
    return Path(data_dir) / GOLD_DIR / RECORDS_DIR / f"date={date}.json"


def gold_files(data_dir: Path, date: str) -> list[dict]:
    """The day's gold partition files (path relative to the data root, sha256); absent files are left out."""
    paths = (gold_partition_path(data_dir, table, date) for table in GOLD_TABLES)
    return [{"path": p.relative_to(data_dir).as_posix(), "sha256": file_sha256(p)} for p in paths if p.exists()]


def landing_fingerprint(data_dir: Path, date: str) -> str:
    """A cheap digest of the day's landing listing (path, size, mtime): equal before and after a run means the run
    read exactly the segments there are now (segments are immutable once published)."""
    from capture_agent.landing.segments import segment_paths

    listing = sorted(f"{p.name}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in segment_paths(data_dir, date))
    return hashlib.sha256("\n".join(listing).encode()).hexdigest()[:16]


def write_record(data_dir: Path, date: str, landing: list[dict], problems: list[str]) -> dict:
    """Record the outcome of a build of ``date`` that read ``landing`` (``problems`` empty: it built fully)."""
    data_dir = Path(data_dir)
    record = {
        "date": date,
        "code_version": code_version(),
        "landing": landing,
        "gold": [] if problems else gold_files(data_dir, date),
        "problems": problems,
    }
    final = record_path(data_dir, date)
    final.parent.mkdir(parents=True, exist_ok=True)
    storage.sweep(final.parent)
    temp = storage.temp_path(final)
    temp.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(temp, final)
    return record


def read_record(data_dir: Path, date: str) -> dict | None:
    try:
        return json.loads(record_path(data_dir, date).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None


def day_problem(data_dir: Path, date: str) -> str | None:
    """Why ``date`` cannot go into a dataset version now (one line), or None when it built fully and is current."""
    record = read_record(data_dir, date)
    if record is None:
        return "no build of it on record"
    if record["problems"]:
        return f"its last build failed: {'; '.join(record['problems'])}"
    if record["code_version"] != code_version():
        return "built by other pipeline code"
    if record["landing"] != landing_inputs(data_dir, [date]):
        return "its landing files changed since its build"
    if record["gold"] != gold_files(data_dir, date):
        return "its gold files changed since its build"
    return None
