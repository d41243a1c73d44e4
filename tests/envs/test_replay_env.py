"""``vectra/Replay-v0``: the Gymnasium checker with the env checker on, reproducible seeded resets, a clear error
after the end, start cash from the data, the recorded orders (kind and amount) paying the recorded rewards, recorded
fills, hostile actions, and a version that only follows the rows' contract."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import polars as pl
import pytest
from dataset_versions import DATE, contract_version, player_version
from gymnasium.error import ResetNeeded
from gymnasium.utils.env_checker import check_env
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vectra_pipeline import storage
from vectra_pipeline.datasets.registry import read_observations
from vectra_pipeline.envs import REPLAY_ENV_ID
from vectra_pipeline.envs.fills import FillModel
from vectra_pipeline.envs.replay import VectraReplayEnv
from vectra_pipeline.envs.spaces import action
from vectra_pipeline.gold.action_space import Action
from vectra_pipeline.gold.feature_spec import PLAYER_FEATURES


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    version, tables = player_version(tmp_path_factory.mktemp("data"), 24, seed=5, gapped_every=9)
    assert version.manifest["counts"]["per_split"]["test"]["episodes"] >= 2
    return version, tables


@pytest.fixture(scope="module")
def version(built):
    return built[0]


def _play(env, policy, episode: int | None = None, seed: int | None = None):
    """One episode: (start info, rewards, last info, terminated, truncated)."""
    options = None if episode is None else {"episode": episode}
    observation, start = env.reset(seed=seed, options=options)
    rewards, done = [], False
    while not done:
        assert env.observation_space.contains(observation)
        observation, reward, terminated, truncated, info = env.step(policy(observation))
        rewards.append(reward)
        done = terminated or truncated
    return start, rewards, info, terminated, truncated


def test_the_registered_env_passes_the_checker_and_seeds_reproduce_every_reset(version):
    env = gym.make(REPLAY_ENV_ID, dataset=version.path, split="test")
    assert "PassiveEnvChecker" in str(env)  # registered with the checker on
    check_env(env.unwrapped, skip_render_check=True)
    games = lambda: [env.reset(seed=11)[1]["game_id"], *(env.reset()[1]["game_id"] for _ in range(6))]  # noqa: E731
    first = games()
    assert first == games() and len(set(first)) > 1  # a seed fixes the whole sequence, which still varies


def test_step_after_the_end_or_before_a_reset_says_reset(version):
    env = VectraReplayEnv(version, split="test")
    with pytest.raises(ResetNeeded, match="reset"):
        env.step(action(Action.HOLD))
    _, rewards, info, terminated, truncated = _play(env, lambda _: action(Action.HOLD), episode=0)
    with pytest.raises(ResetNeeded, match=f"game {info['game_id']} is over"):
        env.step(action(Action.HOLD))
    env.reset(options={"episode": 0})
    env.step(action(Action.HOLD))  # a reset makes it steppable again


def test_a_missing_split_and_an_unknown_episode_are_one_clear_error(version, tmp_path):
    empty, _ = player_version(tmp_path, 6, seed=3, fractions=(1.0, 0.0, 0.0))
    with pytest.raises(ValueError, match=r"no 'test' episodes to replay \(episodes: .*train 6.*choose another split"):
        VectraReplayEnv(empty, split="test")
    env = VectraReplayEnv(version, split="test")
    with pytest.raises(ValueError, match="out of range"):
        env.reset(options={"episode": len(env.games)})
    with pytest.raises(ValueError, match=r"an action is \{'kind'"):
        env.reset(options={"episode": 0}) and env.step(3)
    with pytest.raises(ValueError, match="kind must be an integer"):
        env.step({"kind": 42, "amount": 0.0})


def test_start_cash_is_the_recorded_players_and_can_be_fixed(version):
    env = VectraReplayEnv(version, split="test")
    index = {name: i for i, name in enumerate(env.names)}
    observation, info = env.reset(options={"episode": 0})
    rows = read_observations(version, "test").filter(pl.col("game_id") == info["game_id"])
    recorded = rows.filter(pl.col("player_state_known") > 0)["equity"][0]
    assert observation[index["cash"]] == pytest.approx(recorded, rel=1e-6) and recorded != 10.0
    fixed = VectraReplayEnv(version, split="test", start_cash=2.5)
    assert fixed.reset(options={"episode": 0})[0][index["cash"]] == pytest.approx(2.5)


def test_the_recorded_orders_with_their_amounts_pay_the_recorded_rewards(tmp_path):
    """Same rules, once: the synthetic player trades by the protocol's rules at the tick price; replayed with its
    start cash and its recorded (kind, amount), every reward of the env equals the observation rows' reward."""
    version, tables = player_version(tmp_path, 21, seed=8, fractions=(0.0, 0.0, 1.0))
    env = VectraReplayEnv(version, split="test")
    amounts, replayed = set(), 0
    for episode, game in enumerate(env.games):
        rows = read_observations(version, "test").filter(pl.col("game_id") == game.game_id)
        recorded = rows.filter(pl.col("tick") < rows["tick"].max())
        first_known = recorded.filter(pl.col("player_state_known") > 0).row(0, named=True)
        if first_known["position_qty"] > 0:
            continue  # a presale position: an account of cash only cannot start there
        env.start_cash, replayed = first_known["cash"], replayed + 1
        env.reset(options={"episode": episode})
        for row in recorded.iter_rows(named=True):
            amount = row["action_amount"] or 0.0
            amounts.add(amount)
            _, reward, terminated, truncated, info = env.step(action(row["action"], amount))
            assert info["rejected"] is None, (game.game_id, row["tick"])
            if row["tick"] >= 1:  # the recorded account is known from tick 1 (its first playerUpdate follows frame 0)
                assert reward == pytest.approx(row["reward"], abs=1e-9), (game.game_id, row["tick"])
        assert terminated != truncated
    assert replayed >= 10, replayed
    assert len(amounts - {0.0}) >= 2, amounts  # sizes differ, and each one paid what the data says


