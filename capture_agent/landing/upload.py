"""Upload published landing segments to an object store, each exactly once, and only then drop the local copy.

With an ``s3://`` data root the agent lands into a local cache folder as usual (WAL, segments); an :class:`Uploader`
thread then sends every *settled* segment (published, its WAL gone) to the same key under the remote root
(``<prefix>/landing/date=YYYY-MM-DD/<capture_id>-<segment>.parquet``) with a conditional create (``If-None-Match:
*``) carrying ``sha256`` and ``rows`` metadata. Every step is recorded first in an append-only, fsynced journal
(``<cache>/_uploads.jsonl``) and acted on after, so a kill -9 anywhere is finished at the next start:

* ``queued`` — the segment, its sha256 and rows; it stays pending until one of:
* ``done`` — the object is there with our sha256: created now, or found by a retry whose first PUT succeeded but
  whose reply was lost (412 and the same sha256). Then the local copy is deleted.
* ``collision`` — a *different* object already holds the key: the local file is moved to ``<cache>/_collisions/``
  and reported; it is never overwritten nor lost.
* ``lost`` — neither the cache nor the store has it (someone deleted it before it was uploaded): reported.

A store that is down or unreachable never blocks the capture: uploads are retried with backoff and catch up.
The journal's decisions are pure (:class:`UploadBook`, :func:`settle`); :class:`S3Store` and :class:`Uploader` are
the I/O around them. Credentials come from the ``AWS_*`` variables and are never written anywhere.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import random
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

import pyarrow.parquet as pq

from capture_agent.config import RemoteRoot, agent_id, default_cache_dir
from capture_agent.errors import VectraError
from capture_agent.landing.segments import fsync_dir, landing_root, parse_segment_name, segment_paths
from capture_agent.landing.wal import WAL_DIR, wal_name
from capture_agent.object_store import s3_filesystem
from capture_agent.redact import redact_text

JOURNAL = "_uploads.jsonl"
COLLISIONS_DIR = "_collisions"
COPY_CHUNK = 8 << 20


class Status(StrEnum):
    PENDING = "queued"
    DONE = "done"
    COLLISION = "collision"
    LOST = "lost"


@dataclass
class Entry:
    key: str  # the path under the data root, the same locally and remotely: landing/date=…/<name>.parquet
    sha256: str
    rows: int
    status: Status = Status.PENDING
    stored_sha256: str | None = None  # a collision's: what the store holds


@dataclass
class UploadBook:
    """The journal's state: the last record of each key wins. Lines that cannot be read (a torn tail after a
    kill -9, damage) are counted and skipped: the next record or the store itself tells the truth again."""

    entries: dict[str, Entry] = field(default_factory=dict)
    damaged_lines: int = 0

    def apply(self, record: dict) -> Entry:
        entry = Entry(record["key"], record["sha256"], int(record["rows"]), Status(record["event"]), record.get("stored_sha256"))
        self.entries[entry.key] = entry
        return entry

    @classmethod
    def replay(cls, lines: Iterable[bytes]) -> UploadBook:
        book = cls()
        for line in lines:
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                book.apply(record)
            except (ValueError, TypeError, KeyError, AttributeError):
                book.damaged_lines += 1
        return book

    def with_status(self, status: Status) -> list[Entry]:
        return sorted((e for e in self.entries.values() if e.status is status), key=lambda e: e.key)

    def count(self, status: Status) -> int:
        return sum(1 for e in self.entries.values() if e.status is status)


def record(entry: Entry) -> bytes:
    """One journal line for ``entry`` as it stands."""
    body = {"event": entry.status.value, "key": entry.key, "sha256": entry.sha256, "rows": entry.rows}
    if entry.stored_sha256 is not None:
        body["stored_sha256"] = entry.stored_sha256
    return json.dumps(body, separators=(",", ":")).encode() + b"\n"


@dataclass(frozen=True)
class Created:
    """The conditional create succeeded."""


@dataclass(frozen=True)
class Exists:
    """The key was taken (412); ``stored_sha256`` is the object's (None: it has no such metadata)."""

    stored_sha256: str | None


@dataclass(frozen=True)
class Absent:
    """No object at the key (asked about a segment whose local copy is gone)."""


def settle(entry: Entry, outcome: Created | Exists | Absent) -> Status:
    """What an answer of the store means for a pending segment."""
    if isinstance(outcome, Created):
        return Status.DONE
    if isinstance(outcome, Exists):
        return Status.DONE if outcome.stored_sha256 == entry.sha256 else Status.COLLISION
    return Status.LOST


