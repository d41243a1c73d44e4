"""Whether a Dagster run built its day fully — every daily asset (``jobs.DAILY``) materialised, no step failed,
no ERROR check failed — and the day record it leaves (``datasets.days``). Used by ``vectra build`` after each
day's in-process run and by the ``day_built`` run-status sensor after a daemon-launched one."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import dagster as dg

from vectra_pipeline import storage
from vectra_pipeline.datasets import days
from vectra_pipeline.defs.jobs import daily_asset_keys


def run_problems(events: Iterable[dg.DagsterEvent]) -> list[str]:
    """One line per reason the run did not build its day fully; empty when it did."""
    problems, materialized = [], set()
    for event in events:
        if event.event_type_value == "STEP_FAILURE":
            problems.append(f"step {event.step_key} failed")
        elif event.event_type_value == "ASSET_MATERIALIZATION":
            materialized.add(event.asset_key)
        elif event.event_type_value == "ASSET_CHECK_EVALUATION":
            evaluation = event.event_specific_data
            if not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.ERROR:
                problems.append(f"check {evaluation.check_name} failed")
    missing = sorted(key.to_user_string() for key in daily_asset_keys() if key not in materialized)
    if missing and not problems:
        problems.append(f"not materialised: {', '.join(missing)}")
    return problems


def record_run(data_dir: Path, date: str, landing: list[dict], events: Iterable[dg.DagsterEvent]) -> list[str]:
    """Write the day record of a run of ``date`` that read ``landing`` (listed before the run); returns its problems.

    A file bronze rejected during the run (moved to ``landing/_rejected/``) was not read: it is no input of the day.
    """
    problems = run_problems(events)
    read = [entry for entry in landing if storage.location(data_dir, entry["path"]).exists()]
    days.write_record(data_dir, date, read, problems)
    return problems