def _rule(index):
    def policy(observation):
        holding = observation[index["position_qty"]] > 0
        if not holding and observation[index["return_5"]] > 0.02:
            return action(Action.BUY, 0.1)
        if holding and not -10 < observation[index["position_pnl_pct"]] < 20:
            return action(Action.SELL_100)
        if observation[index["game_tick"]] >= 30 and observation[index["sidebet_active"]] == 0:
            return action(Action.SIDEBET, 0.02)
        return action(Action.HOLD)
    return policy


def test_random_and_rule_policies_earn_exactly_their_equity_change(version):
    env = VectraReplayEnv(version, split="test")
    env.action_space.seed(0)
    policies = {"random": lambda _: env.action_space.sample(), "rule": _rule({n: i for i, n in enumerate(env.names)})}
    lengths = [len(game.ticks) for game in env.games]
    for name, policy in policies.items():
        totals = []
        for episode, length in enumerate(lengths):
            start, rewards, info, *_ = _play(env, policy, episode=episode, seed=episode)
            assert len(rewards) == length - 1
            assert sum(rewards) == pytest.approx(info["equity"] - start["equity"], abs=1e-9)
            totals.append(sum(rewards))
        assert any(total != 0 for total in totals), name


def test_recorded_fills_execute_later_at_that_ticks_price(built):
    version, tables = built
    model = FillModel.from_actions(tables["actions"])
    assert model.name == "recorded" and len(model.slippage_ticks) > 1
    delayed = FillModel("fixed", np.array([3, 3]), np.array([250.0, 250.0]))
    env = VectraReplayEnv(version, split="test", fill=delayed, start_cash=1.0)
    index = {name: i for i, name in enumerate(env.names)}
    observation, info = env.reset(options={"episode": 0})
    prices = env.games[0].prices
    observation, *_ = env.step(action(Action.BUY, 0.1))
    for _ in range(2):
        assert observation[index["position_qty"]] == 0  # sent, not executed yet
        observation, *_ = env.step(action(Action.HOLD))
    observation, *_ = env.step(action(Action.HOLD))  # executed at tick 3, at its price
    assert observation[index["position_qty"]] == pytest.approx(0.1 / prices[3], rel=1e-5)
    assert observation[index["last_slippage_ticks"]] == 3 and observation[index["last_ack_latency_ms"]] == 250
    with pytest.raises(ValueError, match="fill='instant'"):
        VectraReplayEnv(version, split="test", fill="recorded")  # the version's silver is not beside it here


