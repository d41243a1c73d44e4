"""The numpy loader: transitions with the action's kind and amount, float64 rewards (the dtype of the rows, Minari
and the envs), next observations of the same game, and any version following the rows' contract."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from dataset_versions import contract_version, player_version

from vectra_pipeline.datasets.registry import feature_names, read_observations
from vectra_pipeline.exports.numpy import iterate_batches, load_transitions
from vectra_pipeline.gold.action_space import AMOUNT_ACTIONS, Action


@pytest.fixture(scope="module")
def version(tmp_path_factory):
    return player_version(tmp_path_factory.mktemp("data"), 24, seed=5, gapped_every=9)[0]


def test_transitions_carry_kind_amount_and_float64_rewards(version):
    transitions = load_transitions(version, "train")
    rows = read_observations(version, "train")
    steps = rows.filter(~pl.col("is_final"))
    assert len(transitions) == steps.height
    observations, actions, rewards, next_observations, dones = transitions.as_tuple()
    assert observations.dtype == np.float32 and observations.shape[1] == len(feature_names(version))
    assert rewards.dtype == np.float64 and np.array_equal(rewards, steps["reward"].to_numpy())
    assert actions["kind"].dtype == np.int64 and actions["amount"].dtype == np.float64
    assert np.array_equal(actions["kind"], steps["action"].to_numpy())
    staked = np.isin(actions["kind"], [int(a) for a in AMOUNT_ACTIONS])
    assert np.array_equal(actions["amount"][staked], steps["action_amount"].to_numpy()[staked])
    assert len(np.unique(actions["amount"][actions["kind"] == Action.BUY])) >= 2  # buys keep their size
    assert (actions["amount"][~staked] == 0).all()  # a sell's size is in its kind
    same_game = transitions.game_ids[:-1] == transitions.game_ids[1:]
    follows = same_game & ~dones[:-1]
    assert np.array_equal(next_observations[:-1][follows], observations[1:][follows])
    assert dones.sum() == rows["game_id"].n_unique() and (transitions.terminals <= dones).all()
    batches = list(iterate_batches(transitions, 256, seed=1))
    assert sum(len(batch[2]) for batch in batches) == len(transitions)
    assert all(len(batch[1]["kind"]) == len(batch[1]["amount"]) == len(batch[0]) for batch in batches)


def test_a_version_following_only_the_contract_loads_the_same_transitions(version, tmp_path):
    crowd = contract_version(version, tmp_path / "crowd")
    player, contract = load_transitions(version, None), load_transitions(crowd, None)
    assert np.array_equal(contract.rewards, player.rewards) and np.array_equal(contract.terminals, player.terminals)
    assert np.array_equal(contract.dones, player.dones)  # terminated/truncated derived from the rug frame
    for key in ("kind", "amount"):
        assert np.array_equal(contract.actions[key], player.actions[key])
