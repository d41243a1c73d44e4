"""Background bots: a handful of deterministic players so the public frames carry trades, leaderboards and
side bets like the real server's. Pure: every choice comes from the caller's ``random.Random``.
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass

from capture_agent.protocol.rules import SELL_PERCENTAGES
from capture_agent.protocol.trading import Player

BOT_CASH = 1000.0
_NAMES = (
    "Fannyman", "Jxm", "SILVER", "Nk001", "Batostie", "HOLDOR", "Ray302", "d3e", "Syken", "Nofear", "KingDev",
    "Snuff", "surfmin", "zbworld", "Akasu1", "bLUNTmeh", "Wolfeee", "Chino", "Deffy", "Miles7870",
)
_ID_CHARS = string.ascii_lowercase + string.digits


@dataclass(frozen=True, slots=True)
class Intent:
    """What a bot wants to do now: ``buy``/``short`` carry an amount in SOL, ``sell`` a percentage."""

    action: str  # buy | sell | sidebet | short | close_short
    value: float = 0.0


def privy_id(rng: random.Random) -> str:
    """An id shaped like the real ``did:privy:`` player ids (25 lowercase alphanumerics starting with ``cm``)."""
    return "did:privy:cm" + "".join(rng.choice(_ID_CHARS) for _ in range(23))


def make_bots(rng: random.Random, count: int) -> list[Player]:
    bots = []
    for index in range(count):
        name = _NAMES[index % len(_NAMES)] + ("" if index < len(_NAMES) else str(index // len(_NAMES)))
        bots.append(Player(id=privy_id(rng), username=name, level=rng.randint(1, 80), cash=BOT_CASH, is_bot=True))
    return bots


def _stake(rng: random.Random) -> float:
    return rng.choice((0.001, 0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.2, 0.5))


def presale_intent(rng: random.Random, bot: Player) -> Intent | None:
    """Called on each presale step (≈100 per game): about a third of the bots buy once before tick 0."""
    if bot.position_qty == 0 and rng.random() < 0.004:
        return Intent("buy", _stake(rng))
    return None


def tick_intents(rng: random.Random, bot: Player, tick: int, price: float) -> list[Intent]:
    """Called once per active tick: a few trades per bot per game, the odd side bet and short."""
    intents = []
    if bot.position_qty > 0:
        take_profit = bot.avg_cost and price > bot.avg_cost * 1.3
        if rng.random() < (0.08 if take_profit else 0.02):
            intents.append(Intent("sell", rng.choice(SELL_PERCENTAGES)))
    elif rng.random() < 0.012:
        intents.append(Intent("buy", _stake(rng)))
    if bot.sidebet is None and rng.random() < 0.006:
        intents.append(Intent("sidebet", _stake(rng)))
    if bot.short is None:
        if tick > 5 and rng.random() < 0.002:
            intents.append(Intent("short", _stake(rng)))
    elif rng.random() < 0.03:
        intents.append(Intent("close_short"))
    return intents
