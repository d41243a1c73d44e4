"""The game's rules, once: phases and their order, timing, event names, trade limits, lamports, the side bet, the
short, the rug and an account's equity (docs/PROTOCOL.md §2–§5, docs/TRAPS.md §4). The simulator plays by them, the pipeline
checks and values recordings by them, the environments trade by them. Pure, no dependencies.

The value rules (:func:`lamports`, :func:`sidebet_value`, :func:`short_value`, :func:`equity`) use arithmetic and
comparison operators only, so one definition values one account (Python floats) and whole columns (numpy arrays)
alike; ``tests/protocol/test_rules.py`` holds the two to the same numbers.
"""

from __future__ import annotations

import random
from enum import StrEnum

# --- phases ----------------------------------------------------------------------------------------------


class Phase(StrEnum):
    """A game's phases in lifecycle order (``game.phase`` reads one from a ``gameStateUpdate``)."""

    COOLDOWN = "cooldown"
    PRESALE = "presale"
    ACTIVE = "active"
    RUGGED = "rugged"


PHASE_RANK = {phase.value: rank for rank, phase in enumerate(Phase)}  # cooldown 0, presale 1, active 2, rugged 3
# Cooldown and presale frames name the upcoming game and have no tick; a game has ticks while it runs and once rugged.
PRE_GAME_PHASES = (Phase.COOLDOWN.value, Phase.PRESALE.value)
IN_GAME_PHASES = (Phase.ACTIVE.value, Phase.RUGGED.value)

# --- timing (docs/PROTOCOL.md §2) ---------------------------------------------------------------------------

TICK_MS = 250  # one active tick
COOLDOWN_MS = 15_000  # rug → next game's tick 0; cooldownTimer counts it down
COOLDOWN_STEP_MS = 100  # one cooldown/presale frame
PRESALE_FROM_MS = 10_000  # presale (allowPreRoundBuys) is the cooldown from this timer value down
HISTORY_LENGTH = 10  # gameHistory entries in a full frame, newest first

# --- event names (docs/PROTOCOL.md §3, §4; docs/TRAPS.md §2) ------------------------------------------------

GAME_STATE_UPDATE = "gameStateUpdate"
GAME_STATE_PLAYER_UPDATE = "gameStatePlayerUpdate"
PLAYER_UPDATE = "playerUpdate"
NEW_TRADE = "standard/newTrade"
CURRENT_SIDEBET = "currentSidebet"
CURRENT_SIDEBET_RESULT = "currentSidebetResult"
TRADE_EVENTS = (NEW_TRADE, "newTrade")  # the Aug 2025 name too
SIDEBET_RESULT_EVENTS = (CURRENT_SIDEBET_RESULT, "currentSideBetResult")  # both spellings were seen

# Client requests answered with an ack. The real names of the short pair are unknown (docs/PROTOCOL.md §4): these two
# are the simulator's, and the pipeline reads them as such.
BUY_ORDER = "buyOrder"
SELL_ORDER = "sellOrder"
REQUEST_SIDEBET = "requestSidebet"
SHORT_ORDER = "shortOrder"
CLOSE_SHORT = "closeShort"
AUTHENTICATE = "authenticate"
PING = "ping"  # the application-level keep-alive emit, not Engine.IO's ping packet
ORDER_KINDS = {BUY_ORDER: "buy", SELL_ORDER: "sell", REQUEST_SIDEBET: "sidebet", SHORT_ORDER: "short_open",
               CLOSE_SHORT: "short_close"}  # fmt: skip
ORDER_EVENTS = tuple(ORDER_KINDS)
TRADE_TYPES = ("buy", "sell", "short_open", "short_close")  # standard/newTrade ``type``

# Every other event docs/PROTOCOL.md names, both directions: kept verbatim, no rule of the game depends on them.
OTHER_EVENTS = frozenset(
    {
        "newChatMessage", "goldenHourUpdate", "goldenHourDrawing", "battleEventUpdate", "sidebetEventUpdate",
        "maintenanceUpdate", "rugRoyaleUpdate", "usernameStatus", "playerLeaderboardPosition", "leaderboardData",
        "inboxMessages", "mutedPlayers", "playerCosmetics", "rugpassStatus", "chatHistory", "rugPassQuestCompleted",
        "gameNotification", "rugpoolDrawing", "rugpoolStatus", "newSideBet", "checkUsername", "getLeaderboard",
        "getPlayerCosmetics", "getPlayerLeaderboardPosition",
    }
)  # fmt: skip
KNOWN_EVENTS = frozenset(
    {GAME_STATE_UPDATE, GAME_STATE_PLAYER_UPDATE, PLAYER_UPDATE, CURRENT_SIDEBET, AUTHENTICATE, PING, *TRADE_EVENTS,
     *SIDEBET_RESULT_EVENTS, *ORDER_EVENTS, *OTHER_EVENTS}
)  # fmt: skip

