"""A practice account and the trade rules it obeys (docs/PROTOCOL.md §3.1–§3.3, §4). Pure: no I/O, no clock.

Every money figure is SOL as a decimal float. The rules the real wire obeys and the tests check (the constants and
value rules are :mod:`capture_agent.protocol.rules`):

- trade price = ``prices[tickIndex]``; buy ``qty = amount / price``; sell ``amount = qty · price`` — both
  truncated to lamports (9 decimals), as in the captured trades;
- a presale buy is executed at tick 0 at price 1 (``prices[0]`` is always 1);
- a side bet covers 40 ticks from its start tick, pays 5× and wins iff the rug tick ≤ ``endTick``;
- at the rug every open position is sold at the rug price (a plain ``sell`` trade) and every short closed.

The simulator's server, the replay environment and the pipeline's synthetic sessions all trade through these
functions, so a refusal reads the same everywhere (``TradeRejected.reason``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from capture_agent.protocol.rules import (
    MAX_TRADE,
    MIN_TRADE,
    SIDEBET_PAYOUT,
    lamports,
    short_value,
    sidebet_end_tick,
    sidebet_wins,
)

PRACTICE_START_CASH = 10.0  # SOL a fresh practice account holds


class TradeRejected(Exception):
    """A request the server refuses; ``reason`` goes into the ack ``{"success": false, "reason": …}``."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(slots=True)
class Sidebet:
    game_id: str
    bet_amount: float
    start_tick: int
    price: float  # price at placement
    timestamp: int
    coin_address: str
    x_payout: int = SIDEBET_PAYOUT

    @property
    def end_tick(self) -> int:
        return sidebet_end_tick(self.start_tick)

    def wins(self, rug_tick: int) -> bool:
        return sidebet_wins(rug_tick, self.end_tick)

    def payout(self, won: bool) -> float:
        """What settling the bet pays: ``x_payout`` × the bet on a win, nothing on a loss."""
        return self.bet_amount * self.x_payout if won else 0.0


@dataclass(slots=True)
class Short:
    amount: float
    entry_price: float
    entry_tick: int

    def value(self, price: float) -> float:
        return short_value(self.amount, self.entry_price, price)


@dataclass(frozen=True, slots=True)
class Fill:
    """One executed trade, the payload of a ``standard/newTrade`` broadcast."""

    type: str  # buy | sell | short_open | short_close
    price: float
    tick: int
    amount: float  # SOL
    qty: float  # tokens (0 for shorts)


@dataclass(slots=True)
class Player:
    """A bot or a connected client's practice account."""

    id: str
    username: str | None
    level: int
    cash: float = PRACTICE_START_CASH
    is_bot: bool = False
    # per game
    position_qty: float = 0.0
    avg_cost: float = 0.0
    total_invested: float = 0.0
    realized_pnl: float = 0.0
    sidebet_pnl: float = 0.0
    short_pnl: float = 0.0
    sidebet: Sidebet | None = None
    short: Short | None = None
    entered: bool = False  # on this game's leaderboard
    # across games
    cumulative_pnl: float = 0.0
    xp: int = 0
    sidebet_history: list[dict] = field(default_factory=list)

    def reset_for_game(self) -> None:
        self.cumulative_pnl += self.pnl_at(None)
        self.position_qty = self.avg_cost = self.total_invested = 0.0
        self.realized_pnl = self.sidebet_pnl = self.short_pnl = 0.0
        self.sidebet = None
        self.short = None
        self.entered = False

    def regular_pnl(self, price: float | None) -> float:
        marked = 0.0 if price is None else self.position_qty * (price - self.avg_cost)
        return self.realized_pnl + marked

    def pnl_at(self, price: float | None) -> float:
        short = self.short_pnl
        if self.short is not None and price is not None:
            short += self.short.value(price) - self.short.amount
        return self.regular_pnl(price) + self.sidebet_pnl + short

    def pnl_percent(self, price: float | None) -> float:
        invested = self.total_invested + (self.short.amount if self.short else 0.0)
        return self.pnl_at(price) / invested * 100 if invested else 0.0


