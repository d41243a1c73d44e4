"""Every kind of frame the simulator sends has the key sets and value types of the real frames of that kind,
computed from the real captures (tests/realdata.py), through the wire codec."""

from __future__ import annotations

from collections import defaultdict

import pytest
import realdata
from simdrive import Driver, trace
from simschema import STAND_INS, Signature, differences, kind

from capture_agent.protocol import socketio
from capture_agent.protocol.rules import Phase


def _real_signatures() -> tuple[dict[str, Signature], dict[str, Signature]]:
    by_kind: dict[str, Signature] = defaultdict(Signature)
    by_event: dict[str, Signature] = defaultdict(Signature)
    for _, record in realdata.event_records():
        meta = record.get("meta") or {}
        if meta.get("direction") == "sent" or meta.get("payload_lost") or record.get("data") is None:
            continue
        if record["event"] == "connect":
            continue
        by_kind[kind(record["event"], record["data"])].add(record["data"])
        by_event[record["event"]].add(record["data"])
    return by_kind, by_event


def _play(games: int) -> list[tuple[str, object]]:
    """A client that authenticates, buys in presale, side-bets, buys and sells; every frame it receives goes
    through the wire encoder and decoder. Returns (event or "ack", payload)."""
    driver = Driver("fidelity")
    decoded: list[tuple[str, object]] = []
    acks: list[list] = []
    acks.append(driver.request("authenticate", trace(1)).ack)
    genesis_seen = 0
    plan = {3: ("requestSidebet", {"amount": 0.01, "coinAddress": "So11111111111111111111111111111111111111112", "xPayout": 5}),
            5: ("buyOrder", {"amount": 0.05}), 8: ("sellOrder", {"percentage": 25}), 11: ("buyOrder", {"amount": 0.02})}
    done: set[tuple[str, int]] = set()
    snapshots = []
    while genesis_seen <= games:
        for emission in driver.step():
            if emission.event == "gameStateUpdate" and emission.args[0].get("cooldownTimer") == 15000:
                genesis_seen += 1
        engine = driver.engine
        if (engine.phase, engine.game.game_id) not in done:  # a late joiner in every phase gets a snapshot
            done.add((engine.phase, engine.game.game_id))
            late = f"late-{len(snapshots)}"
            snapshots += [e for e in engine.connect(late, driver.now) if e.target == late]
            engine.disconnect(late)
        key = (engine.game.game_id, engine.tick)
        if engine.phase == Phase.PRESALE and (engine.game.game_id, -1) not in done:
            done.add((engine.game.game_id, -1))
            acks.append(driver.request("buyOrder", trace(2), {"amount": 0.01}).ack)
        if engine.phase == Phase.ACTIVE and engine.tick in plan and key not in done:
            done.add(key)
            event, payload = plan[engine.tick]
            acks.append(driver.request(event, trace(3 + engine.tick), payload).ack)
    assert len(snapshots) >= 4 * games
    for emission in driver.received + snapshots:
        (packet,) = socketio.decode_frame(socketio.encode_event(emission.event, *emission.args))
        decoded.append((packet.event, packet.payload))
    for number, ack in enumerate(acks):
        (packet,) = socketio.decode_frame(socketio.encode_ack(number, *ack))
        decoded.append(("ack", list(packet.args)))
    return decoded


@pytest.fixture(scope="module")
def simulated() -> dict[str, Signature]:
    by_kind: dict[str, Signature] = defaultdict(Signature)
    for event, payload in _play(games=3):
        if event == "ack" and payload and payload[0].get("success") is False:
            continue  # rejections carry "reason" (brief); no real rejection was captured
        by_kind[kind(event, payload)].add(payload)
    return by_kind


@pytest.fixture(scope="module")
def real() -> tuple[dict[str, Signature], dict[str, Signature]]:
    return _real_signatures()


EXPECTED_KINDS = {
    "gameStateUpdate:cooldown", "gameStateUpdate:presale", "gameStateUpdate:presale_opening",
    "gameStateUpdate:genesis", "gameStateUpdate:tick0", "gameStateUpdate:full", "gameStateUpdate:active",
    "gameStateUpdate:rug", "gameStateUpdate:rug_history", "gameStateUpdate:snapshot", "standard/newTrade",
    "playerUpdate", "gameStatePlayerUpdate", "currentSidebet", "currentSidebetResult", "ack",
}


def test_the_simulator_sends_every_frame_kind(simulated):
    assert EXPECTED_KINDS <= set(simulated)


def test_every_simulated_kind_exists_in_the_real_data(simulated, real):
    by_kind, _ = real
    for name in simulated:
        assert name in by_kind or name in STAND_INS, f"{name} never appears in the real captures"


@pytest.mark.parametrize("name", sorted(EXPECTED_KINDS))
def test_keys_and_types_match_the_real_frames(name, simulated, real):
    by_kind, by_event = real
    real_kind = Signature()
    for source in STAND_INS.get(name, (name,)):
        other = by_kind[source]
        real_kind.root_keysets |= other.root_keysets
        for key, types in other.root_types.items():
            real_kind.root_types[key] |= types
    event = name.split(":")[0]
    assert differences(simulated[name], real_kind, by_event[event]) == []


def test_the_comparison_catches_a_wrong_frame(real):
    """The check itself can fail: a cooldown frame with an extra key or a string timer is rejected."""
    by_kind, by_event = real
    wrong = Signature()
    wrong.add({"gameId": "20251212-0000000000000000", "cooldownTimer": "14900", "cooldownPaused": False,
               "allowPreRoundBuys": False, "leaderboard": [], "connectedPlayers": 200,
               "provablyFair": {"serverSeedHash": "0" * 64, "version": "v3"}, "serverSeed": "x"})
    problems = differences(wrong, by_kind["gameStateUpdate:cooldown"], by_event["gameStateUpdate"])
    assert any("serverSeed" in problem for problem in problems)
    assert any("cooldownTimer" in problem for problem in problems)
