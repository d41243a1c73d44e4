"""Temp names, crash points and sweeping: how a local write stays whole or absent (:mod:`vectra_pipeline.storage`);
and the writers of a folder being filled by ``storage.publish_folder`` (always a local one, on either kind of root).

A file is written to a dot-prefixed temp name beside its final one that carries the writer's PID
(``.<name>.<pid>.tmp``) and renamed into place; a temp whose PID is gone is a crash leftover that :func:`sweep`
removes (a live PID's temp is never touched: it may still be writing). An object store needs none of it: an object
is whole or absent, so there is nothing to sweep there.
"""

from __future__ import annotations

import ctypes
import functools
import itertools
import json
import os
import re
import shutil
import signal
import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from capture_agent.landing.segments import fsync_dir, fsync_file
from vectra_pipeline import remote_storage as remote
from vectra_pipeline.parquet_format import PARQUET, without_stale_views
from vectra_pipeline.schema import TABLES, conform, empty

FSYNC_THREADS = 16  # syncs in flight at once: enough for the journal to batch them
SYNCFS_FROM = 256  # entries of a folder from which one syncfs(2) replaces an fsync of each (fsync_tree)
WRITE_THREADS = 4  # Minari episode files written at once: their syscalls overlap (thousands of small files)

# Temp names of this module (``.<name>.<pid>.tmp``, plus DuckDB's ``.wal`` beside a temp database) and of earlier
# releases (``.tmp-<id>-<pid>-<ns>`` dataset folders, ``.minari-<pid>.tmp`` inside versions): group 1 is the PID.
_TEMP_NAMES = (re.compile(r"^\..+[.-](\d+)\.tmp(?:\.wal)?$"), re.compile(r"^\.tmp-[0-9a-f]+-(\d+)-\d+$"))


def temp_path(final: Path) -> Path:
    """This process's temp name for ``final``, in the same folder (so the publishing rename is atomic)."""
    return final.with_name(f".{final.name}.{os.getpid()}.tmp")


def crash_point(name: str) -> None:
    """Test hook: ``VECTRA_CRASH_AT=<name>[,<name>…]`` kills this process (SIGKILL) here, so kill -9 tests can hit
    the instants of a publish that a random kill rarely lands on. Without the variable it does nothing."""
    if name in os.environ.get("VECTRA_CRASH_AT", "").split(","):
        os.kill(os.getpid(), signal.SIGKILL)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def sweep(folder: Path) -> list[Path]:
    """Remove the temp files and folders in ``folder`` whose writer's PID is gone; returns what was removed."""
    removed = []
    if remote.is_remote(folder):  # nothing to sweep: an object is whole or absent
        return removed
    try:
        entries = list(os.scandir(folder))
    except (FileNotFoundError, NotADirectoryError):
        return removed
    for entry in entries:
        match = next((m for m in (p.match(entry.name) for p in _TEMP_NAMES) if m), None)
        if match is None or _pid_alive(int(match.group(1))):
            continue
        path = Path(entry.path)
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed.append(path)
    return removed


def fsync_tree(folder: Path) -> None:
    """Make every file and folder under ``folder`` (itself included) durable before the publishing rename.

    A folder of ``SYNCFS_FROM`` entries or more (a Minari export: tens of thousands of small files) takes one
    syncfs(2) of its filesystem: it returns once every dirty page and inode of that filesystem — this tree's bytes and
    directory entries among them — is on disk, and since Linux 5.8 it reports any of their writeback errors, so it
    promises what an fsync of each entry would, in one call instead of one per file. A smaller folder, or a system
    without such a syncfs, fsyncs each entry, many at once (the journal commits concurrent syncs together): there,
    syncfs would also wait for other writers' unrelated dirty data."""
    tree = ((Path(entry.path), entry.is_dir(follow_symlinks=False))
            for entry in entries_in_glob_order(folder) if not entry.is_symlink())  # their targets are not ours
    entries = list(itertools.islice(tree, SYNCFS_FROM))
    if len(entries) == SYNCFS_FROM and _syncfs(folder):
        return
    entries += [*tree, (folder, True)]
    with ThreadPoolExecutor(max_workers=FSYNC_THREADS) as pool:
        # raises the first error
        list(pool.map(lambda entry: fsync_dir(entry[0]) if entry[1] else fsync_file(entry[0]), entries))


def entries_in_glob_order(folder: str | Path) -> Iterator[os.DirEntry]:
    """The entries under ``folder``, lazily, in the order ``Path.glob("**/*")`` yields them: the folder's own, then
    each subfolder's (and its subfolders') in turn; a symlinked folder listed, not entered."""
    with os.scandir(folder) as listing:
        entries = list(listing)
    yield from entries
    for entry in entries:
        if entry.is_dir(follow_symlinks=False):
            yield from entries_in_glob_order(entry.path)


def _syncfs(folder: Path) -> bool:
    """One syncfs(2) of ``folder``'s filesystem (OSError when writeback failed); False, doing nothing, where no syncfs
    reports writeback errors (not Linux, or a kernel before 5.8)."""
    syncfs = _error_reporting_syncfs()
    if syncfs is None:
        return False
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        if syncfs(fd) != 0:
            error = ctypes.get_errno()
            raise OSError(error, os.strerror(error), str(folder))
    finally:
        os.close(fd)
    return True


