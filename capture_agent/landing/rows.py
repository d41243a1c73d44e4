"""Landing rows, pure: a frame, lifecycle event or click → the row the WAL and the Parquet segment hold.

A row is a tuple in :data:`ROW_FIELDS` order (``capture_id`` and ``source`` are per segment, not per row). The
writer owns the first four values (seq, record type and the receipt times); this module builds the rest, the
row's *tail*: the payload redacted (both directions: the server sends auth material too), the URL redacted, the
``event``/``ack_id`` convenience columns, and ``detail`` as redacted JSON. It never touches a file or a clock.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence

import orjson

from capture_agent.landing.schema import Direction, RecordType, Transport, flagged
from capture_agent.protocol.engineio import RECORD_SEPARATOR, Packet
from capture_agent.protocol.socketio import decode_packet
from capture_agent.redact import redact_bytes, redact_frame, redact_text, redact_url

# The landing columns stored per row (capture_id and source live in the WAL's header and the segment's constants).
ROW_FIELDS = (
    "seq",
    "record_type",
    "recv_wall_ns",
    "recv_mono_ns",
    "browser_ts",
    "direction",
    "transport",
    "socket_id",
    "url",
    "opcode",
    "payload_text",
    "payload_bytes",
    "event",
    "ack_id",
    "detail",
)
SEQ, RECORD_TYPE, RECV_WALL_NS, RECV_MONO_NS = 0, 1, 2, 3
TAIL_DIRECTION, _TEXT, _BYTES, _DETAIL = 1, 6, 7, 10  # positions in a row's tail (the row after RECV_MONO_NS)

INT64_END = 1 << 63
FRAME = RecordType.FRAME.value
CONNECTION = RecordType.CONNECTION.value
CLICK = RecordType.CLICK.value
# Enum members and their plain values both map to the plain value (StrEnum members hash as their value).
_DIRECTIONS = {member.value: member.value for member in Direction}
_TRANSPORTS = {member.value: member.value for member in Transport}
Header = tuple[str | None, int | None]  # (event name, ack id) of a frame's first packet


@functools.lru_cache(maxsize=256)
def clean_url(url: str) -> str:
    return redact_url(url)


def frame_tail(
    direction,
    transport,
    payload: str | bytes,
    url: str | None,
    socket_id: str | None,
    opcode: int | None,
    browser_ts: float | None,
    detail: dict | None,
    header: Header | None,
) -> tuple[tuple, int]:
    """(row tail, payload size) of one frame. ``header`` is the (event, ack id) the caller already decoded from
    ``payload``: used when redaction leaves the text as it is, so the frame is not parsed twice."""
    direction_value = _DIRECTIONS.get(direction)
    transport_value = _TRANSPORTS.get(transport)
    if direction_value is None or transport_value is None:
        raise ValueError(f"unknown direction {direction!r} or transport {transport!r}")
    if isinstance(payload, str):
        text = redact_frame(payload)
        data = None
        event, ack_id = header if header is not None and text is payload else frame_header(text)
        size = len(text)
        if opcode is None:
            opcode = 1 if transport_value == "websocket" else None
        elif type(opcode) is not int or not 0 <= opcode <= 15:
            opcode = _opcode(opcode)
    elif isinstance(payload, (bytes, bytearray, memoryview)):
        data = redact_bytes(payload if type(payload) is bytes else bytes(payload))
        text, event, ack_id = None, None, None
        size = len(data)
        if opcode is None:
            opcode = 2 if transport_value == "websocket" else None
        elif type(opcode) is not int or not 0 <= opcode <= 15:
            opcode = _opcode(opcode)
    else:
        raise TypeError(f"frame payload must be str or bytes, not {type(payload).__name__}")
    if ack_id is not None and ack_id >= INT64_END:  # ids are digits (never negative); int64 cannot hold this one
        ack_id, detail = None, flagged(detail, "ack_id_out_of_range", ack_id=str(ack_id))
    tail = (
        None if browser_ts is None else float(browser_ts),
        direction_value,
        transport_value,
        None if socket_id is None else str(socket_id),
        None if url is None else clean_url(str(url)),
        opcode,
        text,
        data,
        event,
        ack_id,
        json_detail(detail) if detail else None,
    )
    return tail, size


def connection_tail(event: str, detail: dict | None, url: str | None, socket_id: str | None, transport) -> tuple:
    """The row tail of a lifecycle event (connected, disconnected with ``detail.reason``, gap, …)."""
    return (
        None,
        None,
        None if transport is None else _TRANSPORTS[transport],
        None if socket_id is None else str(socket_id),
        None if url is None else clean_url(str(url)),
        None,
        None,
        None,
        str(event),
        None,
        json_detail(detail),
    )


def click_tail(detail: dict, browser_ts: float | None) -> tuple:
    """The row tail of a click on a trade control (target, label, amount… in ``detail``)."""
    return (None if browser_ts is None else float(browser_ts), None, None, None, None, None, None, None, "click", None, json_detail(detail))


def connection_row(seq: int, wall_ns: int, mono_ns: int, event: str, detail: dict) -> tuple:
    """A whole lifecycle row, for rows the writer never saw (recovery's ``gap`` and ``set_aside`` rows)."""
    return (seq, CONNECTION, wall_ns, mono_ns, None, None, None, None, None, None, None, None, event, None, orjson.dumps(detail).decode())


def without_surrogates(tail: tuple) -> tuple:
    """A frame's tail whose text holds lone surrogates (legal in JS strings, not in UTF-8): the payload keeps every
    code unit as WTF-8 bytes (flagged in ``detail``), the convenience columns get escapes."""
    fixed = [_escaped(value) for value in tail]
    text = tail[_TEXT]
    if text is not None:
        fixed[_TEXT], fixed[_BYTES] = None, text.encode("utf-8", "surrogatepass")
    detail = json.loads(tail[_DETAIL]) if tail[_DETAIL] else {}  # the JSON escapes any surrogate of its own
    fixed[_DETAIL] = json_detail({**detail, "payload_encoding": "wtf-8: text with lone surrogates, kept as bytes"})
    return tuple(fixed)


def _escaped(value):
    return value.encode("utf-8", "backslashreplace").decode("utf-8") if isinstance(value, str) else value


def nanoseconds(value: int | float) -> int:
    number = value if type(value) is int else int(value)
    if not -INT64_END <= number < INT64_END:
        raise ValueError(f"time {value!r} ns does not fit a 64-bit timestamp")
    return number


def _opcode(value: int) -> int:
    number = int(value)
    if not 0 <= number <= 15:
        raise ValueError(f"WebSocket opcode {value!r} is not 0-15")
    return number


# --- the convenience columns ---------------------------------------------------------------------------------

_HEADER_CACHE_SIZE = 4096
_header_cache: dict[str, Header | None] = {}
_UNKNOWN = object()


def header_of(packets: Sequence[Packet]) -> Header | None:
    """(event name, ack id) of a frame's first decoded packet when the codec accepted it — then exactly what
    :func:`frame_header` reads. None otherwise: of a malformed frame the landing keeps what its head says, which only
    :func:`frame_header` reads."""
    if not packets or packets[0].error is not None:
        return None
    first = packets[0]
    return first.event, first.ack_id


def frame_header(payload: str) -> Header:
    """(event name, ack id) of a frame's first packet, as the codec reads them, without parsing the payload.

    Only the packet's head is handed to the codec: ``42["gameStateUpdate"`` + ``]``, ``4329`` + ``[]``. Heads
    repeat (a few event names), so their decoding is cached: a 5 KB ``gameStateUpdate`` costs a dict lookup.
    A frame that does not have the usual shape is decoded in full (the codec says what it is).
    """
    end = payload.find(RECORD_SEPARATOR)  # a polling body: only its first packet counts
    if end < 0:
        end = len(payload)
    if payload.startswith('42["') and payload[end - 1] == "]":  # the usual event frame: one cache lookup
        known = _header_cache.get(payload[: payload.find('"', 4, end) + 1], _UNKNOWN)
        if known is not _UNKNOWN and known is not None:  # only well-formed heads are cached as known
            return known
    if end < 3 or payload[0] != "4" or payload[1] not in "2356":
        return (None, None) if payload[:1] != "4" else _decoded_header(payload[:end])
    bracket = payload.find("[", 2, end)
    if bracket < 0 or payload[end - 1] != "]":
        return _decoded_header(payload[:end])
    if payload[1] in "36":  # ack: the id is all there is in the head
        head, probe_tail = payload[:bracket], "[]"
    else:
        close = payload.find('"', bracket + 2, end) if payload[bracket + 1 : bracket + 2] == '"' else -1
        if close < 0 or "\\" in payload[bracket + 2 : close]:
            return _decoded_header(payload[:end])
        head, probe_tail = payload[: close + 1], "]"
    try:
        known = _header_cache[head]
    except KeyError:
        probe = decode_packet(head + probe_tail)
        known = (probe.event, probe.ack_id) if probe.error is None else None
        if len(_header_cache) >= _HEADER_CACHE_SIZE:
            _header_cache.clear()
        _header_cache[head] = known
    return known if known is not None else _decoded_header(payload[:end])


def _decoded_header(packet: str) -> Header:
    decoded = decode_packet(packet)
    return decoded.event, decoded.ack_id


# --- detail ------------------------------------------------------------------------------------------------------

_DETAIL_MAX_DEPTH = 64


def json_detail(detail: dict | None) -> str | None:
    """``detail`` as redacted JSON (None when empty); whatever it holds, the row still lands."""
    if not detail:
        return None
    try:
        text = orjson.dumps(detail, option=orjson.OPT_NON_STR_KEYS, default=str).decode()
    except TypeError:  # lone surrogates (the stdlib escapes them as \udXXX), ints beyond 64 bits, deep nesting
        try:
            text = json.dumps(detail, default=str)
        except RecursionError:  # e.g. an imported record's meta nested 1,000 deep: cut, noted, the row still lands
            text = json.dumps(_cut_deep(detail, _DETAIL_MAX_DEPTH), default=str)
    return redact_text(text)


def _cut_deep(value, depth: int):
    if isinstance(value, (dict, list, tuple)) and depth <= 0:
        return f"(nested deeper than {_DETAIL_MAX_DEPTH} levels: cut from the detail)"
    if isinstance(value, dict):
        return {key: _cut_deep(item, depth - 1) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_cut_deep(item, depth - 1) for item in value]
    return value