def retry_delay(failures: int, cap_s: float, jitter: float) -> float:
    """Exponential backoff from 0.5 s to ``cap_s``; ``jitter`` in [0, 1) spreads agents that failed together."""
    doublings = min(max(0, failures - 1), 40)  # a store down for days must not overflow the float
    return min(cap_s, 0.5 * 2.0**doublings) * (0.5 + jitter / 2)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(COPY_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


class S3Store:
    """Conditional creates and metadata reads on an S3 (or S3-compatible) store, through s3fs."""

    def __init__(self, remote: RemoteRoot, *, part_size: int | None = None) -> None:
        self.remote = remote
        self.part_size = part_size  # a file larger than one part goes up in a multipart upload (s3fs's default: 50 MiB)
        # Short timeouts and few retries: the uploader's own backoff decides when to try again.
        self.fs = s3_filesystem(connect_timeout=5, read_timeout=60, retries={"max_attempts": 2})
        self.fs.retries = 2

    def create(self, key: str, local: Path, sha256: str, rows: int) -> Created | Exists:
        url = self.remote.object_url(key)
        metadata = {"sha256": sha256, "rows": str(rows)}
        handle = self.fs.open(
            url, "xb", block_size=self.part_size, Metadata=metadata, ContentType="application/vnd.apache.parquet"
        )
        try:
            with open(local, "rb") as source:
                while chunk := source.read(COPY_CHUNK):
                    handle.write(chunk)
        except BaseException:
            handle.discard()  # never commit part of a file: that would take its key for good
            handle.closed = True
            raise
        try:
            handle.close()  # the commit: PUT (or multipart completion) with If-None-Match: *
        except FileExistsError:
            return Exists(self.stored_sha256(key))
        return Created()

    def stored_sha256(self, key: str) -> str | None:
        return self.fs.metadata(self.remote.object_url(key)).get("sha256")

    def probe(self, key: str) -> Exists | Absent:
        try:
            return Exists(self.stored_sha256(key))
        except FileNotFoundError:
            return Absent()


@dataclass(frozen=True)
class UploadTarget:
    """Where a capture lands (``cache_dir``, local) and where it goes (``remote``)."""

    remote: RemoteRoot
    cache_dir: Path
    agent_id: str
    retry_cap_s: float = 30.0  # the longest wait between two tries while the store is down


def landing_dirs(data: Path | RemoteRoot, cache: Path | None = None) -> tuple[Path, UploadTarget | None]:
    """Where a command lands (the data root, or the cache of a remote one) and, for a remote root, the upload target."""
    if isinstance(data, RemoteRoot):
        return (target := UploadTarget(data, Path(cache or default_cache_dir(data)), agent_id())).cache_dir, target
    if cache is not None:
        raise VectraError("--cache only applies to an s3:// --data (a local --data is where everything lands)")
    return Path(data), None


@dataclass(frozen=True)
class UploadFigures:
    pending: int
    done: int
    collisions: int
    lost: int
    last_error: str | None
    busy_elsewhere: bool  # another process on this cache holds the journal and uploads for everyone

    @property
    def complete(self) -> bool:
        """Everything this cache held is in the store (or another process on it is sending it), nothing needs the user."""
        return self.busy_elsewhere or not (self.pending or self.collisions or self.lost)

    def summary(self, target: UploadTarget) -> str:
        line = f"uploads to {target.remote}: {self.done} done, {self.pending} pending"
        if self.collisions:
            line += f", {self.collisions} COLLISION(S) kept in {target.cache_dir / COLLISIONS_DIR}"
        if self.lost:
            line += f", {self.lost} LOST (deleted from {target.cache_dir} before they were uploaded)"
        if self.busy_elsewhere:
            line += " (another vectra process on this cache uploads them)"
        elif self.pending:
            line += f"; they stay in {target.cache_dir} and go at the next start with this --data"
            if self.last_error:
                line += f" (last error: {self.last_error})"
        return line


def upload_after(target: UploadTarget | None, say: Callable[[str], None]) -> Callable[[], int]:
    """For a bulk command (``import``, ``synth``): start uploading now (earlier runs' leftovers too), and get the
    function to call once everything is landed — it makes the last pass, says where uploads stand and returns the
    command's exit code (1 while something is not in the store)."""
    if target is None:
        return lambda: 0
    uploader = Uploader(target, say=say)
    uploader.start()

    def finish() -> int:
        figures = uploader.close()
        say(figures.summary(target))
        return 0 if figures.complete else 1

    return finish


class Uploader:
    """Uploads a cache's settled segments in a background thread until :meth:`close`; ``say`` gets the lines a
    user must read (a collision, a lost segment, the store failing)."""

    def __init__(
        self,
        target: UploadTarget,
        *,
        store: S3Store | None = None,
        say: Callable[[str], None] | None = None,
        scan_interval_s: float = 1.0,
    ) -> None:
        self.target = target
        self.cache = Path(target.cache_dir)
        self.store = store if store is not None else S3Store(target.remote)
        self._say = say or (lambda _text: None)
        self.scan_interval_s = scan_interval_s
        self.retry_cap_s = target.retry_cap_s
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._failures = 0
        self._last_error: str | None = None
        self.cache.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.cache / JOURNAL, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            self.busy_elsewhere = False
        except BlockingIOError:
            self.busy_elsewhere = True
        self.book = self._read_journal()
        if self.book.damaged_lines:
            self._say(
                f"the upload journal {self.cache / JOURNAL} had {self.book.damaged_lines} unreadable line(s), skipped: "
                "their segments are checked against the store again"
            )
        if not self.busy_elsewhere:
            self._finish_acts()

    # --- the journal -------------------------------------------------------------------------------------------

    def _read_journal(self) -> UploadBook:
        with open(self.cache / JOURNAL, "rb") as handle:
            data = handle.read()
        if not self.busy_elsewhere and data and not data.endswith(b"\n"):
            data = data[: data.rfind(b"\n") + 1]  # a line torn by a kill -9 was never acted on: cut it
            os.ftruncate(self._fd, len(data))
        return UploadBook.replay(data.split(b"\n"))

    def _write(self, entry: Entry) -> None:
        line = record(entry)
        view = memoryview(line)
        while view:
            view = view[os.write(self._fd, view) :]
        os.fsync(self._fd)
        with self._lock:
            self.book.entries[entry.key] = entry

    def _finish_acts(self) -> None:
        """Acts a kill -9 cut short: a done segment's local copy, a collision not yet moved aside."""
        for entry in self.book.with_status(Status.DONE):
            (self.cache / entry.key).unlink(missing_ok=True)
        for entry in self.book.with_status(Status.COLLISION):
            self._move_aside(entry.key)

    # --- figures -----------------------------------------------------------------------------------------------

    def figures(self) -> UploadFigures:
        with self._lock:
            book = self.book
            return UploadFigures(
                book.count(Status.PENDING), book.count(Status.DONE), book.count(Status.COLLISION), book.count(Status.LOST),
                self._last_error, self.busy_elsewhere,
            )

    # --- the work ----------------------------------------------------------------------------------------------

    def start(self) -> None:
        if self.busy_elsewhere:
            return
        self._thread = threading.Thread(target=self._loop, name="vectra-upload", daemon=True)
        self._thread.start()

    def close(self) -> UploadFigures:
        """Stop the thread, then one last pass for what was published meanwhile (it stops at the first failure:
        the rest waits for the next start)."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
        if not self.busy_elsewhere:
            self.scan()
            for entry in self.book.with_status(Status.PENDING):
                if not self._attempt(entry):
                    break
        os.close(self._fd)
        return self.figures()

    def _loop(self) -> None:
        while not self._stopping.is_set():
            self.scan()
            delay = self.scan_interval_s
            for entry in self.book.with_status(Status.PENDING):
                if self._stopping.is_set():
                    return
                if not self._attempt(entry):
                    delay = retry_delay(self._failures, self.retry_cap_s, random.random())
                    break
            self._wake.wait(delay)
            self._wake.clear()

    def scan(self) -> None:
        """Queue every settled segment of the cache that the journal does not know."""
        wal_dir = landing_root(self.cache) / WAL_DIR
        for path in segment_paths(self.cache):
            key = path.relative_to(self.cache).as_posix()
            if key in self.book.entries:
                continue
            capture_id, segment = parse_segment_name(path)
            if (wal_dir / wal_name(capture_id, segment)).exists():
                continue  # published a moment ago and its WAL not yet removed: recovery may still need the file
            try:
                entry = Entry(key, file_sha256(path), pq.read_metadata(path).num_rows)
            except FileNotFoundError:
                continue
            except Exception as error:  # noqa: BLE001 - a damaged file is not a reason to stop uploading the rest
                self._fail(f"{path} cannot be read ({type(error).__name__}: {error}); it is kept where it is")
                continue
            self._write(entry)

    def _attempt(self, entry: Entry) -> bool:
        """One try at a pending segment; False when the store failed (try again later)."""
        local = self.cache / entry.key
        try:
            if local.exists():
                outcome = self.store.create(entry.key, local, entry.sha256, entry.rows)
            else:
                outcome = self.store.probe(entry.key)
        except Exception as error:  # noqa: BLE001 - network, store, permissions: all retried with backoff
            self._failures += 1
            self._fail(f"{type(error).__name__}: {error}")
            return False
        self._failures = 0
        self._last_error = None
        status = settle(entry, outcome)
        stored = outcome.stored_sha256 if isinstance(outcome, Exists) else None
        self._write(Entry(entry.key, entry.sha256, entry.rows, status, stored if status is Status.COLLISION else None))
        if status is Status.DONE:
            local.unlink(missing_ok=True)
        elif status is Status.COLLISION:
            kept = self._move_aside(entry.key)
            self._say(
                f"name collision: {self.target.remote.object_url(entry.key)} already holds a different object "
                f"(sha256 {str(stored)[:12]}…, ours {entry.sha256[:12]}…); ours is kept in {kept}, nothing was overwritten"
            )
        elif status is Status.LOST:
            self._say(f"{entry.key} was deleted from {self.cache} before it was uploaded, and the store does not have it")
        return True

    def _move_aside(self, key: str) -> Path:
        source, kept = self.cache / key, self.cache / COLLISIONS_DIR / key
        if source.exists():
            kept.parent.mkdir(parents=True, exist_ok=True)
            os.replace(source, kept)
            fsync_dir(kept.parent)
        return kept

    def _fail(self, text: str) -> None:
        line = redact_text(" ".join(text.split()))
        first = self._last_error is None
        self._last_error = line
        if first:
            self._say(f"upload to {self.target.remote} failed, retrying in the background: {line}")

