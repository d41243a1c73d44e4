"""Splits by game: deterministic, order-free, every split with a positive fraction non-empty from 3 eligible games
on, and said so below that; a large dataset is split by the plain hash rule (nothing moves)."""

from __future__ import annotations

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from vectra_pipeline.datasets.splits import EXCLUDED, SPLITS, assign_splits, split_games, split_of, splits_note

game_ids = st.lists(st.text(min_size=1, max_size=24), min_size=0, max_size=40, unique=True)
fractions = st.tuples(st.integers(1, 98), st.integers(1, 98)).filter(lambda p: p[0] + p[1] < 100).map(
    lambda p: (p[0] / 100, p[1] / 100, round(1 - p[0] / 100 - p[1] / 100, 10))
)


@settings(max_examples=200, deadline=None)
@given(games=game_ids, seed=st.integers(0, 2**31), split=fractions)
def test_every_split_has_games_from_three_and_the_same_games_always_split_alike(games, seed, split):
    chosen = split_games(games, seed, split)
    assert set(chosen) == set(games) and set(chosen.values()) <= set(SPLITS)
    assert chosen == split_games(list(reversed(games)), seed, split)  # the order of the games does not matter
    if len(games) >= 3:
        assert set(chosen.values()) == set(SPLITS)
        assert splits_note(len(games)) is None
    else:
        assert chosen == {g: split_of(g, seed, split) for g in games}  # nothing to move: the hash rule alone
        assert f"only {len(games)} game" in splits_note(len(games))


@settings(max_examples=50, deadline=None)
@given(games=game_ids.filter(lambda g: len(g) >= 3), seed=st.integers(0, 1000))
def test_a_zero_fraction_asks_for_an_empty_split(games, seed):
    assert set(split_games(games, seed, (0.0, 0.0, 1.0)).values()) == {"test"}
    assert set(split_games(games, seed, (0.5, 0.0, 0.5)).values()) == {"train", "test"}


def test_a_large_dataset_is_split_by_the_hash_rule_alone():
    games = [f"20251210-{i:016x}" for i in range(500)]
    plain = {g: split_of(g, 0, (0.8, 0.1, 0.1)) for g in games}
    assert set(plain.values()) == set(SPLITS)
    assert split_games(games, 0, (0.8, 0.1, 0.1)) == plain


def test_excluded_episodes_keep_excluded_and_do_not_count():
    episodes = pl.DataFrame({"game_id": ["a", "b", "c", "d", "e"], "in_training": [True, True, True, False, False]})
    split = assign_splits(episodes, 0, (0.8, 0.1, 0.1))
    assert split.filter(~pl.col("in_training"))["split"].to_list() == [EXCLUDED, EXCLUDED]
    assert set(split.filter(pl.col("in_training"))["split"]) == set(SPLITS)  # three eligible games: one each


def test_a_trajectory_out_of_training_stays_excluded_when_its_game_is_split():
    """The crowd kind: one game holds several players' trajectories, some too short to train on; those stay out of
    every split (a 1-row trajectory in "train" has no transition and broke the Minari export)."""
    episodes = pl.DataFrame({
        "game_id": ["a", "a", "b", "c", "c"], "player_id": ["p", "q", "p", "p", "q"],
        "in_training": [True, False, True, True, False],
    })
    split = assign_splits(episodes, 0, (0.8, 0.1, 0.1))
    assert split.filter(~pl.col("in_training"))["split"].to_list() == [EXCLUDED, EXCLUDED]
    assert EXCLUDED not in split.filter(pl.col("in_training"))["split"].to_list()
