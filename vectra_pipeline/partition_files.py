"""A partition file written whole or not at all, and written a batch at a time (:mod:`vectra_pipeline.storage`'s
writers; storage makes the paths).

:class:`PartitionWriter` encodes each row of a partition once: appended frames are held until they fill a row group
(the rows one write of the whole would put in it), which is written alone to a part file; :meth:`close` assembles
the parts' pages into the partition without decoding them (:mod:`vectra_pipeline.parquet_assembly`). Memory: one
row group and the last batch, never the day; the partition has the bytes of one write of the batches concatenated.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import polars as pl

from vectra_pipeline import remote_storage as remote
from vectra_pipeline.local_files import crash_point, sweep, temp_path
from vectra_pipeline.parquet_assembly import assembled
from vectra_pipeline.parquet_format import PARQUET, with_own_strings
from vectra_pipeline.schema import conform, empty


def write_whole(final: Path, write: Callable[[Path], None]) -> None:
    """``write(path)`` makes the file; it appears at ``final`` whole or not at all: a temp name beside it renamed into
    place on a local root, one PUT of a local file on a remote one (no half object to crash into)."""
    if remote.is_remote(final):
        return remote.written_locally(final, write)
    final.parent.mkdir(parents=True, exist_ok=True)
    sweep(final.parent)
    temp = temp_path(final)
    try:
        write(temp)
        crash_point("partition:written")
        temp.replace(final)
    finally:
        temp.unlink(missing_ok=True)


class PartitionWriter:
    """Writes the partition ``final`` of ``table`` a batch at a time: :meth:`append` frames, then :meth:`close`.
    Row groups are written to part files in a temp folder (on this machine: beside the partition, or in the system's
    temp folder under a remote root) that a dead writer leaves for :func:`~vectra_pipeline.local_files.sweep`."""

    def __init__(self, table: str, final: Path) -> None:
        self.table, self.final, self.rows = table, final, 0
        if remote.is_remote(final):
            self._parts_folder = Path(tempfile.mkdtemp(prefix="vectra-parts-"))
        else:
            final.parent.mkdir(parents=True, exist_ok=True)
            sweep(final.parent)
            self._parts_folder = temp_path(final.with_name(f"{final.name}.parts"))
            shutil.rmtree(self._parts_folder, ignore_errors=True)  # a dead process that had this PID
        self._parts: list[Path] = []
        self._held: list[pl.DataFrame] = []  # appended rows not yet in a part: fewer than a row group
        self._held_rows = 0

    def append(self, frame: pl.DataFrame) -> None:
        if frame.height == 0:
            return
        self._held.append(with_own_strings(conform(frame, self.table)))  # held: not views of the caller's buffers
        self._held_rows += frame.height
        self.rows += frame.height
        while self._held_rows >= PARQUET.row_group_size:
            self._write_part(PARQUET.row_group_size)

    def _write_part(self, rows: int) -> None:
        held = pl.concat(self._held, rechunk=False)
        self._parts_folder.mkdir(exist_ok=True)
        part = self._parts_folder / f"{len(self._parts):06d}.parquet"
        # the held chunks written as they are: the same bytes as one rechunked frame, without the row group's copy
        # (events at 1M frames: the build process's peak during a part's write 509 → 377 MB)
        PARQUET.write(held.slice(0, rows), part, own_strings=True)
        self._parts.append(part)
        rest = held.slice(rows)
        self._held, self._held_rows = ([rest] if rest.height else []), rest.height

    def close(self) -> Path:
        try:
            if self._held_rows:
                self._write_part(self._held_rows)
            write_whole(self.final, self._assemble)
        finally:
            shutil.rmtree(self._parts_folder, ignore_errors=True)
        return self.final

    def _assemble(self, path: Path) -> None:
        if not self._parts:
            PARQUET.write(empty(self.table), path)
            return
        with open(path, "wb") as out:
            for piece in assembled(part.read_bytes() for part in self._parts):
                out.write(piece)