def test_fill_recorded_draws_from_the_silver_orders_of_the_versions_days(tmp_path):
    version, tables = player_version(tmp_path, 12, seed=5)
    root = version.path.parents[2]
    actions = tables["actions"].with_columns(  # recorded delays of 0..4 ticks, each with its own ack latency
        (pl.int_range(pl.len()) % 5).cast(pl.Int32).alias("slippage_ticks"),
        ((pl.int_range(pl.len()) % 5) * 250.0 + 10).alias("ack_latency_ms"))
    storage.write_table(root, "actions", DATE, actions)
    env = VectraReplayEnv(version, split="test", fill="recorded")
    assert sorted(set(env.fills.slippage_ticks.tolist())) == [0, 1, 2, 3, 4]
    pairs = set(zip(env.fills.slippage_ticks.tolist(), env.fills.ack_latency_ms.tolist()))
    assert pairs == {(k, k * 250.0 + 10) for k in range(5)}  # a delay stays with its own order's latency
    index = {name: i for i, name in enumerate(env.names)}

    def delays(seed):
        env.reset(seed=seed, options={"episode": 0})
        seen = []
        for _ in range(12):
            observation, *_ = env.step(action(Action.BUY, 0.001))
            seen.append(observation[index["last_slippage_ticks"]])
        return seen

    assert delays(1) == delays(1) and len(set(delays(1))) > 1  # seeded, and drawn


def test_an_order_still_pending_at_the_end_is_refused_with_the_reason(version):
    env = VectraReplayEnv(version, split="test", fill=FillModel("late", np.array([10_000]), np.array([1.0])))
    _, _, info, terminated, _ = _play(env, lambda _: action(Action.BUY, 0.05), episode=0)
    assert "before the order executed" in info["rejected"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(0, 8), st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.floats(0, 6))),
                min_size=1, max_size=40))
def test_hostile_amounts_are_refused_like_the_server_refuses_them(version, orders):
    env = VectraReplayEnv(version, split="test")
    observation, start = env.reset(options={"episode": 0})
    total, steps = 0.0, 0
    for kind, amount in orders:
        observation, reward, terminated, truncated, info = env.step({"kind": kind, "amount": amount})
        assert np.isfinite(observation).all() and np.isfinite(reward)
        if kind in (Action.BUY, Action.SIDEBET, Action.SHORT_OPEN) and not 0.001 <= amount <= 5:
            assert info["rejected"], (kind, amount)
        total += reward
        steps += 1
        if terminated or truncated:
            break
    assert total == pytest.approx(info["equity"] - start["equity"], abs=1e-9)


def test_a_version_following_only_the_contract_replays(version, tmp_path):
    crowd = contract_version(version, tmp_path / "crowd")
    env = gym.make(REPLAY_ENV_ID, dataset=crowd.path, split="test")
    check_env(env.unwrapped, skip_render_check=True)
    assert not set(PLAYER_FEATURES) & set(env.unwrapped.names)
    _, start = env.reset(options={"episode": 0})
    assert start["equity"] == pytest.approx(10.0)  # no recorded account: a fresh practice account
    player = VectraReplayEnv(version, split="test")
    ends = [(g.game_id, g.terminated, len(g.ticks)) for g in player.games]
    assert [(g.game_id, g.terminated, len(g.ticks)) for g in env.unwrapped.games] == ends  # the rug read from phase_code