# --- trades (docs/PROTOCOL.md §3.2, §4) ---------------------------------------------------------------------

MIN_TRADE = 0.001  # SOL
MAX_TRADE = 5.0  # SOL
SELL_PERCENTAGES = (10, 25, 50, 100)  # what the UI offers
SOL_COIN = "So11111111111111111111111111111111111111112"  # the coinAddress of a SOL side bet


def lamports(value):
    """Truncate SOL to 9 decimals, as the server does for quantities and amounts (0.0931578658… → 0.093157865).

    The 1e-6 lamport keeps a value that is whole in lamports but lands a hair below in binary (0.3 · 1e9) whole.
    """
    return (value * 1e9 + 1e-6) // 1 / 1e9


# --- the side bet (docs/PROTOCOL.md §3.1, docs/TRAPS.md §4) -------------------------------------------------

SIDEBET_WINDOW = 40  # ticks: endTick = startTick + 40
SIDEBET_PAYOUT = 5  # × the bet on a win


def sidebet_end_tick(start_tick):
    return start_tick + SIDEBET_WINDOW


def sidebet_wins(rug_tick, end_tick):
    """Inclusive window: the bet wins iff the game rugs at or before ``end_tick`` (11 of 385 real wins rugged exactly
    at endTick)."""
    return rug_tick <= end_tick


def sidebet_value(bet_amount, end_tick, tick, rug_tick):
    """What an open side bet is worth at ``tick``: its stake while undecided, the payout once the rug fell inside the
    window, nothing once the window passed without one. ``rug_tick`` < 0: the game has not rugged (yet).

    Placing a bet is therefore value-neutral, and the outcome counts on the tick it becomes known.
    """
    won = (rug_tick >= 0) & (tick >= rug_tick) & sidebet_wins(rug_tick, end_tick)
    expired = tick > end_tick
    return bet_amount * (won * SIDEBET_PAYOUT + (1 - won) * (1 - expired))


# --- the short (docs/PROTOCOL.md §3.2: its client events are undocumented) ----------------------------------


def short_value(amount, entry_price, price):
    """What closing a short pays back: ``amount · (2 − price / entry_price)``, floored at 0, in lamports.

    The simplest model consistent with the observed ``short_open``/``short_close`` trades; truncated like every other
    amount the server pays (the ``short_close`` trade's amount is this value).
    """
    value = amount * (2 - price / entry_price)
    return lamports(value * (value > 0))


# --- the rug (docs/PROTOCOL.md §5) --------------------------------------------------------------------------

GAME_VERSION = "v3"  # the provably-fair version the server announces (docs/PROTOCOL.md §5)
RUG_REMAINDER_CAP = 0.02  # the rug price never exceeds 0.02, nor 0.02 × the price before it


def rug_remainder_bound(previous_price: float) -> float:
    """The largest rug price after ``previous_price``: every one of 898 real paths stayed within it (up to float
    rounding)."""
    return min(RUG_REMAINDER_CAP, RUG_REMAINDER_CAP * previous_price)


def draw_rug_remainder(rng: random.Random, previous_price: float) -> float:
    """A rug price after ``previous_price``, 0 < remainder ≤ :func:`rug_remainder_bound`, shaped like the real deciles
    (docs/PROTOCOL.md §5): about one rug in seven sits exactly at the bound, the rest spread over (0.25, 1) of it. The
    server's own draw is hidden; the simulator and ``vectra/Sim-v0`` both draw with this one."""
    bound = rug_remainder_bound(previous_price)
    fraction = 1.0 if rng.random() < 0.15 else rng.uniform(0.25, 1.0)
    return bound * fraction if bound > 0 else 5e-324


def rug_tick_of_path(prices_length):
    """A full price path runs from tick 0 to the rug remainder: its last index is the rug tick (a polars list length
    works as well as ``len``)."""
    return prices_length - 1


# --- equity ---------------------------------------------------------------------------------------------


def equity(cash, position_qty, price, sidebet_value, short_value):
    """Mark-to-market worth of an account in SOL: cash, the position at the tick's price, the open side bet's and
    the open short's values (:func:`sidebet_value`, :func:`short_value`)."""
    return cash + position_qty * price + sidebet_value + short_value
