"""Many practice accounts stepped at once in numpy, sans-I/O: what the baselines play a run of games with.

The same rules as :mod:`capture_agent.protocol.trading` on the same floats, one array operation per rule for every
account instead of one Python call per account, with the fills of ``FillModel.instant()`` (an order executes at the
tick it is sent, at that tick's price) — the fills every baseline is scored with. Each rule does the arithmetic of
the scalar rule in the same order, so each account ends bit for bit where a :class:`~vectra_pipeline.envs.agents.Desk`
ends (the tests play both on generated actions). Only what the account features and the equity read is kept: the
realised PnL and the action history are not.

Rows are a run of games side by side: column ``s`` of ``ticks``/``prices`` is each game's row ``s`` (a finished
game's columns are padding, never read into a result).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from capture_agent.protocol.rules import MAX_TRADE, MIN_TRADE, SIDEBET_PAYOUT, lamports, short_value, sidebet_end_tick
from vectra_pipeline.envs.agents import Game
from vectra_pipeline.gold.action_space import ACTION_PERCENTAGE, N_ACTIONS, Action
from vectra_pipeline.gold.features import player_features

_PERCENTAGE = np.zeros(N_ACTIONS, dtype=np.int64)  # a sell's percentage by kind, 0 for the other kinds
_PERCENTAGE[list(ACTION_PERCENTAGE)] = list(ACTION_PERCENTAGE.values())
_TOLERANCE = 1e-12  # SOL: the slack of the rules' balance check


class Table:
    """A run of games as padded (games, rows) arrays: ticks, prices and the market features a policy reads."""

    def __init__(self, games: Sequence[Game], names: Sequence[str], reads: Sequence[str] = ()) -> None:
        for game in games:
            if len(game.ticks) < 2:
                raise ValueError(f"game {game.game_id} has {len(game.ticks)} tick(s): an episode needs at least one transition")
        self.rows = np.array([len(game.ticks) for game in games], dtype=np.int64)
        width = int(self.rows.max(initial=0))
        self.ticks = np.zeros((len(games), width), dtype=np.int64)
        self.prices = np.ones((len(games), width))  # padding 1: a finished game's arithmetic stays finite
        self.market = {name: np.zeros((len(games), width), dtype=np.float32) for name in reads}
        columns = {name: list(names).index(name) for name in reads}
        for i, game in enumerate(games):
            self.ticks[i, :self.rows[i]], self.ticks[i, self.rows[i]:] = game.ticks, game.ticks[-1]
            self.prices[i, :self.rows[i]] = game.prices
            for name, column in columns.items():
                self.market[name][i, :self.rows[i]] = game.features[:, column]  # as the observation holds it: float32
        self.terminated = np.array([game.terminated for game in games], dtype=bool)
        self.rug_tick = np.where(self.terminated, self.ticks[np.arange(len(games)), self.rows - 1], -1)


class Ledger:
    """n accounts (one per game of a :class:`Table`), each at its game's row ``row``."""

    def __init__(self, table: Table, start_cash: np.ndarray) -> None:
        n = len(table.rows)
        self.table, self.row = table, 0
        self.cash = np.asarray(start_cash, dtype=np.float64).copy()
        self.qty, self.avg_cost, self.invested = np.zeros(n), np.zeros(n), np.zeros(n)
        self.sidebet, self.sidebet_amount, self.sidebet_end = np.zeros(n, dtype=bool), np.zeros(n), np.zeros(n)
        self.short, self.short_amount, self.short_entry = np.zeros(n, dtype=bool), np.zeros(n), np.zeros(n)

    def features(self) -> dict[str, np.ndarray]:
        """The account features at the current row (``equity`` among them), as ``Agents`` computes them."""
        at, n = self.row, len(self.cash)
        return player_features(self.table.prices[:, at], self.table.ticks[:, at], self.table.rug_tick, np.ones(n, dtype=bool),
                               self.cash, self.qty, self.avg_cost, np.zeros(n), self.invested, self.sidebet,
                               self.sidebet_end, self.sidebet_amount, self.short_amount, self.short_entry)

    def step(self, kinds: np.ndarray, amounts: np.ndarray, active: np.ndarray) -> None:
        """The ``active`` accounts send ``kinds``/``amounts`` at the current row (executed there, refusals ignored),
        then every account moves to the next row, where a game that ends at its rug settles and a sidebet whose
        window passed is lost."""
        price, tick = self.table.prices[:, self.row], self.table.ticks[:, self.row]
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            self._trade(np.where(active, kinds, Action.HOLD), np.asarray(amounts, dtype=np.float64), price, tick)
        self.row += 1
        price, tick = self.table.prices[:, self.row], self.table.ticks[:, self.row]
        rugged = active & self.table.terminated & (self.row == self.table.rows - 1)
        self._sell(rugged & (self.qty > 0), self.qty, price)
        self._close_short(rugged & self.short, price)
        self._settle_sidebet(rugged & self.sidebet, won=self.table.rug_tick <= self.sidebet_end)
        self._settle_sidebet(active & ~rugged & self.sidebet & (tick > self.sidebet_end), won=np.zeros(len(tick), dtype=bool))

    def _trade(self, kinds: np.ndarray, amounts: np.ndarray, price: np.ndarray, tick: np.ndarray) -> None:
        valid = np.isfinite(amounts) & (amounts >= MIN_TRADE) & (amounts <= MAX_TRADE)  # check_amount
        affordable = valid & ~(amounts > self.cash + _TOLERANCE)
        buy = affordable & (kinds == Action.BUY)
        qty = np.where(buy, lamports(amounts / price), 0.0)
        buy &= qty > 0
        held = self.qty
        self.avg_cost = np.where(buy, (held * self.avg_cost + qty * price) / (held + qty), self.avg_cost)
        self.qty = np.where(buy, held + qty, held)
        self.invested = np.where(buy, self.invested + amounts, self.invested)
        self.cash = np.where(buy, lamports(self.cash - amounts), self.cash)

        percentage = _PERCENTAGE[kinds]
        sell = (percentage > 0) & (self.qty > 0)
        sold = np.where(percentage >= 100, self.qty, lamports(self.qty * percentage / 100))
        self._sell(sell & (sold > 0), sold, price)

        sidebet = affordable & (kinds == Action.SIDEBET) & ~self.sidebet
        self.cash = np.where(sidebet, lamports(self.cash - amounts), self.cash)
        self.sidebet_amount = np.where(sidebet, amounts, self.sidebet_amount)
        self.sidebet_end = np.where(sidebet, sidebet_end_tick(tick), self.sidebet_end)
        self.sidebet |= sidebet

        short = affordable & (kinds == Action.SHORT_OPEN) & ~self.short
        self.short_amount = np.where(short, amounts, self.short_amount)
        self.short_entry = np.where(short, price, self.short_entry)
        self.cash = np.where(short, lamports(self.cash - amounts), self.cash)
        self.short |= short
        self._close_short((kinds == Action.SHORT_CLOSE) & self.short, price)

    def _sell(self, selling: np.ndarray, qty: np.ndarray, price: np.ndarray) -> None:
        left = np.maximum(0.0, lamports(self.qty - qty))
        self.cash = np.where(selling, lamports(self.cash + lamports(qty * price)), self.cash)
        self.avg_cost = np.where(selling & (left == 0), 0.0, self.avg_cost)
        self.qty = np.where(selling, left, self.qty)

    def _close_short(self, closing: np.ndarray, price: np.ndarray) -> None:
        with np.errstate(divide="ignore", invalid="ignore"):
            value = short_value(self.short_amount, np.where(self.short, self.short_entry, 1.0), price)
        self.cash = np.where(closing, lamports(self.cash + value), self.cash)
        self.short &= ~closing
        self.short_amount, self.short_entry = np.where(closing, 0.0, self.short_amount), np.where(closing, 0.0, self.short_entry)

    def _settle_sidebet(self, settling: np.ndarray, won: np.ndarray) -> None:
        payout = np.where(won, self.sidebet_amount * SIDEBET_PAYOUT, 0.0)
        self.cash = np.where(settling, lamports(self.cash + payout), self.cash)
        self.sidebet &= ~settling
        self.sidebet_amount, self.sidebet_end = np.where(settling, 0.0, self.sidebet_amount), np.where(settling, 0.0, self.sidebet_end)
