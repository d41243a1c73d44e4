"""Bronze ``frames`` of a date built a landing segment at a time: memory flat in the day's size, the bytes of
:func:`vectra_pipeline.bronze.frames.build_frames` on the whole day.

Each segment's index (:func:`~vectra_pipeline.bronze.frames.landing_index`, a batch at a time) is spilled to a
Parquet file in a temp folder beside the partition (on this machine for an object-store root) as it is read, with
what the next steps need noted on the way: the keys' order and a sample of the inbound frames' receipt times. When
the segments in name order hold their keys ascending (each key once: the landing zone as the agent writes it), there
is no repeat to drop and the index is already in bronze's order. Otherwise (a segment imported twice, overlapping
files) it is re-spilled in key order a range of keys at a time, each key's first copy kept. Cross-capture duplicates
are then matched a span of receipt time at a time (:class:`~vectra_pipeline.bronze.frames.CrossCaptureMatcher`)
and the index streamed into the partition a slice at a time with its flags.
"""

from __future__ import annotations

import shutil
import tempfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow.parquet as pq

from vectra_pipeline import storage
from vectra_pipeline.bronze.frames import (
    DUPLICATE_WINDOW_NS,
    INBOUND_TEXT,
    MATCH_COLUMNS,
    BronzeStats,
    CrossCaptureMatcher,
    landing_index,
    settle_repeats,
)
from vectra_pipeline.landing_files import RejectedFile, read_landing_segments

SPAN_ROWS = 100_000  # inbound text rows matched at a time
KEY_RANGE_ROWS = 100_000  # index rows whose repeats are settled at a time, when the landing is not in key order
WRITE_ROWS = 65_536  # index rows written at a time: one row group of the partition
_SAMPLE_EVERY = 64  # one key (and inbound receipt time) in this many noted, to cut the day into ranges and spans


@dataclass
class BuiltFrames:
    stats: BronzeStats
    segments: int
    rejected: list[RejectedFile]
    rows: int
    record_types: dict[str, int]


@dataclass
class _Spilled:
    """A segment's (or a range of keys') index in its spill file and what was noted while writing it."""

    path: Path | None  # None: the segment had no rows
    rows: int = 0
    first_key: tuple | None = None
    last_key: tuple | None = None
    ascending: bool = True  # keys strictly ascending within the segment
    captures: set = field(default_factory=set)
    keys: list = field(default_factory=list)  # sampled (capture_id, seq)
    times: list = field(default_factory=list)  # sampled receipt times of inbound text frames
    earliest: int | None = None  # of its inbound text frames
    latest: int | None = None


def build_frames_partition(root, date: str, window_ns: int = DUPLICATE_WINDOW_NS) -> BuiltFrames:
    """Writes the ``frames`` partition of ``date`` from its landing segments (rejecting the unreadable ones)."""
    final = storage.table_path(root, "frames", date)
    if storage.is_local(root):
        final.parent.mkdir(parents=True, exist_ok=True)
        storage.sweep(final.parent)
        folder = storage.temp_path(final.with_name(f"{final.name}.index"))  # swept when its process died
        folder.mkdir(exist_ok=True)
    else:
        folder = Path(tempfile.mkdtemp(prefix="vectra-index-"))
    try:
        spiller = _Spiller(folder)
        spilled, rejected = read_landing_segments(root, date, landing_index, lambda file, parts: spiller.spill(parts))
        with_rows = [s for s in spilled if s.path is not None]
        landing_rows, conflicting = sum(s.rows for s in with_rows), 0
        if not _in_key_order(with_rows):
            with_rows, conflicting = _settle_repeats(with_rows, spiller)
        stats, rows, types = _write_in_order(root, date, with_rows, window_ns, landing_rows, conflicting)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return BuiltFrames(stats, len(spilled), rejected, rows, types)


