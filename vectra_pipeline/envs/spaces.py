"""The observation and action spaces of every export (Minari, numpy, the environments), and the action's two forms:
one action ``{"kind": int, "amount": float}`` and a batch ``{"kind": int64 (n,), "amount": float64 (n,)}``
(:mod:`vectra_pipeline.gold.action_space` documents kinds and units)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import polars as pl

from vectra_pipeline.gold.action_space import AMOUNT_ACTIONS, MAX_AMOUNT, N_ACTIONS, Action

_AMOUNT_CODES = [int(a) for a in AMOUNT_ACTIONS]


def observation_space(n_features: int) -> gym.spaces.Box:
    """float32 vectors, bounded only by float32's finite range (features such as prices and balances have no natural
    bound; the vectors never hold NaN or inf)."""
    limit = np.finfo(np.float32).max
    return gym.spaces.Box(-limit, limit, shape=(n_features,), dtype=np.float32)


def action_space() -> gym.spaces.Dict:
    """The kind (:class:`Action` code) and the amount in SOL (a stake; read for buy, sidebet and short open only)."""
    return gym.spaces.Dict({
        "kind": gym.spaces.Discrete(N_ACTIONS),
        "amount": gym.spaces.Box(0.0, MAX_AMOUNT, shape=(), dtype=np.float64),
    })


def action(kind: int, amount: float = 0.0) -> dict:
    """One action of :func:`action_space`: ``action(Action.BUY, 0.05)``, ``action(Action.SELL_50)``."""
    return {"kind": int(kind), "amount": np.float64(amount)}


def read_action(value) -> tuple[Action, float]:
    """(kind, amount) of one action; a malformed action is a programming error, not a refusal by the game."""
    try:
        kind, amount = value["kind"], float(np.asarray(value["amount"], dtype=np.float64).reshape(()))
        code = int(kind)
    except (TypeError, KeyError, IndexError, ValueError):
        raise ValueError(f"an action is {{'kind': 0..{N_ACTIONS - 1}, 'amount': SOL}}, got {value!r}") from None
    if code != kind or not 0 <= code < N_ACTIONS:
        raise ValueError(f"action kind must be an integer 0..{N_ACTIONS - 1}, got {kind!r}")
    return Action(code), amount


def batch_actions(value, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(kinds int64 (n,), amounts float64 (n,)) of a batch of actions (a vector environment's step)."""
    try:
        kinds = np.asarray(value["kind"]).reshape(n)
        amounts = np.asarray(value["amount"], dtype=np.float64).reshape(n)
        codes = kinds.astype(np.int64)
    except (TypeError, KeyError, IndexError, ValueError):
        raise ValueError(f"a batch of {n} actions is {{'kind': int (n,), 'amount': float (n,)}}, got {value!r}") from None
    if not np.array_equal(kinds, codes) or codes.min() < 0 or codes.max() >= N_ACTIONS:
        raise ValueError(f"action kinds must be integers 0..{N_ACTIONS - 1}, got {kinds!r}")
    return codes, amounts


def recorded_actions(steps: pl.DataFrame) -> dict[str, np.ndarray]:
    """The batch of actions of observation rows (``action``, ``action_amount``): a missing label is a hold, a missing
    or meaningless amount (a sell's, a hold's) is 0."""
    frame = steps.select(
        pl.col("action").fill_null(int(Action.HOLD)).cast(pl.Int64).alias("kind"),
        pl.when(pl.col("action").is_in(_AMOUNT_CODES))
        .then(pl.col("action_amount").cast(pl.Float64).fill_nan(0.0))
        .otherwise(0.0)
        .fill_null(0.0)
        .alias("amount"),
    )
    return {"kind": frame["kind"].to_numpy(), "amount": frame["amount"].to_numpy()}
