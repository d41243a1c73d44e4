"""The agent's side of every environment, sans-I/O: practice accounts, each trading in its own game one tick at a
time by the protocol's rules, and one numpy pass that turns all of them into observations and rewards.

A :class:`Game` is what the agent cannot move — the tick prices and the market features, recorded (replay) or
generated (simulated). A :class:`Desk` is one agent in one game: it sends orders (``capture_agent.protocol.trading``
executes them when the fill model says, at the price of that tick; an order the rules refuse is a hold, its reason
reported), frees an expired sidebet, and at the rug tick settles as the server does (the position sold and the short
closed at the rug price, the sidebet paid or lost). :class:`Agents` holds n desks: the account and action-history
features of all of them come from one call of ``features.player_features`` — the function the observation rows
use — and each reward is ``rewards.reward``: equity(t+1) − equity(t).

Action-history features follow the observation rows' timing: an order counts as sent from the next tick; its
execution (``last_slippage_ticks``, ``last_exec_price_ratio``) shows from the tick after the one it executed on; its
ack (``last_ack_latency_ms``) from the first tick at or after its arrival (at least the next one).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from gymnasium.error import ResetNeeded

from capture_agent.protocol import trading
from capture_agent.protocol.rules import SOL_COIN, TICK_MS
from vectra_pipeline.envs.fills import FillModel
from vectra_pipeline.gold.action_space import ACTION_PERCENTAGE, AMOUNT_ACTIONS, MAX_AMOUNT, Action
from vectra_pipeline.gold.feature_spec import PLAYER_FEATURES
from vectra_pipeline.gold.features import player_features
from vectra_pipeline.gold.rewards import reward

RUGGED_FIRST = "the game rugged before the order executed"
ENDED_FIRST = "the recording ended before the order executed"


@dataclass(frozen=True, eq=False)
class Game:
    """One episode's market. ``features`` holds every observation feature per row; the account's are overwritten."""

    game_id: str
    ticks: np.ndarray  # int64 (rows,), contiguous
    prices: np.ndarray  # float64 (rows,)
    features: np.ndarray  # float64 (rows, features)
    terminated: bool  # the last row is the rug tick (else the recording stops before it: truncated)
    start_equity: float | None = None  # the recorded player's wealth at the start, when the data knows it
    server_seed: str | None = None  # a generated game's seed, revealed when it ends (provably fair)
    player_id: str | None = None  # whose trajectory it is, when a version holds several per game (crowd)

    @property
    def rug_tick(self) -> int:
        return int(self.ticks[-1]) if self.terminated else -1

    def opening_cash(self, fixed: float | None = None) -> float:
        """The agent's cash at the start: ``fixed`` when given, else the recorded player's wealth, else a fresh
        practice account's."""
        return fixed if fixed is not None else self.start_equity or trading.PRACTICE_START_CASH


@dataclass(eq=False)
class _Order:
    kind: Action
    amount: float
    sent_tick: int
    sent_price: float
    exec_tick: int


@dataclass(eq=False)
class Desk:
    """One agent's practice account in one game, and what it has sent."""

    game: Game
    player: trading.Player
    fills: FillModel
    rng: np.random.Generator
    row: int = 0
    done: bool = False
    pending: list[_Order] = field(default_factory=list)
    acks: list[tuple[int, float]] = field(default_factory=list)  # (tick the ack shows, latency ms)
    last_action_tick: int | None = None
    last_bet: float = 0.0
    last_slippage: float = 0.0
    last_exec_ratio: float = 0.0
    last_latency: float = 0.0
    position_since: int | None = None

    def __post_init__(self) -> None:
        self._ticks, self._prices = self.game.ticks.tolist(), self.game.prices.tolist()  # read every step

    @property
    def tick(self) -> int:
        return self._ticks[self.row]

    @property
    def price(self) -> float:
        return self._prices[self.row]

    def step(self, kind: Action, amount: float) -> list[str]:
        """Send ``kind``/``amount`` at the current tick and move to the next; the refusals of the orders resolved."""
        if self.done:
            end = "terminated at the rug" if self.game.terminated else "truncated at the end of the recording"
            raise ResetNeeded(f"game {self.game.game_id} is over ({end}, tick {self.tick}): call reset() before step()")
        tick, price = self.tick, self.price
        refused = self._execute_due(tick, price)
        if kind is not Action.HOLD:
            # like the recorded labels, an order counts as sent whether or not the rules accept it
            self.last_action_tick = tick
            if kind in AMOUNT_ACTIONS and 0.0 <= amount <= MAX_AMOUNT:
                self.last_bet = amount
            delay, latency = self.fills.draw(self.rng)
            self.acks.append((tick + max(1, math.ceil(latency / TICK_MS)), latency))
            order = _Order(kind, amount, tick, price, tick + delay)
            if delay == 0:
                refused += self._execute(order, price)
            else:
                self.pending.append(order)
        self.row += 1
        self.done = self.row == len(self.game.ticks) - 1
        if self.done and self.game.terminated:
            self._settle_rug()
        elif self.player.sidebet is not None and self.tick > self.player.sidebet.end_tick:
            trading.settle_sidebet(self.player, won=False)  # the window passed: its value is already 0 in the equity
        if self.done and self.pending:
            refused += [RUGGED_FIRST if self.game.terminated else ENDED_FIRST] * len(self.pending)
            self.pending.clear()
        shown = [latency for at, latency in self.acks if at <= self.tick]
        if shown:
            self.last_latency = shown[-1]
            self.acks = [(at, latency) for at, latency in self.acks if at > self.tick]
        holding = self.player.position_qty > 0
        self.position_since = (self.position_since if self.position_since is not None else self.tick) if holding else None
        return refused

    def state(self) -> tuple[float, ...]:
        """The numbers the account's features are computed from (``Agents._refresh`` reads them in this order)."""
        player, bet, short = self.player, self.player.sidebet, self.player.short
        return (
            self.price, self.tick, self.game.rug_tick, player.cash, player.position_qty, player.avg_cost,
            player.cumulative_pnl, player.total_invested, bet is not None, bet.end_tick if bet else 0.0,
            bet.bet_amount if bet else 0.0, short.amount if short else 0.0, short.entry_price if short else 0.0,
            self.last_action_tick is not None, self.last_action_tick or 0,
            self.position_since if self.position_since is not None else -1, self.last_bet, self.last_slippage,
            self.last_exec_ratio, self.last_latency,
        )

    def _execute_due(self, tick: int, price: float) -> list[str]:
        due = [order for order in self.pending if order.exec_tick <= tick]
        if not due:
            return []
        self.pending = [order for order in self.pending if order.exec_tick > tick]
        return [reason for order in due for reason in self._execute(order, price)]

    def _execute(self, order: _Order, price: float) -> list[str]:
        player, tick = self.player, self.tick
        try:
            if order.kind is Action.BUY:
                trading.buy(player, order.amount, price, tick)
            elif order.kind in ACTION_PERCENTAGE:
                trading.sell(player, ACTION_PERCENTAGE[order.kind], price, tick)
            elif order.kind is Action.SIDEBET:
                trading.place_sidebet(player, order.amount, self.game.game_id, tick, price, 0, SOL_COIN)
            elif order.kind is Action.SHORT_OPEN:
                trading.open_short(player, order.amount, price, tick)
            elif order.kind is Action.SHORT_CLOSE:
                trading.close_short(player, price, tick)
        except trading.TradeRejected as refusal:
            return [refusal.reason]
        self.last_slippage = float(tick - order.sent_tick)
        self.last_exec_ratio = price / order.sent_price - 1.0 if order.sent_price > 0 else 0.0
        return []

    def _settle_rug(self) -> None:
        """What the server does at the rug: the position sold and the short closed at the rug price, the sidebet
        decided (its window includes the rug tick: it pays)."""
        player, tick, price = self.player, self.tick, self.price
        trading.liquidate(player, price, tick)
        if player.short is not None:
            trading.close_short(player, price, tick)
        if player.sidebet is not None:
            trading.settle_sidebet(player, won=player.sidebet.wins(tick))


