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
import polars as pl

from vectra_pipeline.datasets.publish import DatasetVersion, load_version

SPLITS = ("train", "val", "test")


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


def observation_space(n_features: int):
    """The observation space of every export: float32 vectors, bounded only by float32's finite range (features
    such as prices and balances have no natural bound; the vectors never hold NaN or inf)."""
    import gymnasium as gym

    limit = np.finfo(np.float32).max
    return gym.spaces.Box(-limit, limit, shape=(n_features,), dtype=np.float32)


def _version(version: DatasetVersion | Path | str) -> DatasetVersion:
    return version if isinstance(version, DatasetVersion) else load_version(Path(version))


def read_observations(version: DatasetVersion | Path | str, split: str | None = None) -> pl.DataFrame:
    """The observation rows of a version (one split or all), sorted by (game_id, tick)."""
    if split is not None and split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    frame = pl.read_parquet(_version(version).path / "observations.parquet")
    if split is not None:
        frame = frame.filter(pl.col("split") == split)
    return frame.sort("game_id", "tick")


def feature_names(version: DatasetVersion | Path | str) -> list[str]:
    return list(_version(version).manifest["feature_spec"]["features"])


def load_transitions(version: DatasetVersion | Path | str, split: str | None = "train") -> Transitions:
    """Every transition of a split: row t with the features of row t+1 of the same episode as next observation."""
    version = _version(version)
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
