"""Payload builders: the objects the simulator puts on the wire, with the keys, key order and value types of
the real frames (PROTOCOL.md §3; the fidelity tests compare them with ../shared/protocol-real). Pure.
"""

from __future__ import annotations

from typing import Any

from capture_agent.protocol.rules import SOL_COIN
from capture_agent.protocol.trading import Fill, Player, Sidebet

GAME_VERSION = "v3"
PRACTICE_COIN = "0xPractice"
AVAILABLE_SHITCOINS = [
    {"address": PRACTICE_COIN, "ticker": "FREE", "name": "Practice SOL", "max_bet": 10000, "max_win": 100000}
]
RUG_ROYALE_INACTIVE = {"status": "INACTIVE", "activeEventId": None, "currentEvent": None, "upcomingEvents": [], "events": []}
RUGPOOL_THRESHOLD = 10
RUGPOOL_CONFIG = {"threshold": RUGPOOL_THRESHOLD, "instarugThreshold": 6, "rugpoolPercentage": 0.5}
SOL_PER_ENTRY = 0.001
MAX_ENTRIES_PER_PLAYER = 5000
GOD_CANDLE_TIERS = (2, 10, 50)


def sol(value: float) -> float:
    """Leaderboard and PnL figures are shown rounded to 9 decimals (lamports)."""
    return round(value, 9)


def partial_prices(prices: list[float], end_tick: int) -> dict[str, Any]:
    """The ≤5-tick window ``startTick = max(0, endTick − 4)``; keys are strings on the wire."""
    start = max(0, end_tick - 4)
    return {"startTick": start, "endTick": end_tick, "values": {str(k): prices[k] for k in range(start, end_tick + 1)}}


def sidebet_object(bet: Sidebet) -> dict[str, Any]:
    """``sideBet`` inside leaderboard entries and ``playerUpdate`` (startedAtTick/end naming)."""
    return {
        "startedAtTick": bet.start_tick,
        "gameId": bet.game_id,
        "end": bet.end_tick,
        "betAmount": bet.bet_amount,
        "xPayout": bet.x_payout,
        "coinAddress": bet.coin_address,
        "bonusPortion": 0,
        "realPortion": bet.bet_amount,
    }


def short_object(player: Player, price: float) -> dict[str, Any] | None:
    short = player.short
    if short is None:
        return None
    value = short.value(price)
    return {
        "amount": short.amount,
        "entryPrice": short.entry_price,
        "entryTick": short.entry_tick,
        "currentValue": value,
        "pnl": sol(value - short.amount),
        "coinAddress": SOL_COIN,
        "bonusPortion": 0,
        "realPortion": short.amount,
    }


def leaderboard_entry(player: Player, price: float | None, position: int, *, presale: bool) -> dict[str, Any]:
    """One leaderboard entry marked at ``price`` (None in presale: nothing to mark yet); presale boards lack
    ``regularPnl/sidebetPnl/shortPnl`` (TRAPS §3)."""
    entry: dict[str, Any] = {"id": player.id, "username": player.username, "level": player.level}
    entry["pnl"] = sol(player.pnl_at(price))
    if not presale:
        entry["regularPnl"] = sol(player.regular_pnl(price))
        entry["sidebetPnl"] = sol(player.sidebet_pnl)
        entry["shortPnl"] = sol(player.short_pnl)
    entry["sidebetActive"] = True if player.sidebet else None
    entry["sideBet"] = sidebet_object(player.sidebet) if player.sidebet else None
    entry["shortPosition"] = short_object(player, price) if price is not None else None
    entry["pnlPercent"] = player.pnl_percent(price)
    entry["hasActiveTrades"] = True
    entry["positionQty"] = player.position_qty
    entry["avgCost"] = sol(player.avg_cost)
    entry["totalInvested"] = sol(player.total_invested)
    entry["selectedCoin"] = None
    entry["position"] = position
    if presale:  # presale key order as captured: pnl, pnlPercent, sidebetActive, …
        order = ("id", "username", "level", "pnl", "pnlPercent", "sidebetActive", "sideBet", "shortPosition",
                 "hasActiveTrades", "positionQty", "avgCost", "totalInvested", "selectedCoin", "position")
        entry = {key: entry[key] for key in order}
    return entry


def trade_payload(trade_id: str, game_id: str, player: Player, fill: Fill) -> dict[str, Any]:
    """``standard/newTrade`` payload in the captured key orders of buys, sells and shorts (§3.2)."""
    base = {"id": trade_id, "gameId": game_id, "playerId": player.id}
    if fill.type == "buy":
        body = {"price": fill.price, "type": "buy", "qty": fill.qty, "tickIndex": fill.tick, "coin": "solana",
                "amount": fill.amount, "leverage": 1, "bonusPortion": 0, "realPortion": fill.amount}
    elif fill.type == "sell":
        body = {"type": "sell", "price": fill.price, "tickIndex": fill.tick, "coin": "solana", "amount": fill.amount,
                "qty": fill.qty, "bonusPortion": 0, "realPortion": fill.amount}
    else:
        body = {"price": fill.price, "type": fill.type, "qty": 0, "tickIndex": fill.tick, "coin": "solana",
                "amount": fill.amount}
    return {**base, **body, "username": player.username, "level": player.level}


