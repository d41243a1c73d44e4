"""A landing date's files as bronze reads them: each file on its own, so one bad file never fails its day.

A file in ``landing/date=D/`` that is not a landing segment bronze can read — truncated, empty, random bytes, a
foreign schema, values no landing column holds (:func:`vectra_pipeline.bronze.frames.landing_frame` says why), or a
``*.parquet`` without a segment name — is moved to ``landing/_rejected/date=D/<name>`` with ``<name>.reason`` beside
it (what was wrong, when, what to do), and the day's other segments build. ``_rejected`` is no ``date=`` folder: no
reader of the landing zone (bronze, the sensor, dataset lineage) lists it, so a rejected file is never read, hence
never rejected, again. To retry one, move it back.

Landing files are immutable and hold the only copy of the frame text (bronze is an index): segments are read whole
row groups at a time, and :class:`LandingPayloads` reads the payloads of chosen rows back for silver.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import numpy as np
import polars as pl
import pyarrow as pa
from polars.exceptions import PanicException

from capture_agent.landing.schema import LANDING_SCHEMA
from vectra_pipeline import storage
from vectra_pipeline.bronze.frames import PAYLOAD_COLUMNS, LandingChanged, landing_frame

REASON_SUFFIX = ".reason"
T = TypeVar("T")


@dataclass(frozen=True)
class RejectedFile:
    file: str  # where it was, relative to the data dir
    moved_to: str | None  # where it is now, relative to the data dir (None: it could not be moved)
    reason: str

    def line(self) -> str:
        """One line for the build's output: the file, why, where it went."""
        if self.moved_to is None:
            return f"skipped {self.file}: {self.reason} (could not move it aside; repair or delete it)"
        return f"rejected {self.file}: {self.reason}; moved to {self.moved_to} (see its {REASON_SUFFIX} file)"


@dataclass(frozen=True)
class LandingDay:
    frame: pl.DataFrame  # the readable segments' rows (bronze landing frame), or what ``keep`` made of them
    segments: int  # segments read
    rejected: list[RejectedFile]


BATCH_ROWS = 4_000  # landing rows validated and reduced at a time (200k-frame day: bronze peak 230 MB at 2k, 570 MB at 20k)


def read_landing_day(data_dir: Path, date: str, keep: Callable[[pl.DataFrame, str, int], pl.DataFrame] | None = None) -> LandingDay:
    """One date's segments, each validated on its own; the files that are not landing segments are moved aside.

    Each segment is read BATCH_ROWS rows at a time; ``keep(rows, file, first_row)`` reduces each batch of validated
    landing rows (``file`` relative to the data root, ``first_row`` the batch's first row number in it) to what the
    caller holds — bronze keeps an index without the text (:func:`vectra_pipeline.bronze.frames.landing_index`);
    by default the rows themselves. Only that date's folder is listed and read, so a new day costs the same however
    many days exist.
    """
    keep = keep or (lambda rows, file, first_row: rows)
    frames, rejected = read_landing_segments(data_dir, date, keep, lambda file, parts: pl.concat(list(parts)))
    empty = keep(landing_frame(LANDING_SCHEMA.empty_table()), "", 0)
    frame = pl.concat([empty, *frames]) if frames else empty
    return LandingDay(frame, len(frames), rejected)


def read_landing_segments(data_dir: Path, date: str, keep, take: Callable[[str, Iterator[pl.DataFrame]], T]) -> tuple[list[T], list[RejectedFile]]:
    """:func:`read_landing_day` a segment at a time: ``take(file, parts)`` consumes the segment's batches reduced
    by ``keep`` (the first part, of no rows, carries the columns) as they are read and returns what is kept of it
    (memory: a batch). A segment found not to be landing data is rejected whatever ``take`` did with its first
    parts: ``take`` undoes it when the parts raise (an error of ``take``'s own is no reason to reject the file)."""
    taken, rejected = [], []
    for path in storage.landing_segments(data_dir, date):
        file = storage.relative(data_dir, path)
        try:
            taken.append(take(file, _segment_parts(path, file, keep)))
        except _NotLanding as error:
            rejected.append(reject(data_dir, path, error.reason))
    for path in storage.stray_landing_files(data_dir, date):
        rejected.append(reject(data_dir, path, "not a landing segment name (<capture id>-<NNNNNN>.parquet)"))
    return taken, rejected


