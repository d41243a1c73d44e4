"""Exports: numpy transitions, Minari round-trip, the replay environment with a random and a rule-based policy."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from vectra_pipeline.datasets.contents import DatasetParams
from vectra_pipeline.datasets.publish import publish
from vectra_pipeline.datasets.registry import read_observations
from vectra_pipeline.envs import REPLAY_ENV_ID as ENV_ID
from vectra_pipeline.envs.replay import VectraReplayEnv
from vectra_pipeline.exports.minari import export_minari, load_minari
from vectra_pipeline.exports.numpy import iterate_batches, load_transitions
from vectra_pipeline.gold.action_space import Action
from vectra_pipeline.gold.feature_spec import FEATURE_NAMES, PLAYER_FEATURES
from vectra_pipeline.gold.lookahead import gold_from_silver
from vectra_pipeline.synthetic import synthetic_silver

DATE = "2025-12-10"


@pytest.fixture(scope="module")
def version(tmp_path_factory):
    tables = synthetic_silver(40, seed=5, gapped_every=9)
    episodes, observations = gold_from_silver(tables)
    tag = pl.lit(DATE).alias("partition")
    data = tmp_path_factory.mktemp("data")
    built, _ = publish(data, [DATE], episodes.with_columns(tag), observations.with_columns(tag),
                             [{"path": "landing/x.parquet", "bytes": 1, "sha256": "ab"}], DatasetParams(split_fractions=(0.6, 0.2, 0.2)))
    assert built.manifest["counts"]["per_split"]["test"]["episodes"] >= 2
    return built


def test_numpy_loader(version):
    transitions = load_transitions(version, "train")
    rows = read_observations(version, "train")
    assert len(transitions) == rows.filter(~pl.col("is_final")).height
    observations, actions, rewards, next_observations, dones = transitions.as_tuple()
    assert observations.dtype == np.float32 and observations.shape[1] == len(FEATURE_NAMES)
    assert np.isfinite(observations).all() and np.isfinite(rewards).all()
    # next observation = the following tick of the same game
    same_game = transitions.game_ids[:-1] == transitions.game_ids[1:]
    assert np.array_equal(next_observations[:-1][same_game & ~dones[:-1]], observations[1:][same_game & ~dones[:-1]])
    assert dones.sum() == rows["game_id"].n_unique()
    seen = sum(len(batch[0]) for batch in iterate_batches(transitions, 256, seed=1))
    assert seen == len(transitions)


def test_minari_round_trip(version):
    root = export_minari(version)
    assert root == version.path / "minari" and export_minari(version) == root  # written once
    dataset = load_minari(version, "test")
    rows = read_observations(version, "test")
    assert dataset.total_episodes == rows["game_id"].n_unique()
    assert dataset.total_steps == rows.filter(~pl.col("is_final")).height
    assert dataset.storage.metadata["dataset_size"] > 0  # measured once after writing (see export_minari)
    for episode, (_, expected) in zip(dataset.iterate_episodes(), rows.group_by("game_id", maintain_order=True)):
        assert np.array_equal(episode.observations, expected.select(FEATURE_NAMES).to_numpy().astype(np.float32))
        steps = expected.filter(~pl.col("is_final"))
        assert np.array_equal(episode.actions, steps["action"].to_numpy())
        assert np.allclose(episode.rewards, steps["reward"].to_numpy())
        assert bool(episode.terminations[-1]) == bool(steps["terminated"][-1])
        assert list(episode.infos["tick"]) == expected["tick"].to_list()


def _rule_policy(observation: np.ndarray, index: dict[str, int]) -> int:
    """Buy when flat and the last 5 ticks rose; take profit at +20 % or cut at −10 %; sidebet after tick 30."""
    holding = observation[index["position_qty"]] > 0
    if not holding and observation[index["return_5"]] > 0.02:
        return Action.BUY
    if holding and not -10 < observation[index["position_pnl_pct"]] < 20:
        return Action.SELL_100
    if observation[index["game_tick"]] >= 30 and observation[index["sidebet_active"]] == 0:
        return Action.SIDEBET
    return Action.HOLD


def test_env_random_and_rule_policies_over_every_test_episode(version):
    env = VectraReplayEnv(version, split="test")
    index = {name: i for i, name in enumerate(env.names)}
    assert set(PLAYER_FEATURES) <= set(env.names)
    env.action_space.seed(0)
    rows = read_observations(version, "test")
    lengths = rows.group_by("game_id", maintain_order=True).agg(pl.len())["len"].to_list()
    for policy in ("random", "rule"):
        totals = []
        for episode, length in enumerate(lengths):
            observation, info = env.reset(seed=episode, options={"episode": episode})
            start_equity, steps, total = info["equity"], 0, 0.0
            done = False
            while not done:
                assert env.observation_space.contains(observation)
                action = env.action_space.sample() if policy == "random" else _rule_policy(observation, index)
                observation, reward, terminated, truncated, info = env.step(action)
                total += reward
                steps += 1
                done = terminated or truncated
            assert steps == length - 1
            assert total == pytest.approx(info["equity"] - start_equity, abs=1e-9)  # rewards add up to the equity change
            totals.append(total)
        assert any(t != 0 for t in totals), policy


def test_env_recorded_market_and_reward_rules(version):
    env = VectraReplayEnv(version, split="test")
    index = {name: i for i, name in enumerate(env.names)}
    observation, info = env.reset(options={"episode": 0})
    rows = read_observations(version, "test").filter(pl.col("game_id") == info["game_id"]).sort("tick")
    market = [i for name, i in index.items() if name not in PLAYER_FEATURES]
    assert np.array_equal(observation[market], rows.select(FEATURE_NAMES).to_numpy().astype(np.float32)[0, market])
    assert observation[index["cash"]] == pytest.approx(10.0) and observation[index["equity"]] == pytest.approx(10.0)
    prices = rows["price"].to_list()
    observation, reward, *_ = env.step(Action.BUY)  # 0.05 SOL at tick 0's price, marked at tick 1
    qty = observation[index["position_qty"]]
    assert reward == pytest.approx(qty * (prices[1] - prices[0]), abs=1e-6)
    _, _, _, _, info = env.step(Action.SHORT_CLOSE)  # nothing to close: refused, a hold
    assert info["rejected"]
    gym_env = __import__("gymnasium").make(ENV_ID, dataset=version.path, split="test")
    assert gym_env.reset(options={"episode": 0})[0].shape == (len(FEATURE_NAMES),)


def test_env_passes_the_gymnasium_checker(version):
    from gymnasium.utils.env_checker import check_env

    env = VectraReplayEnv(version, split="test")
    check_env(env, skip_render_check=True)
    first = env.reset(seed=7)[0]
    assert np.array_equal(first, env.reset(seed=7)[0])  # a seed picks the same episode


def test_env_replaying_the_recorded_orders_pays_the_recorded_rewards(tmp_path):
    """Same rules: the synthetic player trades with the simulator's rules at the tick price, as the env does; with the
    same start cash and the recorded actions, every reward of the env equals the observations' reward."""
    tables = synthetic_silver(21, seed=8)
    episodes, observations = gold_from_silver(tables)
    tag = pl.lit(DATE).alias("partition")
    version, _ = publish(tmp_path, [DATE], episodes.with_columns(tag), observations.with_columns(tag), [],
                               DatasetParams(split_fractions=(0.0, 0.0, 1.0)))  # every game in "test"
    games = tables["games"]["game_id"].to_list()
    # games 10 and 20 of the generator: a 0.05 SOL buy (the env's bet), a 0.01 sidebet, no short, no presale buy
    for game_id in (games[10], games[20]):
        rows = read_observations(version, "test").filter(pl.col("game_id") == game_id).sort("tick")
        start_cash = rows.filter(pl.col("player_state_known") > 0)["cash"][0]
        env = VectraReplayEnv(version, split="test", bet_amount=0.05, sidebet_amount=0.01, start_cash=start_cash)
        episode = next(i for i, e in enumerate(env.episodes) if e["game_id"] == game_id)
        env.reset(options={"episode": episode})
        recorded = rows.filter(~pl.col("is_final"))
        assert set(recorded["action"].to_list()) >= {Action.BUY, Action.SIDEBET, Action.SELL_50, Action.SELL_100}
        for row in recorded.iter_rows(named=True):
            _, reward, terminated, truncated, info = env.step(row["action"])
            assert info["rejected"] is None, row["tick"]
            if row["tick"] >= 1:  # the recorded state is known from tick 1 (its first playerUpdate follows frame 0)
                assert reward == pytest.approx(row["reward"], abs=1e-9), row["tick"]
        assert terminated and not truncated
