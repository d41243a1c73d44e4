"""docs/TABLES.md and docs/FEATURES.md are generated from the code (``python -m vectra_pipeline.docs``) and must stay in
step with it; every registered table and every column is documented."""

import subprocess
import sys

from vectra_pipeline.docs import DOCS, features_markdown, tables_markdown
from vectra_pipeline.schema import TABLES


def test_tables_doc_is_generated_from_the_schema_registry():
    assert (DOCS / "TABLES.md").read_text(encoding="utf-8") == tables_markdown(), "run: python -m vectra_pipeline.docs"


def test_features_doc_is_generated_from_the_feature_spec():
    assert (DOCS / "FEATURES.md").read_text(encoding="utf-8") == features_markdown(), "run: python -m vectra_pipeline.docs"


def test_every_table_is_documented_with_every_column():
    text = (DOCS / "TABLES.md").read_text(encoding="utf-8")
    assert {"frames", "events", "games", "episodes", "observations", "dataset_episodes", "dataset_observations", "datasets"} <= set(TABLES)
    for table in TABLES.values():
        assert f"## `{table.name}`" in text
        for column in table.columns:
            assert column.doc and f"| `{column.name}` |" in text


def test_check_command_passes_and_names_a_stale_file(tmp_path, monkeypatch):
    done = subprocess.run([sys.executable, "-m", "vectra_pipeline.docs", "--check"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    from vectra_pipeline import docs

    (tmp_path / "TABLES.md").write_text(tables_markdown() + "edited by hand\n", encoding="utf-8")
    (tmp_path / "FEATURES.md").write_text(features_markdown(), encoding="utf-8")
    assert docs.stale(tmp_path) == ["TABLES.md"]
