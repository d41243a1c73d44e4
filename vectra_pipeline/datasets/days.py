"""Which days built fully: the record a day's bronze → gold build leaves, and the test every dataset day must pass.

A build of one day writes ``<data>/gold/_built/date=YYYY-MM-DD.json``: the landing segments it read (path, bytes,
sha256, listed *before* the run, so a segment landing mid-run makes the record stale rather than claim it), the
code version (``datasets.identity``), and — when every per-day asset materialised and no ERROR check failed — the
sha256 of the day's gold files; otherwise the problems, one line each. The record holds no timestamp: a rebuild
writes the same bytes.

:func:`day_problem` is what a dataset version asks of each day it would cover: ``None`` when the day's last build
succeeded and its gold is still what that build wrote, from the landing files as they are now, by this code.
"""

from __future__ import annotations

from pathlib import Path

from vectra_pipeline import storage
from vectra_pipeline.datasets.identity import code_version
from vectra_pipeline.datasets.lineage import GOLD_TABLES, gold_files, landing_inputs


def gold_dates(data_dir: Path) -> list[str]:
    """Dates that have every gold table."""
    dates = [set(storage.table_dates(data_dir, table)) for table in GOLD_TABLES]
    return sorted(set.intersection(*dates))


def write_record(data_dir: Path, date: str, landing: list[dict], problems: list[str]) -> dict:
    """Record the outcome of a build of ``date`` that read ``landing`` (``problems`` empty: it built fully)."""
    record = {
        "date": date,
        "code_version": code_version(),
        "landing": landing,
        "gold": [] if problems else gold_files(data_dir, date),
        "problems": problems,
    }
    storage.write_json(storage.day_record_path(data_dir, date), record, indent=1)
    return record


def read_record(data_dir: Path, date: str) -> dict | None:
    return storage.read_json(storage.day_record_path(data_dir, date))


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
