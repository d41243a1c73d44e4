"""What the simulator puts on the wire: payload builders with the keys, key order and value types of the real frames
(docs/PROTOCOL.md §3; the fidelity tests compare them with the real captures, read through tests/realdata.py), and
:class:`GameFrames`, the part of the engine that assembles the ``gameStateUpdate`` and ``gameStatePlayerUpdate``
payloads from its state. Pure.
"""

from __future__ import annotations

from typing import Any

from capture_agent.protocol.day_stats import GOD_CANDLE_TIERS
from capture_agent.protocol.rules import GAME_VERSION, PRESALE_FROM_MS, SOL_COIN, Phase
from capture_agent.protocol.trading import Fill, Player, Sidebet

PRACTICE_COIN = "0xPractice"
AVAILABLE_SHITCOINS = [
    {"address": PRACTICE_COIN, "ticker": "FREE", "name": "Practice SOL", "max_bet": 10000, "max_win": 100000}
]
RUG_ROYALE_INACTIVE = {"status": "INACTIVE", "activeEventId": None, "currentEvent": None, "upcomingEvents": [], "events": []}


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
    ``regularPnl/sidebetPnl/shortPnl`` (docs/TRAPS.md §3)."""
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


class GameFrames:
    """The ``gameStateUpdate`` frames and ``gameStatePlayerUpdate`` containers of ``lifecycle.SimulatorEngine``, built
    from its state (``game``, ``phase``, ``tick``, ``cooldown_timer``, ``history``, ``_day``, ``_board``, ``_players``,
    ``_clients``, ``_crowd``, ``rugpool``)."""

    def _provably_fair(self) -> dict:
        return {"serverSeedHash": self.game.seed_hash, "version": GAME_VERSION}

    def _connected(self) -> int:
        return self._crowd + len(self._clients)

    def _mark_price(self) -> float:
        return self.game.prices[self.tick] if self.phase in (Phase.ACTIVE, Phase.RUGGED) else self.game.prices[0]

    def _short_frame(self) -> dict:
        """The 7-key cooldown and presale frames."""
        return {
            "gameId": self.game.game_id, "cooldownTimer": self.cooldown_timer, "cooldownPaused": False,
            "allowPreRoundBuys": self.phase == Phase.PRESALE, "leaderboard": self._board,
            "connectedPlayers": self._connected(), "provablyFair": self._provably_fair(),
        }

    def _stats(self) -> dict:
        day = self._day
        return {
            "averageMultiplier": day.average(),
            "count2x": day.count(2), "count10x": day.count(10), "count50x": day.count(50), "count100x": day.count(100),
        }

    def _stat_frame(self, *, active: bool, rugged: bool, tick: int, partial: dict, cooldown: int, presale: bool) -> dict:
        """The 21-key shape of active ticks, rug frame #1 and the presale-opening frame."""
        return {
            "active": active, "price": self.game.prices[tick] if active else self.game.prices[0],
            "partialPrices": partial, "tradeCount": self.game.trade_count, "rugged": rugged, "tickCount": tick,
            "cooldownTimer": cooldown, "cooldownPaused": False, "pauseMessage": "", "allowPreRoundBuys": presale,
            **self._stats(), "leaderboard": self._board, "gameId": self.game.game_id,
            "connectedPlayers": self._connected(), "rugpool": self.rugpool.public(),
            "rugRoyale": RUG_ROYALE_INACTIVE, "provablyFair": self._provably_fair(),
        }

    def _tick_frame(self, *, rugged: bool) -> dict:
        partial = partial_prices(self.game.prices, self.tick)
        return self._stat_frame(active=True, rugged=rugged, tick=self.tick, partial=partial, cooldown=0, presale=False)

    def _presale_opening(self) -> dict:
        partial = partial_prices(self.game.prices, 0)
        return self._stat_frame(active=False, rugged=False, tick=0, partial=partial, cooldown=PRESALE_FROM_MS, presale=True)

    def _tick0_frame(self) -> dict:
        """The first, 14-key tick-0 frame (no statistics)."""
        return {
            "active": True, "price": self.game.prices[0], "rugged": False, "tickCount": 0, "cooldownTimer": 0,
            "cooldownPaused": False, "pauseMessage": "", "allowPreRoundBuys": False, "leaderboard": [],
            "gameId": self.game.game_id, "connectedPlayers": self._connected(), "gameVersion": GAME_VERSION,
            "partialPrices": partial_prices(self.game.prices, 0), "provablyFair": self._provably_fair(),
        }

    def _full_frame(self, *, prices_key: str) -> dict:
        """Genesis, full tick 0, rug frame #2 and connect snapshots (Dec 2025 36-key layout)."""
        day = self._day
        frame: dict[str, Any] = {"gameHistory": list(self.history), **self._stats()}
        frame["highestToday"] = day.highest
        frame["highestTodayTimestamp"] = day.highest_at
        frame["highestTodayPrices"] = day.highest_prices
        for tier in GOD_CANDLE_TIERS:
            record = day.god_candles.get(tier)
            frame[f"godCandle{tier}x"] = record["value"] if record else None
            frame[f"godCandle{tier}xTimestamp"] = record["timestamp"] if record else None
            frame[f"godCandle{tier}xPrices"] = record["prices"] if record else []
            frame[f"godCandle{tier}xMassiveJump"] = record["jump"] if record else None
        frame["availableShitcoins"] = AVAILABLE_SHITCOINS
        in_game = self.phase in (Phase.ACTIVE, Phase.RUGGED)
        tick = self.tick if in_game else 0
        frame.update(
            active=in_game, price=self.game.prices[tick], rugged=self.phase == Phase.RUGGED, tickCount=tick,
            cooldownTimer=0 if in_game else self.cooldown_timer, cooldownPaused=False, pauseMessage="",
            allowPreRoundBuys=self.phase == Phase.PRESALE, leaderboard=self._board, gameId=self.game.game_id,
            connectedPlayers=self._connected(), gameVersion=GAME_VERSION,
        )
        if prices_key == "prices":
            frame["prices"] = self.game.prices[: tick + 1]
        else:
            frame["partialPrices"] = partial_prices(self.game.prices, tick)
        frame["provablyFair"] = self._provably_fair()
        return frame

    def _snapshot(self) -> dict:
        return self._full_frame(prices_key="prices")

    def _entrant_count(self) -> int:
        return sum(1 for player in self._players.values() if player.entered)

    def _leaderboard(self, *, presale: bool) -> list[dict]:
        price = None if presale else self._mark_price()
        entrants = [player for player in self._players.values() if player.entered]
        if presale:
            entrants.sort(key=lambda player: -player.total_invested)
        else:
            entrants.sort(key=lambda player: -player.pnl_at(price))
        return [
            leaderboard_entry(player, price, rank, presale=presale)
            for rank, player in enumerate(entrants[:10], start=1)
        ]

    def _player_container(self, player: Player) -> dict:
        """``gameStatePlayerUpdate``: ``{gameId, leaderboardEntry?, rugpool}`` (docs/TRAPS.md §1.4)."""
        container: dict[str, Any] = {"gameId": self.game.game_id}
        if player.entered:
            presale = self.phase == Phase.PRESALE
            ranked = self._leaderboard(presale=presale)
            position = next((e["position"] for e in ranked if e["id"] == player.id), len(ranked) + 1)
            price = None if presale else self._mark_price()
            container["leaderboardEntry"] = leaderboard_entry(player, price, position, presale=presale)
        container["rugpool"] = self.rugpool.private(self._username)
        return container

    def _username(self, player_id: str) -> str:
        player = self._players.get(player_id)
        return player.username if player and player.username else "anon"
