"""What a ``gameStateUpdate`` payload says: its phase, its frame shape, the rug tick (docs/PROTOCOL.md §2, docs/TRAPS.md §4).

Everything in Vectra that asks "which phase is this frame in?", "what kind of frame is this?" or "is this the rug
tick?" calls these functions: the simulator's fidelity tests, the capture agent's live status and the pipeline's
contracts and tick tables. Pure functions over a decoded payload dict (the phases themselves are
:class:`capture_agent.protocol.rules.Phase`).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from capture_agent.protocol.rules import Phase


class FrameShape(StrEnum):
    """The kinds of ``gameStateUpdate`` seen on the wire, in lifecycle order."""

    COOLDOWN = "cooldown"  # 7 keys, allowPreRoundBuys false
    PRESALE = "presale"  # 7 keys, allowPreRoundBuys true
    PRESALE_OPENING = "presale_opening"  # 21 keys, active false, tickCount 0, opens presale at 10000
    GENESIS = "genesis"  # full frame of a new game: cooldownTimer 15000, active false, gameHistory
    TICK0 = "tick0"  # 14 keys: active, tickCount 0, no stats
    ACTIVE = "active"  # 21 keys, one per tick
    RUG = "rug"  # rug frame #1: rugged, still active, no gameHistory
    RUG_HISTORY = "rug_history"  # rug frame #2: rugged, with gameHistory
    SNAPSHOT = "snapshot"  # the first frame after connecting: full, with top-level prices
    FULL = "full"  # any other full frame (e.g. the full tick-0 frame with gameHistory)


def phase(state: Mapping[str, Any]) -> Phase:
    """Phase of a ``gameStateUpdate`` payload.

    ``rugged`` decides first because ``active`` stays true in both rug frames; presale is the
    ``allowPreRoundBuys`` window of the cooldown (the peer project called every presale frame cooldown).
    """
    if state.get("rugged") is True:
        return Phase.RUGGED
    if state.get("active") is True:
        return Phase.ACTIVE
    if state.get("allowPreRoundBuys") is True:
        return Phase.PRESALE
    return Phase.COOLDOWN


def frame_shape(state: Mapping[str, Any]) -> FrameShape:
    """Classify a ``gameStateUpdate`` payload by the keys it carries (see docs/PROTOCOL.md §2 lifecycle)."""
    if "active" not in state:
        return FrameShape.PRESALE if state.get("allowPreRoundBuys") is True else FrameShape.COOLDOWN
    if "prices" in state:
        return FrameShape.SNAPSHOT
    has_history = "gameHistory" in state
    if state.get("rugged") is True:
        return FrameShape.RUG_HISTORY if has_history else FrameShape.RUG
    if state.get("active") is not True:
        if has_history:
            return FrameShape.GENESIS
        return FrameShape.PRESALE_OPENING
    if has_history:
        return FrameShape.FULL
    if "tradeCount" not in state:
        return FrameShape.TICK0
    return FrameShape.ACTIVE


def is_rug_frame(shape):
    """True for rug frame #1, the one frame whose ``tickCount`` is the rug tick. Rug frame #2 shows a tickCount advanced
    by 0–3 with frozen prices, so it never defines the rug tick. Takes a shape or a polars column of shapes."""
    return shape == FrameShape.RUG.value


def rug_tick(state: Mapping[str, Any]) -> int | None:
    """Rug tick of the game a frame belongs to: ``tickCount`` of rug frame #1, else None."""
    return int(state["tickCount"]) if is_rug_frame(frame_shape(state)) else None
