r"""Engine.IO v4 / Socket.IO v5 wire codec (PROTOCOL.md §1), pure and total.

Decoding never raises: a frame that breaks the protocol yields a :class:`Packet` whose ``error`` says what is
wrong and whose ``raw`` keeps the text verbatim, so the capture agent and the pipeline can keep and report it.

Frame grammar (text):
    <engine type digit 0-6>[data]                      one Engine.IO packet (WebSocket message)
    <packet>\x1e<packet>\x1e…                           HTTP long-polling body
    b<base64>                                           binary packet inside a polling body
    4<socket type digit>[<n>-][/<namespace>,][<ack id>][<JSON>]   Engine.IO MESSAGE carrying Socket.IO
A binary WebSocket message (``bytes``) is an attachment of the preceding ``45``/``46`` packet.

Validation follows socket.io-parser 4 (checked against it in tests/protocol/test_codec_node.py): reserved
event names, attachment counts < 1, a non-array event/ack body are errors. The codec is stricter where a peer
could not act on the packet: an event/ack without data, an ack without id, a non-string event name, data
after close/upgrade/noop, a non-JSON open packet, invalid base64.

JSON: ``loads`` uses orjson and falls back to the stdlib parser only for what JavaScript's ``JSON.parse``
accepts and orjson rejects (lone surrogate escapes such as ``"\ud800"``, numbers beyond the double range
which JS reads as ±Infinity). NaN/Infinity literals stay rejected, as in JS. JSON nested deeper than the parsers
follow (~1,000 levels; JS goes further) and ack ids longer than 20 digits are errors of the packet, never exceptions. ``dumps`` writes what
``JSON.stringify`` writes, through orjson, taking a slower exact path only when orjson's float layout differs.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from decimal import Decimal
from enum import StrEnum
from typing import Any

import orjson


class EngineType(StrEnum):
    OPEN = "open"
    CLOSE = "close"
    PING = "ping"
    PONG = "pong"
    MESSAGE = "message"
    UPGRADE = "upgrade"
    NOOP = "noop"


class SocketType(StrEnum):
    CONNECT = "connect"
    DISCONNECT = "disconnect"
    EVENT = "event"
    ACK = "ack"
    CONNECT_ERROR = "connect_error"
    BINARY_EVENT = "binary_event"
    BINARY_ACK = "binary_ack"


_ENGINE_BY_DIGIT = dict(zip("0123456", EngineType))
_SOCKET_BY_DIGIT = dict(zip("0123456", SocketType))
_BINARY_TYPES = (SocketType.BINARY_EVENT, SocketType.BINARY_ACK)
_EVENT_TYPES = (SocketType.EVENT, SocketType.BINARY_EVENT)
_ACK_TYPES = (SocketType.ACK, SocketType.BINARY_ACK)

RECORD_SEPARATOR = "\x1e"
PING = "2"
PONG = "3"

# socket.io-parser refuses these as event names: they have a meaning of their own on either side.
RESERVED_EVENTS = frozenset(
    {"connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"}
)

_TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}")


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


# --- JSON ------------------------------------------------------------------------------------------------


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


_INT64_MIN, _UINT64_END = -(2**63), 2**64
_MAX_INT_DIGITS = 20  # every 64-bit integer fits in 20 digits (plus a sign)


def _js_int(literal: str) -> int | float:
    """An integer literal with orjson's range: beyond 64 bits the nearest double, as JS reads it. Long literals
    go straight to ``float`` (no 4,300-digit limit there, and no quadratic ``int()``); ±inf beyond the doubles."""
    if len(literal) <= _MAX_INT_DIGITS:
        value = int(literal)
        if _INT64_MIN <= value < _UINT64_END:
            return value
    return float(literal)


_stdlib_decoder = json.JSONDecoder(parse_constant=_reject_constant, parse_int=_js_int)


class NestedTooDeep(ValueError):
    """JSON nested deeper than the parsers follow (JS would read it; a flag here, never a crash)."""


def loads(text: str) -> Any:
    """Parse JSON as JavaScript's ``JSON.parse`` accepts it; raises ``ValueError`` on invalid JSON
    (:class:`NestedTooDeep` when it nests deeper than about a thousand levels).

    Integer literals come back as Python ints as written (orjson: up to 64 bits, beyond that the nearest
    double, as JS reads them); :func:`dumps` writes them back as written, so ``dumps(loads(text))`` keeps the text.
    """
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        # orjson is stricter than JS in two places (lone surrogates, out-of-range numbers); the stdlib
        # parser accepts both and still rejects everything else JS rejects (NaN/Infinity via parse_constant).
        try:
            return _stdlib_decoder.decode(text)
        except RecursionError:
            raise NestedTooDeep("JSON nests deeper than the decoder follows") from None


_SAFE_INTEGER = 2**53


def js_number(value: float) -> str:
    """``Number.prototype.toString`` of a double (ECMA-262 Number::toString, radix 10)."""
    if value != value or value in (math.inf, -math.inf):
        return "null"  # what JSON.stringify writes for NaN and ±Infinity
    if value == 0:
        return "0"
    sign = "-" if value < 0 else ""
    # repr is the shortest round-trip decimal, the same digits JS picks; only the layout differs.
    _, digit_tuple, exponent = Decimal(repr(abs(value))).as_tuple()
    digits = "".join(map(str, digit_tuple)).lstrip("0")
    n = len(digits) + exponent  # value = 0.<digits> * 10**n
    digits = digits.rstrip("0")
    k = len(digits)
    if k <= n <= 21:
        text = digits + "0" * (n - k)
    elif 0 < n <= 21:
        text = digits[:n] + "." + digits[n:]
    elif -6 < n <= 0:
        text = "0." + "0" * -n + digits
    else:
        exp = n - 1
        exp_text = f"e+{exp}" if exp >= 0 else f"e-{-exp}"
        text = (digits[0] + ("." + digits[1:] if k > 1 else "")) + exp_text
    return sign + text



def _js_ready(value: Any) -> Any:
    """Replace the floats orjson would write differently from ``JSON.stringify``."""
    if isinstance(value, float):
        magnitude = abs(value)
        if magnitude < _SAFE_INTEGER and value == int(value):
            return int(value)  # exact, and JS prints integral doubles below 2**53 as plain integers
        if magnitude >= _SAFE_INTEGER or magnitude < 1e-5:
            return orjson.Fragment(js_number(value))
        return value
    if isinstance(value, dict):
        return {key: _js_ready(item) for key, item in _js_key_order(value)}
    if isinstance(value, (list, tuple)):
        return [_js_ready(item) for item in value]
    return value


_MAX_ARRAY_INDEX = 2**32 - 2
_INDEX_KEY = re.compile(rb'[{,]"(?:0|[1-9][0-9]{0,9})":')


def _is_array_index(key: Any) -> bool:
    return _is_index_bytes(str(key).encode("utf-8", "surrogatepass"))


def _is_index_bytes(key: bytes) -> bool:
    """A JS array index: canonical decimal digits (bytes.isdigit is ASCII-only), at most 2**32 − 2."""
    return key.isdigit() and (key == b"0" or key[:1] != b"0") and len(key) <= 10 and int(key) <= _MAX_ARRAY_INDEX


def _keys_in_js_order(out: bytes) -> bool:
    """Cheap proof, on orjson's output, that every object already lists its array-index keys in JS order.

    Only the index keys are visited. One is in order when it opens its object, or when the key just before it is
    a smaller index in the same object — certain only when the value between them is a scalar (``"7":1.5,"8"``).
    Anything else (a nested value closed just before it, a non-index key before it, an escaped quote in the way)
    answers False: the caller then reorders exactly, so a False costs time, never correctness.
    """
    for match in _INDEX_KEY.finditer(out):
        start = match.start()
        if out[start] == 0x7B:  # "{": the object's first key
            continue
        if out[start - 1] in b"}]":
            return False
        colon = out.rfind(b'":', 0, start)
        opening = out.rfind(b'"', 0, colon) if colon > 0 else -1
        if opening < 1 or out[opening - 1] not in b"{,":
            return False
        previous = out[opening + 1 : colon]
        if not _is_index_bytes(previous) or int(previous) >= int(match.group()[2:-2]):
            return False
    return True


def _with_js_key_order(value: Any) -> Any:
    """``value`` with every object's keys in JS order. Only the containers whose JSON holds an array-index key
    are walked (orjson re-serialises a subtree far faster than Python visits it)."""
    if isinstance(value, dict):
        return {key: _key_ordered_if_needed(item) for key, item in _js_key_order(value)}
    return [_key_ordered_if_needed(item) for item in value]


def _key_ordered_if_needed(value: Any) -> Any:
    if isinstance(value, (dict, list, tuple)) and _INDEX_KEY.search(orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)):
        return _with_js_key_order(value)
    return value


def _js_key_order(value: dict) -> list[tuple[Any, Any]]:
    """A JS object lists its array-index keys first, ascending, then the other keys in insertion order."""
    items = list(value.items())
    index = [item for item in items if _is_array_index(item[0])]
    if not index:
        return items
    index.sort(key=lambda item: int(str(item[0])))
    return index + [item for item in items if not _is_array_index(item[0])]


_MANTISSA = frozenset(b"0123456789.")
_BEFORE_VALUE = frozenset(b":,[")
_INTEGRAL_TAIL = re.compile(rb"\.0(?:[,\]}]|\Z)")  # one regex scan beats three substring searches here
_EXPONENT_TAIL = re.compile(rb"(?:e-|e\+)\d+(?:[,\]}]|\Z)")


def _needs_js_layout(out: bytes) -> bool:
    """True when orjson's output may hold a float JS lays out differently.

    orjson and JS agree on every double except integral ones (orjson ``1.0``, JS ``1``) and some exponent
    forms (orjson ``1e+16`` / ``1e-6``, JS ``10000000000000000`` / ``0.000001``); both leave these marks.
    An exponent mark counts only inside a whole number token (UUIDs such as ``…-f34e-44a9-…`` are frequent
    in real payloads). A hit inside a string only costs the slower exact path.
    """
    if _INTEGRAL_TAIL.search(out):
        return True
    for match in _EXPONENT_TAIL.finditer(out):
        start = match.start() - 1
        if start < 0 or out[start] not in _MANTISSA:
            continue
        while start >= 0 and out[start] in _MANTISSA:
            start -= 1
        if start >= 0 and out[start] == 0x2D:  # a minus sign
            start -= 1
        if start < 0 or out[start] in _BEFORE_VALUE:
            return True
    return False


_JS_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_NEEDS_ESCAPE = re.compile(r'["\\\x00-\x1f\ud800-\udfff]')


def _js_string(text: str) -> str:
    def escape(match: re.Match[str]) -> str:
        char = match.group()
        return _JS_ESCAPES.get(char) or f"\\u{ord(char):04x}"

    # Well-formed surrogate pairs never appear in a Python str (they are one code point), so every
    # surrogate left here is lone and JSON.stringify escapes it.
    return '"' + _NEEDS_ESCAPE.sub(escape, text) + '"'


def _dumps_slow(value: Any) -> str:
    """Reference encoder for values orjson refuses (lone surrogates, ints beyond 64 bits)."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return _js_string(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return js_number(value)
    if isinstance(value, dict):
        return "{" + ",".join(f"{_js_string(str(k))}:{_dumps_slow(v)}" for k, v in _js_key_order(value)) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_dumps_slow(item) for item in value) + "]"
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def dumps(value: Any) -> str:
    """JSON exactly as JavaScript's ``JSON.stringify`` writes it (compact, ``1.0`` → ``1``, non-ASCII kept,
    array-index keys such as ``"0"`` first in ascending order, as a JS object holds them).

    Python ints are written as they are (JS has no integers beyond 2**53; no real payload holds one).
    """
    try:
        out = orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)
        if _needs_js_layout(out):
            out = orjson.dumps(_js_ready(value), option=orjson.OPT_NON_STR_KEYS)
        elif not _keys_in_js_order(out):
            out = orjson.dumps(_with_js_key_order(value), option=orjson.OPT_NON_STR_KEYS)
        return out.decode()
    except TypeError:
        return _dumps_slow(value)


