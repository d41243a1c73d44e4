"""The server's memory across games: ``gameHistory`` (the last ten games, seeds revealed, newest first) and the
UTC day's statistics the full frames carry (averageMultiplier, count2x…, highestToday…, godCandle…). Pure."""

from __future__ import annotations

from capture_agent.protocol.day_stats import DayStats
from capture_agent.protocol.rules import COOLDOWN_MS, GAME_VERSION, HISTORY_LENGTH, SOL_COIN, TICK_MS
from capture_agent.protocol.trading import Sidebet
from simulator.engine import payloads
from simulator.engine.games import Game, chain_game, utc_day


def history_entry(game: Game, rugged_at: int) -> dict:
    """A ``gameHistory`` entry: the game revealed, dated by its rug."""
    return {
        "id": game.game_id,
        "timestamp": rugged_at,
        "prices": list(game.prices),
        "peakMultiplier": max(game.prices),
        "rugged": True,
        "globalTrades": [],
        "globalSidebets": game.global_sidebets,
        "provablyFair": {"serverSeed": game.server_seed, "serverSeedHash": game.seed_hash},
        "gameVersion": GAME_VERSION,
    }


class History:
    """The history and day statistics of ``lifecycle.SimulatorEngine`` (uses its ``seed``, ``bots``, ``history``,
    ``_day`` and ``_rng``)."""

    def _prefill_history(self, start_ms: int) -> None:
        """The server has been running before we start: ten earlier games, seeds revealed, in gameHistory.
        Built backwards from ``start_ms``; each game is dated by its rug moment."""
        rug_at = start_ms - 1000
        entries = []
        for index in range(HISTORY_LENGTH - 1, -1, -1):
            game = chain_game(self.seed, index, rug_at, self._rng)
            tick0_at = rug_at - game.rug_tick * TICK_MS
            game.cooldown_at = tick0_at - COOLDOWN_MS  # the id is dated by the rug, the game by its cooldown
            game.global_sidebets = self._past_sidebets(game, tick0_at)
            entries.append(history_entry(game, rug_at))
            rug_at = game.cooldown_at - 2000
        for entry in reversed(entries):  # oldest first, so the newest ends up at index 0
            self.history.appendleft(entry)
            self._count_day(entry["peakMultiplier"], entry["prices"], entry["timestamp"])

    def _past_sidebets(self, game: Game, tick0_at: int) -> list[dict]:
        """The bots' side bets of a game played before the start, as ``globalSidebets`` records."""
        records = []
        for bot in self.bots:
            if self._rng.random() < 0.3:
                start = self._rng.randint(0, game.rug_tick)
                bet = Sidebet(game.game_id, 0.01, start, game.prices[start], tick0_at + start * TICK_MS, SOL_COIN)
                records.append(payloads.global_sidebet_placed(bot, bet, self._uuid()))
                won = bet.wins(game.rug_tick)
                settle_tick = game.rug_tick if won else bet.end_tick + 1
                records.append(payloads.global_sidebet_payout(
                    bot, bet, bet.payout(won), game.rug_tick,
                    game.prices[game.rug_tick], tick0_at + settle_tick * TICK_MS, self._uuid()))
        return sorted(records, key=lambda record: record["timestamp"])

    def _count_day(self, peak: float, prices: list[float], timestamp: int) -> None:
        day = utc_day(timestamp)
        if day != self._day.day:
            if day < self._day.day:
                return  # a game of yesterday does not count today
            self._day = DayStats(day)
        self._day.add(peak, prices, timestamp)
