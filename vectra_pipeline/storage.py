"""Where every file of the pipeline lives, and the only code that writes one.

Layout under the data root::

    landing/date=D/<capture>-NNNNNN.parquet    the capture agent's segments (read here; never written but to
    landing/_rejected/date=D/<file>            move a file bronze cannot read aside, with ``<file>.reason``)
    <layer>/<table>/date=D/part.parquet        bronze, silver and gold tables (``schema.TABLES``), one per UTC date
    gold/_built/date=D.json                    the record of each day's build (``datasets.days``)
    datasets/<name>/<id>/                      a dataset version: episodes.parquet, observations.parquet,
                                               manifest.json (written last), minari/
    datasets/<name>/history.jsonl              when each version was published
    datasets/.landing-sha256.json              cached hashes of the immutable landing segments
    warehouse.duckdb                           DuckDB views over all of it (``warehouse``)

Every path is made by :func:`location` from the data root and the parts above; stages never see a path (they are
polars in, polars out), and nothing else joins paths under the root. Every write is whole or absent: a file is
written to a dot-prefixed temp name beside its final one that carries the writer's PID (``.<name>.<pid>.tmp``) and
renamed into place; a folder (a dataset version, a Minari export) is filled under such a temp name and renamed in
whole (:func:`publish_folder`). Readers (DuckDB views, the next stage) never see half a file, and a temp whose PID
is gone is a crash leftover that :func:`sweep` removes (a live PID's temp is never touched: it may still be writing).
Parquet is written with fixed settings, so the same frame always gives the same bytes.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from capture_agent.landing import segments as capture_segments  # the landing zone's layout is the capture agent's
from capture_agent.landing.schema import LANDING_DIR
from vectra_pipeline.parquet_format import PARQUET, without_stale_views
from vectra_pipeline.schema import LAYERS, TABLES, conform, empty

PART_FILE = "part.parquet"
REJECTED_DIR = "_rejected"
DAY_RECORDS_DIR = "_built"
DATASETS_DIR = "datasets"
MANIFEST = "manifest.json"
HISTORY = "history.jsonl"
LANDING_HASH_CACHE = ".landing-sha256.json"
WAREHOUSE_FILE = "warehouse.duckdb"


def location(root: str | os.PathLike, *parts: str) -> Path:
    """The one place a path under the data root is made (a local path today)."""
    return Path(root).joinpath(*parts)


def relative(root: str | os.PathLike, path: Path) -> str:
    """``path`` relative to the data root, with forward slashes (what manifests and records hold)."""
    return Path(path).relative_to(location(root)).as_posix()


# -- layout --------------------------------------------------------------------------------------------------------

def table_path(root, table: str, date: str) -> Path:
    return location(root, TABLES[table].stage, table, f"date={date}", PART_FILE)


def table_dates(root, table: str) -> list[str]:
    """Dates that have a partition of ``table``."""
    folder = location(root, TABLES[table].stage, table)
    return sorted(p.parent.name.removeprefix("date=") for p in folder.glob(f"date=*/{PART_FILE}"))


def table_pattern(table: str) -> str:
    """Where a table's partitions live, for people: ``<data>/silver/games/date=YYYY-MM-DD/part.parquet``."""
    return f"<data>/{TABLES[table].stage}/{table}/date=YYYY-MM-DD/{PART_FILE}"


def partition_glob(table: str) -> str:
    """The table's partition files relative to the data root, as a glob that never matches a temp (dot) file."""
    return f"{TABLES[table].stage}/{table}/date=*/[!.]*.parquet"


def has_partitions(root, table: str) -> bool:
    return any(location(root).glob(partition_glob(table)))


def landing_segments(root, date: str | None = None) -> list[Path]:
    """Published landing segments (never temp files) of one date or all, sorted by date, capture and number."""
    return capture_segments.segment_paths(location(root), date)


def landing_date(segment: Path) -> str:
    return segment.parent.name.removeprefix("date=")


def landing_folder(root, date: str) -> Path:
    return location(root, LANDING_DIR, f"date={date}")


