"""The observation and action spaces of every export (Minari, numpy, the environments)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from vectra_pipeline.gold.action_space import N_ACTIONS


def observation_space(n_features: int) -> gym.spaces.Box:
    """float32 vectors, bounded only by float32's finite range (features such as prices and balances have no natural
    bound; the vectors never hold NaN or inf)."""
    limit = np.finfo(np.float32).max
    return gym.spaces.Box(-limit, limit, shape=(n_features,), dtype=np.float32)


def action_space() -> gym.spaces.Discrete:
    """The discrete actions of :mod:`vectra_pipeline.gold.action_space`."""
    return gym.spaces.Discrete(N_ACTIONS)
