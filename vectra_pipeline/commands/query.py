"""``vectra query "SQL"``: run SQL against the DuckDB warehouse (a view per table) and print or write the result.

Formats: ``table`` (the default on a terminal: every value whole, one line per row, the table as wide as its widest
values), ``csv`` (the default into a pipe or a file: a header, RFC 4180 quoting), ``json`` (an array of objects,
one row per line) and ``parquet`` (into a pipe or a file). ``--output FILE`` writes the file instead of stdout
(its format from the extension unless ``--format`` says). A table shows 100 rows unless ``--limit`` says otherwise;
the other formats carry every row unless ``--limit`` is given. Values keep their meaning across formats: NULL is an
empty CSV cell and JSON null; lists and structs are JSON text in CSV; binary is hex; non-finite floats are the JSON
strings "NaN", "Infinity", "-Infinity" (JSON has no such numbers).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import decimal
import json
import math
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from capture_agent.config import RemoteRoot, add_data_argument
from capture_agent.errors import VectraError, first_line

FORMATS = ("table", "csv", "json", "parquet")
TABLE_ROWS = 100  # rows a table shows unless --limit says otherwise
_BY_SUFFIX = {".csv": "csv", ".json": "json", ".parquet": "parquet", ".txt": "table"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("sql", help='SQL, e.g. "SELECT completeness, count(*) FROM games GROUP BY 1"')
    parser.add_argument("--format", choices=FORMATS, help="table on a terminal, csv into a pipe or a file (default)")
    parser.add_argument("--output", type=Path, metavar="FILE", help="write the result to FILE instead of stdout")
    parser.add_argument("--limit", type=int, help=f"at most this many rows (default: {TABLE_ROWS} in a table, all otherwise)")
    add_data_argument(parser, remote=True)


def query(root: Path | RemoteRoot, sql: str):
    """(column names, rows) of ``sql`` on the warehouse's views of the data root."""
    with _cursor(root, sql) as cursor:
        names = [d[0] for d in cursor.description] if cursor.description else []
        return names, cursor.fetchall()


@contextlib.contextmanager
def _cursor(root: Path | RemoteRoot, sql: str):
    """``sql`` executed on a private in-memory DuckDB with the warehouse's views (``warehouse.connect``), never on
    ``warehouse.duckdb``: no build and no client holding that file can make a query fail, nothing a query does
    persists, and a copied root reads its own files. DuckDB's errors become one line."""
    import duckdb

    from vectra_pipeline import warehouse

    if not sql.strip():
        raise VectraError('no SQL given: vectra query "SELECT …" (the tables: docs/TABLES.md)')
    with warehouse.connect(root, require_tables=True) as connection:
        try:
            cursor = connection.execute(sql)
        except duckdb.Error as error:
            raise VectraError(f"query failed: {first_line(error)}") from None
        yield cursor


def chosen_format(requested: str | None, output: Path | None, stdout_is_terminal: bool) -> str:
    """The format to write: as asked, else from the output file's extension, else table on a terminal, else csv."""
    if requested:
        chosen = requested
    elif output is not None:
        chosen = _BY_SUFFIX.get(output.suffix.lower(), "csv")
    else:
        chosen = "table" if stdout_is_terminal else "csv"
    if chosen == "parquet" and output is None and stdout_is_terminal:
        raise VectraError("parquet is binary: write it to a file (--output result.parquet) or a pipe")
    return chosen


def run(args: argparse.Namespace) -> int:
    import duckdb

    if args.limit is not None and args.limit < 1:
        raise VectraError(f"--limit {args.limit}: give a positive number of rows")
    form = chosen_format(args.format, args.output, sys.stdout.isatty())
    limit = args.limit if args.limit is not None else (TABLE_ROWS if form == "table" else None)
    with _cursor(args.data, args.sql) as cursor, _target(args.output, binary=form == "parquet") as stream:
        names = [d[0] for d in cursor.description] if cursor.description else []
        try:
            if form == "table":
                written = _print_table(names, _batches(cursor), limit, stream)
            else:
                written = WRITERS[form](names, _rows_or_batches(_batches(cursor), limit, form == "parquet"), stream)
        except duckdb.Error as error:  # raised while fetching, e.g. a cast that fails on a later row
            raise VectraError(f"query failed: {first_line(error)}") from None
    if args.output:
        print(f"vectra query: {written} row{'s' if written != 1 else ''} written to {args.output} ({form})", file=sys.stderr)
    return 0


@contextlib.contextmanager
def _target(output: Path | None, binary: bool):
    """stdout, or ``output`` opened for writing (a file that cannot be written is one line)."""
    if output is None:
        yield sys.stdout.buffer if binary else sys.stdout
        return
    try:
        handle = open(output, "wb") if binary else open(output, "w", encoding="utf-8", newline="")
    except OSError as error:
        raise VectraError(f"cannot write {output}: {error.strerror or error}") from None
    with handle:
        yield handle


