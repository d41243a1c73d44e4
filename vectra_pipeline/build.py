"""``build()``: materialise the pipeline in-process for some landing dates — what ``vectra build``, the demo, the
benchmarks and the tests call.

The same jobs the Dagster UI shows (``vectra_pipeline.defs.jobs``) run with the in-process executor: for each date
``landing_to_gold`` (the daily assets, ``defs.jobs.DAILY``: bronze → silver → gold), then once ``datasets``. Each
day's outcome is recorded (``datasets.days``) so a dataset version covers only days that built fully. The result is
a :class:`BuildSummary`: rows per asset and date, checks, one-line failures and notes. Runs are recorded in the
instance of ``dagster_home`` (the commands pass the data root's own, :mod:`vectra_pipeline.instance`), else of
``$DAGSTER_HOME``, else an ephemeral one; the dates built become partitions there (``defs.partitions``). With
``jobs`` > 1 the days build that many at a time, each in a worker process of its own (a backfill on every core).
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
          jobs: int = 1, dagster_home: Path | None = None) -> BuildSummary:  # fmt: skip
    """Materialise bronze+silver (and gold and the datasets unless ``include_gold`` is false) for ``dates``; with
    ``jobs`` > 1, that many days at a time, each in a worker process of its own (a backfill on every core)."""
    _quiet_dagster()
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from vectra_pipeline import warehouse
    from vectra_pipeline.defs.partitions import register_days
    from vectra_pipeline.defs.stale_runs import fail_runs_of_dead_processes

    named = dagster_home or os.environ.get("DAGSTER_HOME")
    home = Path(named) if named else None
    summary = BuildSummary()
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    storage.sweep_data_root(data_dir)  # temp files and folders of killed builds
    local = _LocalJobs(data_dir, include_gold)
    with _open_instance(home) as instance, Progress(*columns, disable=not show_progress, transient=False) as progress:
        fail_runs_of_dead_processes(instance)
        register_days(instance, dates)
        task = progress.add_task("building", total=len(dates) + (1 if include_gold else 0))
        if jobs > 1 and len(dates) > 1:
            progress.update(task, description=f"bronze → silver: {len(dates)} days, {min(jobs, len(dates))} at a time")
            _build_days_in_parallel(data_dir, dates, include_gold, verbose, jobs, home, summary, lambda: progress.advance(task))
        else:
            for date in dates:
                progress.update(task, description=f"bronze → silver {date}")
                local.build_day(instance, date, verbose, summary)
                progress.advance(task)
        if include_gold:
            progress.update(task, description="datasets")
            local.build_datasets(instance, verbose, summary)
            progress.advance(task)
        progress.update(task, description="done")
    warehouse.refresh(data_dir, force=True)  # a fresh file swapped in: never a lock a user's client holds
    return summary


def _quiet_dagster() -> None:
    import warnings

    warnings.filterwarnings("ignore", category=Warning, module="dagster")
    warnings.filterwarnings("ignore", message=".*(beta|preview|superseded|deprecated).*")


def _open_instance(home: Path | None):
    from vectra_pipeline.instance import open_instance

    return open_instance(home)


class _LocalJobs:
    """The UI's own jobs bound to one data root: runs are named ``landing_to_gold`` and ``datasets``, as the
    daemon's are, and tagged with the process that runs them (``defs.stale_runs``)."""

    def __init__(self, data_dir: Path, include_gold: bool) -> None:
        import dagster as dg

        from vectra_pipeline.defs.assets import ASSETS
        from vectra_pipeline.defs.checks import CHECKS
        from vectra_pipeline.defs.jobs import UI_RUN_TAGS, jobs, landing_to_gold, publish_dataset
        from vectra_pipeline.defs.resources import VectraPaths
        from vectra_pipeline.defs.stale_runs import run_process_tags

        local = dg.Definitions(assets=ASSETS, asset_checks=CHECKS, jobs=jobs, executor=dg.in_process_executor,
                               resources={"paths": VectraPaths(data_dir=str(data_dir))})
        self.data_dir, self.include_gold = data_dir, include_gold
        self.day_job, self.datasets_job = local.resolve_job_def(landing_to_gold.name), local.resolve_job_def(publish_dataset.name)
        self.subset = None if include_gold else sorted(dg.AssetSelection.groups("bronze", "silver").resolve(ASSETS))
        self.steps = _step_names([*ASSETS, *CHECKS])
        self.tags = {**run_process_tags(), **UI_RUN_TAGS}

    def build_day(self, instance, date: str, verbose: bool, summary: BuildSummary) -> None:
        """One date's daily assets (bronze → silver, → gold unless not ``include_gold``) into ``summary``."""
        from vectra_pipeline.datasets.lineage import landing_inputs
        from vectra_pipeline.defs.built import record_run

        landing = landing_inputs(self.data_dir, [date])  # listed before the run: a segment landing mid-run is not claimed
        result = self.day_job.execute_in_process(
            partition_key=date, asset_selection=self.subset, instance=instance, run_config=_run_config(verbose),
            raise_on_error=False, tags=self.tags,
        )  # fmt: skip
        _collect(result, date, summary, self.steps)
        if self.include_gold:
            record_run(self.data_dir, date, landing, result.all_events)

    def build_datasets(self, instance, verbose: bool, summary: BuildSummary) -> None:
        result = self.datasets_job.execute_in_process(instance=instance, run_config=_run_config(verbose),
                                                      raise_on_error=False, tags=self.tags)  # fmt: skip
        _collect(result, "", summary, self.steps)


