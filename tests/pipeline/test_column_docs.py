"""Column descriptions come from the one schema registry (``vectra_pipeline/schema.py``) everywhere a user looks:
the DuckDB warehouse (``COMMENT ON VIEW/COLUMN``: in ``warehouse.duckdb`` and in what ``vectra query`` runs on),
Dagster (``dagster/column_schema`` on every asset that is a table) and docs/TABLES.md."""

from __future__ import annotations

import dataclasses

import duckdb
import pytest

from vectra_pipeline import schema, storage, warehouse
from vectra_pipeline.definitions import defs
from vectra_pipeline.docs import tables_markdown
from vectra_pipeline.schema import PARTITION_DATE_DOC, TABLES

DAY = "2025-12-10"


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    """Every partitioned table written once (empty): each gets its view."""
    data = tmp_path_factory.mktemp("column_docs")
    for name, table in TABLES.items():
        if table.partitioned:
            storage.write_table(data, name, DAY, schema.empty(name))
    return data


def _expected() -> dict[tuple[str, str], str]:
    """(view, column) → description, for every view the warehouse has."""
    expected = {}
    for name, table in TABLES.items():
        if table.partitioned or name == "datasets":
            expected |= {(name, c.name): c.doc for c in table.columns}
            if table.partitioned:
                expected[(name, "date")] = PARTITION_DATE_DOC
    return expected


def _comments(connection) -> tuple[dict, dict]:
    columns = connection.execute("SELECT table_name, column_name, comment FROM duckdb_columns() WHERE NOT internal").fetchall()
    views = connection.execute("SELECT view_name, comment FROM duckdb_views() WHERE NOT internal").fetchall()
    return {(t, c): comment for t, c, comment in columns}, dict(views)


def test_every_warehouse_column_and_view_has_its_registry_description(root):
    warehouse.refresh(root, force=True)
    with duckdb.connect(str(warehouse.warehouse_path(root)), read_only=True) as connection:
        connection.execute(f"SET file_search_path = {warehouse.quote(str(root))}")
        columns, views = _comments(connection)
    assert columns == _expected()  # every column of every view, nothing undocumented, nothing extra
    assert views == {name: TABLES[name].doc for name in views} and set(views) == {v for v, _ in _expected()}
    with warehouse.connect(root) as connection:  # what `vectra query` runs on holds the same descriptions
        assert _comments(connection)[0] == columns


def test_a_description_with_quotes_survives_as_written(root, monkeypatch):
    hostile = "it's \"quoted\"; DROP VIEW frames; -- and ' more"
    frames = TABLES["frames"]
    first = dataclasses.replace(frames.columns[0], doc=hostile)
    monkeypatch.setitem(TABLES, "frames", dataclasses.replace(frames, doc=hostile, columns=(first, *frames.columns[1:])))
    with warehouse.connect(root) as connection:
        columns, views = _comments(connection)
    assert columns[("frames", frames.columns[0].name)] == hostile and views["frames"] == hostile


def test_every_table_asset_carries_its_column_schema_in_dagster():
    graph = defs.get_repository_def().asset_graph
    seen = set()
    for key in graph.get_all_asset_keys():
        name = key.to_user_string()
        table = {"training_dataset": "dataset_observations"}.get(name, name)
        column_schema = graph.get(key).metadata.get("dagster/column_schema")
        if table not in TABLES:
            assert column_schema is None, name
            continue
        seen.add(name)
        described = [(c.name, c.type, c.description) for c in column_schema.columns]
        assert described == [(c.name, str(c.dtype), c.doc) for c in TABLES[table].columns], name
    assert {"frames", "events", "games", "trades", "actions", "player_state", "observations", "training_dataset"} <= seen


def test_tables_md_documents_every_column_from_the_registry():
    text = tables_markdown()
    for table in TABLES.values():
        assert f"## `{table.name}`" in text
        for column in table.columns:
            assert f"| `{column.name}` |" in text, (table.name, column.name)
