"""A first short session is a normal outcome: 12 s of the live-speed simulator (no complete game yet), then
``vectra build`` on a fresh data root exits 0, says there is nothing to train on yet and publishes no player
dataset (the market kind may hold the history-only games the connect snapshot showed)."""

from __future__ import annotations

import os
import subprocess
import sys

import polars as pl

from vectra_pipeline.datasets.contents import NOTHING_TO_TRAIN


def _vectra(*args: str, env: dict, timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "capture_agent.cli", *args], capture_output=True, text=True, env=env, timeout=timeout)


def test_a_12_second_first_session_builds_with_nothing_to_train_on(tmp_path):
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    env.pop("VECTRA_DEBUG", None)
    data_dir = tmp_path / "data"
    capture = _vectra("capture", "--source", "simulator", "--duration", "12", "--no-status", "--data", str(data_dir), env=env, timeout=120)
    assert capture.returncode == 0, capture.stderr
    build = _vectra("build", "--data", str(data_dir), env=env, timeout=900)
    assert build.returncode == 0, build.stdout + build.stderr
    assert build.stderr == "" and "Traceback" not in build.stdout
    lines = build.stdout.splitlines()
    said = [line for line in lines if NOTHING_TO_TRAIN in line]
    kinds = [line.split(":")[0] for line in said]
    assert "player" in kinds and len(kinds) == len(set(kinds)), lines  # once per kind with nothing to train on
    assert not [line for line in lines if line.startswith("failed")]
    assert not list((data_dir / "datasets" / "player").glob("*/manifest.json")), "a dataset version was published for nothing"
    episodes = pl.read_parquet(next((data_dir / "gold" / "episodes").glob("date=*/part.parquet")))
    assert not episodes["in_training"].any()


def test_no_training_episode_is_no_version_and_empty_splits_export_nothing(tmp_path):
    """The publish decision says why, and a version built anyway (a library caller) exports and loads empty."""
    from vectra_pipeline.datasets.contents import DatasetParams, reason_not_to_publish
    from vectra_pipeline.datasets.publish import publish
    from vectra_pipeline.exports.minari import export_minari
    from vectra_pipeline.exports.numpy import load_transitions
    from vectra_pipeline.gold.lookahead import gold_from_silver
    from vectra_pipeline.gold.policy import EpisodePolicy
    from vectra_pipeline.synthetic import synthetic_silver

    tables = synthetic_silver(6, seed=3)
    episodes, observations = gold_from_silver(tables)
    tag = pl.lit("2025-12-10").alias("partition")
    episodes, observations = episodes.with_columns(tag), observations.with_columns(tag)
    assert reason_not_to_publish(episodes) is None  # complete synthetic games: publish
    nothing = DatasetParams(policy=EpisodePolicy(frozenset({"gapped"})))
    assert reason_not_to_publish(episodes, nothing).startswith(NOTHING_TO_TRAIN)
    assert reason_not_to_publish(episodes.head(0)).startswith(f"{NOTHING_TO_TRAIN} (0 episodes")
    version, created = publish(tmp_path, ["2025-12-10"], episodes, observations, [], nothing)
    assert created and version.manifest["counts"]["rows"] == 0
    root = export_minari(version)
    assert root.is_dir() and not any(root.iterdir())
    assert len(load_transitions(version, "train")) == 0
