"""The Minari export: per-version ids, episodes equal to the rows (kind and amount, float64 rewards, ``game_id`` in
``infos``), ``recover_environment()`` from ``MINARI_DATASETS_PATH`` alone, reference scores from the baselines, empty
splits said plainly, and any version following the rows' contract."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from dataset_versions import contract_version, player_version

from vectra_pipeline.datasets.registry import feature_names, read_observations
from vectra_pipeline.envs.baselines import evaluate_replay, reference_scores, scores_document, write_scores
from vectra_pipeline.envs.spaces import action
from vectra_pipeline.exports.minari import export_minari, load_minari, minari_id
from vectra_pipeline.gold.action_space import AMOUNT_ACTIONS, Action


@pytest.fixture(scope="module")
def version(tmp_path_factory):
    return player_version(tmp_path_factory.mktemp("data"), 18, seed=5, gapped_every=9)[0]


def test_episodes_equal_the_rows_with_kind_amount_float64_rewards_and_game_ids(version):
    root = export_minari(version)
    assert root == version.path / "minari" and export_minari(version) == root  # written once
    dataset = load_minari(version, "test")
    assert dataset.spec.dataset_id == f"vectra/player-test-{version.id}-v0" == minari_id(version, "test")
    rows = read_observations(version, "test")
    assert dataset.total_episodes == rows["game_id"].n_unique()
    assert dataset.total_steps == rows.filter(~pl.col("is_final")).height
    assert dataset.storage.metadata["dataset_size"] > 0
    staked = [int(a) for a in AMOUNT_ACTIONS]
    for episode, (_, expected) in zip(dataset.iterate_episodes(), rows.group_by("game_id", maintain_order=True)):
        assert np.array_equal(episode.observations, expected.select(feature_names(version)).to_numpy().astype(np.float32))
        steps = expected.filter(~pl.col("is_final"))
        assert np.array_equal(episode.actions["kind"], steps["action"].to_numpy())
        amounts = np.where(np.isin(steps["action"].to_numpy(), staked), steps["action_amount"].fill_null(0).to_numpy(), 0.0)
        assert np.array_equal(episode.actions["amount"], amounts)
        assert episode.rewards.dtype == np.float64 and np.array_equal(episode.rewards, steps["reward"].to_numpy())
        assert bool(episode.terminations[-1]) == bool(steps["terminated"][-1])
        assert list(episode.infos["game_id"]) == expected["game_id"].to_list()
        assert list(episode.infos["tick"]) == expected["tick"].to_list()


def test_recover_environment_from_minari_datasets_path_alone(version, monkeypatch, tmp_path):
    import minari

    export_minari(version)
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(version.path / "minari"))
    monkeypatch.setenv("VECTRA_DATA", str(tmp_path / "elsewhere"))  # found beside the Minari datasets, not here
    dataset = minari.load_dataset(minari_id(version, "train"))
    env = dataset.recover_environment()
    assert env.unwrapped.split == "train" and env.unwrapped.version.id == version.id
    assert env.observation_space == dataset.observation_space and env.action_space == dataset.action_space
    observation, info = env.reset(seed=0)
    assert dataset.observation_space.contains(observation)
    env.step(action(Action.BUY, 0.05))
    assert dataset.recover_environment(eval_env=True).unwrapped.split == "test"


def test_reference_scores_are_the_baselines_and_ids_differ_per_version(version, tmp_path):
    dataset = load_minari(version, "val")
    reference = reference_scores(evaluate_replay(version, "test"))
    assert reference[0] < reference[1]  # the baselines differ on these games
    assert (dataset.storage.metadata["ref_min_score"], dataset.storage.metadata["ref_max_score"]) == pytest.approx(reference)
    other, _ = player_version(tmp_path, 9, seed=6, fractions=(0.5, 0.25, 0.25))  # other parameters: another id
    assert other.id != version.id and minari_id(other, "val") != minari_id(version, "val")
    # scores recorded by `vectra evaluate` before the export are the ones it carries
    document = scores_document(other, "test", evaluate_replay(other, "test", seed=3), None, seed=3)
    document["replay"]["ref_min_score"], document["replay"]["ref_max_score"] = -1.5, 2.5
    write_scores(other, document)
    assert load_minari(other, "test").storage.metadata["ref_max_score"] == 2.5


def test_an_empty_split_is_one_clear_error_and_a_contract_version_exports(version, tmp_path):
    only_train, _ = player_version(tmp_path / "a", 5, seed=3, fractions=(1.0, 0.0, 0.0))
    with pytest.raises(ValueError, match=r"no 'test' episodes to load; splits with episodes: train$"):
        load_minari(only_train, "test")
    assert "ref_min_score" not in load_minari(only_train, "train").storage.metadata  # no test split to score on
    market = contract_version(version, tmp_path / "market")
    dataset = load_minari(market, "test")
    assert dataset.spec.dataset_id == f"vectra/market-test-{market.id}-v0"
    assert dataset.total_steps == load_minari(version, "test").total_steps
