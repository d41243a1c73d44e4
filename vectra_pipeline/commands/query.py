"""``vectra query "SQL"``: run SQL against the DuckDB warehouse (a view per table) and print a table."""

from __future__ import annotations

import argparse
from pathlib import Path

from capture_agent.config import add_data_argument
from capture_agent.errors import VectraError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("sql", help='SQL, e.g. "SELECT completeness, count(*) FROM games GROUP BY 1"')
    parser.add_argument("--limit", type=int, default=100, help="rows to print (default 100)")
    add_data_argument(parser)


def query(data_dir: Path, sql: str):
    """(column names, rows) of ``sql`` on the warehouse's views of ``data_dir``.

    The views live on a private in-memory DuckDB (``warehouse.connect``), never in ``warehouse.duckdb``: no build
    and no client holding that file can make a query fail, nothing a query does persists, and a copied root reads
    its own files.
    """
    import duckdb

    from vectra_pipeline import warehouse

    if not warehouse.table_globs(data_dir):
        raise VectraError(f"no tables under {data_dir}; run `vectra build --data {data_dir}` first")
    try:
        with warehouse.connect(data_dir) as connection:
            cursor = connection.execute(sql)
            names = [d[0] for d in cursor.description] if cursor.description else []
            return names, cursor.fetchall()
    except duckdb.Error as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise VectraError(f"query failed: {first_line}") from None


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    names, rows = query(Path(args.data), args.sql)
    table = Table(show_lines=False)
    for name in names:
        table.add_column(name, overflow="fold")
    for row in rows[: args.limit]:
        table.add_row(*["NULL" if v is None else str(v) for v in row])
    console = Console()
    console.print(table)
    more = f" (showing {args.limit})" if len(rows) > args.limit else ""
    console.print(f"{len(rows)} row{'s' if len(rows) != 1 else ''}{more}")
    return 0
