"""The landing writer: every frame and lifecycle event becomes one row, never lost, reordered or duplicated.

Write path of a row: its tail built by :mod:`~capture_agent.landing.rows` (redaction of frames of both directions,
URLs and details; the convenience columns) → gapless ``seq`` → appended to the WAL buffer
(written to the OS at 1 MiB or by the sync thread, fsynced by the sync thread at least every
``fsync_interval_s``; the caller never waits for an fsync) → buffered into the open segment, which is streamed
out as zstd Parquet row groups to a hidden temp file. A segment rolls after ``segment_max_rows`` rows,
``segment_max_bytes`` of payload (which bounds its WAL on disk), ``segment_max_seconds`` (checked by the sync thread on
every tick) or at UTC midnight (a segment never spans two dates); rolling publishes it atomically
and only then removes its WAL file.

Capture-id policy across restarts: each agent run is its own capture (a fresh id, seq from 0). The WAL of a
run that died is published by :func:`~capture_agent.landing.recovery.recover` under the dead run's id, continuing its seq, and closed by a
``connection``/``gap`` row (cause ``crash``). A writer given an existing ``capture_id`` resumes that capture:
it recovers it first and continues its seq and segment numbers.
"""

from __future__ import annotations

import os
import re
import secrets
import threading
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from capture_agent.errors import VectraError
from capture_agent.landing.recovery import recover
from capture_agent.landing.rows import (
    CLICK,
    CONNECTION,
    FRAME,
    INT64_END,
    TAIL_DIRECTION,
    Header,
    click_tail,
    connection_tail,
    frame_tail,
    nanoseconds,
    without_surrogates,
)
from capture_agent.landing.schema import Direction, Source, Transport
from capture_agent.landing.segments import NS_PER_DAY, SegmentFile, ensure_dir, landing_root, published_segments
from capture_agent.landing.wal import WAL_DIR, WalHeader, append_row, create_wal, remove_wal, wal_capture_id, write_all

