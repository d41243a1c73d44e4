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

On an ``s3://bucket/prefix`` root the views read absolute ``s3://`` globs, and the file stays on this machine, in
the root's cache folder (``config.default_cache_dir``), never in the bucket. Each connection reaches the store
itself, since DuckDB keeps neither a registered filesystem nor a temporary secret in a database file: through the
``httpfs`` extension when it is installed (a temporary secret from the ``AWS_*`` environment), otherwise through
s3fs registered as a filesystem. One recursive listing per stage folder tells which tables exist; through s3fs,
DuckDB's own globs are then answered from that listing's cache (a query of a 30-day root: 5 LIST requests).
"""

from __future__ import annotations

import contextlib
import fcntl
import fnmatch
import json
from collections.abc import Callable
from pathlib import Path

import polars as pl

from capture_agent.config import RemoteRoot, default_cache_dir
from capture_agent.errors import VectraError, first_line
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


# A store that does not answer is reported within seconds, not after botocore's default retries.
_STORE_TIMEOUTS = {"connect_timeout": 10, "read_timeout": 60, "retries": {"max_attempts": 3}}
_SECRET_NAME = "vectra_s3"


def as_root(root) -> Path | RemoteRoot:
    """A data root as this module takes it, whatever form it came in (a ``--data`` value, a storage location, text)."""
    return storage.remote_root(root) or Path(root)


def warehouse_path(root: Path | RemoteRoot) -> Path:
    """The warehouse file: in a local root, or in a remote root's local cache folder (never in the bucket)."""
    root = as_root(root)
    if isinstance(root, RemoteRoot):
        return default_cache_dir(root) / storage.WAREHOUSE_FILE
    return storage.warehouse_path(root)


def _root_glob(root: Path | RemoteRoot, relative_glob: str) -> str:
    """What a view reads: the glob relative to a local root (``file_search_path``), an absolute URL under a remote one."""
    return root.object_url(relative_glob) if isinstance(root, RemoteRoot) else relative_glob


def _matches(path: str, pattern: str) -> bool:
    """Whether a relative path matches a relative glob part by part (``*`` never crosses a ``/``)."""
    parts, wanted = path.split("/"), pattern.split("/")
    return len(parts) == len(wanted) and all(map(fnmatch.fnmatchcase, parts, wanted))


def _finder(root: Path | RemoteRoot, fs=None) -> Callable[[str], bool]:
    """``present(relative_glob)``: whether any file under the root matches. A remote root is listed once (one
    recursive listing per stage folder, through ``fs`` or a fresh filesystem) and the globs are matched against that."""
    if not isinstance(root, RemoteRoot):
        return lambda relative_glob: any(storage.location(root).glob(relative_glob))
    fs = fs or _store(root)
    base = root.url.removeprefix("s3://") + "/"
    listed = [
        key.removeprefix(base)
        for top in sorted({table.stage for table in TABLES.values()})  # bronze, silver, gold and datasets
        for key in fs.find(root.object_url(top))
    ]
    return lambda relative_glob: any(_matches(path, relative_glob) for path in listed)


def table_globs(root: Path | RemoteRoot, present: Callable[[str], bool] | None = None) -> dict[str, str]:
    """table → Parquet glob (relative to a local root, an ``s3://`` URL under a remote one), for every registered
    table with at least one partition file."""
    present = present or _finder(root)
    return {
        name: _root_glob(root, storage.partition_glob(name))
        for name, table in TABLES.items()
        if table.partitioned and present(storage.partition_glob(name))
    }


def quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def datasets_view_sql(root: Path | RemoteRoot, present: Callable[[str], bool] | None = None) -> str:
    """``datasets``: one row per published version, read from the manifests (an empty view when there are none).

    Paths are relative to a local data root (``file_search_path``, as every view); ``path`` is the version's folder
    relative to the root, e.g. ``datasets/player/<id>``, under a remote root too.
    """
    columns = [column.name for column in DATASETS.columns]
    if not (present or _finder(root))(storage.manifest_glob()):
        typed = ", ".join(f"CAST(NULL AS {_DUCKDB_TYPES[c.dtype]}) AS {c.name}" for c in DATASETS.columns)
        return f"CREATE OR REPLACE VIEW datasets AS SELECT {typed} WHERE false"
    selected = ", ".join(f"{_MANIFEST_FIELDS[name]} AS {name}" for name in columns)
    return (
        f"CREATE OR REPLACE VIEW datasets AS SELECT {selected} "
        f"FROM read_json({quote(_root_glob(root, storage.manifest_glob()))}, filename = true, format = 'auto', maximum_object_size = 268435456) "
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


def view_statements(root: Path | RemoteRoot, fs=None) -> dict[str, str]:
    """view name → its statements, ``;``-separated: the CREATE, then the comments — one view per table with
    partitions, and ``datasets`` (``fs``: the filesystem a remote root is listed with)."""
    present = _finder(root, fs)
    statements = {
        name: f'CREATE OR REPLACE VIEW "{name}" AS SELECT * FROM read_parquet({quote(glob)}, '
        "hive_partitioning = true, hive_types = {'date': DATE})"
        for name, glob in table_globs(root, present).items()
    }
    statements["datasets"] = datasets_view_sql(root, present)
    return {name: "; ".join([create, *comment_statements(name)]) for name, create in statements.items()}


def _store(root: Path | RemoteRoot):
    """A fresh s3fs filesystem for a remote root (its listing cache then starts empty: new partitions are seen)."""
    if not isinstance(root, RemoteRoot):
        return None
    from capture_agent.object_store import s3_filesystem

    return s3_filesystem(**_STORE_TIMEOUTS)


def _create_views(connection, root: Path | RemoteRoot, statements: dict[str, str], fs=None) -> None:
    if isinstance(root, RemoteRoot):
        _reach_store(connection, fs)
    else:
        folder = str(Path(root).resolve())
        if "," in folder:  # file_search_path is a comma-separated list
            raise VectraError(f"the data root {folder} has a comma in its path; DuckDB cannot search it: move or rename it")
        connection.execute(f"SET file_search_path = {quote(folder)}")
    for statement in statements.values():
        connection.execute(statement)


def _reach_store(connection, fs) -> None:
    """Let ``connection`` read ``s3://``: httpfs with a temporary secret when the extension loads, else ``fs``.
    Neither survives in a database file, so every connection (and every write of the warehouse file) does this."""
    import duckdb

    connection.execute("SET autoinstall_known_extensions = false")  # never a download in the middle of a query
    try:
        connection.execute("LOAD httpfs")
    except duckdb.Error:  # not installed (it cannot be downloaded offline)
        connection.register_filesystem(fs)
        return
    from capture_agent.object_store import s3_access

    connection.execute(secret_statement(s3_access()))


def secret_statement(access) -> str:
    """httpfs's temporary (in-memory, never persisted) secret for an :class:`~capture_agent.object_store.S3Access`."""
    options = {"TYPE": "s3", "PROVIDER": "config", "KEY_ID": quote(access.key_id), "SECRET": quote(access.secret),
               "REGION": quote(access.region)}
    if access.token:
        options["SESSION_TOKEN"] = quote(access.token)
    if access.endpoint:  # an S3-compatible store: host[:port], path-style URLs, TLS as the endpoint says
        scheme, _, host = access.endpoint.partition("://")
        options |= {"ENDPOINT": quote(host.rstrip("/")), "URL_STYLE": "'path'", "USE_SSL": str(scheme != "http").lower()}
    listed = ", ".join(f"{key} {value}" for key, value in options.items())
    return f"CREATE OR REPLACE TEMPORARY SECRET {_SECRET_NAME} ({listed})"


def connect(root: Path | RemoteRoot, *, require_tables: bool = False):
    """A private in-memory DuckDB with every view of the data root: what ``vectra query`` and ``vectra game`` run
    SQL on. ``require_tables``: one line saying to build first when the root has no table yet. A remote root's
    local warehouse file is brought up to date on the way (its views read the bucket)."""
    import duckdb

    root = as_root(root)
    with _store_errors(root):
        fs = _store(root)
        statements = view_statements(root, fs)
    if require_tables and set(statements) == {"datasets"}:
        raise VectraError(f"no tables under {root}; run `vectra build --data {root}` first")
    if isinstance(root, RemoteRoot):
        try:
            _keep(root, statements, fs)
        except (OSError, duckdb.Error) as error:  # the store's failures are VectraErrors by now: this is the disk
            raise VectraError(f"cannot keep the warehouse file {warehouse_path(root)}: {first_line(error)}") from None
    connection = duckdb.connect(":memory:")
    try:
        with _store_errors(root):
            _create_views(connection, root, statements, fs)
    except BaseException:
        connection.close()
        raise
    return connection


def _store_errors(root: Path | RemoteRoot):
    """Under a remote root: a store that cannot be reached or refuses the credentials becomes one line saying what
    to check (``object_store.store_errors``); DuckDB's wrapping of the same failures too."""
    if not isinstance(root, RemoteRoot):
        return contextlib.nullcontext()
    return _duckdb_store_errors(root)


@contextlib.contextmanager
def _duckdb_store_errors(root: RemoteRoot):
    import duckdb

    from capture_agent.object_store import store_errors

    with store_errors(root.url):
        try:
            yield
        except duckdb.Error as error:  # a read inside DuckDB failed (its message quotes the store's or s3fs's)
            raise VectraError(f"cannot read {root}: {first_line(error)}") from None


def _recorded(root: Path | RemoteRoot) -> dict[str, str] | None:
    try:
        return storage.read_json(warehouse_path(root).with_name(VIEWS_RECORD))
    except ValueError:  # torn by a crash of an earlier release: rewritten
        return None


def refresh(root: Path | RemoteRoot, tables: list[str] | None = None, force: bool = False) -> list[str]:
    """Make ``warehouse.duckdb`` hold a view for every table (and ``datasets``); returns the views written.

    Nothing is written when the file exists and was written with the same statements (``tables``: only these
    need to be covered — a cheap test for the assets, which call this after every partition). Otherwise a fresh
    file is written at a temp name and renamed into place, under an flock so two writers never interleave.
    """
    root = as_root(root)
    recorded = _recorded(root) if warehouse_path(root).exists() and not force else None
    if recorded is not None and tables is not None and all(t in recorded for t in tables) and "datasets" in recorded:
        return []
    with _store_errors(root):
        fs = _store(root)
        statements = view_statements(root, fs)
    return _keep(root, statements, fs, force)


def _keep(root: Path | RemoteRoot, statements: dict[str, str], fs, force: bool = False) -> list[str]:
    """Write the warehouse file with ``statements`` unless it already holds them; returns the views written."""
    final = warehouse_path(root)
    final.parent.mkdir(parents=True, exist_ok=True)  # a remote root's cache folder may not exist yet
    with open(final.with_name(LOCK_FILE), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not force and final.exists() and _recorded(root) == statements:
            return []
        _write(root, statements, fs)
    return sorted(statements)


def _write(root: Path | RemoteRoot, statements: dict[str, str], fs) -> None:
    import duckdb

    final = warehouse_path(root)
    storage.sweep(final.parent)
    temp = storage.temp_path(final)
    for stale in (temp, temp.with_name(temp.name + ".wal")):  # a dead process that had this PID: never replay its WAL
        stale.unlink(missing_ok=True)
    with duckdb.connect(str(temp)) as connection, _store_errors(root):
        _create_views(connection, root, statements, fs)
    storage.crash_point("warehouse:written")
    storage.rename_into_place(temp, final)
    # after the database: a crash in between only costs a rewrite
    storage.write_text(final.with_name(VIEWS_RECORD), json.dumps(statements, indent=1, sort_keys=True))