# --- decoding --------------------------------------------------------------------------------------------


def decode_frame(frame: str | bytes) -> list[Packet]:
    """Decode one WebSocket message or one HTTP long-polling body into its packets.

    ``bytes`` is a binary WebSocket message: in Engine.IO v4 it is sent bare (no type byte) and is an
    attachment of the preceding ``45``/``46`` packet, so it is returned as a MESSAGE packet whose payload
    is the bytes.
    """
    if isinstance(frame, (bytes, bytearray, memoryview)):
        data = bytes(frame)
        return [Packet(raw=data, engine_type=EngineType.MESSAGE, payload=data)]
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
        return _decode_packet(text)
    except Exception as error:  # noqa: BLE001 - the capture lands every frame: a decoder bug is a flag, not a loss
        engine_type = _ENGINE_BY_DIGIT.get(text[:1]) if isinstance(text, str) else None
        error_text = f"the decoder failed on this packet ({type(error).__name__}: {str(error)[:200]})"
        return Packet(raw=text, engine_type=engine_type, error=error_text)


def _decode_packet(text: str) -> Packet:
    if not isinstance(text, str):
        return Packet(raw=repr(text), engine_type=None, error=f"packet is {type(text).__name__}, not text")
    if not text:
        return Packet(raw=text, engine_type=None, error="empty packet")
    head = text[0]
    if head == "b":
        return _decode_base64(text)
    engine_type = _ENGINE_BY_DIGIT.get(head)
    if engine_type is None:
        return Packet(raw=text, engine_type=None, error=f"unknown Engine.IO packet type {head!r}")
    if engine_type is EngineType.MESSAGE:
        return _decode_socket(text)
    data = text[1:]
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


