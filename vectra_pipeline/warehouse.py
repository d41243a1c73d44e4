"""DuckDB warehouse: one view per table over its Parquet partitions, and ``datasets`` over the version manifests.

Views read ``<stage>/<table>/date=*/[!.]*.parquet`` with ``hive_partitioning`` on, so the ``date`` column comes
from the folder (files never carry one: the folder would win), a new partition is visible at once, and a dot-prefixed
temp file is never a row. Paths are **relative to the data root**, resolved through DuckDB's ``file_search_path``:
a copied or moved root reads its own files, never the original's.

Nobody can collide on a lock:

- ``vectra query`` (:func:`connect`) never opens ``warehouse.duckdb``: it creates the same views on a private
  in-memory DuckDB at open time, so neither a running build nor a user's client holding the file read-write (the
  duckdb CLI, DBeaver and notebooks do by default) can make it fail.
- :func:`refresh` never opens it either: it writes a fresh database at a temp name and renames it over
  ``warehouse.duckdb``. A client holding the old file keeps its old inode (Linux) and sees the new views when it
  reopens. The file is regenerated, so tables a user creates in it do not survive a build — keep them in a
  database of your own (``ATTACH``).
- Outside ``vectra query``, open the file from the data root (``cd <data> && duckdb warehouse.duckdb``) or set
  ``file_search_path`` to it first (``SET file_search_path = '/path/to/data'``).
"""

from __future__ import annotations

import fcntl
import json
from pathlib import Path

import polars as pl

from capture_agent.errors import VectraError
from vectra_pipeline import storage
from vectra_pipeline.schema import DATASETS, PARTITION_DATE_DOC, TABLES

# The view statements the current warehouse.duckdb was written with: compared, not the file, so that checking
# whether a refresh is needed never opens the database a user may hold.
VIEWS_RECORD = ".warehouse-views.json"
LOCK_FILE = ".warehouse.lock"
_DUCKDB_TYPES = {pl.String: "VARCHAR", pl.Int64: "BIGINT", pl.List(pl.String): "VARCHAR[]"}
# Each column of the ``datasets`` view (declared in the schema registry) read from a manifest.
_MANIFEST_FIELDS = {
    "name": "name", "id": "id",
    "path": f"regexp_extract(filename, '({storage.DATASETS_DIR}/[^/]+/[^/]+)/{storage.MANIFEST}$', 1)",
    "feature_spec_version": "feature_spec.version", "code_version": "code_version",
    "partitions": "CAST(partitions AS VARCHAR[])", "episodes_total": "counts.episodes_total",
    "episodes_in_training": "counts.episodes_in_training", "episodes_excluded": "counts.episodes_excluded",
    "rows": "counts.rows", "transitions": "counts.transitions",
    "train_episodes": "counts.per_split.train.episodes", "val_episodes": "counts.per_split.val.episodes",
    "test_episodes": "counts.per_split.test.episodes", "landing_files": "len(inputs.landing)", "split_seed": "splits.seed",
}


def warehouse_path(data_dir: Path) -> Path:
    return storage.warehouse_path(data_dir)


def table_globs(data_dir: Path) -> dict[str, str]:
    """table → Parquet glob relative to the data root, for every registered table with at least one partition file."""
    return {
        name: storage.partition_glob(name)
        for name, table in TABLES.items()
        if table.partitioned and storage.has_partitions(data_dir, name)
    }


def quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def datasets_view_sql(data_dir: Path) -> str:
    """``datasets``: one row per published version, read from the manifests (an empty view when there are none).

    Paths are relative to the data root (``file_search_path``, as every view); ``path`` is the version's folder
    relative to it, e.g. ``datasets/player/<id>``.
    """
    columns = [column.name for column in DATASETS.columns]
    if not any(storage.location(data_dir).glob(storage.manifest_glob())):
        typed = ", ".join(f"CAST(NULL AS {_DUCKDB_TYPES[c.dtype]}) AS {c.name}" for c in DATASETS.columns)
        return f"CREATE OR REPLACE VIEW datasets AS SELECT {typed} WHERE false"
    selected = ", ".join(f"{_MANIFEST_FIELDS[name]} AS {name}" for name in columns)
    return (
        f"CREATE OR REPLACE VIEW datasets AS SELECT {selected} "
        f"FROM read_json({quote(storage.manifest_glob())}, filename = true, format = 'auto', maximum_object_size = 268435456) "
        "ORDER BY name, id"
    )


