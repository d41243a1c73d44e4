"""Where every file of the pipeline lives, and the only code that writes one.

Layout under the data root::

    landing/date=D/<capture>-NNNNNN.parquet    the capture agent's segments (read here; never written but to
    landing/_rejected/date=D/<file>            move a file bronze cannot read aside, with ``<file>.reason``)
    <layer>/<table>/date=D/part.parquet        bronze, silver and gold tables (``schema.TABLES``), one per UTC date
    gold/_built/date=D.json                    the record of each day's build (``datasets.days``)
    datasets/<name>/<id>/                      a dataset version: episodes.parquet, observations.parquet,
                                               manifest.json (written last), minari/
    datasets/<name>/_history/<time>-<id>.json  one object per publish (``history.jsonl`` of earlier releases is read)
    datasets/.landing-sha256.json              cached hashes of the immutable landing segments
    warehouse.duckdb                           DuckDB views over all of it (``warehouse``)

Every path is made by :func:`location` from the data root and the parts above; stages never see a path (they are
polars in, polars out), and nothing else joins paths under the root. Every write is whole or absent: a file is
written to a dot-prefixed temp name beside its final one and renamed into place; a folder (a dataset version, a
Minari export) is filled under such a temp name and renamed in whole (:func:`publish_folder`). Readers (DuckDB views,
the next stage) never see half a file; crash leftovers are swept (:mod:`vectra_pipeline.local_files`).
Parquet is written with fixed settings, so the same frame always gives the same bytes. On an object-store root
(``s3://bucket/prefix``) paths are UPaths and the same holds on objects (:mod:`vectra_pipeline.remote_storage`).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from capture_agent.landing import segments as capture_segments  # the landing zone's layout is the capture agent's
from capture_agent.landing.schema import LANDING_DIR
from capture_agent.object_store import polars_storage_options
from vectra_pipeline import remote_storage as remote
from vectra_pipeline.local_files import (  # noqa: F401 - storage's API: the writers of a folder being filled
    DatasetFileAppender,
    crash_point,
    publish_by_rename,
    rename_into_place,
    sweep,
    temp_path,
    write_dataset_file,
    write_new_json,
)
from vectra_pipeline.parquet_format import PARQUET
from vectra_pipeline.partition_files import PartitionWriter, write_whole
from vectra_pipeline.schema import LAYERS, TABLES, conform, empty

PART_FILE = "part.parquet"
REJECTED_DIR = "_rejected"
DAY_RECORDS_DIR = "_built"
DATASETS_DIR = "datasets"
MANIFEST = "manifest.json"
HISTORY = "history.jsonl"  # earlier releases' history, read, never written
HISTORY_DIR = "_history"
LANDING_HASH_CACHE = ".landing-sha256.json"
WAREHOUSE_FILE = "warehouse.duckdb"
EXPORT_SEAL = "_complete.json"  # on a remote root, the object an export's folder is sealed with (created last)


def location(root, *parts: str) -> Path:
    """The one place a path under the data root is made: a local Path, or a UPath under an ``s3://`` root (a
    :class:`~capture_agent.config.RemoteRoot`, its URL, or a path under it)."""
    if isinstance(root, Path) or remote.is_remote(root):
        return root.joinpath(*parts)
    named = remote.remote_of(root)
    return remote.root_path(named).joinpath(*parts) if named else Path(root).joinpath(*parts)


def data_root(value) -> Path:
    """A command's ``--data`` as every function here takes it: an absolute local path, or the remote root."""
    return location(value) if remote.remote_of(value) else Path(value).resolve()


def is_local(root) -> bool:
    return not remote.is_remote(location(root))


remote_root = remote.remote_of  # the s3:// root (RemoteRoot) a data root names, in any form; None for a local one
store_errors = remote.store_errors  # the store down or refusing us: one line that says what to do


def relative(root, path: Path) -> str:
    """``path`` relative to the data root, with forward slashes (what manifests and records hold)."""
    if remote.is_remote(path):
        return remote.relative(location(root), path)
    return Path(path).relative_to(location(root)).as_posix()


