"""Numpy batches of a dataset version: (observations, actions, rewards, next_observations, dones).

Observation vectors are float32 in feature-spec order (``manifest["feature_spec"]["features"]``). Actions are the
action space of every export (``vectra_pipeline.gold.action_space``): ``{"kind": int64 (n,), "amount": float64 (n,)}``
— the kind code and the stake in SOL. Rewards are SOL, float64 (the dtype of the rows, Minari and the environments).
``dones`` is terminated or truncated; ``terminals`` (rug reached) is kept apart because a truncated transition must
be bootstrapped, not treated as the end of the game. Episodes are derived as every reader derives them
(``vectra_pipeline.envs.recorded``), so any dataset kind whose rows follow the contract loads.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from vectra_pipeline.datasets.registry import DatasetVersion, as_version, feature_names
from vectra_pipeline.envs.recorded import episode_rows
from vectra_pipeline.envs.spaces import recorded_actions


@dataclass(frozen=True)
class Transitions:
    observations: np.ndarray  # (n, features) float32
    actions: dict[str, np.ndarray]  # kind (n,) int64, amount (n,) float64 SOL
    rewards: np.ndarray  # (n,) float64 (SOL)
    next_observations: np.ndarray  # (n, features) float32
    dones: np.ndarray  # (n,) bool: terminated | truncated
    terminals: np.ndarray  # (n,) bool: terminated (the rug)
    game_ids: np.ndarray  # (n,) object
    ticks: np.ndarray  # (n,) int32

    def __len__(self) -> int:
        return len(self.rewards)

    def as_tuple(self) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray, np.ndarray, np.ndarray]:
        return self.observations, self.actions, self.rewards, self.next_observations, self.dones


def load_transitions(version: DatasetVersion | Path | str, split: str | None = "train") -> Transitions:
    """Every transition of a split: row t with the features of row t+1 of the same episode as next observation."""
    version = as_version(version)
    rows = episode_rows(version, split)
    matrix = rows.select(feature_names(version)).to_numpy().astype(np.float32)
    index = np.flatnonzero(~rows["is_final"].to_numpy())
    steps = rows.filter(~pl.col("is_final"))
    return Transitions(
        observations=matrix[index],
        actions=recorded_actions(steps),
        rewards=steps["reward"].cast(pl.Float64).fill_null(0.0).to_numpy(),
        next_observations=matrix[index + 1],
        dones=(steps["terminated"] | steps["truncated"]).to_numpy(),
        terminals=steps["terminated"].to_numpy(),
        game_ids=steps["game_id"].to_numpy(),
        ticks=steps["tick"].to_numpy(),
    )


def iterate_batches(transitions: Transitions, batch_size: int, seed: int = 0, shuffle: bool = True
                    ) -> Iterator[tuple[np.ndarray, dict[str, np.ndarray], np.ndarray, np.ndarray, np.ndarray]]:
    """(observations, actions, rewards, next_observations, dones) batches over one pass of the transitions."""
    order = np.random.default_rng(seed).permutation(len(transitions)) if shuffle else np.arange(len(transitions))
    observations, actions, rewards, next_observations, dones = transitions.as_tuple()
    for start in range(0, len(order), batch_size):
        pick = order[start:start + batch_size]
        yield (observations[pick], {key: values[pick] for key, values in actions.items()}, rewards[pick],
               next_observations[pick], dones[pick])
