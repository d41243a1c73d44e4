"""Recovery: publish the WAL of every capture whose agent did not close it (crash, kill -9, power loss).

Runs at every start (``vectra capture``, ``synth``, ``import``) and when a writer resumes a capture id.
"""

from __future__ import annotations

import fcntl
import os
import re
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pyarrow.compute as pc
import pyarrow.parquet as pq

from capture_agent.errors import VectraError
from capture_agent.landing.schema import RecordType
from capture_agent.landing.segments import (
    PublishedSegment,
    SegmentFile,
    day_of,
    fsync_dir,
    landing_root,
    published_segments,
)
from capture_agent.landing.wal import RECV_WALL_NS, ROW_FIELDS, SEQ, WAL_DIR, WAL_SUFFIX, WAL_TEMP_SUFFIX, WalReader, wal_capture_id


def glob_escape(text: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", text)


def recover(data_dir: Path, *, capture_id: str | None = None) -> list[Path]:
    """Publish every WAL left by an agent that did not close (crash, kill -9, power loss). Idempotent.

    Captures with a WAL still locked by a running writer are skipped. Rows already published (a crash after
    a segment's publish but before its WAL removal) are recognised by seq and never published twice. The
    torn tail of a WAL is cut. The capture then ends with one ``connection``/``gap`` row (cause ``crash``).
    Returns the segments published.
    """
    data_dir = Path(data_dir)
    wal_dir = landing_root(data_dir) / WAL_DIR
    if not wal_dir.is_dir():
        return []

    def ours(path: Path) -> bool:
        return capture_id is None or wal_capture_id(path) == capture_id

    for stale in sorted(wal_dir.glob(f".*{WAL_TEMP_SUFFIX}")):
        if ours(stale):
            _remove_if_unlocked(stale)  # a WAL that died before it got its header: no rows in it
    by_capture: dict[str, list[Path]] = {}
    for path in sorted(wal_dir.glob(f"*{WAL_SUFFIX}")):  # zero-padded segment numbers: name order is WAL order
        if ours(path):
            by_capture.setdefault(wal_capture_id(path), []).append(path)
    published: list[Path] = []
    for paths in by_capture.values():
        published.extend(_recover_capture(data_dir, wal_dir, paths))
    return published


def _recover_capture(data_dir: Path, wal_dir: Path, paths: list[Path]) -> list[Path]:
    """Recover one capture's WALs in order; only the last one closes the capture with the gap row."""
    fds: list[int] = []
    try:
        locked = []
        for path in paths:
            try:
                fd = os.open(path, os.O_RDONLY)
            except FileNotFoundError:
                continue  # its writer just rolled past it
            fds.append(fd)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return []  # a live writer owns this capture
            locked.append(path)
        present = [path for path in locked if path.exists()]
        published = []
        for index, path in enumerate(present):
            result = _recover_wal(data_dir, path, last=index == len(present) - 1)
            if result is not None:
                published.append(result)
            path.unlink()
            fsync_dir(wal_dir)
        return published
    finally:
        for fd in fds:
            os.close(fd)


def _remove_if_unlocked(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return
    else:
        path.unlink(missing_ok=True)
    finally:
        os.close(fd)


def _recover_wal(data_dir: Path, path: Path, *, last: bool) -> Path | None:
    reader = WalReader(path)
    rows = reader.rows()
    first = next(rows, None)
    header = reader.header
    if header is None:
        return None  # not even a header survived: the segment had no row yet
    earlier = published_segments(data_dir, header.capture_id)
    covered = [(s.first_seq, s.last_seq) for s in earlier]
    taken = {s.segment for s in earlier}
    _drop_temp_segment(data_dir, header.capture_id, header.segment)
    newest = _newest_row(earlier)
    if last and newest is not None and newest["event"] == "gap" and path.name in (newest["detail"] or ""):
        return None  # this WAL was recovered already; the crash came before its removal

    def published(seq: int) -> bool:
        return any(low <= seq <= high for low, high in covered)

    segment: SegmentFile | None = None
    last_row: tuple | None = None
    expected = header.first_seq
    number = header.segment if header.segment not in taken else max(taken) + 1
    try:
        for row in _chain([first] if first is not None else [], rows):
            if row[SEQ] != expected:
                raise VectraError(f"WAL {path} breaks the seq order at {row[SEQ]} (expected {expected}); it was kept")
            expected += 1
            last_row = row
            if published(row[SEQ]):
                continue
            if segment is None:
                segment = SegmentFile(data_dir, header.capture_id, header.source, number, day_of(row[RECV_WALL_NS]))
            segment.add(row, _row_size(row))
        if not last:
            return segment.publish() if segment is not None else None
        # The gap row closes the capture after its last known row: the WAL may lack rows of a segment published
        # just before the crash (they were still in the writer's buffer), so published seqs count too.
        gap_seq = expected
        wall_ns, mono_ns = (last_row[RECV_WALL_NS], last_row[3]) if last_row is not None else (header.opened_wall_ns, header.opened_mono_ns)
        if segment is None and newest is not None and newest["seq"] >= gap_seq:
            gap_seq = newest["seq"] + 1
            wall_ns, mono_ns = newest["recv_wall_ns"], newest["recv_mono_ns"]
        detail = {
            "cause": "crash",
            "reason": "the agent stopped without closing the capture; rows after its last fsync may be missing",
            "recovered_at": datetime.now(UTC).isoformat(),
            "wal": path.name,
            "torn_bytes": reader.torn_bytes,
            "torn_reason": reader.torn_reason,
        }
        gap = (gap_seq, RecordType.CONNECTION.value, wall_ns, mono_ns, None, None, None, None, None, None, None, None,
               "gap", None, orjson.dumps(detail).decode())
        if segment is None:
            segment = SegmentFile(data_dir, header.capture_id, header.source, number, day_of(wall_ns))
        segment.add(gap, 0)
        return segment.publish()
    except BaseException:
        if segment is not None:
            segment.abort()
        raise


def _newest_row(segments: list[PublishedSegment]) -> dict | None:
    """seq, times, event and detail of a capture's last published row."""
    if not segments:
        return None
    newest = max(segments, key=lambda s: s.last_seq)
    table = pq.read_table(newest.path, columns=["seq", "recv_wall_ns", "recv_mono_ns", "event", "detail"])
    table = table.set_column(1, "recv_wall_ns", table["recv_wall_ns"].cast("int64"))
    return table.slice(pc.index(table["seq"], newest.last_seq).as_py(), 1).to_pylist()[0]


def _chain(head: list, tail):
    yield from head
    yield from tail


def _row_size(row: tuple) -> int:
    text, data = row[ROW_FIELDS.index("payload_text")], row[ROW_FIELDS.index("payload_bytes")]
    return len(text) if text is not None else len(data) if data is not None else 0


def _drop_temp_segment(data_dir: Path, capture_id: str, segment: int) -> None:
    """The half-written Parquet temp file of a dead writer (its rows are all in the WAL being recovered)."""
    for temp in landing_root(data_dir).glob(f"date=*/.{glob_escape(capture_id)}-{segment:06d}.parquet.tmp"):
        temp.unlink(missing_ok=True)