def stray_landing_files(root, date: str) -> list[Path]:
    """``*.parquet`` files of a landing date folder without a segment name (temp files start with a dot)."""
    folder = landing_folder(root, date)
    if not folder.is_dir():
        return []
    return sorted(
        p for p in folder.iterdir()
        if p.name.endswith(".parquet") and not p.name.startswith(".") and p.is_file()
        and capture_segments.parse_segment_name(p) is None
    )  # fmt: skip


def rejected_folder(root, date_folder: str) -> Path:
    return location(root, LANDING_DIR, REJECTED_DIR, date_folder)


def day_record_path(root, date: str) -> Path:
    return location(root, "gold", DAY_RECORDS_DIR, f"date={date}.json")


def dataset_root(root, name: str) -> Path:
    return location(root, DATASETS_DIR, name)


def version_path(root, name: str, version_id: str) -> Path:
    return location(root, DATASETS_DIR, name, version_id)


def manifest_path(version: Path) -> Path:
    """A dataset version's manifest: written last, so a folder without it is no version."""
    return location(version, MANIFEST)


def is_published(version: Path) -> bool:
    return manifest_path(version).exists()


def version_export(version: Path, name: str) -> tuple[Path, Path]:
    """(final folder, temp folder) of an export of a version (``minari``): the temp beside the version, never in it,
    so the version holds no export or a complete one."""
    return location(version, name), temp_path(location(version.parent, f"{version.name}-{name}"))


def dataset_names(root) -> list[str]:
    return [p.name for p in _subdirs(location(root, DATASETS_DIR))]


def version_folders(root, name: str) -> list[Path]:
    """Published versions of a dataset: folders holding a manifest (never a temp folder)."""
    return [p for p in _subdirs(dataset_root(root, name)) if is_published(p)]


def manifest_glob() -> str:
    """Every published version's manifest relative to the data root (never in a temp, dot-prefixed folder)."""
    return f"{DATASETS_DIR}/[!.]*/[!.]*/{MANIFEST}"


def landing_hash_cache(root) -> Path:
    return location(root, DATASETS_DIR, LANDING_HASH_CACHE)


def warehouse_path(root) -> Path:
    return location(root, WAREHOUSE_FILE)


# -- Parquet -------------------------------------------------------------------------------------------------------

def write_table(root, table: str, date: str, frame: pl.DataFrame) -> Path:
    """Write one partition of a table atomically; the frame is conformed to the declared schema first."""
    frame = conform(frame, table)
    final = table_path(root, table, date)
    final.parent.mkdir(parents=True, exist_ok=True)
    sweep(final.parent)
    temp = temp_path(final)
    PARQUET.write(frame, temp)
    crash_point("partition:written")
    os.replace(temp, final)
    return final


class PartitionAppender:
    """Writes one partition of a table a batch at a time (memory: one batch and one row group, never the day): each
    :meth:`append`-ed frame goes to a part file in a temp folder beside the partition; :meth:`close` streams the
    parts into the partition and renames it into place, so the file is whole or absent and has exactly the bytes
    :func:`write_table` gives for the batches concatenated (polars' streaming sink cuts the same row groups)."""

    def __init__(self, root, table: str, date: str) -> None:
        self.table, self.final, self.rows = table, table_path(root, table, date), 0
        self.final.parent.mkdir(parents=True, exist_ok=True)
        sweep(self.final.parent)
        self._parts_folder = temp_path(self.final.with_name(f"{self.final.name}.parts"))
        shutil.rmtree(self._parts_folder, ignore_errors=True)  # a dead process that had this PID
        self._parts: list[Path] = []

    def append(self, frame: pl.DataFrame) -> None:
        if frame.height == 0:
            return
        if not self._parts:
            self._parts_folder.mkdir()
        part = location(self._parts_folder, f"{len(self._parts):06d}.parquet")
        PARQUET.write(conform(frame, self.table), part)
        self._parts.append(part)
        self.rows += frame.height

    def close(self) -> Path:
        temp = temp_path(self.final)
        try:
            if not self._parts:
                PARQUET.write(empty(self.table), temp)
            else:
                PARQUET.sink(pl.scan_parquet(self._parts), temp)
            crash_point("partition:written")
            os.replace(temp, self.final)
        finally:
            shutil.rmtree(self._parts_folder, ignore_errors=True)
            temp.unlink(missing_ok=True)
        return self.final


