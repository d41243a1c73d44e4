"""The rugpool: trades buy entries and top the pool up, instarugs (a rug within 10 ticks) count towards the
threshold, and at the threshold the pool is drawn among the entrants with most entries. Pure; the figures follow
the shapes of the captured ``rugpool`` objects (docs/PROTOCOL.md §3.1)."""

from __future__ import annotations

import random
from collections.abc import Callable

from capture_agent.protocol.trading import Player

THRESHOLD = 10
CONFIG = {"threshold": THRESHOLD, "instarugThreshold": 6, "rugpoolPercentage": 0.5}
SOL_PER_ENTRY = 0.001
MAX_ENTRIES_PER_PLAYER = 5000
INSTARUG_TICKS = 10
POOL_SHARE = 0.005  # of every traded amount


class Rugpool:
    def __init__(self, rng: random.Random, bots: list[Player], start_ms: int) -> None:
        self.instarug_count = rng.randint(0, 5)
        self.amount = round(rng.uniform(1, 3), 9)
        self.entries: dict[str, int] = {}
        # the server has drawn before: a drawing an hour ago among the first bots
        winners = [{"playerId": bot.id, "username": bot.username, "entries": rng.randint(100, 3000), "reward": 1.2}
                   for bot in bots[:3]]  # fmt: skip
        self.last_drawing = {"timestamp": start_ms - 3_600_000, "winners": winners, "rewardPerWinner": 1.2,
                             "totalPoolAmount": round(1.2 * len(winners), 9)}  # fmt: skip

    def add(self, player: Player, amount: object) -> None:
        """A trade of ``amount`` SOL: a share of it joins the pool, and it buys entries (capped per player)."""
        if isinstance(amount, (int, float)) and not isinstance(amount, bool):
            self.amount += float(amount) * POOL_SHARE
            entries = self.entries.get(player.id, 0) + int(float(amount) / SOL_PER_ENTRY)
            self.entries[player.id] = min(MAX_ENTRIES_PER_PLAYER, entries)

    def public(self) -> dict:
        """The ``rugpool`` of the 21-key ``gameStateUpdate`` frames."""
        return {"instarugCount": self.instarug_count, "threshold": THRESHOLD, "rugpoolAmount": self.amount}

    def private(self, username: Callable[[str], str]) -> dict:
        """The ``rugpool`` of a ``gameStatePlayerUpdate``, with the top ten entrants."""
        total = sum(self.entries.values())
        ranked = sorted(self.entries.items(), key=lambda item: -item[1])[:10]
        return {
            "instarugCount": self.instarug_count,
            "rugpoolAmount": self.amount,
            "totalEntries": total,
            "threshold": THRESHOLD,
            "playersWithEntries": len(self.entries),
            "solPerEntry": SOL_PER_ENTRY,
            "maxEntriesPerPlayer": MAX_ENTRIES_PER_PLAYER,
            "playerEntries": [
                {"playerId": pid, "entries": entries, "username": username(pid), "percentage": entries / total * 100}
                for pid, entries in ranked
            ],
            "lastDrawing": self.last_drawing,
            "config": CONFIG,
        }

    def close_round(self, rug_tick: int, now_ms: int, username: Callable[[str], str]) -> None:
        """A game rugged at ``rug_tick``: an instarug counts, and at the threshold the pool is drawn among the top
        three entrants."""
        if rug_tick > INSTARUG_TICKS:
            return
        self.instarug_count += 1
        if self.instarug_count < THRESHOLD or not self.entries:
            return
        pool = self.amount
        ranked = sorted(self.entries.items(), key=lambda item: -item[1])[:3]
        reward = pool / len(ranked)
        self.last_drawing = {
            "timestamp": now_ms,
            "winners": [{"playerId": pid, "username": username(pid), "entries": n, "reward": reward}
                        for pid, n in ranked],
            "rewardPerWinner": reward,
            "totalPoolAmount": pool,
        }
        self.instarug_count, self.amount = 0, 0.0
        self.entries.clear()
