"""A version's episode rows read a run of games at a time (what the Minari export holds at once) are the rows read
whole: same order, same values, same derived ends — whatever order the file holds its rows in and however its row
groups cut them (the runs are picked by row-group statistics on ``game_id``)."""

from __future__ import annotations

import random
import shutil

import polars as pl
import pytest
from dataset_versions import contract_version, player_version
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from vectra_pipeline import storage
from vectra_pipeline.datasets.registry import games_of_split, load_version, read_observations
from vectra_pipeline.datasets.splits import SPLITS
from vectra_pipeline.envs.recorded import episode_row_batches, episode_rows


@pytest.fixture(scope="module")
def player(tmp_path_factory):
    return player_version(tmp_path_factory.mktemp("data"), 14, seed=11, gapped_every=5)[0]


@pytest.fixture(scope="module")
def crowd(player, tmp_path_factory):
    return contract_version(player, tmp_path_factory.mktemp("crowd") / "v", players=("p2", "p1", "p3"))


def _batched(version, split, games):
    batches = list(episode_row_batches(version, split, games))
    assert len(batches) == -(-len(games_of_split(version, split)) // games)  # one read per run, none empty
    assert all(not batch.is_empty() for batch in batches)
    return pl.concat(batches) if batches else None


@pytest.mark.parametrize("games", [1, 3, 1000])
@pytest.mark.parametrize("split", [None, *SPLITS])
def test_runs_of_games_read_the_rows_read_whole(player, crowd, split, games):
    for version in (player, crowd):
        whole = episode_rows(version, split)
        batched = _batched(version, split, games)
        if whole.is_empty():
            assert batched is None
        else:
            assert_frame_equal(batched, whole)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1), row_group=st.integers(1, 40), games=st.integers(1, 5))
def test_any_file_order_and_row_groups_give_the_same_runs(crowd, tmp_path_factory, seed, row_group, games):
    """A version spanning days holds its rows day after day (each day sorted by game): here any order at all, cut
    into row groups of 1–40 rows, so statistics pruning meets ranges that overlap."""
    folder = tmp_path_factory.mktemp("shuffled") / "v"
    shutil.copytree(crowd.path, folder)
    file = folder / storage.TABLES["dataset_observations"].file
    rows = pl.read_parquet(file)
    positions = list(range(rows.height))
    random.Random(seed).shuffle(positions)
    rows[positions].write_parquet(file, row_group_size=row_group, statistics=True)
    shuffled = load_version(folder)
    for split in SPLITS:
        assert_frame_equal(_batched(shuffled, split, games), episode_rows(crowd, split))
    assert_frame_equal(read_observations(shuffled, "train", games=[]), read_observations(crowd, "train").clear())