def _decode_socket(text: str) -> Packet:
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
        if not (count.isascii() and count.isdigit()) or len(count) > _MAX_INT_DIGITS or int(count) < 1:
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
    if i - start > _MAX_INT_DIGITS:  # no peer holds such an id; int() of it would cost quadratic time
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
        return Packet(**common, args=tuple(data), payload=payload, trace_id=_trace_id(data), error=error)
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
    return Packet(**common, event=name, args=args, payload=payload, trace_id=_trace_id(args), error=error)


def _trace_id(args: tuple | list) -> str | None:
    if not args:
        return None
    first = args[0]
    if type(first) is not dict or first.get("__trace") is not True:
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


def encode_open(data: dict) -> str:
    """Engine.IO OPEN: ``0{"sid":…,"upgrades":[…],"pingInterval":…,"pingTimeout":…,"maxPayload":…}``."""
    return "0" + dumps(data)


def encode_polling(packets: Iterable[str]) -> str:
    """An HTTP long-polling body: text packets joined by the record separator."""
    return RECORD_SEPARATOR.join(packets)


def trace_arg(trace_id: str, span_id: str) -> dict:
    """The W3C trace object rugs.fun sends as the first argument of most named events."""
    return {"__trace": True, "traceparent": f"00-{trace_id}-{span_id}-01"}
