"""Recovery: publish the WAL of every capture whose agent did not close it (crash, kill -9, power loss).

Runs at every start (``vectra capture``, ``synth``, ``import``) and when a writer resumes a capture id. It never
blocks a start on content: a WAL row that cannot become a landing row (the Parquet column would refuse it) is set
aside, and so is a whole WAL that cannot be published (seq order broken, header unreadable, a publish that fails).
Set-aside material goes to ``landing/_wal/_rejected/`` with a ``.reason`` file beside it; a rejected row leaves a
``connection``/``set_aside`` row at its seq, so the capture stays gapless and says where the row went. Only an
I/O failure (disk full, permissions) stops recovery: the WAL then stays where it is for the next start.

WALs written before ack ids past int64 were flagged hold such ids in the ``ack_id`` value: recovery moves them
into ``detail`` the way the writer now does, so those rows are published, not set aside.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq

from capture_agent.errors import VectraError
from capture_agent.landing.rows import RECV_MONO_NS, RECV_WALL_NS, ROW_FIELDS, SEQ, connection_row
from capture_agent.landing.schema import flagged
from capture_agent.landing.segments import (
    PublishedSegment,
    SegmentFile,
    day_of,
    fsync_dir,
    fsync_file,
    landing_root,
    published_segments,
    row_problem,
)
from capture_agent.landing.wal import (
    WAL_DIR,
    WAL_SUFFIX,
    WAL_TEMP_SUFFIX,
    WalHeader,
    WalReader,
    append_row,
    encode_header,
    wal_capture_id,
)

REJECTED_DIR = "_rejected"  # under landing/_wal/
REASON_SUFFIX = ".reason"
_ACK_ID, _DETAIL = ROW_FIELDS.index("ack_id"), ROW_FIELDS.index("detail")
_INT64_END = 1 << 63


@dataclass
class Recovery:
    """What :func:`recover` did: the segments it published and what it had to set aside."""

    published: list[Path] = field(default_factory=list)
    set_aside: list[Path] = field(default_factory=list)  # files under landing/_wal/_rejected/, each with its .reason
    rows_set_aside: int = 0  # rows of otherwise published WALs
    wals_set_aside: int = 0  # whole WALs

    def report(self) -> str | None:
        """One line for the user when something was set aside (None otherwise)."""
        if not self.set_aside:
            return None
        folder = self.set_aside[0].parent
        return (
            f"recovery set aside {self.wals_set_aside} WAL file(s) and {self.rows_set_aside} WAL row(s) that could not "
            f"be published; everything else was published. They are kept in {folder} (reasons in the {REASON_SUFFIX} files)"
        )


def glob_escape(text: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", text)


def recover(data_dir: Path, *, capture_id: str | None = None) -> Recovery:
    """Publish every WAL left by an agent that did not close (crash, kill -9, power loss). Idempotent.

    Captures with a WAL still locked by a running writer are skipped. Rows already published (a crash after
    a segment's publish but before its WAL removal) are recognised by seq and never published twice. The
    torn tail of a WAL is cut. The capture then ends with one ``connection``/``gap`` row (cause ``crash``).
    What cannot be published is set aside (see the module doc), never a reason to fail.
    """
    data_dir = Path(data_dir)
    wal_dir = landing_root(data_dir) / WAL_DIR
    result = Recovery()
    if not wal_dir.is_dir():
        return result

    def ours(path: Path) -> bool:
        return capture_id is None or wal_capture_id(path) == capture_id

    for stale in sorted(wal_dir.glob(f".*{WAL_TEMP_SUFFIX}")):
        if ours(stale):
            _remove_if_unlocked(stale)  # a WAL that died before it got its header: no rows in it
    by_capture: dict[str, list[Path]] = {}
    for path in sorted(wal_dir.glob(f"*{WAL_SUFFIX}")):  # zero-padded segment numbers: name order is WAL order
        if ours(path):
            by_capture.setdefault(wal_capture_id(path), []).append(path)
    for paths in by_capture.values():
        _recover_capture(data_dir, wal_dir, paths, result)
    return result


def _recover_capture(data_dir: Path, wal_dir: Path, paths: list[Path], result: Recovery) -> None:
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
                return  # a live writer owns this capture
            locked.append(path)
        present = [path for path in locked if path.exists()]
        for index, path in enumerate(present):
            rejected = _RejectedRows(wal_dir, path)
            try:
                published = _recover_wal(data_dir, path, rejected, last=index == len(present) - 1)
            except OSError as error:  # the disk, not the content: keep the WAL for the next start
                raise VectraError(f"cannot recover {path}: {error}; it is kept for the next start") from error
            except Exception as error:  # noqa: BLE001 - content that cannot be published never blocks a start
                rejected.discard()  # the whole WAL is kept: its rejected rows are in it
                result.set_aside.extend(_set_aside(wal_dir, path, f"{type(error).__name__}: {error}"))
                result.wals_set_aside += 1
                continue
            if published is not None:
                result.published.append(published)
            if rejected.count:
                result.set_aside.append(rejected.path)
                result.rows_set_aside += rejected.count
            path.unlink()
            fsync_dir(wal_dir)
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


class _Unpublishable(Exception):
    """A WAL that cannot be published as a whole (it is set aside, with this as its reason)."""


def _set_aside(wal_dir: Path, path: Path, reason: str) -> list[Path]:
    """Move a whole WAL to the rejected folder with its reason; returns the files now there."""
    folder = _rejected_dir(wal_dir)
    target = _free_name(folder / path.name)
    reason_file = target.with_name(target.name + REASON_SUFFIX)
    _write_durably(reason_file, f"{path.name} was set aside by recovery at {datetime.now(UTC).isoformat()}: {reason}\n".encode())
    os.rename(path, target)
    fsync_dir(folder)
    fsync_dir(wal_dir)
    return [target]


class _RejectedRows:
    """The rows of one WAL that cannot be published: a WAL-format file (its header, then those rows) and a
    ``.reason`` file with one line per row, both written before the segment holding their markers is published."""

    def __init__(self, wal_dir: Path, wal: Path) -> None:
        self.path = _rejected_dir(wal_dir, create=False) / f"{wal.name.removesuffix(WAL_SUFFIX)}.rows{WAL_SUFFIX}"
        self.count = 0
        self._records = bytearray()
        self._reasons: list[str] = []

    def add(self, header: WalHeader, row: tuple, reason: str) -> None:
        if not self._records:
            self._records += encode_header(header)
        append_row(self._records, row)
        self._reasons.append(f"seq {row[SEQ]}: {reason}")
        self.count += 1

    def write(self) -> None:
        if not self.count:
            return
        ensured = _rejected_dir(self.path.parent.parent)
        _write_durably(ensured / (self.path.name + REASON_SUFFIX), ("\n".join(self._reasons) + "\n").encode())
        _write_durably(self.path, bytes(self._records))
        fsync_dir(ensured)

    def discard(self) -> None:
        for stale in (self.path, self.path.with_name(self.path.name + REASON_SUFFIX)):
            stale.unlink(missing_ok=True)
        self.count = 0


def _rejected_dir(wal_dir: Path, *, create: bool = True) -> Path:
    folder = wal_dir / REJECTED_DIR
    if create and not folder.is_dir():
        folder.mkdir(exist_ok=True)
        fsync_dir(wal_dir)
    return folder


def _free_name(path: Path) -> Path:
    candidate, number = path, 1
    while candidate.exists():
        candidate = path.with_name(f"{path.name}.{number}")
        number += 1
    return candidate


def _write_durably(path: Path, data: bytes) -> None:
    path.write_bytes(data)
    fsync_file(path)


def _with_wide_ack_in_detail(row: tuple) -> tuple:
    """A row of an agent that stored an ack id past int64 in ``ack_id``: the id moves to ``detail``, flagged."""
    ack_id = row[_ACK_ID]
    if type(ack_id) is not int or -_INT64_END <= ack_id < _INT64_END:
        return row
    text = row[_DETAIL]
    try:
        detail = json.loads(text) if text else {}
    except ValueError:
        detail = {"detail_text": text}
    if not isinstance(detail, dict):
        detail = {"detail_value": detail}
    fixed = list(row)
    fixed[_ACK_ID] = None
    fixed[_DETAIL] = json.dumps(flagged(detail, "ack_id_out_of_range", ack_id=str(ack_id)), ensure_ascii=False)
    return tuple(fixed)


def _recover_wal(data_dir: Path, path: Path, rejected: _RejectedRows, *, last: bool) -> Path | None:
    reader = WalReader(path)
    rows = reader.rows()
    first = next(rows, None)
    header = reader.header
    if header is None:
        if path.stat().st_size == 0:
            return None  # never written: the segment had no row yet
        raise _Unpublishable(f"its header cannot be read ({reader.torn_reason})")
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
                raise _Unpublishable(f"the WAL breaks the seq order at {row[SEQ]!r} (expected {expected})")
            expected += 1
            if published(row[SEQ]):
                last_row = row
                continue
            row = _with_wide_ack_in_detail(row)
            problem = row_problem(row)
            if problem is not None:
                rejected.add(header, row, problem)
                row = _set_aside_marker(row[SEQ], last_row, header, problem, rejected.path)
            last_row = row
            if segment is None:
                segment = SegmentFile(data_dir, header.capture_id, header.source, number, day_of(row[RECV_WALL_NS]))
            segment.add(row, _row_size(row))
        rejected.write()  # the rejected rows are safe before their markers are published
        if not last:
            return segment.publish() if segment is not None else None
        # The gap row closes the capture after its last known row: the WAL may lack rows of a segment published
        # just before the crash (they were still in the writer's buffer), so published seqs count too.
        gap_seq = expected
        wall_ns, mono_ns = (last_row[RECV_WALL_NS], last_row[RECV_MONO_NS]) if last_row is not None else (header.opened_wall_ns, header.opened_mono_ns)
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
        gap = connection_row(gap_seq, wall_ns, mono_ns, "gap", detail)
        if segment is None:
            segment = SegmentFile(data_dir, header.capture_id, header.source, number, day_of(wall_ns))
        segment.add(gap, 0)
        return segment.publish()
    except BaseException:
        if segment is not None:
            segment.abort()
        raise


def _set_aside_marker(seq: int, before: tuple | None, header: WalHeader, problem: str, where: Path) -> tuple:
    """The row that stands at a rejected row's seq: when (the row before's time), why and where it went."""
    wall_ns, mono_ns = (before[RECV_WALL_NS], before[RECV_MONO_NS]) if before is not None else (header.opened_wall_ns, header.opened_mono_ns)
    detail = {"reason": f"this WAL row could not be published: {problem}", "set_aside_in": f"{REJECTED_DIR}/{where.name}"}
    return connection_row(seq, wall_ns, mono_ns, "set_aside", detail)


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


