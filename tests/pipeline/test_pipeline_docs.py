"""docs/TABLES.md is generated from vectra_pipeline/tables.py and must stay in step with it."""

from pathlib import Path

from vectra_pipeline.schema import TABLES, markdown

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_tables_doc_is_generated_from_tables_py():
    assert (DOCS / "TABLES.md").read_text(encoding="utf-8") == markdown(), "run: python -m vectra_pipeline.schema > docs/TABLES.md"


def test_every_table_is_documented_with_every_column():
    text = (DOCS / "TABLES.md").read_text(encoding="utf-8")
    for table in TABLES.values():
        assert f"## `{table.name}`" in text
        for column in table.columns:
            assert column.doc and f"| `{column.name}` |" in text