@functools.cache
def _error_reporting_syncfs() -> Callable[[int], int] | None:
    """libc's syncfs on Linux 5.8 or later (earlier, it returned 0 even when writeback failed), else None."""
    release = re.match(r"(\d+)\.(\d+)", os.uname().release) if sys.platform == "linux" else None
    if release is None or (int(release[1]), int(release[2])) < (5, 8):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).syncfs
    except (OSError, AttributeError):  # no such libc symbol (a libc without it)
        return None


def publish_by_rename(final: Path, fill: Callable[[Path], None], ready: str, temp: Path | None = None) -> bool:
    """``storage.publish_folder`` on a local disk: fill a temp folder, fsync it, rename it to ``final``."""
    temp = temp or temp_path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(temp, ignore_errors=True)  # a dead process that had this PID
    temp.mkdir()
    try:
        fill(temp)
        fsync_tree(temp)
        crash_point(ready)
        try:
            os.rename(temp, final)
        except OSError:
            if not final.exists():  # not a concurrent publish of the same folder: a real failure
                raise
            shutil.rmtree(temp)
            return False
        fsync_dir(final.parent)
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise
    return True


def rename_into_place(temp: Path, final: Path) -> None:
    """The commit of a file written at :func:`temp_path` by a writer of its own (DuckDB): atomic, durable."""
    os.replace(temp, final)
    fsync_dir(final.parent)


def write_dataset_file(frame: pl.DataFrame, table: str, folder: Path) -> Path:
    """A dataset table's file inside a version folder being filled (``storage.publish_folder``)."""
    path = Path(folder, TABLES[table].file)
    PARQUET.write(conform(frame, table), path)
    return path


class DatasetFileAppender:
    """Appends frames to one dataset table's file with the same settings and the declared schema; an empty file of
    the schema when nothing was appended. :meth:`append` writes a frame as one write would (whole row groups, then
    the rest as a shorter one); :meth:`add` takes a frame in parts — whole row groups are written as they fill, the
    rest waits for :meth:`flush` — so a day added a run of games at a time gives the bytes of the day appended at
    once (memory: a run and a row group)."""

    def __init__(self, table: str, folder: Path) -> None:
        self.table, self.path, self.rows, self._writer = table, Path(folder, TABLES[table].file), 0, None
        self._held: list[pa.Table] = []

    def add(self, frame: pl.DataFrame) -> None:
        arrow = without_stale_views(conform(frame, self.table)).to_arrow()
        if self._writer is None:
            self._writer = pq.ParquetWriter(self.path, arrow.schema, compression="zstd",
                                            compression_level=PARQUET.compression_level, write_statistics=PARQUET.statistics)
        if arrow.num_rows:
            self._held.append(arrow)
            self.rows += arrow.num_rows
        if sum(table.num_rows for table in self._held) >= PARQUET.row_group_size:
            self._write(whole_groups_only=True)

    def flush(self) -> None:
        """Write what :meth:`add` holds: the end of a frame appended at once."""
        self._write(whole_groups_only=False)

    def append(self, frame: pl.DataFrame) -> None:
        self.add(frame)
        self.flush()

    def _write(self, whole_groups_only: bool) -> None:
        if not self._held:
            return
        held = pa.concat_tables(self._held).combine_chunks()  # one chunk, as a frame written at once
        size = PARQUET.row_group_size
        cut = held.num_rows - held.num_rows % size if whole_groups_only else held.num_rows
        if cut:
            self._writer.write_table(held.slice(0, cut), row_group_size=size)
        self._held = [held.slice(cut)] if cut < held.num_rows else []

    def close(self) -> None:
        if self._writer is None:
            self.append(empty(self.table))
        self.flush()
        self._writer.close()


def write_new_json(path: Path, document) -> None:
    """Create a JSON file inside a folder being filled (``storage.publish_folder``), e.g. its manifest; never replaces one."""
    with open(path, "x", encoding="utf-8") as handle:
        handle.write(json.dumps(document, indent=2, sort_keys=True) + "\n")


def write_minari_episodes(folder: Path, episodes: Iterable[tuple[int, pa.RecordBatch, dict]]) -> None:
    """Episodes of a Minari arrow dataset in its own layout, inside a folder being filled: ``<id>/part-0.arrow`` (the
    episode's rows as one Arrow IPC file: the bytes pyarrow's dataset writer makes for that partition) and
    ``<id>/metadata.json``. Several episodes are written at once while the next are taken (each file's creation waits
    on the disk, not on the others), at most ``2 × WRITE_THREADS`` in flight (memory); the first error is raised."""

    def write(episode_id: int, rows: pa.RecordBatch, document: dict) -> None:
        episode = Path(folder, str(episode_id))
        episode.mkdir(exist_ok=True)
        with pa.OSFile(str(episode / "part-0.arrow"), "wb") as sink, pa.ipc.new_file(sink, rows.schema) as writer:
            writer.write_batch(rows)
        (episode / "metadata.json").write_text(json.dumps(document), encoding="utf-8")

    with ThreadPoolExecutor(max_workers=WRITE_THREADS) as pool:
        in_flight: deque = deque()
        for episode in episodes:
            in_flight.append(pool.submit(write, *episode))
            if len(in_flight) >= 2 * WRITE_THREADS:
                in_flight.popleft().result()
        for written in in_flight:
            written.result()