def comment_statements(name: str) -> list[str]:
    """``COMMENT ON VIEW`` and ``COMMENT ON COLUMN`` for view ``name`` from the schema registry, so ``DESCRIBE``-like
    catalog queries (``duckdb_columns()``, ``duckdb_views()``) and SQL clients show what each column means."""
    table = TABLES[name]
    comments = [f'COMMENT ON VIEW "{name}" IS {quote(table.doc)}']
    comments += [f'COMMENT ON COLUMN "{name}"."{column.name}" IS {quote(column.doc)}' for column in table.columns]
    if table.partitioned:  # the hive partition column every partitioned view adds
        comments.append(f'COMMENT ON COLUMN "{name}"."date" IS {quote(PARTITION_DATE_DOC)}')
    return comments


def view_statements(data_dir: Path) -> dict[str, str]:
    """view name → its statements, ``;``-separated (relative paths): the CREATE, then the comments — one view per
    table with partitions, and ``datasets``."""
    statements = {
        name: f'CREATE OR REPLACE VIEW "{name}" AS SELECT * FROM read_parquet({quote(glob)}, '
        "hive_partitioning = true, hive_types = {'date': DATE})"
        for name, glob in table_globs(data_dir).items()
    }
    statements["datasets"] = datasets_view_sql(data_dir)
    return {name: "; ".join([create, *comment_statements(name)]) for name, create in statements.items()}


def _create_views(connection, data_dir: Path, statements: dict[str, str]) -> None:
    root = str(Path(data_dir).resolve())
    if "," in root:  # file_search_path is a comma-separated list
        raise VectraError(f"the data root {root} has a comma in its path; DuckDB cannot search it: move or rename it")
    connection.execute(f"SET file_search_path = {quote(root)}")
    for statement in statements.values():
        connection.execute(statement)


def require_tables(data_dir: Path) -> None:
    """One line saying to build first when the data root has no table yet (what a query or a look needs)."""
    if not table_globs(data_dir):
        raise VectraError(f"no tables under {data_dir}; run `vectra build --data {data_dir}` first")


def connect(data_dir: Path):
    """A private in-memory DuckDB with every view of the data root: what ``vectra query`` runs SQL on."""
    import duckdb

    connection = duckdb.connect(":memory:")
    try:
        _create_views(connection, data_dir, view_statements(data_dir))
    except BaseException:
        connection.close()
        raise
    return connection


def _recorded(data_dir: Path) -> dict[str, str] | None:
    try:
        return storage.read_json(storage.location(data_dir, VIEWS_RECORD))
    except ValueError:  # torn by a crash of an earlier release: rewritten
        return None


def refresh(data_dir: Path, tables: list[str] | None = None, force: bool = False) -> list[str]:
    """Make ``warehouse.duckdb`` hold a view for every table (and ``datasets``); returns the views written.

    Nothing is written when the file exists and was written with the same statements (``tables``: only these
    need to be covered — a cheap test for the assets, which call this after every partition). Otherwise a fresh
    file is written at a temp name and renamed into place, under an flock so two writers never interleave.
    """
    if not storage.is_local(data_dir):  # a remote root's warehouse lives in a local cache (vectra query makes it)
        return []
    data_dir = Path(data_dir)
    recorded = _recorded(data_dir) if warehouse_path(data_dir).exists() and not force else None
    if recorded is not None and tables is not None and all(t in recorded for t in tables) and "datasets" in recorded:
        return []
    with open(storage.location(data_dir, LOCK_FILE), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        statements = view_statements(data_dir)
        if not force and warehouse_path(data_dir).exists() and _recorded(data_dir) == statements:
            return []
        _write(data_dir, statements)
    return sorted(statements)


def _write(data_dir: Path, statements: dict[str, str]) -> None:
    import duckdb

    storage.sweep(data_dir)
    final = warehouse_path(data_dir)
    temp = storage.temp_path(final)
    for stale in (temp, temp.with_name(temp.name + ".wal")):  # a dead process that had this PID: never replay its WAL
        stale.unlink(missing_ok=True)
    with duckdb.connect(str(temp)) as connection:
        _create_views(connection, data_dir, statements)
    storage.crash_point("warehouse:written")
    storage.rename_into_place(temp, final)
    # after the database: a crash in between only costs a rewrite
    storage.write_text(storage.location(data_dir, VIEWS_RECORD), json.dumps(statements, indent=1, sort_keys=True))