# -- layout --------------------------------------------------------------------------------------------------------

def table_path(root, table: str, date: str) -> Path:
    return location(root, TABLES[table].stage, table, f"date={date}", PART_FILE)


def table_dates(root, table: str) -> list[str]:
    """Dates that have a partition of ``table``."""
    folder = location(root, TABLES[table].stage, table)
    if remote.is_remote(folder):
        return remote.partition_dates(folder, PART_FILE)
    return sorted(p.parent.name.removeprefix("date=") for p in folder.glob(f"date=*/{PART_FILE}"))


def table_pattern(table: str) -> str:
    """Where a table's partitions live, for people: ``<data>/silver/games/date=YYYY-MM-DD/part.parquet``."""
    return f"<data>/{TABLES[table].stage}/{table}/date=YYYY-MM-DD/{PART_FILE}"


def partition_glob(table: str) -> str:
    """The table's partition files relative to the data root, as a glob that never matches a temp (dot) file."""
    return f"{TABLES[table].stage}/{table}/date=*/[!.]*.parquet"


def has_partitions(root, table: str) -> bool:
    if not is_local(root):
        return bool(table_dates(root, table))
    return any(location(root).glob(partition_glob(table)))


def landing_segments(root, date: str | None = None) -> list[Path]:
    """Published landing segments (never temp files) of one date or all, sorted by date, capture and number."""
    if is_local(root):
        return capture_segments.segment_paths(location(root), date)
    return remote.landing_segments(location(root, LANDING_DIR), date, capture_segments.parse_segment_name)


def landing_date(segment: Path) -> str:
    return segment.parent.name.removeprefix("date=")


def landing_folder(root, date: str) -> Path:
    return location(root, LANDING_DIR, f"date={date}")


def stray_landing_files(root, date: str) -> list[Path]:
    """``*.parquet`` files of a landing date folder without a segment name (temp files start with a dot)."""
    folder = landing_folder(root, date)
    return sorted(p for p in _files(folder) if p.name.endswith(".parquet") and not p.name.startswith(".")
                  and capture_segments.parse_segment_name(p) is None)  # fmt: skip


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


def history_record(root, name: str, record: str) -> Path:
    """One publish's record ``<UTC time>-<id>.json``: a new object each time, never an append (S3 cannot)."""
    return location(root, DATASETS_DIR, name, HISTORY_DIR, record)


def history_records(root, name: str) -> list[str]:
    """The names of a dataset's publish records, oldest first (names start with the UTC time)."""
    folder = location(root, DATASETS_DIR, name, HISTORY_DIR)
    return sorted(p.name for p in _files(folder) if p.name.endswith(".json") and not p.name.startswith("."))


def landing_hash_cache(root) -> Path:
    return location(root, DATASETS_DIR, LANDING_HASH_CACHE)


def warehouse_path(root) -> Path:
    return location(root, WAREHOUSE_FILE)


# -- Parquet -------------------------------------------------------------------------------------------------------

def write_table(root, table: str, date: str, frame: pl.DataFrame) -> Path:
    """Write one partition of a table atomically; the frame is conformed to the declared schema first."""
    frame = conform(frame, table)
    final = table_path(root, table, date)
    write_whole(final, lambda path: PARQUET.write(frame, path))
    return final


class PartitionAppender(PartitionWriter):
    """Writes one partition of a table a batch at a time (memory: one row group and one batch, never the day), each
    row encoded once; :meth:`close` makes it whole, with the bytes :func:`write_table` gives for the batches
    concatenated (:mod:`vectra_pipeline.partition_files`)."""

    def __init__(self, root, table: str, date: str) -> None:
        super().__init__(table, table_path(root, table, date))


def read_table(root, table: str, date: str, columns: list[str] | None = None) -> pl.DataFrame:
    """One partition of a table; an empty frame of the declared schema when the partition was never written."""
    path = table_path(root, table, date)
    if not path.exists():
        frame = empty(table)
        return frame.select(columns) if columns else frame
    return read_parquet(path, columns)


