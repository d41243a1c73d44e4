"""The Minari export adds a split's episodes a run of games at a time (memory: one run): every file it writes is
byte for byte the one a single run writes — episode numbering, metadata and totals included — for a player version
and a crowd-like one (several trajectories per game)."""

from __future__ import annotations

import hashlib
import shutil
from functools import partial

import pytest
from dataset_versions import contract_version, player_version

from vectra_pipeline.datasets.registry import load_version
from vectra_pipeline.envs.recorded import episode_row_batches
from vectra_pipeline.exports import minari as minari_export


def _hashes(folder):
    return {str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(folder.rglob("*")) if path.is_file()}


@pytest.fixture(scope="module")
def versions(tmp_path_factory):
    player = player_version(tmp_path_factory.mktemp("data"), 12, seed=7)[0]
    return {"player": player, "crowd": contract_version(player, tmp_path_factory.mktemp("crowd") / "v", players=("b", "a"))}


@pytest.mark.parametrize("kind", ["player", "crowd"])
def test_runs_of_one_or_two_games_write_the_files_one_run_writes(versions, kind, tmp_path, monkeypatch):
    exported = {}
    for games in (1, 2, 10_000):
        copy = tmp_path / f"{games}" / versions[kind].path.name
        shutil.copytree(versions[kind].path, copy, ignore=shutil.ignore_patterns("minari"))
        monkeypatch.setattr(minari_export, "episode_row_batches", partial(episode_row_batches, games_per_batch=games))
        exported[games] = _hashes(minari_export.export_minari(load_version(copy)))
    assert len(exported[10_000]) > 4  # metadata and at least one episode's files per split
    assert exported[1] == exported[10_000] and exported[2] == exported[10_000]