def sidebet_placed(player: Player, bet: Sidebet, tick: int) -> dict[str, Any]:
    """``currentSidebet`` (traced, to the bettor) and the ``sidebet`` of the requestSidebet ack."""
    return {
        "playerId": player.id,
        "gameId": bet.game_id,
        "username": player.username,
        "level": player.level,
        "price": bet.price,
        "betAmount": bet.bet_amount,
        "xPayout": bet.x_payout,
        "coinAddress": bet.coin_address,
        "startTick": bet.start_tick,
        "endTick": bet.end_tick,
        "tickIndex": tick,
        "timestamp": bet.timestamp,
        "type": "placed",
    }


def sidebet_ack(placed: dict[str, Any]) -> dict[str, Any]:
    order = ("playerId", "gameId", "username", "level", "price", "betAmount", "xPayout", "coinAddress", "endTick",
             "startTick", "tickIndex", "timestamp", "type")
    return {"success": True, "message": "Side bet placed", "sidebet": {key: placed[key] for key in order}}


def sidebet_result(player: Player, bet: Sidebet, payout: float, tick: int, price: float, timestamp: int) -> dict[str, Any]:
    """``currentSidebetResult`` (traced, to the bettor)."""
    return {
        "playerId": player.id,
        "gameId": bet.game_id,
        "username": player.username,
        "type": "payout",
        "betAmount": bet.bet_amount,
        "payout": payout,
        "profit": payout - bet.bet_amount,
        "xPayout": bet.x_payout,
        "startTick": bet.start_tick,
        "endTick": bet.end_tick,
        "tickIndex": tick,
        "price": price,
        "coinAddress": bet.coin_address,
        "level": player.level,
        "timestamp": timestamp,
    }


def global_sidebet_placed(player: Player, bet: Sidebet, record_id: str) -> dict[str, Any]:
    return {
        "playerId": player.id,
        "username": player.username,
        "gameId": bet.game_id,
        "betAmount": bet.bet_amount,
        "xPayout": bet.x_payout,
        "coinAddress": bet.coin_address,
        "bonusPortion": 0,
        "realPortion": bet.bet_amount,
        "timestamp": bet.timestamp,
        "type": "placed",
        "startedAtTick": bet.start_tick,
        "end": bet.end_tick,
        "id": record_id,
    }


def global_sidebet_payout(
    player: Player, bet: Sidebet, payout: float, rug_tick: int, rug_price: float, timestamp: int, record_id: str
) -> dict[str, Any]:
    """Payout record of ``gameHistory[].globalSidebets``: wins add ``level`` and ``price`` (§3.1); losses have
    ``tickIndex = startTick``."""
    won = payout > 0
    record: dict[str, Any] = {"playerId": player.id, "gameId": bet.game_id, "username": player.username}
    if won:
        record["level"] = player.level
    record.update(
        betAmount=bet.bet_amount,
        payout=payout,
        profit=payout - bet.bet_amount,
        xPayout=bet.x_payout,
        coinAddress=bet.coin_address,
        endTick=bet.end_tick,
        startTick=bet.start_tick,
        tickIndex=rug_tick if won else bet.start_tick,
    )
    if won:
        record["price"] = rug_price
    record.update(timestamp=timestamp, type="payout", id=record_id)
    return record


def player_update(player: Player, price: float) -> dict[str, Any]:
    """``playerUpdate`` for a practice account, in the key order of the Dec 15 CDP capture."""
    level_xp = player.xp % 5000
    return {
        "id": player.id,
        "role": None,
        "cash": player.cash,
        "bonusBalance": 0,
        "bonusWagerReq": 0,
        "bonusWagered": 0,
        "positionQty": player.position_qty,
        "avgCost": sol(player.avg_cost),
        "cumulativePnL": sol(player.cumulative_pnl),
        "sidebetPnl": sol(player.sidebet_pnl),
        "pnlPercent": player.pnl_percent(None),
        "totalInvested": sol(player.total_invested),
        "hasInteracted": True,
        "selectedCoin": None,
        "levelInfo": {"level": player.level, "xp": level_xp, "xpForNextLevel": 5000, "totalXP": player.xp},
        "crateKeys": {"gold": 0, "diamond": 0, "coal": 0, "iron": 0, "tier1": 0, "tier0": 0},
        "recentCrateRewards": [],
        "shitcoinBalances": {PRACTICE_COIN: 100},
        "authenticated": True,
        "hitMaxWin": False,
        "xpBoost": {"active": False, "activeUntil": 0, "available": 0},
        "sideBet": sidebet_object(player.sidebet) if player.sidebet else None,
        "sidebets": [],
        "shortPosition": short_object(player, price),
        "leveragedPositions": [],
        "autobuysEnabled": False,
        "autosellPrice": None,
    }


def god_candle_tier(peak: float) -> int:
    """Tier label of a god-candle game; it follows the game's peak (PROTOCOL §5: 8.68 → 2x, 57.9 → 50x)."""
    return max(tier for tier in GOD_CANDLE_TIERS if tier == GOD_CANDLE_TIERS[0] or peak >= tier)
