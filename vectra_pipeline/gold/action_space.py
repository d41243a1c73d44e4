"""The action space: a kind and an amount in SOL.

One action = a **kind** and an **amount**, the same in the observation rows, the numpy loader, Minari and the
environments.

- ``kind`` (integer code of :class:`Action`, column ``action``):

  | code | kind | from a silver ``actions`` row |
  |---|---|---|
  | 0 | hold | no action sent at the tick |
  | 1 | buy | kind ``buy`` |
  | 2 | sell 10 % | kind ``sell``, percentage 10 |
  | 3 | sell 25 % | kind ``sell``, percentage 25 |
  | 4 | sell 50 % | kind ``sell``, percentage 50 |
  | 5 | sell 100 % | kind ``sell``, percentage 100 |
  | 6 | sidebet | kind ``sidebet`` |
  | 7 | short open | kind ``short_open`` |
  | 8 | short close | kind ``short_close`` |

- ``amount`` (SOL, float64, column ``action_amount``): the stake of a buy, a sidebet or a short open — the kinds of
  ``AMOUNT_ACTIONS``; 0 for every other kind (a sell's size is its percentage, in the kind) and 0 when the amount
  was not recorded. The game accepts ``MIN_TRADE`` (0.001) to ``MAX_TRADE`` (5) SOL; an environment refuses any
  other amount the way the server does (a hold, reported in ``info["rejected"]``).

As a Gymnasium space (``vectra_pipeline.envs.spaces.action_space``): ``Dict(kind=Discrete(9), amount=Box(0, 5,
shape=(), float64))``; a batch of n actions (numpy loader, Minari episodes, vector environments) is
``{"kind": int64 (n,), "amount": float64 (n,)}``.

A sell with another percentage maps to the nearest of 10/25/50/100 (ties to the larger). Several actions sent at
the same tick: the tick's action is the **first one sent** (send time, then capture seq) — the decision taken on
that frame; the others stay in silver ``actions`` and are counted in ``actions_in_tick``. Their effect on the
player's state still shows in the reward, which comes from the state, not from the label. Actions are labelled as
attempted (the player's decision), whether or not the server accepted them (``action_ack_ok``).

Actions sent before the game's first tick (cooldown/presale: presale buys) label no tick — no observation of the
game precedes them. They are counted in ``episodes.presale_actions``, their effect is in the state at tick 0, and
the action-history features count them as sent at tick −1. An action sent on the rug tick or outside the recorded
ticks has no transition to label and is counted in ``episodes.actions_unplaced``.
"""

from __future__ import annotations

from enum import IntEnum

import polars as pl

from capture_agent.protocol.rules import MAX_TRADE, SELL_PERCENTAGES


class Action(IntEnum):
    HOLD = 0
    BUY = 1
    SELL_10 = 2
    SELL_25 = 3
    SELL_50 = 4
    SELL_100 = 5
    SIDEBET = 6
    SHORT_OPEN = 7
    SHORT_CLOSE = 8


N_ACTIONS = len(Action)
SELL_ACTIONS: dict[int, Action] = dict(zip(SELL_PERCENTAGES, (Action.SELL_10, Action.SELL_25, Action.SELL_50, Action.SELL_100)))
ACTION_PERCENTAGE: dict[Action, int] = {action: pct for pct, action in SELL_ACTIONS.items()}
KIND_ACTIONS = {"buy": Action.BUY, "sidebet": Action.SIDEBET, "short_open": Action.SHORT_OPEN, "short_close": Action.SHORT_CLOSE}
AMOUNT_ACTIONS = frozenset({Action.BUY, Action.SIDEBET, Action.SHORT_OPEN})  # the kinds whose amount is a stake
MAX_AMOUNT = MAX_TRADE  # SOL: the largest stake the game accepts, the bound of the amount space


def nearest_sell(percentage: float | None) -> Action:
    """The sell action whose percentage is nearest (ties to the larger); a missing percentage means 100 %."""
    if percentage is None:
        return Action.SELL_100
    best = min(SELL_PERCENTAGES, key=lambda pct: (abs(pct - percentage), -pct))
    return SELL_ACTIONS[best]


def action_code_expr(kind: pl.Expr, percentage: pl.Expr) -> pl.Expr:
    """Polars expression: the action code of an ``actions`` row (null for an unknown kind)."""
    sell = pl.lit(int(Action.SELL_100), dtype=pl.Int8)
    # Walk from the largest percentage down: a percentage closer to a smaller bucket takes that bucket.
    ordered = sorted(SELL_PERCENTAGES)
    for lower, upper in zip(ordered[-2::-1], ordered[:0:-1]):
        midpoint = (lower + upper) / 2
        sell = pl.when(percentage < midpoint).then(pl.lit(int(SELL_ACTIONS[lower]), dtype=pl.Int8)).otherwise(sell)
    code = pl.when(kind == "sell").then(sell)
    for name, action in KIND_ACTIONS.items():
        code = code.when(kind == name).then(pl.lit(int(action), dtype=pl.Int8))
    return code.otherwise(pl.lit(None, dtype=pl.Int8))