def check_amount(value: object, *, cap: float = MAX_TRADE) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise TradeRejected("Invalid amount")
    amount = float(value)
    if amount < MIN_TRADE:
        raise TradeRejected(f"Amount below minimum of {MIN_TRADE} SOL")
    if amount > cap:
        raise TradeRejected(f"Amount above maximum of {cap} SOL")
    return amount


def buy(player: Player, amount: object, price: float, tick: int) -> Fill:
    sol = check_amount(amount)
    if sol > player.cash + 1e-12:
        raise TradeRejected("Insufficient balance")
    qty = lamports(sol / price)
    if qty <= 0:
        raise TradeRejected("Invalid amount")
    held = player.position_qty
    player.avg_cost = (held * player.avg_cost + qty * price) / (held + qty)
    player.position_qty = held + qty
    player.total_invested += sol
    player.cash = lamports(player.cash - sol)
    player.entered = True
    return Fill("buy", price, tick, sol, qty)


def sell(player: Player, percentage: object, price: float, tick: int) -> Fill:
    if isinstance(percentage, bool) or not isinstance(percentage, (int, float)) or not 0 < percentage <= 100:
        raise TradeRejected("Invalid percentage")
    if player.position_qty <= 0:
        raise TradeRejected("No position to sell")
    qty = player.position_qty if percentage >= 100 else lamports(player.position_qty * percentage / 100)
    if qty <= 0:
        raise TradeRejected("Position too small to sell")
    return _sell_qty(player, qty, price, tick)


def liquidate(player: Player, price: float, tick: int) -> Fill | None:
    """The forced sell of a whole position at the rug."""
    if player.position_qty <= 0:
        return None
    return _sell_qty(player, player.position_qty, price, tick)


def _sell_qty(player: Player, qty: float, price: float, tick: int) -> Fill:
    amount = lamports(qty * price)
    player.realized_pnl += qty * (price - player.avg_cost)
    player.position_qty = max(0.0, lamports(player.position_qty - qty))
    if player.position_qty == 0:
        player.avg_cost = 0.0
    player.cash = lamports(player.cash + amount)
    return Fill("sell", price, tick, amount, qty)


def open_short(player: Player, amount: object, price: float, tick: int) -> Fill:
    sol = check_amount(amount)
    if player.short is not None:
        raise TradeRejected("Short position already open")
    if sol > player.cash + 1e-12:
        raise TradeRejected("Insufficient balance")
    player.short = Short(sol, price, tick)
    player.cash = lamports(player.cash - sol)
    player.entered = True
    return Fill("short_open", price, tick, sol, 0)


def close_short(player: Player, price: float, tick: int) -> Fill:
    if player.short is None:
        raise TradeRejected("No short position to close")
    value = player.short.value(price)
    player.short_pnl += value - player.short.amount
    player.cash = lamports(player.cash + value)
    player.short = None
    return Fill("short_close", price, tick, value, 0)


def place_sidebet(
    player: Player, amount: object, game_id: str, tick: int, price: float, timestamp: int, coin_address: str
) -> Sidebet:
    sol = check_amount(amount)
    if player.sidebet is not None:
        raise TradeRejected("Side bet already active")
    if sol > player.cash + 1e-12:
        raise TradeRejected("Insufficient balance")
    player.cash = lamports(player.cash - sol)
    player.sidebet = Sidebet(game_id, sol, tick, price, timestamp, coin_address)
    player.entered = True
    return player.sidebet


def settle_sidebet(player: Player, won: bool) -> tuple[Sidebet, float]:
    """Close the player's side bet; returns it and its payout (5× the bet on a win, else 0)."""
    bet = player.sidebet
    assert bet is not None
    payout = bet.payout(won)
    player.cash = lamports(player.cash + payout)
    player.sidebet_pnl += payout - bet.bet_amount
    player.sidebet = None
    return bet, payout
