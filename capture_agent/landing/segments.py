"""Published landing segments: streaming zstd Parquet into a hidden temp file, atomic publish, reading back.

A segment is written row group by row group into ``date=YYYY-MM-DD/.<name>.parquet.tmp`` (dot-prefixed and
not ``*.parquet``: every reader ignores it), then fsynced, hard-linked to its final name (which fails instead
of replacing an existing file: published files are never modified) and the directory fsynced.
"""

from __future__ import annotations

import array
import itertools
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from capture_agent.landing.rows import ROW_FIELDS
from capture_agent.landing.schema import LANDING_DIR, LANDING_SCHEMA

NS_PER_DAY = 86_400 * 1_000_000_000
SEGMENT_SUFFIX = ".parquet"
TEMP_SUFFIX = ".parquet.tmp"
ROW_GROUP_MAX_ROWS = 65_536
ROW_GROUP_MAX_BYTES = 4 << 20  # payload bytes buffered before a row group is written: keeps RSS flat and low


def _segment_memory_pool() -> tuple[pa.MemoryPool, bool]:
    """The pool for row-group buffers, and whether freed pages must be handed back after each row group.

    jemalloc reuses a row group's pages for the next one and keeps RSS flat by itself. Arrow's default
    (mimalloc) grows RSS by ≈ 50 MB over a million frames unless ``release_unused`` runs after every group,
    and then every group faults its pages in again: ≈ 1.2 µs a 3 KB frame, a tenth of the landing budget.
    """
    try:
        return pa.jemalloc_memory_pool(), False
    except NotImplementedError:  # a pyarrow build without jemalloc
        return pa.default_memory_pool(), True


_POOL, _RELEASE_AFTER_EACH_GROUP = _segment_memory_pool()
_SEGMENT_NAME = re.compile(r"^(?P<capture>[A-Za-z0-9][A-Za-z0-9._-]*)-(?P<segment>\d{6,})\.parquet$")
_DICTIONARY_COLUMNS = ["capture_id", "record_type", "source", "direction", "transport", "socket_id", "url", "event"]
_STATISTICS_COLUMNS = ["seq", "recv_wall_ns", "recv_mono_ns", "browser_ts", "opcode", "ack_id"]
# Python array codes of the fixed-width columns, for packing a row group's numbers in one call.
_ARRAY_CODES = {pa.int64(): "q", pa.int8(): "b", pa.float64(): "d", pa.timestamp("ns", tz="UTC"): "q"}
_ZERO = (0,)
_STRING = pa.string()
_INT32_END = 1 << 31
# Each schema column with its position in a WAL row (None: a per-segment constant).
_COLUMN_PLAN = [(field, ROW_FIELDS.index(field.name) if field.name in ROW_FIELDS else None) for field in LANDING_SCHEMA]


def day_of(wall_ns: int) -> int:
    return wall_ns // NS_PER_DAY


def date_of_day(day: int) -> str:
    return datetime.fromtimestamp(day * 86_400, UTC).strftime("%Y-%m-%d")


def landing_root(data_dir: Path) -> Path:
    return Path(data_dir) / LANDING_DIR


def segment_name(capture_id: str, segment: int) -> str:
    return f"{capture_id}-{segment:06d}{SEGMENT_SUFFIX}"


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def ensure_dir(path: Path) -> None:
    """Create ``path`` (and parents) durably: each new directory entry is fsynced in its parent."""
    if path.is_dir():
        return
    ensure_dir(path.parent)
    try:
        path.mkdir()
    except FileExistsError:
        return
    fsync_dir(path.parent)


def segment_paths(data_dir: Path, date: str | None = None) -> list[Path]:
    """Published segments (never temp files), sorted by date, capture id and segment number."""
    root = landing_root(data_dir)
    if not root.is_dir():
        return []
    folders = [root / f"date={date}"] if date else sorted(root.glob("date=*"))
    paths = []
    for folder in folders:
        if folder.is_dir():
            paths.extend(p for p in folder.iterdir() if _SEGMENT_NAME.match(p.name))
    return sorted(paths, key=lambda p: (p.parent.name, p.name))


def parse_segment_name(path: Path) -> tuple[str, int] | None:
    match = _SEGMENT_NAME.match(path.name)
    return (match["capture"], int(match["segment"])) if match else None


