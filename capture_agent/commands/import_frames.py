"""``vectra import``: land JSONL recordings or raw frame files, one capture (source ``import``) per file."""

from __future__ import annotations

import argparse
from pathlib import Path

from capture_agent.config import add_cache_argument, add_data_argument


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_data_argument(parser, remote=True)
    add_cache_argument(parser)
    parser.add_argument(
        "files",
        nargs="+",
        type=Path,
        metavar="FILE",
        help="JSONL recordings ({event, ts_ms, data, source, meta} per line) or raw frames (one per line); .gz is read too",
    )
    parser.add_argument("--again", action="store_true", help="import files that were already imported completely")


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn
    from rich.table import Table

    from capture_agent.landing.importer import check_files, import_files
    from capture_agent.landing.recovery import recover
    from capture_agent.landing.upload import landing_dirs, upload_after

    check_files(args.files)
    data_dir, target = landing_dirs(args.data, args.cache)
    console = Console(stderr=True)
    if line := recover(data_dir).report():
        console.print(line, markup=False, highlight=False, soft_wrap=True)
    sizes = [p.stat().st_size if p.is_file() and p.suffix != ".gz" else None for p in args.files]
    total = None if None in sizes else sum(sizes)
    with Progress(
        TextColumn("importing"), BarColumn(), DownloadColumn(), TimeRemainingColumn(), console=console, transient=True
    ) as progress:
        task = progress.add_task("import", total=total)
        uploaded = upload_after(target, lambda line: console.print(line, markup=False, highlight=False, soft_wrap=True))
        results = import_files(
            data_dir, args.files, again=args.again, on_progress=lambda n: progress.advance(task, n),
            agent_id=target.agent_id if target else None, ledger=target is not None,
        )
    table = Table(title=f"landed under {target.remote if target else data_dir}/landing")
    for column in ("file", "kind", "capture id", "rows", "flagged", "segments", "note"):
        table.add_column(column, justify="right" if column in ("rows", "flagged", "segments") else "left")
    for result in results:
        note = "already imported (use --again to import anew)" if result.already_imported else ""
        if result.blank_lines:
            note = f"{result.blank_lines} blank lines skipped"
        table.add_row(
            result.path.name, result.kind, result.capture_id, str(result.rows), str(result.flagged), str(len(result.segments)), note
        )
    out = Console()
    if not out.is_terminal:
        out = Console(width=200)
    out.print(table)
    return uploaded()