class _Spiller:
    """Index parts into spill files, one a segment (the ``take`` of :func:`read_landing_segments`) or a range of
    keys, noted on the way."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.count = folder, 0

    def spill(self, parts: Iterator[pl.DataFrame]) -> _Spilled:
        path = storage.location(self.folder, f"{self.count:06d}.parquet")
        self.count += 1
        spilled, writer = _Spilled(path), None
        try:
            for part in parts:
                if part.height == 0:
                    continue
                _note(spilled, part)
                arrow = part.to_arrow()
                writer = writer or pq.ParquetWriter(path, arrow.schema, compression="lz4")
                writer.write_table(arrow)
        except BaseException:
            if writer is not None:
                writer.close()
            path.unlink(missing_ok=True)
            raise
        if writer is None:
            return _Spilled(None)
        writer.close()
        return spilled


def _note(spilled: _Spilled, part: pl.DataFrame) -> None:
    capture, seq = pl.col("capture_id"), pl.col("seq")
    ascending = ((capture > capture.shift()) | ((capture == capture.shift()) & (seq > seq.shift()))).fill_null(True).all()
    first, last = part.row(0, named=True), part.row(-1, named=True)
    first_key, last_key = (first["capture_id"], first["seq"]), (last["capture_id"], last["seq"])
    spilled.ascending &= part.select(ascending).item() and (spilled.last_key is None or spilled.last_key < first_key)
    spilled.first_key = spilled.first_key or first_key
    spilled.last_key = last_key
    spilled.rows += part.height
    spilled.captures.update(part["capture_id"].unique().to_list())
    spilled.keys.extend(part.select("capture_id", "seq").gather_every(_SAMPLE_EVERY).rows())
    times = part.filter(INBOUND_TEXT)["recv_wall_ns"]
    if times.len():
        spilled.times.extend(times.gather_every(_SAMPLE_EVERY).to_list())
        spilled.earliest = min(times.min(), spilled.earliest if spilled.earliest is not None else times.min())
        spilled.latest = max(times.max(), spilled.latest if spilled.latest is not None else times.max())


def _in_key_order(spilled: list[_Spilled]) -> bool:
    """Every key once, ascending, in segment name order: the index is bronze's rows in bronze's order."""
    return all(s.ascending for s in spilled) and all(a.last_key < b.first_key for a, b in zip(spilled, spilled[1:], strict=False))


def _scan(spilled: list[_Spilled]) -> pl.LazyFrame:
    """The day's index in segment order, ``_row`` its row number (bronze's row when in key order)."""
    return pl.scan_parquet([s.path for s in spilled]).with_row_index("_row")


def _settle_repeats(spilled: list[_Spilled], spiller: _Spiller) -> tuple[list[_Spilled], int]:
    """The segments' index re-spilled in key order with each key's first copy (segment name order, then row order),
    a range of about KEY_RANGE_ROWS keys at a time (every copy of a key lies in one range); and the conflicting
    rows (same key, other content), counted as :func:`build_frames` counts them."""
    samples = sorted(key for s in spilled for key in s.keys)
    cuts = sorted(set(samples[:: max(1, KEY_RANGE_ROWS // _SAMPLE_EVERY)][1:]))
    landing = pl.scan_parquet([s.path for s in spilled]).with_row_index("_at")  # landing order: the first copy first
    ranges, conflicting = [], 0
    for low, high in zip([None, *cuts], [*cuts, None], strict=False):
        rows = landing.filter(_from(low) & (~_from(high) if high is not None else True)).collect().sort("capture_id", "seq", "_at").drop("_at")
        unique, conflicts = settle_repeats(rows)
        conflicting += conflicts
        ranges.append(spiller.spill(iter([unique])))
    return [r for r in ranges if r.path is not None], conflicting


def _from(key: tuple | None) -> pl.Expr:
    """Keys at or after ``key`` (every key for None)."""
    if key is None:
        return pl.lit(True)
    capture, seq = pl.col("capture_id"), pl.col("seq")
    return (capture > key[0]) | ((capture == key[0]) & (seq >= key[1]))


def _write_in_order(root, date: str, spilled: list[_Spilled], window_ns: int, landing_rows: int, conflicting: int) -> tuple[BronzeStats, int, dict]:
    captures = set().union(*(s.captures for s in spilled))
    duplicates = _duplicates(spilled, window_ns) if len(captures) > 1 else None
    appender = storage.PartitionAppender(root, "frames", date)
    types: Counter = Counter()
    scan = _scan(spilled) if spilled else None
    total = sum(s.rows for s in spilled)
    for start in range(0, total, WRITE_ROWS):
        rows = scan.slice(start, WRITE_ROWS).collect()
        flags = pl.Series("duplicate_of", [None] * rows.height, pl.String)
        if duplicates is not None:
            inside = duplicates.filter(pl.col("_row").is_between(start, start + rows.height, closed="left"))
            flags = rows.select("_row").join(inside, on="_row", how="left", maintain_order="left")["duplicate_of"]
        types.update(dict(rows.group_by("record_type").len().iter_rows()))
        appender.append(rows.drop("_row").with_columns(flags))
    appender.close()
    found = 0 if duplicates is None else duplicates.height
    stats = BronzeStats(landing_rows, landing_rows - total, conflicting, cross_capture_duplicates=found, captures=len(captures))
    return stats, total, dict(types)


def _duplicates(spilled: list[_Spilled], window_ns: int) -> pl.DataFrame:
    """``_row`` → ``duplicate_of`` of the day, matched a span of about SPAN_ROWS inbound text rows at a time."""
    with_inbound = [s for s in spilled if s.earliest is not None]
    if not with_inbound:
        return pl.DataFrame(schema={"_row": pl.UInt32, "duplicate_of": pl.String})
    earliest, latest = min(s.earliest for s in with_inbound), max(s.latest for s in with_inbound)
    times = np.sort(np.fromiter((t for s in with_inbound for t in s.times), dtype=np.int64))
    cuts = [t for t in np.unique(times[:: max(1, SPAN_ROWS // _SAMPLE_EVERY)]).tolist() if earliest < t <= latest]
    bounds = [earliest, *cuts, latest]
    matcher = CrossCaptureMatcher(window_ns)
    inbound = _scan(spilled).filter(INBOUND_TEXT).select(MATCH_COLUMNS)
    found = []
    for number, (start, end) in enumerate(zip(bounds, bounds[1:], strict=False)):
        low, high = max(start - window_ns, _INT64.min), min(end + window_ns, _INT64.max)
        nearby = inbound.filter(pl.col("recv_wall_ns").is_between(low, high)).collect()
        found.append(matcher.match_span(nearby, start, end, last=number == len(bounds) - 2))
    return pl.concat(found)


_INT64 = np.iinfo(np.int64)