def iter_table_slices(root, table: str, date: str, rows: int):
    """One partition of a table as frames of at most ``rows`` rows, in file order, read one batch at a time (memory:
    one batch, not the partition); nothing when the partition was never written."""
    path = table_path(root, table, date)
    if not path.exists():
        return
    for batch in _parquet_file(path).iter_batches(batch_size=rows):
        yield conform(pl.from_arrow(batch), table)


def scan_table(root, table: str, date: str) -> pl.LazyFrame:
    path = table_path(root, table, date)
    return scan_parquet(path) if path.exists() else empty(table).lazy()


def scan_table_row_groups(root, table: str, date: str) -> Iterator[pl.LazyFrame]:
    """One partition of a table as lazy scans of one row group each, in file order: polars reads only that group's
    rows, filtered as it decodes them (pyarrow's reader kept each group's whole text column in its pool); nothing
    when the partition was never written."""
    path = table_path(root, table, date)
    if not path.exists():
        return
    scan, start = scan_parquet(path), 0
    for rows in parquet_row_group_rows(path):
        yield scan.slice(start, rows)
        start += rows


def scan_parquet(path: Path) -> pl.LazyFrame:
    if remote.is_remote(path):
        return pl.scan_parquet(str(path), storage_options=polars_storage_options())
    return pl.scan_parquet(path)


def read_parquet(path: Path, columns: list[str] | None = None) -> pl.DataFrame:
    if remote.is_remote(path):
        return pl.read_parquet(str(path), columns=columns, storage_options=polars_storage_options())
    return pl.read_parquet(path, columns=columns)


def _parquet_file(path: Path) -> pq.ParquetFile:
    return pq.ParquetFile(remote.open_binary(path) if remote.is_remote(path) else path)


def parquet_batches(path: Path, rows: int) -> tuple[pa.Schema, Iterator[pa.Table]]:
    """A Parquet file's schema and its rows as Arrow tables of whole row groups, about ``rows`` rows each (more when
    one row group is larger). Memory: one table — pyarrow's ``iter_batches`` reads far ahead (measured on a 175k-row
    landing segment: 540 MB peak for batches of 20k rows, 130 MB row group by row group)."""
    file = _parquet_file(path)

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
    metadata = _parquet_file(path).metadata
    return [metadata.row_group(index).num_rows for index in range(metadata.num_row_groups)]


def read_row_groups(path: Path, groups: list[int], columns: list[str]) -> pa.Table:
    """Those row groups of a Parquet file, only those of ``columns`` it has (memory: what is read)."""
    file = _parquet_file(path)
    present = [name for name in columns if name in file.schema_arrow.names]
    return file.read_row_groups(groups, columns=present)


def read_dataset_file(version: Path, table: str, columns: list[str] | None = None) -> pl.DataFrame:
    """A dataset table's file in a version folder."""
    return read_parquet(location(version, TABLES[table].file), columns)


def scan_dataset_file(version: Path, table: str) -> pl.LazyFrame:
    """A dataset table's file in a version folder, lazily (filters read only the row groups they need)."""
    return scan_parquet(location(version, TABLES[table].file))


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
    """Write a small text file atomically (temp name, rename; one PUT remotely): never torn, whatever kills the writer."""
    if remote.is_remote(path):
        remote.put_bytes(path, text.encode("utf-8"))
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    sweep(path.parent)
    temp = temp_path(path)
    temp.write_text(text, encoding="utf-8")
    os.replace(temp, path)
    return path


def write_json(path: Path, document, indent: int | None = None) -> Path:
    return write_text(path, json.dumps(document, indent=indent, sort_keys=True) + ("\n" if indent is not None else ""))