WAL_WRITE_BYTES = 1 << 20  # buffered WAL bytes handed to the OS at once (kill -9 keeps what the OS has)
_CAPTURE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def new_capture_id(source: Source | str, now: datetime | None = None, *, agent_id: str | None = None) -> str:
    """``<utc yyyymmddThhmmss>-<source>[-<agent id>]-<6 hex>``: sorts by start time, unique per run; the agent id
    (:func:`capture_agent.config.agent_id`) keeps captures of two machines apart in one bucket."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%S")
    agent = f"-{agent_id}" if agent_id else ""
    return f"{stamp}-{Source(source).value}{agent}-{secrets.token_hex(3)}"


@dataclass
class WriterStats:
    rows: int = 0
    frames_in: int = 0
    frames_out: int = 0
    segments_published: int = 0
    bytes_published: int = 0
    wal_lag_s: float = 0.0  # age of the oldest row not yet fsynced
    last_fsync: float | None = None  # wall time (epoch seconds) of the last completed fsync
    drops: int = 0  # rows accepted but not landed: always 0 (a write that cannot land raises instead)
    next_seq: int = 0
    durable_seq: int = 0  # every row with a smaller seq is fsynced in the WAL or published
    segment: int | None = None  # number of the open segment
    last_published: Path | None = None


class LandingWriter:
    """Lands one capture. Thread-safe: an asyncio source calls it while the sync thread fsyncs."""

    def __init__(
        self,
        data_dir: Path,
        source: Source,
        *,
        capture_id: str | None = None,
        fsync_interval_s: float = 0.1,
        segment_max_rows: int = 1_000_000,
        segment_max_seconds: float = 900.0,
        segment_max_bytes: int = 512 << 20,
        agent_id: str | None = None,
    ):
        if fsync_interval_s <= 0:
            raise VectraError("fsync interval must be positive")
        if segment_max_rows < 1 or segment_max_seconds <= 0 or segment_max_bytes < 1:
            raise VectraError("segment limits must be positive")
        self.data_dir = Path(data_dir)
        self.source = Source(source)
        self.fsync_interval_s = fsync_interval_s
        self.segment_max_rows = segment_max_rows
        self.segment_max_seconds = segment_max_seconds
        self.segment_max_bytes = segment_max_bytes  # bounds the WAL file on disk (≈ the segment's raw payload)
        self._wal_dir = landing_root(self.data_dir) / WAL_DIR
        ensure_dir(self._wal_dir)
        next_seq, next_segment = 0, 0
        if capture_id is None:
            capture_id = new_capture_id(self.source, agent_id=agent_id)
        else:
            if not _CAPTURE_ID.match(capture_id):
                raise VectraError(f"capture id {capture_id!r} may only hold letters, digits, '.', '_' and '-'")
            recover(self.data_dir, capture_id=capture_id)
            if any(wal_capture_id(p) == capture_id for p in self._wal_dir.iterdir()):
                raise VectraError(f"capture {capture_id} is being written by another running agent")
            earlier = published_segments(self.data_dir, capture_id)
            if earlier:
                next_seq = max(s.last_seq for s in earlier) + 1
                next_segment = max(s.segment for s in earlier) + 1
        self.capture_id = capture_id
        self._lock = threading.Lock()
        self._next_seq = next_seq
        self._next_segment = next_segment
        self._segment: SegmentFile | None = None
        self._segment_end_seq = 0
        self._segment_deadline = 0.0  # monotonic time at which the open segment is old enough to roll
        self._wal_fd: int | None = None
        self._wal_path: Path | None = None
        self._wal_buffer = bytearray()
        self._unsynced_since: float | None = None  # monotonic time of the oldest row not yet fsynced
        self._syncing_since: float | None = None
        self._failure: BaseException | None = None
        self._closed = False
        self._stats = WriterStats(next_seq=next_seq, durable_seq=next_seq)
        self._first_seq = next_seq
        self._frames_in = self._frames_out = 0  # counted apart from the stats: cheaper per row
        # The WAL is opened eagerly and the next one exists before the previous one goes: while the writer
        # lives a WAL is always there, so a crash at any moment is seen by recovery and closed with a gap row.
        self._wal_segment = 0
        self._open_wal()
        self._stop = threading.Event()
        self._sync_thread = threading.Thread(target=self._sync_loop, name=f"wal-sync-{capture_id}", daemon=True)
        self._sync_thread.start()

    # --- rows ------------------------------------------------------------------------------------------

    def frame(
        self,
        direction: Direction,
        transport: Transport,
        payload: str | bytes,
        *,
        url: str | None = None,
        socket_id: str | None = None,
        opcode: int | None = None,
        browser_ts: float | None = None,
        recv_wall_ns: int | None = None,
        recv_mono_ns: int | None = None,
        detail: dict | None = None,
        header: Header | None = None,
    ) -> int:
        """Land one frame verbatim (secrets redacted); returns its seq. ``header``: the (event, ack id) the caller
        already decoded from ``payload`` (:func:`~capture_agent.landing.rows.header_of`), saves parsing it again."""
        tail, size = frame_tail(direction, transport, payload, url, socket_id, opcode, browser_ts, detail, header)
        outgoing = tail[TAIL_DIRECTION] == "out"
        try:
            return self._append(FRAME, recv_wall_ns, recv_mono_ns, tail, size, outgoing)
        except UnicodeEncodeError:  # JS strings may hold lone surrogates, UTF-8 cannot
            return self._append(FRAME, recv_wall_ns, recv_mono_ns, without_surrogates(tail), size, outgoing)

    def connection(
        self,
        event: str,
        *,
        detail: dict | None = None,
        url: str | None = None,
        socket_id: str | None = None,
        transport: Transport | None = None,
        recv_wall_ns: int | None = None,
        recv_mono_ns: int | None = None,
    ) -> int:
        """Land a lifecycle event (connected, disconnected with ``detail.reason``, reconnecting, gap, …)."""
        tail = connection_tail(event, detail, url, socket_id, transport)
        return self._append(CONNECTION, recv_wall_ns, recv_mono_ns, tail, 0, None)

    def click(
        self, detail: dict, *, browser_ts: float | None = None, recv_wall_ns: int | None = None, recv_mono_ns: int | None = None
    ) -> int:
        """Land a click on a trade control (target, label, amount… in ``detail``; client time in ``browser_ts``)."""
        return self._append(CLICK, recv_wall_ns, recv_mono_ns, click_tail(detail, browser_ts), 0, None)

    def _append(
        self, record_type: str, wall_ns: int | None, mono_ns: int | None, tail: tuple, size: int, outgoing: bool | None
    ) -> int:
        # Every value is checked before it reaches the WAL: a row that could not be written to Parquet would
        # make the WAL unrecoverable.
        if wall_ns is None:
            wall_ns = time.time_ns()
        elif type(wall_ns) is not int or not -INT64_END <= wall_ns < INT64_END:
            wall_ns = nanoseconds(wall_ns)
        if mono_ns is None:
            mono_ns = time.monotonic_ns()
        elif type(mono_ns) is not int or not -INT64_END <= mono_ns < INT64_END:
            mono_ns = nanoseconds(mono_ns)
        with self._lock:
            if self._failure is not None or self._closed:
                self._refuse()
            try:
                day = wall_ns // NS_PER_DAY
                segment = self._segment
                seq = self._next_seq
                # The age limit is checked by the sync thread on every tick (_roll_if_old), not per row.
                if segment is None:
                    segment = self._open_segment(day)
                elif seq >= self._segment_end_seq or segment.payload_bytes >= self.segment_max_bytes or segment.day != day:
                    self._roll()
                    segment = self._open_segment(day)
                row = (seq, record_type, wall_ns, mono_ns, *tail)
                append_row(self._wal_buffer, row)  # raises before changing anything when a string is not UTF-8
            except UnicodeEncodeError:
                raise
            except BaseException as error:
                self._failure = error
                raise
            self._next_seq = seq + 1  # the row is in the WAL buffer: its seq is taken, whatever happens next
            try:
                if self._unsynced_since is None:
                    self._unsynced_since = time.monotonic()
                if len(self._wal_buffer) >= WAL_WRITE_BYTES:
                    self._write_wal_buffer()
                segment.add(row, size)
            except BaseException as error:  # disk full, I/O error: stop landing, keep the WAL for recovery
                self._failure = error
                raise
            if outgoing is not None:
                self._frames_out += outgoing
                self._frames_in += not outgoing
            return seq

    def _refuse(self) -> None:
        if self._failure is not None:
            raise VectraError(f"landing writer stopped: {self._failure}") from self._failure
        raise VectraError(f"capture {self.capture_id} is closed")

    # --- segments and WAL (called with the lock held) ----------------------------------------------------

    def _open_wal(self) -> None:
        number = self._next_segment
        header = WalHeader(self.capture_id, self.source.value, number, self._next_seq, time.time_ns(), time.monotonic_ns())
        self._wal_fd, self._wal_path = create_wal(self._wal_dir, header)
        self._wal_segment = number
        self._next_segment = number + 1
        self._stats.segment = number

    def _open_segment(self, day: int) -> SegmentFile:
        self._segment = SegmentFile(self.data_dir, self.capture_id, self.source.value, self._wal_segment, day)
        self._segment_end_seq = self._next_seq + self.segment_max_rows  # the seq that starts the next segment
        self._segment_deadline = time.monotonic() + self.segment_max_seconds
        return self._segment

    def _write_wal_buffer(self) -> None:
        if self._wal_buffer and self._wal_fd is not None:
            write_all(self._wal_fd, self._wal_buffer)
        self._wal_buffer.clear()

    def _roll(self, *, last: bool = False) -> None:
        """Publish the open segment durably, open the next WAL (unless ``last``), then drop the old WAL."""
        segment, self._segment = self._segment, None
        stats = self._stats
        if segment is not None:
            path = segment.publish()
            stats.segments_published += 1
            stats.bytes_published += path.stat().st_size
            stats.last_published = path
        elif not last:
            return
        self._wal_buffer.clear()  # its rows are in the published segment now
        old_fd, old_path = self._wal_fd, self._wal_path
        self._wal_fd, self._wal_path = None, None
        if not last:
            self._open_wal()
        remove_wal(old_fd, old_path)
        self._unsynced_since = None
        stats.durable_seq = self._next_seq
        if last:
            stats.segment = None

    # --- durability ---------------------------------------------------------------------------------------

    def flush(self) -> None:
        """Hand every buffered row to the OS and fsync the WAL now."""
        self._sync()

    def _sync(self) -> None:
        with self._lock:
            self._write_wal_buffer()
            fd = None if self._wal_fd is None else os.dup(self._wal_fd)
            cut = self._next_seq
            self._syncing_since, self._unsynced_since = self._unsynced_since, None
        try:
            if fd is not None:
                os.fsync(fd)
        finally:
            if fd is not None:
                os.close(fd)
            with self._lock:
                self._syncing_since = None
                self._stats.last_fsync = time.time()
                self._stats.durable_seq = max(self._stats.durable_seq, cut)

    def _sync_loop(self) -> None:
        due = time.monotonic() + self.fsync_interval_s
        while not self._stop.wait(max(0.0, due - time.monotonic())):
            due += self.fsync_interval_s  # a fixed schedule: the fsync's own duration does not stretch it
            if due < time.monotonic():
                due = time.monotonic() + self.fsync_interval_s  # fell behind (a stall): do not burst
            try:
                self._sync()
                self._roll_if_old()
            except BaseException as error:  # surfaced on the next write and on close, never swallowed
                self._failure = error
                return

    def _roll_if_old(self) -> None:
        """An idle capture still publishes its segment once it is old enough."""
        with self._lock:
            if (
                self._segment is not None
                and not self._closed
                and time.monotonic() >= self._segment_deadline
            ):
                self._roll()

    @property
    def stats(self) -> WriterStats:
        with self._lock:
            oldest = [t for t in (self._unsynced_since, self._syncing_since) if t is not None]
            self._stats.wal_lag_s = time.monotonic() - min(oldest) if oldest else 0.0
            self._stats.next_seq = self._next_seq
            self._stats.rows = self._next_seq - self._first_seq
            self._stats.frames_in, self._stats.frames_out = self._frames_in, self._frames_out
            return replace(self._stats)

    def close(self) -> None:
        """Publish the last segment and remove its WAL. Idempotent."""
        if self._closed:
            return
        self._stop.set()
        if self._sync_thread is not threading.current_thread():
            self._sync_thread.join()
        with self._lock:
            self._closed = True
            if self._failure is None:
                try:
                    self._roll(last=True)
                except BaseException as error:
                    self._failure = error
            if self._failure is not None:
                self._abandon()
        if self._failure is not None:
            raise VectraError(
                f"landing writer failed: {self._failure}; its rows stay in the WAL and are published on the next start"
            ) from self._failure

    def _abandon(self) -> None:
        """After a failure: hand what the WAL buffer holds to the OS, best effort, and release the WAL's lock
        so that the next start recovers it."""
        if self._wal_fd is None:
            return
        try:
            self._write_wal_buffer()
            os.fsync(self._wal_fd)
        except OSError:
            pass  # the failure being reported already says the disk is in trouble
        finally:
            os.close(self._wal_fd)
            self._wal_fd = None

    def __enter__(self) -> LandingWriter:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