class _NotLanding(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _segment_parts(path: Path, file: str, keep) -> Iterator[pl.DataFrame]:
    """A segment's batches reduced by ``keep``, or :class:`_NotLanding` with the first reason it is not landing data."""
    try:
        schema, batches = storage.parquet_batches(path, BATCH_ROWS)
        yield keep(landing_frame(schema.empty_table()), file, 0)  # the columns are checked even when it has no rows
        first_row = 0
        for batch in batches:
            part = keep(landing_frame(batch), file, first_row)
            first_row += batch.num_rows
            yield part
    except (Exception, PanicException) as error:  # noqa: BLE001 - a damaged file fails in many ways
        raise _NotLanding(_reason(error)) from None


def _reason(error: BaseException) -> str:
    if isinstance(error, ValueError) and not isinstance(error, (pl.exceptions.PolarsError, pa.ArrowException)):
        return str(error)  # landing_frame: readable Parquet, but not landing data
    message = (str(error).strip().splitlines() or [type(error).__name__])[0]
    return f"not a readable Parquet file ({message[:200]})"


class LandingPayloads:
    """Reads landing rows' payloads back from the immutable landing segments for
    :func:`vectra_pipeline.bronze.frames.with_payloads`: only the row groups holding the wanted rows, only the payload
    columns, about BATCH_ROWS rows of row groups at a time (memory: the wanted payloads and one such read)."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self._group_starts: dict[str, np.ndarray] = {}

    def __call__(self, file: str | None, rows: pl.Series) -> pl.DataFrame:
        if file is None:
            raise LandingChanged("a bronze row names no landing file; rebuild the day's bronze")
        path = storage.location(self.data_dir, file)
        try:
            return self._read(file, path, rows.to_numpy())
        except (OSError, pa.ArrowException) as error:
            why = (str(error).strip().splitlines() or [type(error).__name__])[0]
            raise LandingChanged(f"landing file {file} cannot be read ({why}); landing files must stay while their day "
                                 "is built: put it back or rebuild the day's bronze") from None

    def _read(self, file: str, path: Path, wanted: np.ndarray) -> pl.DataFrame:
        starts = self._group_starts.get(file)
        if starts is None:
            starts = self._group_starts[file] = np.cumsum([0, *storage.parquet_row_group_rows(path)])
        order = np.argsort(wanted, kind="stable")
        in_order = wanted[order]
        group_of = np.searchsorted(starts, in_order, side="right") - 1
        parts = []
        for groups in _runs_of_groups(np.unique(group_of), starts):
            table = storage.read_row_groups(path, groups.tolist(), list(PAYLOAD_COLUMNS))
            taken = in_order[(group_of >= groups[0]) & (group_of <= groups[-1])]
            # pyarrow's take copies the wanted payloads alone: a polars gather would keep every read row's text alive
            frame = pl.from_arrow(table.take(taken - starts[groups[0]]))
            parts.append(
                frame.select(
                    pl.col(name) if name in frame.columns else pl.lit(None).alias(name) for name in PAYLOAD_COLUMNS
                )
            )
        # back to the order asked for
        return pl.concat(parts).select(pl.all().gather(np.argsort(order, kind="stable")))


def _runs_of_groups(groups: np.ndarray, starts: np.ndarray):
    """The wanted row groups as runs of consecutive groups (all groups from a run's first to its last are read) of
    about BATCH_ROWS rows each."""
    run: list[int] = []
    for group in groups.tolist():
        if run and (group != run[-1] + 1 or starts[group + 1] - starts[run[0]] > BATCH_ROWS):
            yield np.arange(run[0], run[-1] + 1)
            run = []
        run.append(group)
    if run:
        yield np.arange(run[0], run[-1] + 1)


def reject(data_dir: Path, path: Path, reason: str) -> RejectedFile:
    """Move ``path`` to ``landing/_rejected/<its date folder>/`` with a reason file (written first: a crash between
    the two leaves the file in landing, rejected again by the next build). A name taken there gets a number."""
    relative = storage.relative(data_dir, path)
    when = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    note = (
        f"file: {relative}\nrejected: {when}\nreason: {reason}\n"
        f"what to do: nothing for the day (its other segments were built); repair or delete this file, or move it "
        f"back to {storage.relative(data_dir, path.parent)}/ to try it again.\n"
    )
    try:
        target = storage.move_aside(path, storage.rejected_folder(data_dir, path.parent.name), note, REASON_SUFFIX)
    except OSError as error:  # a read-only landing zone, a full disk: the day still builds without the file
        return RejectedFile(relative, None, f"{reason} [{error.strerror or error}]")
    return RejectedFile(relative, storage.relative(data_dir, target), reason)
