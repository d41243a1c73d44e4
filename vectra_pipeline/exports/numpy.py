"""Numpy batches of a dataset version: (observations, actions, rewards, next_observations, dones).

Observation vectors are float32 in feature-spec order (``manifest["feature_spec"]["features"]``). ``dones`` is
terminated or truncated; ``terminals`` (rug reached) is kept apart because a truncated transition must be
bootstrapped, not treated as the end of the game.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vectra_pipeline.datasets.registry import DatasetVersion, as_version, feature_names, read_observations


@dataclass(frozen=True)
class Transitions:
    observations: np.ndarray  # (n, features) float32
    actions: np.ndarray  # (n,) int64
    rewards: np.ndarray  # (n,) float32 (SOL)
    next_observations: np.ndarray  # (n, features) float32
    dones: np.ndarray  # (n,) bool: terminated | truncated
    terminals: np.ndarray  # (n,) bool: terminated (the rug)
    game_ids: np.ndarray  # (n,) object
    ticks: np.ndarray  # (n,) int32

    def __len__(self) -> int:
        return len(self.actions)

    def as_tuple(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        return self.observations, self.actions, self.rewards, self.next_observations, self.dones


def load_transitions(version: DatasetVersion | Path | str, split: str | None = "train") -> Transitions:
    """Every transition of a split: row t with the features of row t+1 of the same episode as next observation."""
    version = as_version(version)
    names = feature_names(version)
    rows = read_observations(version, split)
    matrix = rows.select(names).to_numpy().astype(np.float32)
    final = rows["is_final"].to_numpy()
    index = np.flatnonzero(~final)
    return Transitions(
        observations=matrix[index],
        actions=rows["action"].to_numpy()[index].astype(np.int64),
        rewards=rows["reward"].to_numpy()[index].astype(np.float32),
        next_observations=matrix[index + 1],
        dones=(rows["terminated"].to_numpy() | rows["truncated"].to_numpy())[index],
        terminals=rows["terminated"].to_numpy()[index],
        game_ids=rows["game_id"].to_numpy()[index],
        ticks=rows["tick"].to_numpy()[index],
    )


def iterate_batches(transitions: Transitions, batch_size: int, seed: int = 0, shuffle: bool = True
                    ) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """(observations, actions, rewards, next_observations, dones) batches over one pass of the transitions."""
    order = np.random.default_rng(seed).permutation(len(transitions)) if shuffle else np.arange(len(transitions))
    for start in range(0, len(order), batch_size):
        pick = order[start:start + batch_size]
        yield tuple(array[pick] for array in transitions.as_tuple())
