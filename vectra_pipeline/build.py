"""``build()``: materialise the pipeline in-process for some landing dates — what ``vectra build``, the demo, the
benchmarks and the tests call.

The same jobs the Dagster UI shows (``vectra_pipeline.defs.jobs``) run with the in-process executor: for each date
``landing_to_gold`` (the daily assets, ``defs.jobs.DAILY``: bronze → silver → gold), then once ``datasets``. Each
day's outcome is recorded (``datasets.days``) so a dataset version covers only days that built fully. The result is
a :class:`BuildSummary`: rows per asset and date, checks, one-line failures and notes. Runs are recorded in the
instance of ``dagster_home`` (the commands pass the data root's own, :mod:`vectra_pipeline.instance`), else of
``$DAGSTER_HOME``, else an ephemeral one; the dates built become partitions there (``defs.partitions``).
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field
from pathlib import Path

from capture_agent.errors import VectraError
from vectra_pipeline import storage


@dataclass
class BuildSummary:
    rows: dict[tuple[str, str], int] = field(default_factory=dict)  # (asset, partition or "") → row count (-1: none reported)
    checks: list[tuple[str, str, bool, str]] = field(default_factory=list)  # (check, partition, passed, severity)
    check_details: dict[tuple[str, str], str] = field(default_factory=dict)  # (check, partition) → "asset: key=value, …"
    failed_runs: list[str] = field(default_factory=list)  # one line per failed step: where, why, what to do
    tracebacks: list[str] = field(default_factory=list)  # the failed steps' full errors (printed with --verbose)
    notes: list[str] = field(default_factory=list)  # one-line notes of the assets (rejected landing files, nothing to train on)

    @property
    def ok(self) -> bool:
        return not self.failed_runs and all(passed or severity != "ERROR" for _, _, passed, severity in self.checks)


def landing_dates(data_dir: Path) -> list[str]:
    """Every date that has landing segments."""
    return sorted({storage.landing_date(path) for path in storage.landing_segments(data_dir)})


def resolve_dates(data_dir: Path, requested: list[str] | None) -> list[str]:
    """The dates to build: ``requested`` (each checked) or, when None, every landing date; a one-line error otherwise."""
    available = landing_dates(data_dir)
    landing = storage.location(data_dir, storage.LANDING_DIR)
    if requested:
        bad = [d for d in requested if not _is_date(d)]
        if bad:
            raise VectraError(f"--date {bad[0]!r} is not a date of the form YYYY-MM-DD")
        missing = [d for d in requested if d not in available]
        if missing:
            raise VectraError(f"no landing data for {missing[0]} under {landing}; run `vectra import` or `vectra capture` first")
        return sorted(set(requested))
    if not available:
        raise VectraError(f"no landing data under {landing}; run `vectra import FILE…` or `vectra capture` first")
    return available


def _is_date(text: str) -> bool:
    """A real calendar date written YYYY-MM-DD (2026-13-45 is not one; neither is 20261231)."""
    try:
        return len(text) == 10 and dt.date.fromisoformat(text).isoformat() == text
    except ValueError:
        return False


def _run_config(verbose: bool) -> dict:
    # Dagster's console log prints every step failure with its traceback; the summary says it in one line instead
    return {"loggers": {"console": {"config": {"log_level": "ERROR" if verbose else "CRITICAL"}}}}


def build(data_dir: Path, dates: list[str], show_progress: bool = False, include_gold: bool = True, verbose: bool = False,
          dagster_home: Path | None = None) -> BuildSummary:
    """Materialise bronze+silver (and gold and the datasets unless ``include_gold`` is false) for ``dates``."""
    import warnings

    import dagster as dg
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    warnings.filterwarnings("ignore", category=Warning, module="dagster")
    warnings.filterwarnings("ignore", message=".*(beta|preview|superseded|deprecated).*")
    from vectra_pipeline import warehouse
    from vectra_pipeline.datasets.lineage import landing_inputs
    from vectra_pipeline.defs.assets import ASSETS
    from vectra_pipeline.defs.built import record_run
    from vectra_pipeline.defs.checks import CHECKS
    from vectra_pipeline.defs.jobs import UI_RUN_TAGS, jobs, landing_to_gold, publish_dataset
    from vectra_pipeline.defs.partitions import register_days
    from vectra_pipeline.defs.resources import VectraPaths
    from vectra_pipeline.defs.stale_runs import fail_runs_of_dead_processes, run_process_tags
    from vectra_pipeline.instance import open_instance

    everything = [*ASSETS, *CHECKS]
    # The UI's own jobs, bound to this data root: runs are named landing_to_gold and datasets, as the daemon's are
    local = dg.Definitions(assets=ASSETS, asset_checks=CHECKS, jobs=jobs, executor=dg.in_process_executor,
                           resources={"paths": VectraPaths(data_dir=str(data_dir))})
    day_job, datasets_job = local.resolve_job_def(landing_to_gold.name), local.resolve_job_def(publish_dataset.name)
    subset = None if include_gold else sorted(dg.AssetSelection.groups("bronze", "silver").resolve(ASSETS))
    steps = _step_names(everything)
    summary = BuildSummary()
    named = dagster_home or os.environ.get("DAGSTER_HOME")
    instance = open_instance(Path(named) if named else None)
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    storage.sweep_data_root(data_dir)  # temp files and folders of killed builds
    tags = {**run_process_tags(), **UI_RUN_TAGS}
    with instance, Progress(*columns, disable=not show_progress, transient=False) as progress:
        fail_runs_of_dead_processes(instance)
        register_days(instance, dates)
        task = progress.add_task("building", total=len(dates) + (1 if include_gold else 0))
        for date in dates:
            progress.update(task, description=f"bronze → silver {date}")
            landing = landing_inputs(data_dir, [date])  # listed before the run: a segment landing mid-run is not claimed
            result = day_job.execute_in_process(
                partition_key=date, asset_selection=subset, instance=instance, run_config=_run_config(verbose),
                raise_on_error=False, tags=tags,
            )  # fmt: skip
            _collect(result, date, summary, steps)
            if include_gold:
                record_run(data_dir, date, landing, result.all_events)
            progress.advance(task)
        if include_gold:
            progress.update(task, description="datasets")
            result = datasets_job.execute_in_process(instance=instance, run_config=_run_config(verbose), raise_on_error=False, tags=tags)
            _collect(result, "", summary, steps)
            progress.advance(task)
        progress.update(task, description="done")
    warehouse.refresh(data_dir, force=True)  # a fresh file swapped in: never a lock a user's client holds
    return summary


def _step_names(definitions: list) -> dict[str, str]:
    """Dagster step key → what users call it: the assets a step materialises, or ``check <name> (<asset>)``."""
    import dagster as dg

    names = {}
    for definition in definitions:
        if isinstance(definition, dg.AssetChecksDefinition):
            for key in definition.check_keys:
                names[definition.node_def.name] = f"check {key.name} ({key.asset_key.to_user_string()})"
        else:
            names[definition.node_def.name] = ", ".join(sorted(key.to_user_string() for key in definition.keys))
    return names


def _collect(result, partition: str, summary: BuildSummary, steps: dict[str, str]) -> None:
    from vectra_pipeline.defs.metadata import NOTES

    where = partition or "datasets"
    rerun = f"vectra build --date {partition} --verbose" if partition else "vectra build --verbose"
    failures = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    for event in failures:
        data = event.event_specific_data
        name = steps.get(event.step_key, event.step_key)
        if data.user_failure_data is not None and data.user_failure_data.description:  # dg.Failure: written for users
            summary.failed_runs.append(f"{where} {name}: {_one_line(data.user_failure_data.description)}")
        else:
            summary.failed_runs.append(f"{where} {name}: {_cause(data.error)} — run `{rerun}` for the traceback")
        summary.tracebacks.append(f"{where} {name}:\n{data.error.to_string()}")
    if not result.success and not failures:
        summary.failed_runs.append(f"{where}: the run failed before any step ran — run `{rerun}` for Dagster's log")
    started = {e.step_key for e in result.all_events if e.event_type_value == "STEP_START"}
    skipped = sorted(
        (steps.get(key, key) for key in result.dagster_run.step_keys_to_execute or () if key not in started),
        key=lambda name: (name.startswith("check "), name),  # assets first, then their checks
    )
    if failures and skipped:
        summary.failed_runs.append(f"{where}: not built because a step they need failed: {'; '.join(skipped)}")
    for event in result.get_asset_materialization_events():
        materialization = event.event_specific_data.materialization
        count = materialization.metadata.get("dagster/row_count")
        summary.rows[(materialization.asset_key.to_user_string(), partition)] = int(count.value) if count else -1
        notes = materialization.metadata.get(NOTES)
        summary.notes.extend(f"{partition + ' ' if partition else ''}{line}" for line in (notes.value if notes else []))
    for event in result.all_events:
        if event.event_type_value == "ASSET_CHECK_EVALUATION":
            evaluation = event.event_specific_data
            summary.checks.append(
                (evaluation.check_name, partition, evaluation.passed, evaluation.severity.value if evaluation.severity else "ERROR")
            )
            figures = ", ".join(f"{k}={v.value}" for k, v in evaluation.metadata.items() if isinstance(v.value, (int, float, str)) and len(str(v.value)) < 60)
            summary.check_details[(evaluation.check_name, partition)] = evaluation.asset_key.to_user_string() + (f": {figures}" if figures else "")


def _cause(error) -> str:
    """The innermost error of Dagster's wrapping (``Error occurred while executing op …`` → the asset's exception)."""
    while error.cause is not None:
        error = error.cause
    return _one_line(error.message)


def _one_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    line = " ".join(lines) if len(lines) <= 3 else lines[0] + " …"
    return line if len(line) <= 300 else line[:299] + "…"
