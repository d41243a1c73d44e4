"""Structural signatures of payloads (key sets and value types, recursively), computed from the real captures
so the simulator's fidelity tests never rely on hand-written field lists.

A payload is flattened to paths: ``.leaderboard[].sideBet.end``. Objects whose keys are all digit strings
(``partialPrices.values``, prize tables) are maps and collapse to ``{}``; the three god-candle tiers share one
path family (``godCandle{N}x…``) because they are the same fields for different thresholds.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from capture_agent.protocol.game import FrameShape, frame_shape

_TIER = re.compile(r"godCandle\d+x")


def type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"  # JSON has one number type (1.0 is written 1)
    if isinstance(value, str):
        return "str"
    return "list" if isinstance(value, list) else "object"


@dataclass
class Signature:
    """Root key sets, and for every nested path its key sets (objects) and value types."""

    root_keysets: set[frozenset] = field(default_factory=set)
    root_types: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    keysets: dict[str, set[frozenset]] = field(default_factory=lambda: defaultdict(set))
    types: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))

    def add(self, payload: Any) -> None:
        if isinstance(payload, dict):
            self.root_keysets.add(frozenset(payload))
            for key, value in payload.items():
                self.root_types[_TIER.sub("godCandleNx", key)].add(type_name(value))
        _walk(payload, "", self)


def _walk(value: Any, path: str, signature: Signature) -> None:
    path = _TIER.sub("godCandleNx", path)
    signature.types[path].add(type_name(value))
    if isinstance(value, dict):
        if value and all(key.isdigit() for key in value):
            for item in value.values():
                _walk(item, path + "{}", signature)
            return
        signature.keysets[path].add(frozenset(value))
        for key, item in value.items():
            _walk(item, f"{path}.{key}", signature)
    elif isinstance(value, list):
        for item in value:
            _walk(item, path + "[]", signature)


def kind(event: str, payload: Any) -> str:
    """``gameStateUpdate:<shape>`` for game frames, else the event name."""
    if event == "gameStateUpdate" and isinstance(payload, dict):
        return f"gameStateUpdate:{frame_shape(payload)}"
    return event


# The full tick-0 frame (docs/PROTOCOL.md §2 step 7) is not in the shared captures; it has the full-frame layout of
# the genesis and rug #2 frames, so those stand in for it.
STAND_INS = {f"gameStateUpdate:{FrameShape.FULL}": (f"gameStateUpdate:{FrameShape.GENESIS}", f"gameStateUpdate:{FrameShape.RUG_HISTORY}")}


def differences(sim: Signature, real_kind: Signature, real_event: Signature) -> list[str]:
    """What the simulator's payloads of one kind have that the real ones never show.

    Root: every simulated key set must be one of the real key sets of that frame kind, with value types the
    real frames of that kind show. Nested: key sets and types must appear in real payloads of the same event
    (nested objects — leaderboard entries, history entries — are the same objects in every frame kind).
    """
    problems = []
    for keys in sim.root_keysets:
        if keys not in real_kind.root_keysets:
            closest = min(real_kind.root_keysets, key=lambda real: len(real ^ keys), default=frozenset())
            problems.append(f"root keys differ: extra {sorted(keys - closest)}, missing {sorted(closest - keys)}")
    for key, types in sim.root_types.items():
        extra = types - real_kind.root_types.get(key, set())
        if extra:
            problems.append(f"root .{key}: types {sorted(extra)} never seen (real: {sorted(real_kind.root_types.get(key, ()))})")
    for path, keysets in sim.keysets.items():
        if not path:
            continue
        for keys in keysets - real_event.keysets.get(path, set()):
            options = real_event.keysets.get(path, set())
            closest = min(options, key=lambda real: len(real ^ keys), default=frozenset())
            problems.append(f"{path}: keys extra {sorted(keys - closest)}, missing {sorted(closest - keys)}")
    for path, types in sim.types.items():
        if not path:
            continue
        extra = types - real_event.types.get(path, set())
        if extra:
            problems.append(f"{path}: types {sorted(extra)} never seen (real: {sorted(real_event.types.get(path, ()))})")
    return problems
