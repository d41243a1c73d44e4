"""A landing date's files as bronze reads them: each file on its own, so one bad file never fails its day.

A file in ``landing/date=D/`` that is not a landing segment bronze can read — truncated, empty, random bytes, a
foreign schema, values no landing column holds (:func:`vectra_pipeline.bronze.frames.landing_frame` says why), or a
``*.parquet`` without a segment name — is moved to ``landing/_rejected/date=D/<name>`` with ``<name>.reason`` beside
it (what was wrong, when, what to do), and the day's other segments build. ``_rejected`` is no ``date=`` folder: no
reader of the landing zone (bronze, the sensor, dataset lineage) lists it, so a rejected file is never read, hence
never rejected, again. To retry one, move it back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
from polars.exceptions import PanicException

from capture_agent.landing.schema import LANDING_SCHEMA
from vectra_pipeline import storage
from vectra_pipeline.bronze.frames import landing_frame

REASON_SUFFIX = ".reason"


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
    frame: pl.DataFrame  # the readable segments' rows (bronze landing frame)
    segments: int  # segments read
    rejected: list[RejectedFile]


def read_landing_day(data_dir: Path, date: str) -> LandingDay:
    """One date's segments, each validated on its own; the files that are not landing segments are moved aside.

    Only that date's folder is listed and read, so a new day costs the same however many days exist.
    """
    frames, rejected = [], []
    for path in storage.landing_segments(data_dir, date):
        try:
            frames.append(landing_frame(storage.read_parquet(path)))
        except (Exception, PanicException) as error:  # noqa: BLE001 - polars reports a damaged file in many ways
            rejected.append(reject(data_dir, path, _reason(error)))
    for path in storage.stray_landing_files(data_dir, date):
        rejected.append(reject(data_dir, path, "not a landing segment name (<capture id>-<NNNNNN>.parquet)"))
    frame = pl.concat(frames) if frames else landing_frame(LANDING_SCHEMA.empty_table())
    return LandingDay(frame, len(frames), rejected)


def _reason(error: BaseException) -> str:
    if isinstance(error, ValueError) and not isinstance(error, pl.exceptions.PolarsError):
        return str(error)  # landing_frame: readable Parquet, but not landing data
    message = (str(error).strip().splitlines() or [type(error).__name__])[0]
    return f"not a readable Parquet file ({message[:200]})"


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