class Agents:
    """n desks and their observations: ``begin`` a game on a desk, ``step`` some desks, read ``observations``."""

    def __init__(self, names: Sequence[str], n: int = 1) -> None:
        self.names = list(names)
        index = {name: i for i, name in enumerate(self.names)}
        self._account = [(name, index[name]) for name in PLAYER_FEATURES if name in index]  # the account's own
        self.desks: list[Desk | None] = [None] * n
        self.equity = np.zeros(n)
        self._vectors = np.zeros((n, len(self.names)))

    def begin(self, i: int, game: Game, start_cash: float, fills: FillModel, rng: np.random.Generator) -> None:
        if len(game.ticks) < 2:
            raise ValueError(f"game {game.game_id} has {len(game.ticks)} tick(s): an episode needs at least one transition")
        self.desks[i] = Desk(game, trading.Player("agent", "agent", 0, cash=start_cash), fills, rng)
        self._refresh([i])

    def step(self, kinds: np.ndarray, amounts: np.ndarray, active: Sequence[int]) -> tuple[np.ndarray, list[str | None]]:
        """Step the desks ``active`` with their actions: (rewards (n,), the refusals of each desk or None)."""
        before = self.equity.copy()
        refused: list[str | None] = [None] * len(self.desks)
        for i in active:
            if self.desks[i] is None:
                raise ResetNeeded("call reset() before step()")
            reasons = self.desks[i].step(Action(int(kinds[i])), float(amounts[i]))
            refused[i] = "; ".join(reasons) or None
        self._refresh(active)
        rewards = np.zeros(len(self.desks))
        rewards[list(active)] = reward(before[list(active)], self.equity[list(active)])
        return rewards, refused

    def observations(self) -> np.ndarray:
        return self._vectors.astype(np.float32)

    def _refresh(self, indices: Sequence[int]) -> None:
        """Recompute the account features and equity of desks ``indices`` (after any change of row or account)."""
        desks = [self.desks[i] for i in indices]
        if not desks:
            return
        state = np.array([d.state() for d in desks], dtype=np.float64).T
        (price, tick, rug_tick, cash, qty, avg_cost, cumulative_pnl, invested, sidebet_active, sidebet_end,
         sidebet_amount, short_amount, short_entry, acted, last_action, since, last_bet, slippage, exec_ratio, latency) = state
        values = player_features(price, tick, rug_tick, np.ones(len(desks), dtype=bool), cash, qty, avg_cost,
                                 cumulative_pnl, invested, sidebet_active, sidebet_end, sidebet_amount, short_amount,
                                 short_entry)
        acted = acted > 0
        values.update(
            ticks_in_position=np.where(since >= 0, tick - since, 0.0),
            has_acted=acted.astype(np.float64),
            ticks_since_last_action=np.where(acted, tick - last_action, 0.0),
            last_bet_amount=last_bet,
            last_slippage_ticks=slippage,
            last_exec_price_ratio=exec_ratio,
            last_ack_latency_ms=latency,
        )
        rows = list(indices)
        self.equity[rows] = values["equity"]
        self._vectors[rows] = [d.game.features[d.row] for d in desks]
        for name, column in self._account:
            self._vectors[rows, column] = values[name]