def file_sha256(path: Path) -> str:
    if remote.is_remote(path):
        return remote.stored_sha256(path)  # the writer's own hash (agent or upload), read back cheaply
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_stat(path: Path) -> tuple[int, int]:
    """(bytes, mtime ns) of a file (of an object: its LastModified)."""
    if remote.is_remote(path):
        return remote.stat(path)
    stat = path.stat()
    return stat.st_size, stat.st_mtime_ns


def publish_folder(final: Path, fill: Callable[[Path], None], ready: str, temp: Path | None = None,
                   seal: str = MANIFEST) -> bool:
    """Make the folder ``final`` appear whole or not at all: ``fill(folder)`` writes its files into a temp folder
    (``temp``, by default beside ``final``), which is fsynced and renamed into place. Returns False when ``final``
    already exists — another writer published it first — and nothing changed. A kill at any moment leaves no
    ``final`` or a complete one, and the dead writer's temp is swept by the next publish. ``ready`` names the crash
    point between the complete temp folder and its rename.

    On a remote root there is no rename: the files are uploaded, then ``seal`` (the manifest ``fill`` wrote, or a
    marker) is created last and exclusively; the folder exists only if its seal does (:func:`folder_sealed`)."""
    if remote.is_remote(final):
        return remote.publish_folder(final, fill, seal, before_seal=lambda: crash_point(ready))
    return publish_by_rename(final, fill, ready, temp)


def move_aside(path: Path, folder: Path, note: str, note_suffix: str) -> Path:
    """Move ``path`` into ``folder`` with a note file beside it (written first: a crash between the two leaves the
    file where it was). A name already taken there gets a number. Raises OSError when it cannot."""
    is_remote = remote.is_remote(folder)
    if not is_remote:
        folder.mkdir(parents=True, exist_ok=True)
    target, number = folder / path.name, 0
    while target.exists():
        number += 1
        target = folder / f"{path.name}.{number}"
    write_text(target.with_name(target.name + note_suffix), note)
    if is_remote:  # no rename on S3: copy, then delete
        remote.move(path, target)
        return target
    os.rename(path, target)
    capture_segments.fsync_dir(folder)
    capture_segments.fsync_dir(path.parent)
    return target


def folder_sealed(folder: Path, seal: str = MANIFEST) -> bool:
    """Whether a folder made by :func:`publish_folder` is complete: it exists (locally, the rename is the seal), or
    its seal object does (remotely)."""
    return remote.exists(folder / seal) if remote.is_remote(folder) else folder.exists()


def collect_leftovers(folder: Path) -> list[str]:
    """What dead publishers left in ``folder`` (a dataset's versions): their temp folders locally (:func:`sweep`),
    their unsealed version folders remotely (once older than ``remote_storage.GARBAGE_GRACE_S``)."""
    if remote.is_remote(folder):
        return remote.collect_garbage(folder, MANIFEST)
    return [path.name for path in sweep(folder)]


# -- sweeping --------------------------------------------------------------------------------------------------

def sweep_data_root(root) -> list[Path]:
    """:func:`sweep` every folder the pipeline writes under the data root (the landing zone is the capture's):
    the root (warehouse), each table and partition folder, each dataset name and version folder."""
    if not is_local(root):
        return []
    datasets = location(root, DATASETS_DIR)
    folders = [location(root), datasets]
    for parent in [location(root, layer) for layer in LAYERS] + [datasets]:
        for child in _subdirs(parent):
            folders += [child, *_subdirs(child)]
    return [path for folder in folders for path in sweep(folder)]


def _files(folder: Path) -> list[Path]:
    if remote.is_remote(folder):
        return remote.files(folder)
    try:
        return [path for path in folder.iterdir() if path.is_file()]
    except (FileNotFoundError, NotADirectoryError):
        return []


def _subdirs(folder: Path) -> list[Path]:
    """Sub-folders that are not dot-prefixed (temp folders are swept, never walked into)."""
    if remote.is_remote(folder):
        return remote.subfolders(folder)
    try:
        return sorted(Path(e.path) for e in os.scandir(folder) if e.is_dir(follow_symlinks=False) and not e.name.startswith("."))
    except FileNotFoundError:
        return []
