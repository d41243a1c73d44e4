"""Shared helpers for the gold tests: features recomputed by hand, independently of the stages."""

from __future__ import annotations

import math
import statistics


def expected_market(prices: list[float]) -> list[dict]:
    """The market features of one game's price path, tick by tick, computed by hand with plain loops."""
    rows, peak, peak_tick = [], -math.inf, 0
    log_returns = []
    for t, price in enumerate(prices):
        prev = prices[t - 1] if t else None
        log_returns.append(math.log(price / prev) if prev else 0.0)
        if price >= peak:
            peak, peak_tick = price, t
        velocity = price - prev if prev is not None else 0.0
        prev_velocity = (prev - prices[t - 2]) if t >= 2 else 0.0
        window = log_returns[-20:]
        row = {
            "game_tick": t, "price": price, "price_velocity": velocity,
            "price_acceleration": velocity - prev_velocity if t >= 1 else 0.0,
            "volatility_20": statistics.pstdev(window), "peak_price": peak, "drawdown_from_peak": 1 - price / peak,
            "ticks_since_peak": t - peak_tick, "tick_observed": 0.0, "flow_trade_count": 0.0,
        }
        for k in (1, 5, 20):
            row[f"return_{k}"] = price / prices[max(0, t - k)] - 1
        rows.append(row)
    return rows
