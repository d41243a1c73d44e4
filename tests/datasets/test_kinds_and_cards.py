"""Dataset kinds, their cards and ``vectra datasets``: each kind lands in ``<data>/datasets/<kind>/<id>/`` with a
card whose statistics are those of its train rows; the command lists versions by kind, shows one (with part B's
``scores.json`` when present), and a damaged version neither hides the others nor prints a traceback."""

from __future__ import annotations

import json
import shutil

import numpy as np
import polars as pl
import pytest

from capture_agent.cli import main
from vectra_pipeline.datasets.contents import DatasetParams
from vectra_pipeline.datasets.kinds import KINDS
from vectra_pipeline.datasets.publish import publish
from vectra_pipeline.datasets.registry import latest_dataset, read_episodes, read_observations
from vectra_pipeline.datasets.splits import SPLITS
from vectra_pipeline.gold.lookahead import gold_tables
from vectra_pipeline.synthetic import synthetic_silver

DATE = "2025-12-10"
LANDING = [{"path": "landing/x.parquet", "bytes": 1, "sha256": "ab"}]


def _publish(root, gold: dict, kind: str, games: list[str] | None = None):
    spec = KINDS[kind]
    episodes, rows = gold[spec.episodes], gold[spec.observations]
    if games is not None:
        episodes = episodes.filter(pl.col("game_id").is_in(games))
    tag = pl.lit(DATE).alias("partition")
    return publish(root, [DATE], episodes.with_columns(tag), rows.with_columns(tag), LANDING, DatasetParams(kind=kind))[0]


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    root = tmp_path_factory.mktemp("kinds")
    gold = gold_tables(synthetic_silver(12, seed=4))
    # synthetic silver has no frames, so no boards: the crowd kind is tested on the simulator (tests/gold/test_gold_crowd.py)
    return root, gold, {kind: _publish(root, gold, kind) for kind in ("player", "market")}


def test_each_kind_lands_in_its_folder_with_its_own_rows(published):
    root, gold, versions = published
    for kind, version in versions.items():
        assert version.path == root / "datasets" / kind / version.id and version.kind == kind
        assert latest_dataset(root, kind).id == version.id
        rows = read_observations(version)
        assert list(version.manifest["feature_spec"]["features"]) == list(KINDS[kind].features)
        assert set(rows["split"]) == set(SPLITS)  # 12 games: every split has some
        assert set(read_episodes(version).filter(pl.col("split") != "excluded")["game_id"]) == set(rows["game_id"])
    market = read_observations(versions["market"])
    assert (market.filter(~pl.col("is_final"))["action"] == 0).all() and market["action_amount"].null_count() == market.height
    player = read_episodes(versions["player"])
    assert player.filter(pl.col("split") != "excluded")["player_id"].null_count() == 0


def test_the_card_holds_the_train_statistics_and_how_to_load(published):
    _, _, versions = published
    for kind, version in versions.items():
        card = (version.path / "README.md").read_text()
        rows = read_observations(version, "train")
        stats = version.manifest["feature_stats"]
        assert set(stats) == set(KINDS[kind].features)
        for feature in KINDS[kind].features:
            values = rows[feature].cast(pl.Float64).to_numpy()
            expected = {"mean": values.mean(), "std": values.std(), "min": values.min(), "max": values.max()}
            for name, value in expected.items():
                assert stats[feature][name] == pytest.approx(value, rel=1e-9, abs=1e-9), (kind, feature, name)
            assert f"| {feature} |" in card
        returns = rows.filter(~pl.col("is_final")).group_by("game_id").agg(pl.col("reward").sum())["reward"].to_numpy()
        summary = version.manifest["episode_returns"]["train"]
        assert summary["episodes"] == len(returns) and summary["median"] == pytest.approx(float(np.median(returns)), abs=1e-12)
        counts = version.manifest["counts"]
        assert f"{counts['rows']:,} observation rows" in card and KINDS[kind].reward in card
        assert 'load_dataset("parquet"' in card and "pl.read_parquet" in card and f"datasets/{kind}/{version.id}" in card
        assert ("load_minari" in card) is (kind == "player")


def test_a_version_of_two_games_says_its_splits_are_empty(published, tmp_path):
    _, gold, _ = published
    two = gold["episodes"].filter(pl.col("in_training"))["game_id"].head(2).to_list()
    version = _publish(tmp_path, gold, "player", two)
    note = version.manifest["counts"]["splits_note"]
    assert note.startswith("only 2 games eligible") and note in (version.path / "README.md").read_text()
    assert sum(version.manifest["counts"]["per_split"][s]["episodes"] > 0 for s in SPLITS) <= 2


def test_vectra_datasets_lists_by_kind_and_shows_one(published, tmp_path, capsys):
    root, _, versions = published
    data = tmp_path / "data"
    shutil.copytree(root, data)
    assert main(["datasets", "--data", str(data)]) == 0
    listed = capsys.readouterr().out
    assert "player: 1 version" in listed and "market: 1 version" in listed
    for version in versions.values():
        assert f"{version.id}  {DATE}" in listed and "(latest)" in listed
    player = versions["player"]
    assert main(["datasets", "show", player.id[:6], "--data", str(data)]) == 0
    shown = capsys.readouterr().out
    assert f"# Vectra player dataset `{player.id}`" in shown and "Reference scores" not in shown
    (data / "datasets" / "player" / player.id / "scores.json").write_text(json.dumps({"test": {"hold": 0.0, "random": -0.12}}))
    assert main(["datasets", "show", player.id, "--data", str(data)]) == 0
    assert '"random": -0.12' in capsys.readouterr().out
    # one damaged version: still listed around, reported in one line, never a traceback
    damaged = data / "datasets" / "market" / ("f" * 16)
    shutil.copytree(versions["market"].path, damaged)
    (damaged / "manifest.json").write_text("{ not json")
    assert main(["datasets", "--kind", "market", "--data", str(data)]) == 0
    out = capsys.readouterr().out
    assert f"{'f' * 16}  unreadable manifest" in out and versions["market"].id in out and "player:" not in out
    assert main(["datasets", "show", "f" * 6, "--data", str(data)]) == 2
    error = capsys.readouterr().err
    assert "damaged" in error and "Traceback" not in error and len(error.strip().splitlines()) == 1
    assert main(["datasets", "show", "0123456789", "--data", str(data)]) == 2
    assert "no dataset version '0123456789'" in capsys.readouterr().err
    assert main(["datasets", "--kind", "crowdx", "--data", str(data)]) == 2
    assert "unknown dataset kind" in capsys.readouterr().err
