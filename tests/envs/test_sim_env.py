"""``vectra/Sim-v0``: fresh provably-fair games under the replay env's observation spec, action space and rules —
the checker with the env checker on, seeds that reproduce every game, a revealed seed that reproduces the prices,
the rug settling the account, and the vector form stepping exactly like Gymnasium's own ``SyncVectorEnv``."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from dataset_versions import player_version
from gymnasium.utils.env_checker import check_env

from capture_agent.protocol.fairness import price_path, verify_seed
from vectra_pipeline.envs import SIM_ENV_ID
from vectra_pipeline.envs.replay import VectraReplayEnv
from vectra_pipeline.envs.sim import UNSIMULATED, VectraSimEnv
from vectra_pipeline.envs.spaces import action
from vectra_pipeline.gold.action_space import Action
from vectra_pipeline.gold.feature_spec import FEATURE_NAMES


def _episode(env, policy, seed=None):
    observation, start = env.reset(seed=seed)
    rewards, infos, done = [], [start], False
    while not done:
        observation, reward, terminated, truncated, info = env.step(policy(observation))
        rewards.append(reward)
        infos.append(info)
        done = terminated or truncated
    assert terminated and not truncated  # a generated game always reaches its rug
    return rewards, infos, observation


def test_the_registered_env_passes_the_checker_and_a_seed_fixes_every_game():
    env = gym.make(SIM_ENV_ID)
    assert "PassiveEnvChecker" in str(env)
    check_env(env.unwrapped, skip_render_check=True)

    def games(seed):
        first = [env.reset(seed=seed)[1]["game_id"]]
        return first + [env.reset()[1]["game_id"] for _ in range(20)]

    assert games(4) == games(4) and games(4) != games(5) and len(set(games(4))) == 21


def test_a_revealed_seed_reproduces_the_prices_and_the_rug_settles_the_account():
    env = VectraSimEnv()
    index = {name: i for i, name in enumerate(env.names)}
    buy_early = lambda obs: action(Action.BUY, 0.2) if obs[index["game_tick"]] < 3 else action(Action.HOLD)  # noqa: E731
    rugs = []
    for seed in range(12):
        rewards, infos, last = _episode(env, buy_early, seed=seed)
        game = env._agents.desks[0].game
        assert verify_seed(infos[-1]["server_seed"], infos[0]["server_seed_hash"])
        assert game.prices[:-1].tolist() == list(price_path(infos[-1]["server_seed"], infos[0]["game_id"]).prices)
        assert game.prices[-1] < game.prices[-2]  # the rug remainder
        assert sum(rewards) == pytest.approx(infos[-1]["equity"] - infos[0]["equity"], abs=1e-9)
        assert last[index["position_qty"]] == 0 and last[index["cash"]] == pytest.approx(infos[-1]["equity"])  # liquidated
        rugs.append(len(game.ticks) - 1)
    assert len(set(rugs)) > 6  # rug ticks vary the way the real distribution does


def test_it_observes_a_versions_features_and_leaves_the_crowd_at_zero(tmp_path):
    version, _ = player_version(tmp_path, 8, seed=2)
    sim, replay = VectraSimEnv(dataset=version.path), VectraReplayEnv(version, split="train")
    assert sim.names == replay.names and sim.observation_space == replay.observation_space
    assert sim.action_space == replay.action_space
    assert VectraSimEnv().names == list(FEATURE_NAMES)
    observations = np.array([_episode(sim, lambda _: action(Action.HOLD), seed=seed)[2] for seed in range(3)])
    crowd = [sim.names.index(name) for name in UNSIMULATED if name in sim.names]
    assert crowd and (observations[:, crowd] == 0).all()
    prices = sim.names.index("price")
    assert (observations[:, prices] > 0).all()


def test_the_vector_form_steps_exactly_like_a_sync_vector_of_single_envs():
    n, steps = 4, 400
    fast = gym.make_vec(SIM_ENV_ID, num_envs=n)
    sync = gym.make_vec(SIM_ENV_ID, num_envs=n, vectorization_mode="sync")
    assert fast.observation_space == sync.observation_space and fast.action_space == sync.action_space
    fast.action_space.seed(9)
    first_fast, _ = fast.reset(seed=21)
    first_sync, _ = sync.reset(seed=21)
    assert np.array_equal(first_fast, first_sync)
    ended = 0
    for _ in range(steps):
        actions = fast.action_space.sample()
        a, b = fast.step(actions), sync.step(actions)
        for mine, theirs in zip(a[:4], b[:4]):
            assert np.array_equal(mine, theirs)
        assert list(a[4]["game_id"]) == list(b[4]["game_id"])
        ended += int(a[2].sum())
    assert ended >= n  # sub-environments ended games and autoreset into new ones
