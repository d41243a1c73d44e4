"""One landed frame as codec packets, whatever it holds: the part of silver ``events`` that meets hostile input. Pure.

The codec decodes the protocol; this module adds what the tables need to store every packet: lone UTF-16
surrogates (legal in JavaScript strings and JSON escapes, impossible in Parquet and for orjson) are replaced and
reported, a text frame the landing writer had to keep as bytes (not UTF-8) is an error, a binary frame must be an
attachment some ``45``/``46`` packet announced, and integers are checked against their column's width
(:func:`too_wide_for`). Anything else that fails while decoding a frame is reported by :func:`failure_reason`.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from capture_agent.protocol.engineio import Packet
from capture_agent.protocol.socketio import Attachments, decode_frame, decode_text_bytes


def too_wide_for(value: Any, bits: int) -> str | None:
    """Why a JSON integer cannot be stored in a ``bits``-bit column, or None when it can (or is no integer).

    An integral double beyond the range counts as an integer: the codec reads a literal beyond 64 bits as the
    nearest double, as JavaScript does, so a counter past 2⁶⁴ arrives as one.
    """
    limit = 1 << (bits - 1)
    if type(value) is int:
        return None if -limit <= value < limit else f"an integer of {value.bit_length()} bits does not fit its {bits}-bit integer column"
    if type(value) is float and value.is_integer() and not -limit <= value < limit:
        return f"{value:g} does not fit its {bits}-bit integer column"
    return None


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")  # JSON's way to write a UTF-16 surrogate
_TEXT_OPCODE = 1


def failure_reason(error: Exception) -> str:
    """One line for a frame whose decoding raised."""
    if isinstance(error, RecursionError):
        return "nested too deeply to decode (RecursionError)"
    return f"frame could not be decoded: {type(error).__name__}: {str(error)[:200]}"


def frame_packets(text: str | None, data: bytes | None, opcode: int | None, transport: str | None, sender: tuple,
                  attachments: Attachments) -> list[Packet]:
    """The codec's packets of one landed frame (its text, else its bytes). ``attachments`` follows, per ``sender``
    (capture, direction), the binary packets ``45``/``46`` packets announced: any other binary packet is an error."""
    if text is not None:
        packets = decode_frame(text)
        if _SURROGATE_ESCAPE.search(text):
            packets = [_without_lone_surrogates(packet) for packet in packets]
        return attachments.check(sender, packets)
    if data is None:
        return decode_frame("")
    if opcode == _TEXT_OPCODE or transport == "polling":  # a text frame (polling bodies are text) kept as bytes: not UTF-8
        return decode_text_bytes(data)
    return attachments.check(sender, decode_frame(data))


def _without_lone_surrogates(packet: Packet) -> Packet:
    """JSON may escape lone UTF-16 surrogates (JavaScript strings hold them); Parquet and every JSON reader downstream
    need Unicode, so each becomes U+FFFD and the packet's ``error`` says so."""
    replaced: list[bool] = []
    fixed = dataclasses.replace(
        packet,
        event=_unicode(packet.event, replaced),
        args=_unicode(packet.args, replaced),
        payload=_unicode(packet.payload, replaced),
    )
    if not replaced:
        return packet
    note = "lone UTF-16 surrogates in its strings, replaced by U+FFFD"
    return dataclasses.replace(fixed, error=f"{packet.error}; {note}" if packet.error else note)


def _unicode(value: Any, replaced: list[bool]) -> Any:
    if type(value) is str:
        if value.isascii():
            return value
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            replaced.append(True)
            return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
        return value
    if type(value) is dict:
        return {_unicode(key, replaced): _unicode(item, replaced) for key, item in value.items()}
    if type(value) in (list, tuple):
        return type(value)(_unicode(item, replaced) for item in value)
    return value
