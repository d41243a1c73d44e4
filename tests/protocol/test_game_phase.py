"""``game.phase`` / ``frame_shape`` / ``rug_tick`` on every real gameStateUpdate (docs/PROTOCOL.md §2, docs/TRAPS.md §4)."""

from __future__ import annotations

from collections import defaultdict

from realdata import event_records, games

from capture_agent.protocol.game import FrameShape, frame_shape, phase, rug_tick
from capture_agent.protocol.rules import Phase

STATES = [(name, record["data"]) for name, record in event_records() if record["event"] == "gameStateUpdate"]


def _known_paths() -> dict[str, list[float]]:
    """Full price paths (rug remainder last) by gameId: games.jsonl plus gameHistory entries in the frames."""
    paths = {g["gameId"]: g["prices"] for g in games() if g.get("gameId") and g.get("prices")}
    for _, state in STATES:
        for entry in state.get("gameHistory") or []:
            if entry.get("prices"):
                paths[entry["id"]] = entry["prices"]
    return paths


PATHS = _known_paths()


def _expected_phase(state: dict) -> Phase:
    """docs/PROTOCOL.md §2 written out independently: rugged beats active; presale is the allowPreRoundBuys window."""
    if state.get("rugged"):
        return Phase.RUGGED
    if state.get("active"):
        return Phase.ACTIVE
    return Phase.PRESALE if state["allowPreRoundBuys"] else Phase.COOLDOWN


def test_every_real_frame_gets_the_protocol_phase():
    counts: dict[Phase, int] = defaultdict(int)
    for name, state in STATES:
        got = phase(state)
        assert got is _expected_phase(state), (name, state.get("gameId"), state.get("cooldownTimer"))
        counts[got] += 1
        if got is Phase.PRESALE:
            assert 0 < state["cooldownTimer"] <= 10000  # presale runs from 10000 down to 100
        elif got is Phase.COOLDOWN:
            assert state["cooldownTimer"] > 10000
        elif got is Phase.ACTIVE:
            assert state["cooldownTimer"] == 0
    assert len(STATES) > 600
    assert all(counts[p] > 0 for p in Phase), counts


def test_rugged_frames_are_rugged_though_still_active():
    rugged = [state for _, state in STATES if state.get("rugged") is True]
    assert rugged
    for state in rugged:
        assert state["active"] is True  # the trap: active stays true in both rug frames
        assert phase(state) is Phase.RUGGED
        assert frame_shape(state) is (FrameShape.RUG_HISTORY if "gameHistory" in state else FrameShape.RUG)


def test_frame_shapes_follow_the_lifecycle():
    seen: set[FrameShape] = set()
    genesis_cooldown = 0
    for name, state in STATES:
        shape = frame_shape(state)
        seen.add(shape)
        context = (name, state.get("gameId"), len(state))
        if "active" not in state:  # 7-key cooldown / presale frames
            assert len(state) == 7, context
            assert shape is (FrameShape.PRESALE if state["allowPreRoundBuys"] else FrameShape.COOLDOWN), context
        elif "prices" in state:
            assert shape is FrameShape.SNAPSHOT, context
        elif state["active"] is False and "gameHistory" in state:
            assert shape is FrameShape.GENESIS, context
            assert (state["tickCount"], state["price"]) == (0, 1), context
            assert phase(state) is _expected_phase(state)
            genesis_cooldown += state["cooldownTimer"] == 15000 and phase(state) is Phase.COOLDOWN
        elif state["active"] is False:  # the 21-key frame that opens presale
            assert shape is FrameShape.PRESALE_OPENING, context
            assert (len(state), state["tickCount"], state["cooldownTimer"]) == (21, 0, 10000), context
            assert phase(state) is Phase.PRESALE
        elif state["rugged"]:
            continue  # covered above
        elif len(state) == 14:
            assert shape is FrameShape.TICK0 and state["tickCount"] == 0, context
        elif len(state) == 21:
            assert shape is FrameShape.ACTIVE, context
    expected = {FrameShape.COOLDOWN, FrameShape.PRESALE, FrameShape.PRESALE_OPENING, FrameShape.GENESIS,
                FrameShape.TICK0, FrameShape.ACTIVE, FrameShape.RUG, FrameShape.RUG_HISTORY, FrameShape.SNAPSHOT}
    assert expected <= seen, expected - seen
    assert genesis_cooldown > 0  # the genesis frame (timer 15000) opens the new game's cooldown


def test_active_price_is_the_path_price_at_the_tick():
    checked = 0
    for _, state in STATES:
        path = PATHS.get(state.get("gameId"))
        if path and phase(state) is Phase.ACTIVE and "price" in state:
            assert state["price"] == path[state["tickCount"]]
            checked += 1
    assert checked > 100, checked


def test_rug_tick_only_from_rug_frame_one():
    rug_frames: dict[str, list[int]] = defaultdict(list)
    for name, state in STATES:
        shape = frame_shape(state)
        tick = rug_tick(state)
        if shape is FrameShape.RUG:
            assert tick == state["tickCount"]
            rug_frames[state["gameId"]].append(tick)
            path = PATHS.get(state["gameId"])
            if path:
                assert tick == len(path) - 1  # rug tick = len(prices) - 1
                assert state["price"] == path[-1]  # the rug remainder
        else:
            assert tick is None, (name, state.get("gameId"), shape)
    assert rug_frames
    assert any(state["gameId"] in PATHS for _, state in STATES if frame_shape(state) is FrameShape.RUG)
    # rug frame #2 of the same game: tickCount advanced by 0–3, so it must never redefine the rug tick
    pairs = 0
    for _, state in STATES:
        if frame_shape(state) is FrameShape.RUG_HISTORY and state["gameId"] in rug_frames:
            advance = state["tickCount"] - rug_frames[state["gameId"]][0]
            assert 0 <= advance <= 3, advance
            pairs += 1
    assert pairs > 0
