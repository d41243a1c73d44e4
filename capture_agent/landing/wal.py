"""The write-ahead log: append-only files of checksummed, length-prefixed landing rows.

One WAL file per open segment (``<data>/landing/_wal/<capture_id>-<segment:06d>.wal``). A record is
``<u32 body length><u32 crc32(body)><body>`` with a msgpack body; the first record is the file header
(capture id, source, segment number, first seq), every later one a landing row
(:data:`~capture_agent.landing.rows.ROW_FIELDS`).
After a ``kill -9`` the tail may be torn: reading stops at the first record whose length or checksum does
not hold, so a partial record is cut, never misread.
"""

from __future__ import annotations

import fcntl
import os
import struct
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import msgspec

from capture_agent.errors import VectraError
from capture_agent.landing.rows import ROW_FIELDS
from capture_agent.landing.segments import fsync_dir

WAL_DIR = "_wal"
WAL_SUFFIX = ".wal"
WAL_TEMP_SUFFIX = WAL_SUFFIX + ".tmp"  # a WAL being created, before it has its header (hidden: dot-prefixed too)
WAL_VERSION = 1
RECORD_HEADER = struct.Struct("<II")
MAX_RECORD_BYTES = 1 << 30  # a larger length can only be a torn or corrupt header


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder()


@dataclass(frozen=True)
class WalHeader:
    capture_id: str
    source: str
    segment: int
    first_seq: int
    opened_wall_ns: int  # when the segment was opened: the time of a gap row when no row survived
    opened_mono_ns: int


def encode_record(body: bytes) -> bytes:
    return RECORD_HEADER.pack(len(body), zlib.crc32(body)) + body


def append_row(buffer: bytearray, row: tuple) -> None:
    """Append one row's record to a WAL buffer (no intermediate copy of the body)."""
    body = _encoder.encode(row)
    buffer += RECORD_HEADER.pack(len(body), zlib.crc32(body))
    buffer += body


def encode_header(header: WalHeader) -> bytes:
    return encode_record(
        _encoder.encode(
            {
                "vectra_wal": WAL_VERSION,
                "capture_id": header.capture_id,
                "source": header.source,
                "segment": header.segment,
                "first_seq": header.first_seq,
                "opened_wall_ns": header.opened_wall_ns,
                "opened_mono_ns": header.opened_mono_ns,
            }
        )
    )


def create_wal(wal_dir: Path, header: WalHeader) -> tuple[int, Path]:
    """The WAL of a live writer's segment, with its header, durable: (fd, path). The fd holds an exclusive lock
    until it is closed. Created under a temp name, locked, given its header and fsynced, then renamed: recovery only
    ever sees complete WAL files, and skips those still locked by a live writer."""
    final = wal_dir / wal_name(header.capture_id, header.segment)
    temp = wal_dir / f".{final.name.removesuffix(WAL_SUFFIX)}{WAL_TEMP_SUFFIX}"
    fd = _create_locked(temp)
    write_all(fd, encode_header(header))
    os.fsync(fd)
    os.rename(temp, final)
    fsync_dir(wal_dir)
    return fd, final


def remove_wal(fd: int, path: Path) -> None:
    """Remove a live writer's WAL whose rows are published. It is unlinked while still locked, so recovery never
    takes it for a dead writer's."""
    path.unlink()
    os.close(fd)
    fsync_dir(path.parent)


def _create_locked(path: Path) -> int:
    """Create ``path`` and hold an exclusive lock on it. A recovery running at that instant may take an
    unlocked, header-less temp WAL for a dead writer's and remove it: then create it again."""
    for _ in range(5):
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
        except FileExistsError:  # a recovery holds the stale one and is about to remove it
            time.sleep(0.01)
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if os.fstat(fd).st_nlink > 0:
                return fd
        except BlockingIOError:
            pass
        os.close(fd)
        time.sleep(0.01)
    raise VectraError(f"cannot create the write-ahead log {path}: another process keeps removing it")


def write_all(fd: int, data: bytes | bytearray) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def wal_name(capture_id: str, segment: int) -> str:
    return f"{capture_id}-{segment:06d}{WAL_SUFFIX}"


def wal_capture_id(path: Path) -> str:
    """The capture id in a WAL file name (``<capture_id>-<segment>.wal``, also the hidden temp form)."""
    name = path.name.removeprefix(".")
    for suffix in (WAL_TEMP_SUFFIX, WAL_SUFFIX):
        name = name.removesuffix(suffix)
    return name.rsplit("-", 1)[0]


class WalReader:
    """Iterate a WAL file's header and complete rows; after iteration ``valid_bytes``/``torn_bytes`` say
    where the last intact record ended and how many trailing bytes were cut."""

    def __init__(self, path: Path):
        self.path = path
        self.header: WalHeader | None = None
        self.valid_bytes = 0
        self.torn_bytes = 0
        self.torn_reason: str | None = None

    def _records(self, handle) -> Iterator[bytes]:
        while True:
            head = handle.read(RECORD_HEADER.size)
            if not head:
                return
            if len(head) < RECORD_HEADER.size:
                self.torn_reason = "record header cut short"
                return
            length, checksum = RECORD_HEADER.unpack(head)
            if length == 0 or length > MAX_RECORD_BYTES:
                self.torn_reason = f"impossible record length {length}"
                return
            body = handle.read(length)
            if len(body) < length:
                self.torn_reason = "record body cut short"
                return
            if zlib.crc32(body) != checksum:
                self.torn_reason = "record checksum mismatch"
                return
            yield body
            self.valid_bytes += RECORD_HEADER.size + length

    def rows(self) -> Iterator[tuple]:
        """The rows (tuples in :data:`ROW_FIELDS` order); reads the header first (``self.header``)."""
        size = self.path.stat().st_size
        with open(self.path, "rb", buffering=1 << 20) as handle:
            records = self._records(handle)
            first = next(records, None)
            if first is not None:
                try:
                    meta = _decoder.decode(first)
                    self.header = WalHeader(
                        meta["capture_id"],
                        meta["source"],
                        int(meta["segment"]),
                        int(meta["first_seq"]),
                        int(meta["opened_wall_ns"]),
                        int(meta["opened_mono_ns"]),
                    )
                except (msgspec.DecodeError, KeyError, TypeError, ValueError):
                    self.torn_reason = "header record unreadable"
                    self.valid_bytes = 0
                    self.torn_bytes = size
                    return
                for body in records:
                    try:
                        row = _decoder.decode(body)
                    except msgspec.DecodeError:
                        self.valid_bytes -= RECORD_HEADER.size + len(body)
                        self.torn_reason = "row record unreadable"
                        break
                    if not isinstance(row, list) or len(row) != len(ROW_FIELDS):
                        self.valid_bytes -= RECORD_HEADER.size + len(body)
                        self.torn_reason = "row record has the wrong shape"
                        break
                    yield tuple(row)
        self.torn_bytes = size - self.valid_bytes
