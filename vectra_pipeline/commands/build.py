"""``vectra build``: materialise the pipeline through Dagster, in-process, for one date or every landing date.

A thin shell over :func:`vectra_pipeline.build.build`: arguments → dates → build → the summary, one line per
failure (tracebacks with ``--verbose`` or ``VECTRA_DEBUG=1``).
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from capture_agent.config import add_data_argument
from capture_agent.errors import VectraError

if TYPE_CHECKING:
    from vectra_pipeline.build import BuildSummary


def add_arguments(parser: argparse.ArgumentParser) -> None:
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--date", action="append", metavar="YYYY-MM-DD", help="landing date to build (repeatable)")
    which.add_argument("--all", action="store_true", help="every landing date (the default)")
    parser.add_argument("--jobs", type=int, default=1, metavar="N",
                        help="days built at a time, each in a process of its own (a backfill on N cores; default 1)")
    parser.add_argument("--verbose", action="store_true", help="show Dagster's log and each failure's traceback (also VECTRA_DEBUG=1)")
    add_data_argument(parser, remote=True)


# polars' allocator (jemalloc) keeps what a step freed for 10 s, so a later step's peak stacks on an earlier one's
# leftovers. Returned after 250 ms instead, crowd_observations alone on a 1M-frame day peaks at 700 MB instead of
# 820–870 for 11.7 CPU-s instead of 10.3 (returned at once: 615 MB for 19.7 CPU-s). jemalloc reads this when polars
# loads, so it is set before; a setting of the user's wins.
ALLOCATOR = ("_RJEM_MALLOC_CONF", "dirty_decay_ms:250,muzzy_decay_ms:250")
# pyarrow's default pool (mimalloc) keeps the pages its threads freed in its arena, out of reach of its
# ``release_unused`` (it collects the calling thread's heap only): 83–130 MB left after a 200k-frame day's build, more
# at 1M, under every later step. Its jemalloc pool hands everything back when ``allocators.release`` asks between steps.
# Read when pyarrow makes its first pool, so set before; Linux wheels carry jemalloc; a setting of the user's wins.
ARROW_POOL = ("ARROW_DEFAULT_MEMORY_POOL", "jemalloc")


def set_allocators() -> None:
    """Polars' and pyarrow's allocator settings of a build, before either library loads (the day and decode workers
    inherit them)."""
    os.environ.setdefault(*ALLOCATOR)
    if sys.platform == "linux":
        os.environ.setdefault(*ARROW_POOL)


def run(args: argparse.Namespace) -> int:
    set_allocators()
    from vectra_pipeline import storage
    from vectra_pipeline.build import build, resolve_dates
    from vectra_pipeline.instance import dagster_home

    data_dir = storage.data_root(args.data)
    if args.jobs < 1:
        raise VectraError(f"--jobs {args.jobs}: give 1 or more days at a time")
    verbose = args.verbose or bool(os.environ.get("VECTRA_DEBUG"))
    with storage.store_errors(data_dir):  # the store down or refusing us: one line, whenever it happens
        dates = resolve_dates(data_dir, args.date)
        home = dagster_home(data_dir)
        summary = build(data_dir, dates, show_progress=True, verbose=verbose, jobs=args.jobs, dagster_home=home)
    _print_summary(summary, data_dir, home, verbose)
    return 0 if summary.ok else 1

def _print_summary(summary: BuildSummary, data_dir: Path, home: Path, verbose: bool = False) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from vectra_pipeline import storage, warehouse

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
            reported = [n for n in counts if n >= 0]
            table.add_row(asset, str(len(counts)), f"{sum(reported):,}" if reported else _count(-1))
    console.print(table)
    line = functools.partial(console.print, soft_wrap=True)  # one line each, however narrow the terminal
    for note in summary.notes:
        line(escape(note))
    for text in check_lines(summary):
        line(text)
    if verbose:
        for traceback in summary.tracebacks:
            console.print(escape(traceback), highlight=False)
    for failure in summary.failed_runs:
        line(f"[red]failed[/] {escape(failure)}")
    local = "" if storage.is_local(data_dir) else ", local to this machine"  # a bucket's are in the local cache
    line(f"warehouse: {escape(str(warehouse.warehouse_path(data_dir)))}  (vectra query \"SELECT …\"{local})")
    line(f"dagster instance: {escape(str(home))}  (vectra ui --data {escape(str(data_dir))}{local})")


def check_lines(summary: BuildSummary) -> list[str]:
    """Rich markup: the checks' tally, then one line per check that did not pass — its name, date and figures."""
    from rich.markup import escape

    failed = [c for c in summary.checks if not c[2]]
    warned = sum(severity != "ERROR" for *_, severity in failed)
    lines = [f"checks: {len(summary.checks) - len(failed)} passed, {warned} warned, {len(failed) - warned} failed"]
    for name, partition, _, severity in failed:
        detail = summary.check_details.get((name, partition), "")
        where = f" {partition}" if partition else ""
        lines.append(f"  [{'red' if severity == 'ERROR' else 'yellow'}]{severity}[/] {escape(f'{name}{where} ({detail})')}")
    return lines


def _count(rows: int | None) -> str:
    """A table cell: the row count, "–" for an asset that reports none (an export), blank when not built."""
    return "" if rows is None else "–" if rows < 0 else str(rows)