def _batches(cursor) -> Iterator:
    """The result as Arrow record batches (an empty result for a statement without one)."""
    if cursor.description is None:
        return iter(())
    return iter(cursor.to_arrow_reader())


def _rows_or_batches(batches: Iterator, limit: int | None, keep_batches: bool) -> Iterator:
    """Arrow batches (``keep_batches``) or row tuples, stopping after ``limit`` rows."""
    left = math.inf if limit is None else limit
    for batch in batches:
        if left <= 0:
            return
        if batch.num_rows > left:
            batch = batch.slice(0, int(left))
        left -= batch.num_rows
        if keep_batches:
            yield batch
        else:
            columns = [column.to_pylist() for column in batch.columns]
            yield from zip(*columns, strict=True) if columns else ()


# --- writers: (names, rows or batches, stream) → rows written ------------------------------------------------------


def write_csv(names: list[str], rows, stream: IO[str]) -> int:
    """RFC 4180 cells (quoted when they hold a comma, a quote, CR or LF; an empty string is ``""``, NULL empty) and
    LF line ends."""
    stream.write(",".join(map(_csv_cell, names)) + "\n")
    count = 0
    for row in rows:
        stream.write(",".join("" if value is None else _csv_cell(csv_text(value)) for value in row) + "\n")
        count += 1
    return count


def _csv_cell(text: str) -> str:
    if text == "" or any(c in text for c in ',"\r\n'):
        return '"' + text.replace('"', '""') + '"'
    return text


def write_json(names: list[str], rows, stream: IO[str]) -> int:
    stream.write("[")
    count = 0
    for row in rows:
        record = {name: json_value(value) for name, value in zip(names, row, strict=True)}
        stream.write(("\n" if count == 0 else ",\n") + json.dumps(record, ensure_ascii=False, allow_nan=False))
        count += 1
    stream.write("\n]\n" if count else "]\n")
    return count


def write_parquet(names: list[str], batches, stream: IO[bytes]) -> int:
    import pyarrow.parquet as pq

    count, writer = 0, None
    try:
        for batch in batches:
            if writer is None:
                writer = pq.ParquetWriter(stream, batch.schema, compression="zstd")
            writer.write_batch(batch)
            count += batch.num_rows
        if writer is None:  # no rows: still a valid file with the columns (as text: their types are unknown)
            import pyarrow as pa

            writer = pq.ParquetWriter(stream, pa.schema([(name, pa.string()) for name in names]))
    finally:
        if writer is not None:
            writer.close()
    return count


WRITERS = {"csv": write_csv, "json": write_json, "parquet": write_parquet}


def json_value(value):
    """A value as JSON can hold it (see the module docstring)."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {str(k): json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_value(v) for v in value]
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    if isinstance(value, (dt.date, dt.time)):  # datetime is a date
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def csv_text(value) -> str:
    """A non-null value as one CSV cell: nested values as JSON text, binary as hex, the rest as plain text."""
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(json_value(value), ensure_ascii=False, allow_nan=False)
    shown = json_value(value)
    if isinstance(shown, bool):
        return "true" if shown else "false"
    return shown if isinstance(shown, str) else str(shown)


def cell_text(value) -> str:
    """A table cell: NULL for null, otherwise what CSV holds."""
    return "NULL" if value is None else csv_text(value)


# --- the table -------------------------------------------------------------------------------------------------


def _print_table(names: list[str], batches: Iterator, limit: int, stream: IO[str]) -> int:
    """The first ``limit`` rows as a table and a footer with the row count; returns the rows shown."""
    from rich.console import Console

    shown, total = [], 0
    for batch in batches:
        if len(shown) < limit:
            columns = [column.to_pylist() for column in batch.columns]
            shown.extend(list(zip(*columns, strict=True))[: limit - len(shown)])
        total += batch.num_rows
    console = Console(file=stream) if stream is sys.stdout else Console(file=stream, color_system=None, width=1_000_000)
    print_rows(console, names, shown)
    more = f" (showing {limit})" if total > limit else ""
    console.print(f"{total} row{'s' if total != 1 else ''}{more}", soft_wrap=True)
    return len(shown)


def print_rows(console, names: list[str], rows: list[tuple], **table_options) -> None:
    """Rows as a rich table that never cuts a header or folds a value: it is as wide as its content, even wider
    than the terminal (which then wraps the long lines as they are — copied, each value comes out whole). Values are
    text, never markup."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(**table_options)
    for index, name in enumerate(names):
        values = [row[index] for row in rows if row[index] is not None]
        numeric = bool(values) and all(isinstance(v, (int, float, decimal.Decimal)) and not isinstance(v, bool) for v in values)
        table.add_column(Text(name), no_wrap=True, min_width=len(name), justify="right" if numeric else "left")
    for row in rows:
        table.add_row(*(Text(cell_text(value)) for value in row))
    natural = Console(width=1_000_000).measure(table).maximum
    if natural > console.width:  # the same console, only wider
        console = Console(file=console.file, width=natural, color_system=console.color_system,
                          force_terminal=console.is_terminal, highlight=False)
    console.print(table, crop=False)
