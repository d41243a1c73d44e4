"""Training datasets: same inputs → same id and byte-identical files, reuse, splits by game, lineage, DuckDB view."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from vectra_pipeline.datasets.contents import DatasetParams
from vectra_pipeline.datasets.identity import dataset_id, stage_versions
from vectra_pipeline.datasets.publish import publish
from vectra_pipeline.datasets.registry import describe, latest_dataset, list_versions
from vectra_pipeline.datasets.splits import assign_splits, split_of
from vectra_pipeline.gold.lookahead import gold_from_silver
from vectra_pipeline.schema import TABLES
from vectra_pipeline.synthetic import synthetic_silver

DATE = "2025-12-10"


@pytest.fixture(scope="module")
def gold_day():
    tables = synthetic_silver(40, seed=11, gapped_every=6)
    episodes, observations = gold_from_silver(tables)
    tag = pl.lit(DATE).alias("partition")
    return episodes.with_columns(tag), observations.with_columns(tag)


def _landing(data_dir: Path, payload: bytes = b"segment-0") -> list[dict]:
    folder = data_dir / "landing" / f"date={DATE}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "capture-000000.parquet").write_bytes(payload)
    from vectra_pipeline.datasets.lineage import landing_inputs

    return landing_inputs(data_dir, [DATE])


def _files(version) -> dict[str, bytes]:
    return {p.relative_to(version.path).as_posix(): p.read_bytes() for p in sorted(version.path.rglob("*")) if p.is_file()}


def test_same_inputs_same_id_and_identical_bytes(tmp_path, gold_day):
    episodes, observations = gold_day
    built = []
    for name in ("a", "b"):
        data = tmp_path / name
        version, created = publish(data, [DATE], episodes, observations, _landing(data))
        assert created
        built.append(version)
    first, second = built
    assert first.id == second.id
    assert _files(first) == _files(second)
    assert set(_files(first)) == {"episodes.parquet", "observations.parquet", "manifest.json", "README.md"}
    # a second build in the same place reuses the version without touching it
    before = {p: p.stat().st_mtime_ns for p in first.path.iterdir()}
    again, created = publish(tmp_path / "a", [DATE], episodes, observations, _landing(tmp_path / "a"))
    assert not created and again.id == first.id
    assert {p: p.stat().st_mtime_ns for p in first.path.iterdir()} == before


def test_changed_inputs_or_parameters_give_new_versions_and_keep_old_ones(tmp_path, gold_day):
    episodes, observations = gold_day
    first, _ = publish(tmp_path, [DATE], episodes, observations, _landing(tmp_path))
    second, created = publish(tmp_path, [DATE], episodes, observations, _landing(tmp_path, b"segment-1"))
    assert created and second.id != first.id
    third, created = publish(tmp_path, [DATE], episodes, observations, _landing(tmp_path, b"segment-1"),
                                   DatasetParams(split_seed=7))
    assert created and third.id not in (first.id, second.id)
    assert {v.id for v in list_versions(tmp_path)} == {first.id, second.id, third.id}
    assert latest_dataset(tmp_path).id == third.id
    # re-requesting an older version's inputs makes it the latest again, without rebuilding it
    again, created = publish(tmp_path, [DATE], episodes, observations, _landing(tmp_path))
    assert not created and latest_dataset(tmp_path).id == first.id == again.id
    assert latest_dataset(tmp_path, name="other") is None
    assert not [p for p in (tmp_path / "datasets" / "player").iterdir() if p.name.startswith(".tmp")]


def test_manifest_lineage_counts_and_disjoint_splits(tmp_path, gold_day):
    episodes, observations = gold_day
    version, _ = publish(tmp_path, [DATE], episodes, observations, _landing(tmp_path))
    manifest = json.loads((version.path / "manifest.json").read_text())
    assert manifest["id"] == version.id and manifest["partitions"] == [DATE]
    assert manifest["inputs"]["landing"][0]["path"] == f"landing/date={DATE}/capture-000000.parquet"
    assert manifest["stage_versions"] == stage_versions() and {"silver.games", "gold.observations", "datasets.contents"} <= set(manifest["stage_versions"])
    counts = manifest["counts"]
    assert counts["episodes_total"] == episodes.height
    assert counts["episodes_excluded"] == episodes.filter(~pl.col("in_training")).height > 0
    assert counts["excluded_by_reason"] == {"completeness gapped": counts["episodes_excluded"]}
    stored = pl.read_parquet(version.path / "observations.parquet")
    stored_episodes = pl.read_parquet(version.path / "episodes.parquet")
    assert stored.schema == TABLES["dataset_observations"].schema and stored_episodes.schema == TABLES["dataset_episodes"].schema
    assert counts["rows"] == stored.height == sum(s["rows"] for s in counts["per_split"].values())
    games = {s: set(stored.filter(pl.col("split") == s)["game_id"]) for s in ("train", "val", "test")}
    assert games["train"] and not (games["train"] & games["val"] or games["train"] & games["test"] or games["val"] & games["test"])
    assert {s: set(g) for s, g in manifest["splits"]["games"].items()} == games
    assert set(stored_episodes.filter(pl.col("split") == "excluded")["game_id"]).isdisjoint(stored["game_id"])
    text = describe(version)
    assert version.id in text and str(version.path) in text and "completeness gapped" in text
    assert stored.select(pl.col("game_id"), pl.col("tick")).is_duplicated().sum() == 0
    assert stored.sort("partition", "game_id", "tick").equals(stored)


def test_split_assignment_is_a_pure_function_of_game_and_seed():
    games = [f"20251210-{i:016x}" for i in range(2000)]
    splits = [split_of(g, 0, (0.8, 0.1, 0.1)) for g in games]
    assert splits == [split_of(g, 0, (0.8, 0.1, 0.1)) for g in games]
    share = {s: splits.count(s) / len(games) for s in ("train", "val", "test")}
    assert 0.75 < share["train"] < 0.85 and 0.07 < share["val"] < 0.13 and 0.07 < share["test"] < 0.13
    assert splits != [split_of(g, 1, (0.8, 0.1, 0.1)) for g in games]
    frame = pl.DataFrame({"game_id": games[:5], "in_training": [True, True, False, True, True]})
    assert assign_splits(frame, 0, (0.8, 0.1, 0.1))["split"][2] == "excluded"


def test_dataset_id_depends_on_every_input():
    files = [{"path": "landing/date=2025-12-10/a.parquet", "sha256": "00"}]
    base = dataset_id(files, [DATE], DatasetParams(), code="c1")
    assert base == dataset_id(list(files), [DATE], DatasetParams(), code="c1")
    assert base != dataset_id([{**files[0], "sha256": "01"}], [DATE], DatasetParams(), code="c1")
    assert base != dataset_id(files, [DATE, "2025-12-11"], DatasetParams(), code="c1")
    assert base != dataset_id(files, [DATE], DatasetParams(), code="c2")
    assert base != dataset_id(files, [DATE], DatasetParams(split_fractions=(0.7, 0.2, 0.1)), code="c1")


def test_duckdb_datasets_view(tmp_path, gold_day):
    from vectra_pipeline import warehouse

    episodes, observations = gold_day
    with warehouse.connect(tmp_path) as con:
        assert con.execute("SELECT count(*) FROM datasets").fetchone() == (0,)
    first, _ = publish(tmp_path, [DATE], episodes, observations, _landing(tmp_path))
    second, _ = publish(tmp_path, [DATE], episodes, observations, _landing(tmp_path, b"other"))
    with warehouse.connect(tmp_path) as con:
        rows = con.execute("SELECT id, name, rows, episodes_total, train_episodes, landing_files, path FROM datasets ORDER BY id").fetchall()
    assert sorted(r[0] for r in rows) == sorted([first.id, second.id])
    for row in rows:
        assert row[1] == "player" and row[2] == first.manifest["counts"]["rows"] and row[3] == episodes.height
        assert row[4] == first.manifest["counts"]["per_split"]["train"]["episodes"] and row[5] == 1
        assert row[6] == f"datasets/player/{row[0]}"  # relative to the data root: a copied root reads its own


def test_two_partitions_stream_and_a_midnight_game_is_kept_once(tmp_path, gold_day):
    episodes, observations = gold_day
    games = episodes.filter(pl.col("in_training"))["game_id"].to_list()
    shared, only_second = games[0], games[1]
    second_day = "2025-12-11"
    # day 2 holds a short copy of `shared` (the end of a game that crossed midnight) and one game of its own
    short = observations.filter((pl.col("game_id") == shared) & (pl.col("tick") < 5)).with_columns(pl.lit(second_day).alias("partition"))
    own = observations.filter(pl.col("game_id") == only_second).with_columns(
        pl.lit("20251211-second-day").alias("game_id"), pl.lit(second_day).alias("partition"))
    second_episodes = pl.concat([
        episodes.filter(pl.col("game_id") == shared).with_columns(pl.lit(5, dtype=pl.Int32).alias("ticks"), pl.lit(second_day).alias("partition")),
        episodes.filter(pl.col("game_id") == only_second).with_columns(pl.lit("20251211-second-day").alias("game_id"), pl.lit(second_day).alias("partition")),
    ])
    by_day = {DATE: observations.lazy(), second_day: pl.concat([short, own]).lazy()}
    version, _ = publish(tmp_path, [DATE, second_day], pl.concat([episodes, second_episodes]), by_day, _landing(tmp_path))
    counts = version.manifest["counts"]
    assert counts["duplicate_episodes_dropped"] == 1 and counts["episodes_total"] == episodes.height + 1
    stored = pl.read_parquet(version.path / "observations.parquet")
    assert stored.sort("partition", "game_id", "tick").equals(stored)
    kept = stored.filter(pl.col("game_id") == shared)
    assert set(kept["partition"]) == {DATE} and kept.height == observations.filter(pl.col("game_id") == shared).height
    assert set(stored.filter(pl.col("partition") == second_day)["game_id"]) == {"20251211-second-day"}
    assert counts["rows"] == stored.height
