"""``vectra build``: materialise the pipeline through Dagster, in-process, for one date or every landing date.

The same asset definitions the Dagster UI shows (``vectra_pipeline.definitions``) run with the in-process
executor. ``DAGSTER_HOME`` defaults to the repository's ``dagster_home/`` (runs then appear in ``dagster dev``);
without it the instance is ephemeral.
"""

from __future__ import annotations

import argparse
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
    summary = build(data_dir, dates, show_progress=True)
    _print_summary(summary, data_dir, home)
    return 0 if summary.ok else 1


class BuildSummary:
    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], int] = {}  # (asset, partition or "") → row count
        self.checks: list[tuple[str, str, bool, str]] = []  # (check, partition, passed, severity)
        self.failed_runs: list[str] = []

    @property
    def ok(self) -> bool:
        return not self.failed_runs and all(passed or severity != "ERROR" for _, _, passed, severity in self.checks)


def _quiet_run_config() -> dict:
    return {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}


def build(data_dir: Path, dates: list[str], show_progress: bool = False, include_gold: bool = True) -> BuildSummary:
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
    from vectra_pipeline.stages.gold.datasets import landing_inputs

    valid = set(daily.get_partition_keys())
    outside = [d for d in dates if d not in valid]
    if outside:
        raise VectraError(f"landing date {outside[0]} is outside the pipeline's partitions ({daily.start.date()} … today)")
    everything = [*bronze.assets, *silver.assets, *gold.assets, *silver_checks.checks, *gold_checks.checks]
    gold_assets = gold.assets if include_gold else []
    gold_daily = [a for a in gold_assets if getattr(a, "partitions_def", None) is not None]
    gold_once = [a for a in gold_assets if getattr(a, "partitions_def", None) is None]
    per_date = dg.AssetSelection.groups(*PER_DATE_GROUPS) | dg.AssetSelection.assets(*gold_daily)
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
                run_config=_quiet_run_config(), raise_on_error=False, tags=tags,
            )  # fmt: skip
            _collect(result, date, summary)
            if include_gold:
                record_run(data_dir, date, landing, result.all_events)
            progress.advance(task)
        if gold_once:
            progress.update(task, description="gold")
            result = dg.materialize(
                everything, selection=dg.AssetSelection.assets(*gold_once), instance=instance, resources=resources,
                run_config=_quiet_run_config(), raise_on_error=False, tags=tags,
            )  # fmt: skip
            _collect(result, "", summary)
            progress.advance(task)
        progress.update(task, description="done")
    warehouse.refresh(data_dir, force=True)  # a fresh file swapped in: never a lock a user's client holds
    return summary


def _collect(result, partition: str, summary: BuildSummary) -> None:
    if not result.success:
        failure = next((e for e in result.all_events if e.event_type_value == "STEP_FAILURE"), None)
        message = failure.event_specific_data.error.message.strip().splitlines()[-1] if failure else "run failed"
        summary.failed_runs.append(f"{partition or 'gold'}: {failure.step_key if failure else ''} {message}")
    for event in result.get_asset_materialization_events():
        materialization = event.event_specific_data.materialization
        count = materialization.metadata.get("dagster/row_count")
        summary.rows[(materialization.asset_key.to_user_string(), partition)] = int(count.value) if count else -1
    for event in result.all_events:
        if event.event_type_value == "ASSET_CHECK_EVALUATION":
            evaluation = event.event_specific_data
            summary.checks.append(
                (evaluation.check_name, partition, evaluation.passed, evaluation.severity.value if evaluation.severity else "ERROR")
            )


def _print_summary(summary: BuildSummary, data_dir: Path, home: str | None) -> None:
    from rich.console import Console
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
            table.add_row(asset, *[str(summary.rows.get((asset, p), "")) for p in partitions])
    else:  # many dates: totals
        table.add_column("partitions", justify="right")
        table.add_column("rows", justify="right")
        for asset in assets:
            counts = [n for (a, _), n in summary.rows.items() if a == asset]
            table.add_row(asset, str(len(counts)), f"{sum(counts):,}")
    console.print(table)
    failed = [c for c in summary.checks if not c[2]]
    console.print(f"checks: {len(summary.checks) - len(failed)} passed, {len(failed)} failed")
    for name, partition, _, severity in failed:
        console.print(f"  [{'red' if severity == 'ERROR' else 'yellow'}]{severity}[/] {name} {partition}")
    for failure in summary.failed_runs:
        console.print(f"[red]failed[/] {failure}")
    console.print(f"warehouse: {data_dir / 'warehouse.duckdb'}  (vectra query \"SELECT …\")")
    console.print(f"dagster instance: {home or 'ephemeral (DAGSTER_HOME unset)'}")
