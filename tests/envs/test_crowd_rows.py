"""A version with several trajectories per game (``player_id``, the crowd kind) is read as one episode per player
in a game by the replay env, the numpy loader and the Minari export — never as one merged game."""

from __future__ import annotations

import numpy as np
import pytest
from dataset_versions import contract_version, player_version

from vectra_pipeline.envs.replay import VectraReplayEnv
from vectra_pipeline.envs.spaces import action
from vectra_pipeline.exports.minari import load_minari
from vectra_pipeline.exports.numpy import load_transitions
from vectra_pipeline.gold.action_space import Action


@pytest.fixture(scope="module")
def versions(tmp_path_factory):
    data = tmp_path_factory.mktemp("data")
    player, _ = player_version(data, 12, seed=9)
    return player, contract_version(player, data / "crowd", players=("alice", "bob"))


def test_the_replay_env_has_one_episode_per_player_in_a_game(versions):
    player, crowd = versions
    solo, env = VectraReplayEnv(player, split="test"), VectraReplayEnv(crowd, split="test")
    assert len(env.games) == 2 * len(solo.games)
    assert [(g.game_id, g.player_id) for g in env.games[:2]] == [(solo.games[0].game_id, "alice"), (solo.games[0].game_id, "bob")]
    for mine, theirs in zip(env.games[::2], solo.games):
        assert np.array_equal(mine.ticks, theirs.ticks) and mine.terminated == theirs.terminated
    _, info = env.reset(options={"episode": 1})
    assert info["player_id"] == "bob" and info["game_id"] == solo.games[0].game_id
    steps, done = 0, False
    while not done:
        _, _, terminated, truncated, info = env.step(action(Action.HOLD))
        steps, done = steps + 1, terminated or truncated
    assert steps == len(solo.games[0].ticks) - 1 and info["player_id"] == "bob"


def test_numpy_and_minari_keep_each_players_transitions_apart(versions):
    player, crowd = versions
    solo, both = load_transitions(player, "test"), load_transitions(crowd, "test")
    assert len(both) == 2 * len(solo) and both.dones.sum() == 2 * solo.dones.sum()
    ends = both.game_ids[both.dones]  # each game ends twice in a row: alice's episode, then bob's
    assert list(ends[::2]) == list(ends[1::2]) == list(solo.game_ids[solo.dones])
    alice = np.concatenate([[True], both.dones[:-1]]).cumsum() % 2 == 1  # episodes alternate alice, bob
    assert np.array_equal(both.rewards[alice], solo.rewards) and np.array_equal(both.rewards[~alice], -solo.rewards)
    dataset = load_minari(crowd, "test")
    assert dataset.total_episodes == 2 * load_minari(player, "test").total_episodes
    episodes = list(dataset.iterate_episodes())
    assert [set(e.infos["player_id"]) for e in episodes[:2]] == [{"alice"}, {"bob"}]
    assert np.array_equal(episodes[1].rewards, -episodes[0].rewards)
    assert (episodes[1].actions["kind"] == 0).all()
