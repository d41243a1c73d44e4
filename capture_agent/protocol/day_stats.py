"""The UTC day's statistics a full ``gameStateUpdate`` carries (averageMultiplier, count2x…, highestToday…,
godCandle…), kept over the games revealed that day (docs/PROTOCOL.md §3.1, §5). The simulator's server reports them;
``vectra/Sim-v0`` builds the same features from them. Pure."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

GOD_CANDLE_TIERS = (2, 10, 50)


def god_candle_jump(prices: list[float]) -> tuple[float, float] | None:
    for before, after in zip(prices, prices[1:-1]):
        if before > 0 and after == before * 10:
            return before, after
    return None


@dataclass(slots=True)
class DayStats:
    """Per-UTC-day figures of the revealed games."""

    day: str
    peaks: list[float] = field(default_factory=list)
    highest: float = 0.0
    highest_at: int = 0
    highest_prices: list[float] = field(default_factory=list)
    god_candles: dict[int, dict[str, Any]] = field(default_factory=dict)

    def add(self, peak: float, prices: list[float], timestamp: int) -> None:
        self.peaks.append(peak)
        if peak > self.highest:
            self.highest, self.highest_at, self.highest_prices = peak, timestamp, prices
        jump = god_candle_jump(prices)
        if jump is not None:
            self.god_candles[god_candle_tier(peak)] = {
                "value": peak, "timestamp": timestamp, "prices": prices, "jump": list(jump)
            }

    def average(self) -> float:
        return sum(self.peaks) / len(self.peaks) if self.peaks else 0

    def count(self, multiple: float) -> int:
        return sum(1 for peak in self.peaks if peak >= multiple)


def god_candle_tier(peak: float) -> int:
    """Tier label of a god-candle game; it follows the game's peak (docs/PROTOCOL.md §5: 8.68 → 2x, 57.9 → 50x)."""
    return max(tier for tier in GOD_CANDLE_TIERS if tier == GOD_CANDLE_TIERS[0] or peak >= tier)