def read_table(root, table: str, date: str, columns: list[str] | None = None) -> pl.DataFrame:
    """One partition of a table; an empty frame of the declared schema when the partition was never written."""
    path = table_path(root, table, date)
    if not path.exists():
        frame = empty(table)
        return frame.select(columns) if columns else frame
    return pl.read_parquet(path, columns=columns)


def iter_table_slices(root, table: str, date: str, rows: int):
    """One partition of a table as frames of at most ``rows`` rows, in file order, read one batch at a time (memory:
    one batch, not the partition); nothing when the partition was never written."""
    path = table_path(root, table, date)
    if not path.exists():
        return
    for batch in pq.ParquetFile(path).iter_batches(batch_size=rows):
        yield conform(pl.from_arrow(batch), table)


def iter_table_row_groups(root, table: str, date: str, columns: list[str]):
    """Those columns of one partition of a table, one row group at a time, in file order (memory: one row group of
    those columns); nothing when the partition was never written."""
    path = table_path(root, table, date)
    if not path.exists():
        return
    file = pq.ParquetFile(path)
    for index in range(file.num_row_groups):
        yield pl.from_arrow(file.read_row_group(index, columns=columns, use_threads=False))


def scan_table(root, table: str, date: str) -> pl.LazyFrame:
    path = table_path(root, table, date)
    if not path.exists():
        return empty(table).lazy()
    return pl.scan_parquet(path)


def read_parquet(path: Path, columns: list[str] | None = None) -> pl.DataFrame:
    return pl.read_parquet(path, columns=columns)


def parquet_batches(path: Path, rows: int) -> tuple[pa.Schema, Iterator[pa.Table]]:
    """A Parquet file's schema and its rows as Arrow tables of whole row groups, about ``rows`` rows each (more when
    one row group is larger). Memory: one table — pyarrow's ``iter_batches`` reads far ahead (measured on a 175k-row
    landing segment: 540 MB peak for batches of 20k rows, 130 MB row group by row group)."""
    file = pq.ParquetFile(path)

    def tables() -> Iterator[pa.Table]:
        groups: list[int] = []
        held = 0
        for index in range(file.num_row_groups):
            groups.append(index)
            held += file.metadata.row_group(index).num_rows
            if held >= rows or index == file.num_row_groups - 1:
                yield file.read_row_groups(groups, use_threads=False)
                groups, held = [], 0

    return file.schema_arrow, tables()


def parquet_row_group_rows(path: Path) -> list[int]:
    """The number of rows of each row group of a Parquet file, in order (its footer only)."""
    metadata = pq.ParquetFile(path).metadata
    return [metadata.row_group(index).num_rows for index in range(metadata.num_row_groups)]


def read_row_groups(path: Path, groups: list[int], columns: list[str]) -> pa.Table:
    """Those row groups of a Parquet file, only those of ``columns`` it has (memory: what is read)."""
    file = pq.ParquetFile(path)
    present = [name for name in columns if name in file.schema_arrow.names]
    return file.read_row_groups(groups, columns=present)


def read_dataset_file(version: Path, table: str, columns: list[str] | None = None) -> pl.DataFrame:
    """A dataset table's file in a version folder."""
    return pl.read_parquet(location(version, TABLES[table].file), columns=columns)


def write_dataset_file(frame: pl.DataFrame, table: str, folder: Path) -> Path:
    """A dataset table's file inside a version folder being filled (:func:`publish_folder`)."""
    path = location(folder, TABLES[table].file)
    PARQUET.write(conform(frame, table), path)
    return path


class DatasetFileAppender:
    """Appends frames to one dataset table's file, one call per batch (memory: one batch), with the same settings
    and the declared schema; an empty file of the schema when nothing was appended."""

    def __init__(self, table: str, folder: Path) -> None:
        self.table, self.path, self.rows, self._writer = table, location(folder, TABLES[table].file), 0, None

    def append(self, frame: pl.DataFrame) -> None:
        arrow = without_stale_views(conform(frame, self.table)).to_arrow()
        if self._writer is None:
            self._writer = pq.ParquetWriter(self.path, arrow.schema, compression="zstd",
                                            compression_level=PARQUET.compression_level, write_statistics=PARQUET.statistics)
        if arrow.num_rows:
            self._writer.write_table(arrow, row_group_size=PARQUET.row_group_size)
            self.rows += arrow.num_rows

    def close(self) -> None:
        if self._writer is None:
            self.append(empty(self.table))
        self._writer.close()


