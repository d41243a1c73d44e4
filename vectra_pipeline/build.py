"""``build()``: materialise the pipeline in-process for some landing dates — what ``vectra build``, the demo, the
benchmarks and the tests call.

The same asset definitions the Dagster UI shows (``vectra_pipeline.definitions``) run with the in-process executor:
for each date the daily assets (``defs.jobs.DAILY``: bronze → silver → gold), then once the datasets
(``defs.jobs.DATASETS``). Each day's outcome is recorded (``datasets.days``) so a dataset version covers only days
that built fully. The result is a :class:`BuildSummary`: rows per asset and date, checks, one-line failures and notes.
``DAGSTER_HOME`` defaults to the repository's ``dagster_home/`` (runs then appear in ``dagster dev``); without it
the instance is ephemeral.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from capture_agent.errors import VectraError
from vectra_pipeline import storage

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
REPO_DAGSTER_HOME = Path(__file__).resolve().parents[1] / "dagster_home"


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


def ensure_dagster_home() -> str | None:
    """Point DAGSTER_HOME at the repo's dagster_home/ when unset; None means an ephemeral instance."""
    if not os.environ.get("DAGSTER_HOME") and REPO_DAGSTER_HOME.is_dir():
        os.environ["DAGSTER_HOME"] = str(REPO_DAGSTER_HOME)
    home = os.environ.get("DAGSTER_HOME")
    if home and not Path(home).is_absolute():
        raise VectraError(f"DAGSTER_HOME must be an absolute path, not {home!r}")
    return home


def landing_dates(data_dir: Path) -> list[str]:
    """Every date that has landing segments."""
    return sorted({storage.landing_date(path) for path in storage.landing_segments(data_dir)})


def resolve_dates(data_dir: Path, requested: list[str] | None) -> list[str]:
    """The dates to build: ``requested`` (each checked) or, when None, every landing date; a one-line error otherwise."""
    available = landing_dates(data_dir)
    landing = storage.location(data_dir, storage.LANDING_DIR)
    if requested:
        bad = [d for d in requested if not _DATE.match(d)]
        if bad:
            raise VectraError(f"--date {bad[0]!r} is not of the form YYYY-MM-DD")
        missing = [d for d in requested if d not in available]
        if missing:
            raise VectraError(f"no landing data for {missing[0]} under {landing}; run `vectra import` or `vectra capture` first")
        return sorted(set(requested))
    if not available:
        raise VectraError(f"no landing data under {landing}; run `vectra import FILE…` or `vectra capture` first")
    return available


def _run_config(verbose: bool) -> dict:
    # Dagster's console log prints every step failure with its traceback; the summary says it in one line instead
    return {"loggers": {"console": {"config": {"log_level": "ERROR" if verbose else "CRITICAL"}}}}


def build(data_dir: Path, dates: list[str], show_progress: bool = False, include_gold: bool = True, verbose: bool = False,
          jobs: int = 1) -> BuildSummary:  # fmt: skip
    """Materialise bronze+silver (and gold and the datasets unless ``include_gold`` is false) for ``dates``; with
    ``jobs`` > 1, that many days at a time, each in a worker process of its own (a backfill on every core)."""
    import warnings

    import dagster as dg
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    warnings.filterwarnings("ignore", category=Warning, module="dagster")
    warnings.filterwarnings("ignore", message=".*(beta|preview|superseded|deprecated).*")
    from vectra_pipeline import warehouse
    from vectra_pipeline.defs.assets import ASSETS
    from vectra_pipeline.defs.checks import CHECKS
    from vectra_pipeline.defs.jobs import DATASETS
    from vectra_pipeline.defs.partitions import daily
    from vectra_pipeline.defs.stale_runs import fail_runs_of_dead_processes, run_process_tags

    valid = set(daily.get_partition_keys())
    outside = [d for d in dates if d not in valid]
    if outside:
        raise VectraError(f"landing date {outside[0]} is outside the pipeline's partitions ({daily.start.date()} … today)")
    summary = BuildSummary()
    instance = _instance()
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    storage.sweep_data_root(data_dir)  # temp files and folders of killed builds
    with instance, Progress(*columns, disable=not show_progress, transient=False) as progress:
        fail_runs_of_dead_processes(instance)
        task = progress.add_task("building", total=len(dates) + (1 if include_gold else 0))
        if jobs > 1 and len(dates) > 1:
            progress.update(task, description=f"bronze → silver: {len(dates)} days, {min(jobs, len(dates))} at a time")
            _build_days_in_parallel(data_dir, dates, include_gold, verbose, jobs, summary, lambda: progress.advance(task))
        else:
            for date in dates:
                progress.update(task, description=f"bronze → silver {date}")
                _build_day(instance, data_dir, date, include_gold, verbose, summary)
                progress.advance(task)
        if include_gold:
            progress.update(task, description="datasets")
            result = dg.materialize(
                [*ASSETS, *CHECKS], selection=DATASETS, instance=instance, resources=_resources(data_dir),
                run_config=_run_config(verbose), raise_on_error=False, tags=run_process_tags(),
            )  # fmt: skip
            _collect(result, "", summary, _step_names([*ASSETS, *CHECKS]))
            progress.advance(task)
        progress.update(task, description="done")
    warehouse.refresh(data_dir, force=True)  # a fresh file swapped in: never a lock a user's client holds
    return summary


