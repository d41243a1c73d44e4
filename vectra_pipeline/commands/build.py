"""``vectra build``: materialise the pipeline through Dagster, in-process, for one date or every landing date.

The same asset definitions the Dagster UI shows (``vectra_pipeline.definitions``) run with the in-process
executor. ``DAGSTER_HOME`` defaults to the repository's ``dagster_home/`` (runs then appear in ``dagster dev``);
without it the instance is ephemeral.
"""

from __future__ import annotations

import argparse
import functools
import os
import re
from pathlib import Path

from capture_agent.config import add_data_argument
from capture_agent.errors import VectraError

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
REPO_DAGSTER_HOME = Path(__file__).resolve().parents[2] / "dagster_home"
PER_DATE_GROUPS = ("bronze", "silver")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--date", action="append", metavar="YYYY-MM-DD", help="landing date to build (repeatable)")
    which.add_argument("--all", action="store_true", help="every landing date (the default)")
    parser.add_argument("--verbose", action="store_true", help="show Dagster's log and each failure's traceback (also VECTRA_DEBUG=1)")
    add_data_argument(parser)


def ensure_dagster_home() -> str | None:
    """Point DAGSTER_HOME at the repo's dagster_home/ when unset; None means an ephemeral instance."""
    if not os.environ.get("DAGSTER_HOME") and REPO_DAGSTER_HOME.is_dir():
        os.environ["DAGSTER_HOME"] = str(REPO_DAGSTER_HOME)
    home = os.environ.get("DAGSTER_HOME")
    if home and not Path(home).is_absolute():
        raise VectraError(f"DAGSTER_HOME must be an absolute path, not {home!r}")
    return home


def landing_dates(data_dir: Path) -> list[str]:
    from capture_agent.landing.segments import segment_paths

    return sorted({path.parent.name.removeprefix("date=") for path in segment_paths(data_dir)})


def run(args: argparse.Namespace) -> int:
    data_dir = Path(args.data).resolve()
    available = landing_dates(data_dir)
    if args.date:
        bad = [d for d in args.date if not _DATE.match(d)]
        if bad:
            raise VectraError(f"--date {bad[0]!r} is not of the form YYYY-MM-DD")
        missing = [d for d in args.date if d not in available]
        if missing:
            raise VectraError(f"no landing data for {missing[0]} under {data_dir / 'landing'}; run `vectra import` or `vectra capture` first")
        dates = sorted(set(args.date))
    else:
        dates = available
    if not dates:
        raise VectraError(f"no landing data under {data_dir / 'landing'}; run `vectra import FILE…` or `vectra capture` first")
    home = ensure_dagster_home()
    verbose = args.verbose or bool(os.environ.get("VECTRA_DEBUG"))
    summary = build(data_dir, dates, show_progress=True, verbose=verbose)
    _print_summary(summary, data_dir, home, verbose)
    return 0 if summary.ok else 1


class BuildSummary:
    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], int] = {}  # (asset, partition or "") → row count
        self.checks: list[tuple[str, str, bool, str]] = []  # (check, partition, passed, severity)
        self.check_details: dict[tuple[str, str], str] = {}  # (check, partition) → "asset: key=value, …"
        self.failed_runs: list[str] = []  # one line per failed step: where, why, what to do
        self.tracebacks: list[str] = []  # the failed steps' full errors (printed with --verbose)
        self.notes: list[str] = []  # one-line notes of the assets (rejected landing files, nothing to train on)

    @property
    def ok(self) -> bool:
        return not self.failed_runs and all(passed or severity != "ERROR" for _, _, passed, severity in self.checks)


def _run_config(verbose: bool) -> dict:
    # Dagster's console log prints every step failure with its traceback; the summary says it in one line instead
    return {"loggers": {"console": {"config": {"log_level": "ERROR" if verbose else "CRITICAL"}}}}


