r"""Socket.IO v5 packets over Engine.IO v4 (docs/PROTOCOL.md §1): whole frames in, packets out, and the encoders.

Decoding never raises: a frame that breaks the protocol yields a :class:`Packet` whose ``error`` says what is
wrong and whose ``raw`` keeps the text verbatim, so the capture agent and the pipeline can keep and report it.

Packet grammar (inside an Engine.IO MESSAGE, see :mod:`capture_agent.protocol.engineio` for the frame around it):
    4<socket type digit>[<n>-][/<namespace>,][<ack id>][<JSON>]
A binary WebSocket message is an attachment of the preceding ``45``/``46`` packet (:class:`Attachments`).

Validation follows socket.io-parser 4 (checked against it in tests/protocol/test_codec_node.py): reserved
event names, attachment counts < 1, a non-array event/ack body are errors. The decoder is stricter where a peer
could not act on the packet: an event/ack without data, an ack without id, a non-string event name, data
after close/upgrade/noop, a non-JSON open packet, invalid base64. JSON nested deeper than the parsers follow and
ack ids longer than 20 digits are errors of the packet, never exceptions.

rugs.fun puts a W3C trace object before the payload of most named events (docs/PROTOCOL.md §1 "Argument shapes"):
:func:`trace_arg` builds it, :func:`is_trace_arg` recognises it and :func:`trace_id_of` reads its trace id.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import replace
from enum import StrEnum
from typing import Any

from capture_agent.protocol import engineio
from capture_agent.protocol.engineio import ENGINE_BY_DIGIT, RECORD_SEPARATOR, EngineType, Packet
from capture_agent.protocol.jsjson import MAX_INT_DIGITS, NestedTooDeep, dumps, loads


class SocketType(StrEnum):
    CONNECT = "connect"
    DISCONNECT = "disconnect"
    EVENT = "event"
    ACK = "ack"
    CONNECT_ERROR = "connect_error"
    BINARY_EVENT = "binary_event"
    BINARY_ACK = "binary_ack"


_SOCKET_BY_DIGIT = dict(zip("0123456", SocketType))
_BINARY_TYPES = (SocketType.BINARY_EVENT, SocketType.BINARY_ACK)
_EVENT_TYPES = (SocketType.EVENT, SocketType.BINARY_EVENT)
_ACK_TYPES = (SocketType.ACK, SocketType.BINARY_ACK)

# socket.io-parser refuses these as event names: they have a meaning of their own on either side.
RESERVED_EVENTS = frozenset(
    {"connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"}
)

_TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}")


# --- decoding --------------------------------------------------------------------------------------------


def decode_frame(frame: str | bytes) -> list[Packet]:
    """Decode one WebSocket message or one HTTP long-polling body into its packets.

    ``bytes`` is a binary WebSocket message: in Engine.IO v4 it is sent bare (no type byte) and is an
    attachment of the preceding ``45``/``46`` packet, so it is returned as a MESSAGE packet whose payload
    is the bytes.
    """
    if isinstance(frame, (bytes, bytearray, memoryview)):
        return [engineio.binary_message(bytes(frame))]
    if not isinstance(frame, str):
        error = f"frame is {type(frame).__name__}, not text or bytes"
        return [Packet(raw=repr(frame), engine_type=None, error=error)]
    if RECORD_SEPARATOR not in frame:
        return [decode_packet(frame)]
    return [decode_packet(part) for part in frame.split(RECORD_SEPARATOR)]


UNANNOUNCED_BINARY = "binary message that no 45/46 packet announced as an attachment"


class Attachments:
    """Socket.IO sends bytes only as the attachments a binary event or ack (``45``/``46``) announces. Per stream (one
    socket's one direction), this counts the attachments still due and marks any other binary packet — a binary
    WebSocket message or a ``b<base64>`` packet of a polling body — with :data:`UNANNOUNCED_BINARY`. A binary packet
    announcing attachments replaces a reconstruction still waiting for bytes. The capture agent's flags and the
    pipeline's quarantine both ask this one class, so they agree on every frame.
    """

    def __init__(self) -> None:
        self._due: dict[object, int] = {}

    def awaiting(self) -> bool:
        """Whether some stream still waits for attachments (a decode cut here must carry this state on)."""
        return any(self._due.values())

    def check(self, stream: object, packets: Iterable[Packet]) -> list[Packet]:
        checked = []
        for packet in packets:
            if isinstance(packet.payload, bytes) and packet.error is None:
                due = self._due.get(stream, 0)
                if due > 0:
                    self._due[stream] = due - 1
                else:
                    packet = replace(packet, error=UNANNOUNCED_BINARY)
            elif packet.socket_type in _BINARY_TYPES and packet.error is None:
                self._due[stream] = packet.attachments
            checked.append(packet)
        return checked


def decode_text_bytes(data: bytes) -> list[Packet]:
    """Decode bytes that should hold a text frame (e.g. a line of a file); invalid UTF-8 is an error packet."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        reason = f"not valid UTF-8 text ({error.reason} at byte {error.start})"
        return [Packet(raw=data, engine_type=None, error=reason)]
    return decode_frame(text)


def decode_packet(text: str) -> Packet:
    """Decode one Engine.IO packet (no record separators). Total: whatever the text, a packet comes back."""
    try:
        if isinstance(text, str) and text[:1] == "4":
            return _decode_message(text)
        return engineio.decode_packet(text)
    except Exception as error:  # noqa: BLE001 - the capture lands every frame: a decoder bug is a flag, not a loss
        engine_type = ENGINE_BY_DIGIT.get(text[:1]) if isinstance(text, str) else None
        error_text = f"the decoder failed on this packet ({type(error).__name__}: {str(error)[:200]})"
        return Packet(raw=text, engine_type=engine_type, error=error_text)


def _decode_message(text: str) -> Packet:
    """Parse the Socket.IO packet after the Engine.IO MESSAGE digit (same grammar as socket.io-parser)."""
    message = EngineType.MESSAGE
    if len(text) < 2:
        return Packet(raw=text, engine_type=message, error="empty message packet (no Socket.IO type)")
    socket_type = _SOCKET_BY_DIGIT.get(text[1])
    if socket_type is None:
        return Packet(raw=text, engine_type=message, error=f"unknown Socket.IO packet type {text[1]!r}")
    i = 2
    end = len(text)
    attachments = 0
    if socket_type in _BINARY_TYPES:
        dash = text.find("-", i)
        count = text[i:dash] if dash >= 0 else ""
        if not (count.isascii() and count.isdigit()) or len(count) > MAX_INT_DIGITS or int(count) < 1:
            error = "binary packet without '<n>-' attachment count (n ≥ 1)"
            return Packet(raw=text, engine_type=message, socket_type=socket_type, error=error)
        attachments = int(count)
        i = dash + 1
    namespace = "/"
    if i < end and text[i] == "/":
        comma = text.find(",", i)
        stop = end if comma < 0 else comma
        namespace = text[i:stop]
        i = stop + 1 if comma >= 0 else end
    ack_id = None
    start = i
    while i < end and "0" <= text[i] <= "9":
        i += 1
    if i - start > MAX_INT_DIGITS:  # no peer holds such an id; int() of it would cost quadratic time
        error = f"ack id of {i - start} digits: longer than any id a peer can hold"
        return Packet(raw=text, engine_type=message, socket_type=socket_type, namespace=namespace, error=error)
    if i > start:
        ack_id = int(text[start:i])
    body = text[i:]
    common = dict(
        raw=text, engine_type=message, socket_type=socket_type, namespace=namespace, ack_id=ack_id,
        attachments=attachments,
    )
    if not body:
        if socket_type in _EVENT_TYPES:
            return Packet(**common, error="event packet without data")
        if socket_type in _ACK_TYPES:
            return Packet(**common, error="ack packet without data")
        if socket_type is SocketType.CONNECT_ERROR:
            return Packet(**common, error="connect_error packet without data")
        return Packet(**common)
    try:
        data = loads(body)
    except NestedTooDeep:
        return Packet(**common, error=f"{socket_type} packet data nests deeper than the decoder follows")
    except ValueError:
        return Packet(**common, error=f"{socket_type} packet data is not JSON")
    if socket_type in _EVENT_TYPES:
        return _event_packet(common, data)
    if socket_type in _ACK_TYPES:
        if not isinstance(data, list):
            return Packet(**common, payload=data, error="ack data is not an array")
        error = None if ack_id is not None else "ack without an ack id"
        payload = data[-1] if data else None
        return Packet(**common, args=tuple(data), payload=payload, trace_id=trace_id_of(data), error=error)
    if socket_type is SocketType.CONNECT:
        error = None if isinstance(data, dict) else "connect data is not an object"
        return Packet(**common, payload=data, error=error)
    if socket_type is SocketType.CONNECT_ERROR:
        error = None if isinstance(data, (dict, str)) else "connect_error data is neither an object nor a string"
        return Packet(**common, payload=data, error=error)
    return Packet(**common, payload=data, error="disconnect packet carries data")


def _event_packet(common: dict, data: Any) -> Packet:
    if not isinstance(data, list):
        return Packet(**common, payload=data, error="event data is not an array")
    if not data:
        return Packet(**common, error="event array is empty (no event name)")
    name, args = data[0], tuple(data[1:])
    error = None
    if not isinstance(name, str):
        name, error = None, f"event name is {type(name).__name__}, not a string"
    elif name in RESERVED_EVENTS:
        error = f"reserved event name {name!r}"
    payload = args[-1] if args else None
    return Packet(**common, event=name, args=args, payload=payload, trace_id=trace_id_of(args), error=error)


def trace_id_of(args: tuple | list) -> str | None:
    """The 32-hex trace id of a W3C trace object in first place (``{"__trace":true,"traceparent":…}``), else None."""
    if not args:
        return None
    first = args[0]
    if not is_trace_arg(first):
        return None
    parent = first.get("traceparent")
    if isinstance(parent, str):
        match = _TRACEPARENT.fullmatch(parent)
        if match:
            return match.group(1)
    return None


def is_trace_arg(value: Any) -> bool:
    """True for the W3C trace object the server puts before the payload (``{"__trace":true,…}``)."""
    return type(value) is dict and value.get("__trace") is True


def trace_arg(trace_id: str, span_id: str) -> dict:
    """The W3C trace object rugs.fun sends as the first argument of most named events."""
    return {"__trace": True, "traceparent": f"00-{trace_id}-{span_id}-01"}


# --- encoding --------------------------------------------------------------------------------------------


def _namespace_prefix(namespace: str) -> str:
    return "" if namespace in ("/", "") else f"{namespace},"


def encode_event(event: str, *args: Any, ack_id: int | None = None, namespace: str = "/") -> str:
    """``42["name",…]``, ``4229["name",…]`` (expects an ack), ``42/ns,7["name",…]``."""
    ack = "" if ack_id is None else str(ack_id)
    return f"42{_namespace_prefix(namespace)}{ack}{dumps([event, *args])}"


def encode_ack(ack_id: int, *args: Any, namespace: str = "/") -> str:
    """``4329[…]``: the answer to the client emit with the same id."""
    return f"43{_namespace_prefix(namespace)}{ack_id}{dumps(list(args))}"


def encode_connect(data: dict | None = None, namespace: str = "/") -> str:
    """``40``, ``40{"sid":"…"}``, ``40/ns,{…}``."""
    return f"40{_namespace_prefix(namespace)}{'' if data is None else dumps(data)}"