def _instance():
    import dagster as dg

    return dg.DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else dg.DagsterInstance.ephemeral()


def _resources(data_dir: Path) -> dict:
    from vectra_pipeline.defs.resources import VectraPaths

    return {"paths": VectraPaths(data_dir=str(data_dir))}


def _build_day(instance, data_dir: Path, date: str, include_gold: bool, verbose: bool, summary: BuildSummary) -> None:
    """One date's daily assets (bronze → silver, → gold unless ``include_gold`` is false) into ``summary``."""
    import dagster as dg

    from vectra_pipeline.datasets.lineage import landing_inputs
    from vectra_pipeline.defs.assets import ASSETS
    from vectra_pipeline.defs.built import record_run
    from vectra_pipeline.defs.checks import CHECKS
    from vectra_pipeline.defs.jobs import DAILY
    from vectra_pipeline.defs.stale_runs import run_process_tags

    everything = [*ASSETS, *CHECKS]
    landing = landing_inputs(data_dir, [date])  # listed before the run: a segment landing mid-run is not claimed
    result = dg.materialize(
        everything, selection=DAILY if include_gold else dg.AssetSelection.groups("bronze", "silver"), partition_key=date,
        instance=instance, resources=_resources(data_dir), run_config=_run_config(verbose), raise_on_error=False,
        tags=run_process_tags(),
    )  # fmt: skip
    _collect(result, date, summary, _step_names(everything))
    if include_gold:
        record_run(data_dir, date, landing, result.all_events)


def _build_days_in_parallel(data_dir: Path, dates: list[str], include_gold: bool, verbose: bool, jobs: int,
                            summary: BuildSummary, advance) -> None:  # fmt: skip
    """Each date in a worker process of its own (``jobs`` at a time), merged into ``summary`` in date order.

    Days are independent partitions: their files and Dagster runs never overlap, the warehouse refresh is locked,
    and temp names carry the writer's PID. Workers are spawned (no fork of a process holding polars' threads) and die
    with the build, so a kill -9 of ``vectra build`` leaves no worker writing behind it.
    """
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    outcomes: dict[str, BuildSummary] = {}
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(min(jobs, len(dates)), mp_context=context, initializer=_die_with_parent,
                             initargs=(os.getpid(),)) as pool:
        futures = {pool.submit(_day_in_worker, data_dir, date, include_gold, verbose): date for date in dates}
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


def _day_in_worker(data_dir: Path, date: str, include_gold: bool, verbose: bool) -> BuildSummary:
    import warnings

    warnings.filterwarnings("ignore", category=Warning, module="dagster")
    warnings.filterwarnings("ignore", message=".*(beta|preview|superseded|deprecated).*")
    summary = BuildSummary()
    with _instance() as instance:
        _build_day(instance, data_dir, date, include_gold, verbose, summary)
    return summary


def _die_with_parent(parent: int) -> None:
    """Linux: the kernel SIGKILLs this worker when the build process dies (prctl PR_SET_PDEATHSIG); a build that
    died while this worker was starting is seen here, and the worker ends before it takes a day."""
    import ctypes
    import signal

    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: workers end when their task queue closes
        return
    if os.getppid() != parent:
        os.kill(os.getpid(), signal.SIGKILL)


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