def build(data_dir: Path, dates: list[str], show_progress: bool = False, include_gold: bool = True, verbose: bool = False) -> BuildSummary:
    """Materialise bronze+silver (and gold unless ``include_gold`` is false) for ``dates`` in-process."""
    import warnings

    import dagster as dg
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    warnings.filterwarnings("ignore", category=Warning, module="dagster")
    warnings.filterwarnings("ignore", message=".*(beta|preview|superseded|deprecated).*")
    from vectra_pipeline.defs.assets import bronze, gold, silver
    from vectra_pipeline.defs.checks import gold as gold_checks
    from vectra_pipeline.defs.checks import silver as silver_checks
    from vectra_pipeline import storage, warehouse
    from vectra_pipeline.defs.built import record_run
    from vectra_pipeline.defs.partitions import daily
    from vectra_pipeline.defs.resources import VectraPaths
    from vectra_pipeline.defs.stale_runs import fail_runs_of_dead_processes, run_process_tags
    from vectra_pipeline.datasets.publish import landing_inputs

    valid = set(daily.get_partition_keys())
    outside = [d for d in dates if d not in valid]
    if outside:
        raise VectraError(f"landing date {outside[0]} is outside the pipeline's partitions ({daily.start.date()} … today)")
    everything = [*bronze.assets, *silver.assets, *gold.assets, *silver_checks.checks, *gold_checks.checks]
    gold_assets = gold.assets if include_gold else []
    gold_daily = [a for a in gold_assets if getattr(a, "partitions_def", None) is not None]
    gold_once = [a for a in gold_assets if getattr(a, "partitions_def", None) is None]
    per_date = dg.AssetSelection.groups(*PER_DATE_GROUPS) | dg.AssetSelection.assets(*gold_daily)
    steps = _step_names(everything)
    resources = {"paths": VectraPaths(data_dir=str(data_dir))}
    summary = BuildSummary()
    instance = dg.DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else dg.DagsterInstance.ephemeral()
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    storage.sweep_data_root(data_dir)  # temp files and folders of killed builds
    tags = run_process_tags()
    with instance, Progress(*columns, disable=not show_progress, transient=False) as progress:
        fail_runs_of_dead_processes(instance)
        task = progress.add_task("building", total=len(dates) + (1 if gold_once else 0))
        for date in dates:
            progress.update(task, description=f"bronze → silver {date}")
            landing = landing_inputs(data_dir, [date])  # listed before the run: a segment landing mid-run is not claimed
            result = dg.materialize(
                everything, selection=per_date, partition_key=date, instance=instance, resources=resources,
                run_config=_run_config(verbose), raise_on_error=False, tags=tags,
            )  # fmt: skip
            _collect(result, date, summary, steps)
            if include_gold:
                record_run(data_dir, date, landing, result.all_events)
            progress.advance(task)
        if gold_once:
            progress.update(task, description="gold")
            result = dg.materialize(
                everything, selection=dg.AssetSelection.assets(*gold_once), instance=instance, resources=resources,
                run_config=_run_config(verbose), raise_on_error=False, tags=tags,
            )  # fmt: skip
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

    where = partition or "gold"
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


def _print_summary(summary: BuildSummary, data_dir: Path, home: str | None, verbose: bool = False) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console()
    partitions = sorted({p for _, p in summary.rows})
    assets = sorted({a for a, _ in summary.rows})
    table = Table(title="rows materialised")
    table.add_column("asset")
    if len(partitions) <= 4:  # one column per date
        for partition in partitions:
            table.add_column(partition or "(unpartitioned)", justify="right")
        for asset in assets:
            table.add_row(asset, *[_count(summary.rows.get((asset, p))) for p in partitions])
    else:  # many dates: totals
        table.add_column("partitions", justify="right")
        table.add_column("rows", justify="right")
        for asset in assets:
            counts = [n for (a, _), n in summary.rows.items() if a == asset]
            table.add_row(asset, str(len(counts)), f"{sum(n for n in counts if n > 0):,}")
    console.print(table)
    line = functools.partial(console.print, soft_wrap=True)  # one line each, however narrow the terminal
    for note in summary.notes:
        line(escape(note))
    failed = [c for c in summary.checks if not c[2]]
    warned = sum(severity != "ERROR" for *_, severity in failed)
    line(f"checks: {len(summary.checks) - len(failed)} passed, {warned} warned, {len(failed) - warned} failed")
    for name, partition, _, severity in failed:
        detail = summary.check_details.get((name, partition), "")
        line(f"  [{'red' if severity == 'ERROR' else 'yellow'}]{severity}[/] {escape(f'{name} {partition} ({detail})')}")
    if verbose:
        for traceback in summary.tracebacks:
            console.print(escape(traceback), highlight=False)
    for failure in summary.failed_runs:
        line(f"[red]failed[/] {escape(failure)}")
    line(f"warehouse: {escape(str(data_dir / 'warehouse.duckdb'))}  (vectra query \"SELECT …\")")
    line(f"dagster instance: {escape(home or 'ephemeral (DAGSTER_HOME unset)')}")


def _count(rows: int | None) -> str:
    """A table cell: the row count, "–" for an asset that reports none (an export), blank when not built."""
    return "" if rows is None else "–" if rows < 0 else str(rows)