def read_landing(data_dir: Path, dates: list[str] | None = None) -> pa.Table:
    """Every published row (of the given UTC dates), as one table with exactly :data:`LANDING_SCHEMA`."""
    paths = [p for date in dates for p in segment_paths(data_dir, date)] if dates else segment_paths(data_dir)
    if not paths:
        return LANDING_SCHEMA.empty_table()
    return pa.concat_tables([pq.read_table(p, schema=LANDING_SCHEMA) for p in paths])


def read_segment_column(path: Path, column: str) -> list:
    return pq.read_table(path, columns=[column], schema=LANDING_SCHEMA)[column].to_pylist()


@dataclass(frozen=True)
class PublishedSegment:
    path: Path
    capture_id: str
    segment: int
    first_seq: int
    last_seq: int
    rows: int


def published_segments(data_dir: Path, capture_id: str | None = None) -> list[PublishedSegment]:
    """Published segments (of one capture) with their seq range, read from the Parquet footers."""
    found = []
    for path in segment_paths(data_dir):
        parsed = parse_segment_name(path)
        if parsed is None or (capture_id is not None and parsed[0] != capture_id):
            continue
        first, last, rows = _seq_range(path)
        found.append(PublishedSegment(path, parsed[0], parsed[1], first, last, rows))
    return found


def _seq_range(path: Path) -> tuple[int, int, int]:
    metadata = pq.read_metadata(path)
    column = metadata.schema.names.index("seq")
    lows, highs = [], []
    for index in range(metadata.num_row_groups):
        stats = metadata.row_group(index).column(column).statistics
        if stats is None or not stats.has_min_max:
            seqs = pq.read_table(path, columns=["seq"])["seq"]
            return int(pc.min(seqs).as_py()), int(pc.max(seqs).as_py()), metadata.num_rows
        lows.append(stats.min)
        highs.append(stats.max)
    if not lows:
        return 0, -1, 0
    return int(min(lows)), int(max(highs)), metadata.num_rows


def _column(values: tuple, arrow_type: pa.DataType) -> pa.Array:
    """A row group's column from its Python values, without converting value by value where the shape allows:
    all null, one string throughout (url, direction…), ASCII strings (payloads: one join, offsets from the
    lengths), numbers without nulls (packed by ``array``). Anything else goes through ``pa.array``."""
    count = len(values)
    first = values[0]
    kind = type(first)
    if first is None or kind is str:
        if values.count(first) == count:
            if first is None:
                return pa.nulls(count, arrow_type, memory_pool=_POOL)
            return pa.repeat(pa.scalar(first, arrow_type), count, memory_pool=_POOL)
        if kind is str and arrow_type == _STRING and None not in values:
            joined = "".join(values)
            if joined.isascii() and len(joined) < _INT32_END:  # one byte a character: offsets are running lengths
                offsets = array.array("i", _ZERO)
                offsets.extend(itertools.accumulate(map(len, values)))
                return pa.StringArray.from_buffers(count, pa.py_buffer(offsets), pa.py_buffer(joined.encode("ascii")))
    elif kind is int or kind is float:
        code = _ARRAY_CODES.get(arrow_type)
        if code is not None:
            try:
                packed = array.array(code, values)  # exact: no rounding, -0.0 stays -0.0
            except (TypeError, OverflowError):  # a null among the numbers, or a value out of range
                pass
            else:
                return pa.Array.from_buffers(arrow_type, count, [None, pa.py_buffer(packed)])
    return pa.array(values, arrow_type, memory_pool=_POOL)


_INTEGER_RANGES = {pa.int64(): (-(1 << 63), 1 << 63), pa.timestamp("ns", tz="UTC"): (-(1 << 63), 1 << 63), pa.int8(): (-128, 128)}
_PYTHON_TYPES = {pa.string(): str, pa.binary(): bytes, pa.float64(): float}
# Each WAL row position with its column name, Arrow type and whether it may be null.
_ROW_PLAN = [(ROW_FIELDS.index(f.name), f.name, f.type, f.nullable) for f in LANDING_SCHEMA if f.name in ROW_FIELDS]


