r"""Engine.IO v4 packets (docs/PROTOCOL.md §1): the transport layer under Socket.IO, pure and total.

Frame grammar (text):
    <engine type digit 0-6>[data]                      one Engine.IO packet (WebSocket message)
    <packet>\x1e<packet>\x1e…                           HTTP long-polling body
    b<base64>                                           binary packet inside a polling body
A binary WebSocket message (``bytes``) is sent bare, without a type byte.

Decoding never raises: a packet that breaks the protocol comes back with ``error`` saying what is wrong and
``raw`` keeping the text verbatim. The Socket.IO packet inside a MESSAGE is read by
:mod:`capture_agent.protocol.socketio`, which is where whole frames are decoded.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from capture_agent.protocol.jsjson import dumps, loads

if TYPE_CHECKING:
    from capture_agent.protocol.socketio import SocketType


class EngineType(StrEnum):
    OPEN = "open"
    CLOSE = "close"
    PING = "ping"
    PONG = "pong"
    MESSAGE = "message"
    UPGRADE = "upgrade"
    NOOP = "noop"


ENGINE_BY_DIGIT = dict(zip("0123456", EngineType))

RECORD_SEPARATOR = "\x1e"
PING = "2"
PONG = "3"


@dataclass(frozen=True, slots=True)
class Packet:
    """One decoded Engine.IO packet (and the Socket.IO packet inside it, for MESSAGE)."""

    raw: str | bytes  # this packet's text/bytes verbatim
    engine_type: EngineType | None  # None only when even that could not be read
    socket_type: SocketType | None = None
    namespace: str = "/"
    ack_id: int | None = None
    event: str | None = None  # event name (EVENT/BINARY_EVENT)
    args: tuple = ()  # all arguments after the event name (acks: all ack args)
    payload: Any = None  # last argument; for open/connect/connect_error the JSON data
    trace_id: str | None = None  # 32-hex trace id when args[0] is a W3C trace object
    attachments: int = 0  # binary attachment count of 45x/46x packets
    error: str | None = None  # what is wrong, when the packet is malformed


def binary_message(data: bytes) -> Packet:
    """A binary WebSocket message: in Engine.IO v4 a bare MESSAGE whose payload is the bytes."""
    return Packet(raw=data, engine_type=EngineType.MESSAGE, payload=data)


def decode_packet(text: str) -> Packet:
    """One Engine.IO packet as this layer sees it; a MESSAGE keeps its Socket.IO text as the payload."""
    if not isinstance(text, str):
        return Packet(raw=repr(text), engine_type=None, error=f"packet is {type(text).__name__}, not text")
    if not text:
        return Packet(raw=text, engine_type=None, error="empty packet")
    head = text[0]
    if head == "b":
        return _decode_base64(text)
    engine_type = ENGINE_BY_DIGIT.get(head)
    if engine_type is None:
        return Packet(raw=text, engine_type=None, error=f"unknown Engine.IO packet type {head!r}")
    data = text[1:]
    if engine_type is EngineType.MESSAGE:
        return Packet(raw=text, engine_type=engine_type, payload=data)
    if engine_type is EngineType.OPEN:
        try:
            handshake = loads(data)
        except ValueError:
            return Packet(raw=text, engine_type=engine_type, error="open packet data is not JSON")
        if not isinstance(handshake, dict):
            error = "open packet data is not an object"
            return Packet(raw=text, engine_type=engine_type, payload=handshake, error=error)
        return Packet(raw=text, engine_type=engine_type, payload=handshake)
    if engine_type in (EngineType.PING, EngineType.PONG):
        # "2probe"/"3probe" test the WebSocket during the upgrade; the data is kept as the payload.
        return Packet(raw=text, engine_type=engine_type, payload=data or None)
    if data:
        error = f"unexpected data after {engine_type} packet"
        return Packet(raw=text, engine_type=engine_type, payload=data, error=error)
    return Packet(raw=text, engine_type=engine_type)


def _decode_base64(text: str) -> Packet:
    try:
        data = base64.b64decode(text[1:], validate=True)
    except (binascii.Error, ValueError):
        return Packet(raw=text, engine_type=EngineType.MESSAGE, error="binary packet is not valid base64")
    return Packet(raw=text, engine_type=EngineType.MESSAGE, payload=data)


def encode_open(data: dict) -> str:
    """Engine.IO OPEN: ``0{"sid":…,"upgrades":[…],"pingInterval":…,"pingTimeout":…,"maxPayload":…}``."""
    return "0" + dumps(data)


def encode_polling(packets: Iterable[str]) -> str:
    """An HTTP long-polling body: text packets joined by the record separator."""
    return RECORD_SEPARATOR.join(packets)