# -- other files ---------------------------------------------------------------------------------------------------

def read_json(path: Path):
    """The JSON document at ``path``; None when there is none."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None


def read_lines(path: Path) -> list[str]:
    """The non-empty lines of a text file; none when there is no file."""
    try:
        return [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except FileNotFoundError:
        return []


def write_text(path: Path, text: str) -> Path:
    """Write a small text file atomically (temp name, rename): never torn, whatever kills the writer."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sweep(path.parent)
    temp = temp_path(path)
    temp.write_text(text, encoding="utf-8")
    os.replace(temp, path)
    return path


def write_json(path: Path, document, indent: int | None = None) -> Path:
    return write_text(path, json.dumps(document, indent=indent, sort_keys=True) + ("\n" if indent is not None else ""))


def write_new_json(path: Path, document) -> None:
    """Create a JSON file inside a folder being filled (:func:`publish_folder`), e.g. its manifest; never replaces one."""
    with open(path, "x", encoding="utf-8") as handle:
        handle.write(json.dumps(document, indent=2, sort_keys=True) + "\n")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_stat(path: Path) -> tuple[int, int]:
    """(bytes, mtime ns) of a file."""
    stat = path.stat()
    return stat.st_size, stat.st_mtime_ns


def publish_folder(final: Path, fill: Callable[[Path], None], ready: str, temp: Path | None = None) -> bool:
    """Make the folder ``final`` appear whole or not at all: ``fill(folder)`` writes its files into a temp folder
    (``temp``, by default beside ``final``), which is fsynced and renamed into place. Returns False when ``final``
    already exists — another writer published it first — and nothing changed. A kill at any moment leaves no
    ``final`` or a complete one, and the dead writer's temp is swept by the next publish. ``ready`` names the crash
    point between the complete temp folder and its rename."""
    temp = temp or temp_path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(temp, ignore_errors=True)  # a dead process that had this PID
    temp.mkdir()
    try:
        fill(temp)
        for file in temp.rglob("*"):
            if file.is_file():
                capture_segments.fsync_file(file)
        capture_segments.fsync_dir(temp)
        crash_point(ready)
        try:
            os.rename(temp, final)
        except OSError:
            if not final.exists():  # not a concurrent publish of the same folder: a real failure
                raise
            shutil.rmtree(temp)
            return False
        capture_segments.fsync_dir(final.parent)
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise
    return True


def move_aside(path: Path, folder: Path, note: str, note_suffix: str) -> Path:
    """Move ``path`` into ``folder`` with a note file beside it (written first: a crash between the two leaves the
    file where it was). A name already taken there gets a number. Raises OSError when it cannot."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / path.name
    number = 0
    while target.exists():
        number += 1
        target = folder / f"{path.name}.{number}"
    write_text(target.with_name(target.name + note_suffix), note)
    os.rename(path, target)
    capture_segments.fsync_dir(folder)
    capture_segments.fsync_dir(path.parent)
    return target


def rename_into_place(temp: Path, final: Path) -> None:
    """The commit of a file written at :func:`temp_path` by a writer of its own (DuckDB): atomic, durable."""
    os.replace(temp, final)
    capture_segments.fsync_dir(final.parent)


# -- temp files, crash points, sweeping ----------------------------------------------------------------------------

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


def sweep_data_root(root) -> list[Path]:
    """:func:`sweep` every folder the pipeline writes under the data root (the landing zone is the capture's):
    the root (warehouse), each table and partition folder, each dataset name and version folder."""
    datasets = location(root, DATASETS_DIR)
    folders = [location(root), datasets]
    for parent in [location(root, layer) for layer in LAYERS] + [datasets]:
        for child in _subdirs(parent):
            folders += [child, *_subdirs(child)]
    return [path for folder in folders for path in sweep(folder)]


def _subdirs(folder: Path) -> list[Path]:
    """Sub-folders that are not dot-prefixed (temp folders are swept, never walked into)."""
    try:
        return sorted(Path(e.path) for e in os.scandir(folder) if e.is_dir(follow_symlinks=False) and not e.name.startswith("."))
    except FileNotFoundError:
        return []