def row_problem(row: tuple) -> str | None:
    """Why ``row`` cannot become a Parquet row of :data:`LANDING_SCHEMA` (None: it can). The writer never makes
    such a row; recovery checks what a WAL hands back (another version's, or a damaged one's) before publishing."""
    if len(row) != len(ROW_FIELDS):
        return f"the row has {len(row)} values, not {len(ROW_FIELDS)}"
    for position, name, arrow_type, nullable in _ROW_PLAN:
        value = row[position]
        if value is None:
            if not nullable:
                return f"{name} is missing"
            continue
        bounds = _INTEGER_RANGES.get(arrow_type)
        if bounds is not None:
            fits = type(value) is int and bounds[0] <= value < bounds[1]
        else:
            fits = type(value) is _PYTHON_TYPES[arrow_type]
        if not fits:
            shown = repr(value)
            return f"{name} {shown[:60] + '…' if len(shown) > 60 else shown} does not fit the {arrow_type} column"
    return None


class SegmentFile:
    """One segment being written: rows are buffered and streamed out as row groups of a hidden temp file."""

    def __init__(self, data_dir: Path, capture_id: str, source: str, segment: int, day: int):
        self.capture_id = capture_id
        self.source = source
        self.segment = segment
        self.day = day
        self.date = date_of_day(day)
        folder = landing_root(data_dir) / f"date={self.date}"
        ensure_dir(folder)
        name = segment_name(capture_id, segment)
        self.final_path = folder / name
        self.temp_path = folder / f".{name.removesuffix(SEGMENT_SUFFIX)}{TEMP_SUFFIX}"
        self.payload_bytes = 0
        self._written_rows = 0
        self._pending: list[tuple] = []
        self._group_bytes_end = ROW_GROUP_MAX_BYTES  # payload_bytes at which the pending rows make a row group
        self._constants = {"capture_id": capture_id, "source": source}
        self._writer = pq.ParquetWriter(
            str(self.temp_path),
            LANDING_SCHEMA,
            compression="zstd",
            use_dictionary=_DICTIONARY_COLUMNS,
            write_statistics=_STATISTICS_COLUMNS,
            memory_pool=_POOL,
        )

    @property
    def rows(self) -> int:
        return self._written_rows + len(self._pending)

    def add(self, row: tuple, size: int) -> None:
        pending = self._pending
        pending.append(row)
        self.payload_bytes += size
        if self.payload_bytes >= self._group_bytes_end or len(pending) >= ROW_GROUP_MAX_ROWS:
            self._write_group()

    def _write_group(self) -> None:
        if not self._pending:
            return
        count = len(self._pending)
        columns = list(zip(*self._pending))
        self._pending = []
        self._written_rows += count
        self._group_bytes_end = self.payload_bytes + ROW_GROUP_MAX_BYTES
        constants = self._constants
        arrays = [
            pa.repeat(pa.scalar(constants[field.name], field.type), count, memory_pool=_POOL)  # capture_id, source
            if position is None
            else _column(columns[position], field.type)
            for field, position in _COLUMN_PLAN
        ]
        self._writer.write_table(pa.Table.from_arrays(arrays, schema=LANDING_SCHEMA), row_group_size=count)
        if _RELEASE_AFTER_EACH_GROUP:
            _POOL.release_unused()

    def publish(self) -> Path:
        """Write the last row group, make the file durable and give it its final name atomically."""
        self._write_group()
        self._writer.close()
        fsync_file(self.temp_path)
        try:
            os.link(self.temp_path, self.final_path)  # fails rather than replace: published files are immutable
        except FileExistsError:
            raise RuntimeError(f"segment {self.final_path} already exists; refusing to overwrite it") from None
        except OSError:  # a filesystem without hard links: rename, after checking nothing is replaced
            if self.final_path.exists():
                raise RuntimeError(f"segment {self.final_path} already exists; refusing to overwrite it") from None
            os.rename(self.temp_path, self.final_path)
        else:
            os.unlink(self.temp_path)
        fsync_dir(self.final_path.parent)
        return self.final_path

    def abort(self) -> None:
        """Drop the temp file (the rows stay in the WAL)."""
        try:
            self._writer.close()
        finally:
            self.temp_path.unlink(missing_ok=True)
