"""Frames as people paste them, and packets as JSON records (``vectra decode``): pure.

A line is one WebSocket message or one long-polling body (packets joined by ``\\x1e``). Pasted lines are read too:
a row of Chrome DevTools' Messages table (a direction arrow in front, the Length and Time columns after tabs, blanks
around), a frame quoted as a JSON string, or a JSON message object holding it (HAR ``_webSocketMessages`` entry
``{"type","time","opcode","data"}``, CDP ``{"payloadData"}``). Only when a line does not decode as it is, the frame
inside it is tried; records decoded that way say ``"cleaned": true``.
"""

from __future__ import annotations

import base64
from typing import Any

from capture_agent.protocol.engineio import Packet
from capture_agent.protocol.jsjson import loads
from capture_agent.protocol.socketio import decode_frame, decode_text_bytes

_DEVTOOLS_ARROWS = "↑↓⬆⬇▲▼"


def pasted_frame(line: str) -> str | None:
    """The frame inside a pasted line (DevTools row, JSON string, HAR/CDP message object), or None."""
    frame = line.split("\t", 1)[0].strip().lstrip(_DEVTOOLS_ARROWS).strip()
    if frame[:1] in ('"', "{"):
        try:
            value = loads(frame)
        except ValueError:
            return frame
        if isinstance(value, dict):
            value = value.get("data", value.get("payloadData"))
        return value if isinstance(value, str) else None
    return frame or None


def decode_line(data: bytes) -> tuple[list[Packet], bool]:
    """Packets of one input line, and whether the DevTools clean-up was needed to read them."""
    packets = decode_text_bytes(data)
    if all(packet.error is None for packet in packets):
        return packets, False
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return packets, False
    frame = pasted_frame(text)
    if frame is not None and frame != text:
        cleaned = decode_frame(frame)
        if all(packet.error is None for packet in cleaned):
            return cleaned, True
    return packets, False


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        return {"base64": base64.b64encode(value).decode("ascii")}
    if isinstance(value, (list, tuple)):
        return [_jsonable(item) for item in value]
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    return value


def packet_record(packet: Packet, line: int, cleaned: bool = False) -> dict[str, Any]:
    """The JSON record printed for one packet (binary data as ``{"base64": …}``)."""
    record: dict[str, Any] = {
        "line": line,
        "engine_type": packet.engine_type,
        "socket_type": packet.socket_type,
        "namespace": packet.namespace,
        "ack_id": packet.ack_id,
        "event": packet.event,
        "args": _jsonable(packet.args),
        "payload": _jsonable(packet.payload),
        "trace_id": packet.trace_id,
        "attachments": packet.attachments,
        "error": packet.error,
    }
    if cleaned:
        record["cleaned"] = True
    if packet.error is not None:
        record["raw"] = _jsonable(packet.raw)  # what was wrong stays visible
    return record
