"""Rebuild wire frames from the normalised real-data records ``{event, ts_ms, data, source, meta}``.

The real captures (``tests/fixtures/protocol-real``, README there) were written by tools that kept the decoded
arguments, not the frame text. The normaliser moved the W3C trace argument to ``meta.trace`` and kept the
payload in ``data``; transcribed DevTools frames keep their packet prefix (``4229``, ``4329``…) in
``meta.frame_prefix``. This module puts the frame back together the way the server (or the browser client)
wrote it, with :func:`~capture_agent.protocol.jsjson.dumps` so numbers are laid out as JavaScript lays them out.

Decisions (each follows from what a record can and cannot say about its frame):

* ``event`` ``connect`` / ``disconnect`` / ``connect_error`` are markers a capture tool wrote; Socket.IO
  reserves these names, so no event packet can carry them → ``None`` (not a frame). (A record named after
  another reserved name is rebuilt, and decodes with a "reserved event name" error: kept and reported.)
* ``meta.payload_lost`` → the capture kept only the trace argument, so the frame holds only that argument;
  nothing is invented for the lost payload.
* ``data`` ``null`` (and no lost payload) → the emit had no payload argument (``42["chatHistory"]``); the
  records cannot tell this from an explicit JSON ``null`` argument.
* ``event`` ``ack`` → ``43<id>[…args…]``; ``data`` is the list of ack arguments. When the source hid the id
  (``43<ackId> (shown as XXXX …)``) the frame is written without an id, which decodes as a malformed ack: the
  record is kept and the gap reported, never filled with a made-up id. The same holds for client emits.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from capture_agent.protocol.jsjson import dumps
from capture_agent.protocol.socketio import is_trace_arg

# The connection markers capture tools write; Socket.IO reserves these names, so no event packet carries them.
MARKER_EVENTS = frozenset({"connect", "disconnect", "connect_error"})
ACK_EVENT = "ack"
_PREFIX = re.compile(r"4([23])(\d*)")


def direction_of(record: dict) -> Literal["in", "out"]:
    """``out`` for frames the client sent (``meta.direction == "sent"``), ``in`` for everything received."""
    meta = record.get("meta") or {}
    return "out" if meta.get("direction") == "sent" else "in"


def ack_id_of(record: dict) -> int | None:
    """The ack id in ``meta.frame_prefix`` (``4229`` → 29), or None when absent or hidden in the source."""
    prefix = (record.get("meta") or {}).get("frame_prefix")
    if not isinstance(prefix, str):
        return None
    match = _PREFIX.fullmatch(prefix)
    return int(match.group(2)) if match and match.group(2) else None


def record_args(record: dict) -> list[Any] | None:
    """The argument list of the frame a record came from (after the event name), or None for a marker."""
    event = record.get("event")
    if not isinstance(event, str) or event in MARKER_EVENTS:
        return None
    meta = record.get("meta") or {}
    data = record.get("data")
    trace = meta.get("trace")
    if event == ACK_EVENT:
        args = list(data) if isinstance(data, list) else ([] if data is None else [data])
        return [trace, *args] if is_trace_arg(trace) else args
    head = [trace] if is_trace_arg(trace) else []
    if meta.get("payload_lost") or data is None:
        return head
    return [*head, data]


def frame_from_record(record: dict) -> str | None:
    """The Socket.IO text frame of one record, or None when the record is a connection marker."""
    args = record_args(record)
    if args is None:
        return None
    ack_id = ack_id_of(record)
    ack = "" if ack_id is None else str(ack_id)
    if record["event"] == ACK_EVENT:
        return f"43{ack}{dumps(args)}"
    return f"42{ack}{dumps([record['event'], *args])}"
