"""DuckDB warehouse: ``<data>/warehouse.duckdb`` with one view per table over its Parquet partitions.

Views read ``<data>/<stage>/<table>/date=*/*.parquet`` with ``hive_partitioning`` on, so the ``date`` column
comes from the folder (files never carry one — STACK.md trap 3) and a new partition is visible at once.
Any stage folder (bronze, silver, gold) is picked up, so gold tables get views the same way.
"""

from __future__ import annotations

from pathlib import Path

WAREHOUSE_FILE = "warehouse.duckdb"
STAGES = ("bronze", "silver", "gold")


def warehouse_path(data_dir: Path) -> Path:
    return Path(data_dir) / WAREHOUSE_FILE


def table_globs(data_dir: Path) -> dict[str, str]:
    """table → Parquet glob, for every table folder that holds at least one partition file."""
    found = {}
    for stage in STAGES:
        root = Path(data_dir) / stage
        if not root.is_dir():
            continue
        for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
            if any(folder.glob("date=*/*.parquet")):
                found[folder.name] = str((folder / "date=*" / "*.parquet").resolve())
    return found


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def refresh(data_dir: Path, tables: list[str] | None = None) -> list[str]:
    """Create the views that do not exist yet or point elsewhere (all tables, or the given ones); returns them.

    A view is SQL over a glob, re-expanded at every query, so a new partition needs no refresh: only a new
    table does. Creating views only when missing keeps a new day's cost independent of how many days exist
    (DuckDB binds a view over every file of its glob when it is created).
    """
    import duckdb

    globs = table_globs(data_dir)
    wanted = [t for t in (tables or globs) if t in globs]
    if not wanted:
        return []
    created = []
    with duckdb.connect(str(warehouse_path(data_dir))) as connection:
        existing = dict(connection.execute("SELECT view_name, sql FROM duckdb_views() WHERE NOT internal").fetchall())
        for name in wanted:
            if globs[name] in (existing.get(name) or ""):
                continue  # exists and points at this data root (a moved root gets its views rewritten)
            connection.execute(
                f'CREATE OR REPLACE VIEW "{name}" AS SELECT * FROM read_parquet({_quote(globs[name])}, '
                "hive_partitioning = true, hive_types = {'date': DATE})"
            )
            created.append(name)
    return created
