"""Captured rows → the live feed's normalised events (pure).

Every event is ``{"type", "ts_ns", "seq", "game_id", "direction", "data"}``: ``ts_ns`` is the capture (receipt)
time in UTC nanoseconds, ``seq`` the landing row it came from (a frame holding several packets yields several
events with the same seq). Types:

``game.tick``       a ``gameStateUpdate``: gameId, phase, tickCount, price, cooldownTimer, … — only the fields
                    the frame carries (a cooldown frame has no price; none is made up), leaderboards left out
``player.state``    ``playerUpdate`` / ``gameStatePlayerUpdate`` payload
``player.trade``    ``standard/newTrade`` (``newTrade`` in 2025 builds) payload
``sidebet.placed``  ``currentSidebet`` / ``newSideBet`` payload
``sidebet.result``  ``currentSidebetResult`` (``currentSideBetResult``) payload
``connection.<e>``  a lifecycle row (connected, disconnected, reconnecting, gap, …) with its detail
``ui.click``        a click on a trade control
``raw.<event>``     any other Socket.IO event (payload = last argument); ``raw.ack`` for acks with ack_id and
                    args; ``raw.malformed`` for a packet the codec flagged, with the error and the text as landed
Engine.IO housekeeping (open, ping, pong, namespace connect) is not re-published: it is in the landing zone.
Outgoing frames are published with their event name and ack id only — their arguments can carry tokens.
Everything here is built from what the recorder landed, after redaction: payloads, malformed text and details.
"""

from __future__ import annotations

from typing import Any

from capture_agent.landing.schema import Direction, RecordType
from capture_agent.protocol.engineio import Packet
from capture_agent.protocol.game import phase
from capture_agent.protocol.rules import (
    CURRENT_SIDEBET,
    GAME_STATE_PLAYER_UPDATE,
    GAME_STATE_UPDATE,
    PLAYER_UPDATE,
    SIDEBET_RESULT_EVENTS,
    TRADE_EVENTS,
)
from capture_agent.protocol.socketio import SocketType
from capture_agent.sources.recorder import Captured

TICK_FIELDS = (
    "gameId",
    "active",
    "rugged",
    "tickCount",
    "price",
    "cooldownTimer",
    "cooldownPaused",
    "allowPreRoundBuys",
    "tradeCount",
    "connectedPlayers",
)

_EVENT_TYPES = {
    PLAYER_UPDATE: "player.state",
    GAME_STATE_PLAYER_UPDATE: "player.state",
    **dict.fromkeys(TRADE_EVENTS, "player.trade"),
    CURRENT_SIDEBET: "sidebet.placed",
    "newSideBet": "sidebet.placed",
    **dict.fromkeys(SIDEBET_RESULT_EVENTS, "sidebet.result"),
}


def normalise(captured: Captured) -> list[dict[str, Any]]:
    """The feed events of one captured row (possibly none)."""
    base = {"ts_ns": captured.recv_wall_ns, "seq": captured.seq}
    if captured.record_type is RecordType.CONNECTION:
        detail = captured.detail or {}
        return [{"type": f"connection.{captured.event}", **base, "game_id": None, "direction": None, "data": detail}]
    if captured.record_type is RecordType.CLICK:
        return [{"type": "ui.click", **base, "game_id": None, "direction": None, "data": captured.detail or {}}]
    direction = str(captured.direction) if captured.direction else None
    events = []
    for packet in captured.packets:
        event = _packet_event(packet, captured.direction)
        if event is not None:
            kind, game_id, data = event
            events.append({"type": kind, **base, "game_id": game_id, "direction": direction, "data": data})
    return events


def _packet_event(packet: Packet, direction: Direction | None) -> tuple[str, str | None, Any] | None:
    if packet.error is not None:
        raw = packet.raw if isinstance(packet.raw, str) else packet.raw.hex()
        return "raw.malformed", None, {"error": packet.error, "frame": raw}
    if isinstance(packet.payload, bytes):
        return "raw.binary", None, {"bytes": len(packet.payload)}
    if packet.socket_type is SocketType.ACK or packet.socket_type is SocketType.BINARY_ACK:
        data = {"ack_id": packet.ack_id}
        if direction is not Direction.OUT:
            data["args"] = list(packet.args)
        return "raw.ack", None, data
    if packet.event is None:
        return None
    if direction is Direction.OUT:
        return f"raw.{packet.event}", None, {"ack_id": packet.ack_id}
    payload = packet.payload
    game_id = payload.get("gameId") if isinstance(payload, dict) and isinstance(payload.get("gameId"), str) else None
    if packet.event == GAME_STATE_UPDATE and isinstance(payload, dict):
        tick = {name: payload[name] for name in TICK_FIELDS if name in payload}
        tick["phase"] = str(phase(payload))
        return "game.tick", game_id, tick
    kind = _EVENT_TYPES.get(packet.event, f"raw.{packet.event}")
    return kind, game_id, payload
