"""The reward rule, shared by ``observations`` and the replay environment: change in mark-to-market equity.

``equity = cash + position_qty · price + sidebet value + short value``, all in SOL, at the tick's price — the
protocol's rules (``capture_agent.protocol.rules``: ``equity``, ``sidebet_value``, ``short_value``):

- an open sidebet is worth its stake until it is decided, then its payout (5 × bet) when the rug tick is inside its
  window (rug tick ≤ end tick, inclusive — docs/TRAPS.md §4) and 0 when the game outlived the window. Placing a bet is
  therefore reward-neutral and the outcome is paid on the transition where it becomes known; nothing is shaped;
- an open short is worth what closing it pays: ``amount · (2 − price / entry_price)`` floored at 0 and truncated to
  lamports (the simulator's model; the real client events for shorts are undocumented);
- a long position is marked at the tick price, so the rug (price → remainder) costs what the forced sell costs.

Reward of the transition t → t+1 = equity(t+1) − equity(t). Pure numpy: works on whole columns and on scalars; a
null (NaN) or infinite amount counts as 0. An episode's return is the sum of its transitions' rewards added one after
another in tick order (:func:`episode_return`).
"""

from __future__ import annotations

import numpy as np
import polars as pl

from capture_agent.protocol import rules


def _finite(values) -> np.ndarray:
    """float64 with NaN (null) and ±inf as 0 — np.nan_to_num would turn inf into a huge finite number."""
    values = np.asarray(values, dtype=np.float64)
    return np.where(np.isfinite(values), values, 0.0)


def short_value(short_amount, short_entry_price, price):
    """Value of an open short (0 when there is none)."""
    amount = _finite(short_amount)
    entry = np.asarray(short_entry_price, dtype=np.float64)
    safe_entry = np.where(np.isfinite(entry) & (entry > 0), entry, 1.0)
    value = rules.short_value(amount, safe_entry, np.asarray(price, dtype=np.float64))
    return np.where(amount > 0, value, 0.0)


def sidebet_value(sidebet_active, sidebet_amount, sidebet_end_tick, tick, rug_tick):
    """Stake while undecided; payout once the rug fell inside the window; 0 once the window passed unrugged.

    ``rug_tick`` is the episode's rug tick or a negative number when the game has not rugged (yet) — the value at
    tick t only uses the rug when ``tick ≥ rug_tick``, i.e. when the rug frame itself has been seen.
    """
    value = rules.sidebet_value(
        _finite(sidebet_amount),
        np.asarray(sidebet_end_tick, dtype=np.float64),
        np.asarray(tick, dtype=np.float64),
        np.asarray(rug_tick, dtype=np.float64),
    )
    return np.where(np.asarray(sidebet_active, dtype=bool), value, 0.0)


def equity(price, cash, position_qty, sidebet_active, sidebet_amount, sidebet_end_tick, short_amount,
           short_entry_price, tick, rug_tick):
    """Mark-to-market equity in SOL (see the module docstring)."""
    price = np.asarray(price, dtype=np.float64)
    return rules.equity(
        _finite(cash),
        _finite(position_qty),
        price,
        sidebet_value(sidebet_active, sidebet_amount, sidebet_end_tick, tick, rug_tick),
        short_value(short_amount, short_entry_price, price),
    )


def reward(equity_before, equity_after):
    """The reward of a transition: the change in equity (floats, numpy arrays and polars expressions alike)."""
    return equity_after - equity_before


def episode_return(reward: pl.Expr) -> pl.Expr:
    """An episode's return, in a ``group_by`` over its transitions in tick order: their rewards added one after
    another, a null as 0. Not ``sum()``: polars splits a group's float sum between its threads, so the last bit
    depended on the machine's core count (1 of 2,521 games of a 1M-frame day at 2 threads, 2 at 3); added in order it
    is the same on every machine and whether the day is read whole or a run of games at a time."""
    return reward.fill_null(0.0).cum_sum().last()
