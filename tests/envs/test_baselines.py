"""Baselines: the games played side by side pay exactly what the environments pay one by one, hold scores 0, a
split played a run of games at a time scores bit for bit what all its games side by side score (the random policy's
draws included), policies played in one ledger score what each alone scores, and a policy that cannot read the
observation is skipped with the reason."""

from __future__ import annotations

import numpy as np
import pytest
from baselines_kit import play_games_by_desk
from dataset_versions import contract_version, player_version
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vectra_pipeline.envs.baselines import (
    POLICIES,
    Score,
    baseline,
    evaluate_replay,
    evaluate_sim,
    make_policy,
    play_games,
)
from vectra_pipeline.envs.replay import VectraReplayEnv
from vectra_pipeline.envs.sim import VectraSimEnv


def _one_by_one(env, policy, resets) -> list[float]:
    totals = []
    for reset in resets:
        observation, _ = env.reset(**reset)
        total, done = 0.0, False
        while not done:
            observation, reward, terminated, truncated, _ = env.step(policy(observation))
            total, done = total + reward, terminated or truncated
        totals.append(total)
    return totals


@pytest.fixture(scope="module")
def version(tmp_path_factory):
    return player_version(tmp_path_factory.mktemp("data"), 30, seed=7, fractions=(0.4, 0.2, 0.4))[0]


def test_side_by_side_returns_equal_the_replay_envs(version):
    env = VectraReplayEnv(version, split="test")
    policy = make_policy("rule", env.names, seed=0)
    expected = _one_by_one(env, policy, [{"options": {"episode": i}} for i in range(len(env.games))])
    steps = np.array([len(game.ticks) - 1 for game in env.games])
    assert np.array_equal(play_games(env.names, env.games, baseline("rule", env.names, 0, steps)), expected)
    assert any(expected)  # the rule traded
    scores = evaluate_replay(version, "test").scores
    assert scores["rule"].mean == pytest.approx(np.mean(expected), abs=1e-12)
    assert scores["hold"].mean == scores["hold"].min == scores["hold"].max == 0.0
    assert scores["random"].std > 0 and scores["random"].episodes == len(env.games)  # it trades, each game its own way


def test_side_by_side_returns_equal_the_sim_envs_first_games():
    env = VectraSimEnv()
    policy = make_policy("rule", env.names, seed=0)
    expected = _one_by_one(env, policy, [{"seed": 3}] + [{}] * 9)
    assert evaluate_sim(10, ["rule"], seed=3).scores["rule"].mean == pytest.approx(np.mean(expected), abs=1e-12)
    assert evaluate_sim(10, seed=3) == evaluate_sim(10, seed=3)  # reproducible, random policy included
    with pytest.raises(ValueError, match="at least 1"):
        evaluate_sim(0)


def test_a_policy_that_cannot_read_the_observation_is_skipped_with_the_reason(version, tmp_path):
    crowd = contract_version(version, tmp_path / "crowd")
    evaluation = evaluate_replay(crowd, "test")
    assert set(evaluation.scores) == {"hold", "random"}
    assert "position_qty" in evaluation.skipped["rule"]


def _all_side_by_side(version, seed: int) -> dict[str, Score]:
    """The scores of every test game played at once on the environments' accounts, one desk per game (the reference
    the vectorised ledger replaced), the random policy drawing from one generator."""
    env = VectraReplayEnv(version, split="test")
    scores = {}
    for name in POLICIES:
        returns = play_games_by_desk(env.names, env.games, make_policy(name, env.names, seed), seed=seed)
        scores[name] = Score(name, len(returns), float(returns.mean()), float(returns.std()), float(returns.min()),
                             float(returns.max()))
    return scores


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(games_per_run=st.integers(1, 12), seed=st.integers(0, 2**32 - 1))
def test_runs_of_games_score_bit_for_bit_what_all_games_at_once_score(version, games_per_run, seed):
    assert len(VectraReplayEnv(version, split="test").games) == 11  # so 1…12 cuts into runs of one, some and all
    scores = evaluate_replay(version, "test", seed=seed, games_per_run=games_per_run).scores
    assert scores == _all_side_by_side(version, seed)  # exact float equality, every field
    assert scores["random"].std > 0


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(policies=st.permutations(POLICIES).flatmap(lambda order: st.integers(1, 3).map(lambda n: tuple(order[:n]))),
       games_per_run=st.integers(1, 12), seed=st.integers(0, 2**32 - 1))
def test_policies_played_in_one_ledger_score_bit_for_bit_what_each_alone_scores(version, policies, games_per_run, seed):
    together = evaluate_replay(version, "test", policies, seed=seed, games_per_run=games_per_run).scores
    alone = {name: evaluate_replay(version, "test", (name,), seed=seed, games_per_run=games_per_run).scores[name]
             for name in policies}
    assert together == alone and list(together) == list(policies)  # exact float equality, every field


def test_a_crowd_like_split_scores_the_same_whatever_the_runs(version, tmp_path):
    crowd = contract_version(version, tmp_path / "crowd", players=("b", "a", "c"))  # several trajectories a game
    one, few, whole = (evaluate_replay(crowd, "test", seed=4, games_per_run=n) for n in (1, 5, 10_000))
    assert one == few == whole and whole.scores["random"].episodes == 3 * 11