def _build_days_in_parallel(data_dir: Path, dates: list[str], include_gold: bool, verbose: bool, jobs: int,
                            home: Path | None, summary: BuildSummary, advance) -> None:  # fmt: skip
    """Each date in a worker process of its own (``jobs`` at a time), merged into ``summary`` in date order.

    Days are independent partitions: their files and Dagster runs never overlap, the warehouse refresh is locked,
    and temp names carry the writer's PID. Workers are spawned (no fork of a process holding polars' threads) and die
    with the build, so a kill -9 of ``vectra build`` leaves no worker writing behind it.
    """
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    from vectra_pipeline.decode_workers import decode_workers
    from vectra_pipeline.worker_processes import die_with_parent

    outcomes: dict[str, BuildSummary] = {}
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(min(jobs, len(dates)), mp_context=context, initializer=die_with_parent,
                             initargs=(os.getpid(),)) as pool:
        # the root as text: a worker makes its own S3 client (a client is never pickled across processes)
        share = max(1, decode_workers() // min(jobs, len(dates)))  # each day's decode gets its share of the cores
        futures = {pool.submit(_day_in_worker, str(data_dir), date, include_gold, verbose, home, share): date for date in dates}
        for future in as_completed(futures):
            date = futures[future]
            try:
                outcomes[date] = future.result()
            except Exception as error:  # noqa: BLE001 - a worker killed (OOM, kill -9) or unable to start
                outcomes[date] = BuildSummary(failed_runs=[
                    f"{date}: the worker process building it failed ({_one_line(str(error) or type(error).__name__)}) — "
                    f"run `vectra build --date {date} --verbose`"
                ])  # fmt: skip
            advance()
    for date in dates:
        _merge(summary, outcomes[date])


def _day_in_worker(data_root: str, date: str, include_gold: bool, verbose: bool, home: Path | None,
                   decoders: int) -> BuildSummary:  # fmt: skip
    from vectra_pipeline.decode_workers import WORKERS_ENV

    _quiet_dagster()
    os.environ[WORKERS_ENV] = str(decoders)
    data_dir = storage.location(data_root)
    summary = BuildSummary()
    with _open_instance(home) as instance:
        _LocalJobs(data_dir, include_gold).build_day(instance, date, verbose, summary)
    return summary


def _merge(summary: BuildSummary, day: BuildSummary) -> None:
    summary.rows.update(day.rows)
    summary.checks.extend(day.checks)
    summary.check_details.update(day.check_details)
    summary.failed_runs.extend(day.failed_runs)
    summary.tracebacks.extend(day.tracebacks)
    summary.notes.extend(day.notes)


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
