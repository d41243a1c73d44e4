"""Secret redaction, applied to every frame, URL and detail before anything is written, logged or published.

One rule for both directions: what :mod:`capture_agent.redact_rules` calls secret — auth tokens, cookies, JWTs,
Privy tokens, keys, wallet signatures — is replaced by :data:`MARKER` whether the client sends it or the
server does. The frame stays what it was: a valid Socket.IO packet stays a valid packet with the same prefix,
ack id and event name, malformed text stays the same text around the masked values, and a frame with nothing to
redact is returned unchanged (the very same object), so verbatim capture is kept for everything else:

* the value — of any JSON type but ``null``/``true``/``false`` — under a secret key is masked whole;
* every value of a client ``CONNECT`` payload (the Socket.IO ``auth`` object) but its ``sid``, and every
  argument value of an authentication event (``authenticate``, ``login``, …) but trace and attachment stubs;
* values shaped like credentials anywhere in any string: JWTs, base58 (86–88) and hex (128–132) signatures,
  ``Bearer``/``Basic`` credentials.

Only frames the pre-filter (:func:`~capture_agent.redact_rules.could_hold_secret`) cannot clear are parsed.
"""

from __future__ import annotations

import base64
import binascii
import json
import operator
import re
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit, urlunsplit

from capture_agent.protocol.engineio import RECORD_SEPARATOR
from capture_agent.protocol.jsjson import dumps, loads
from capture_agent.protocol.socketio import is_trace_arg
from capture_agent.redact_rules import (
    COIN_ID,
    CREDENTIAL_WORDS,
    SECRET_VALUE,
    TOKEN_RUN,
    could_hold_secret,
    folded,
    is_auth_event,
    is_secret_key,
)

__all__ = [
    "MARKER", "could_hold_secret", "is_secret_key", "redact_bytes", "redact_detail", "redact_frame",
    "redact_frame_fully", "redact_headers", "redact_payload", "redact_text", "redact_url",
]

MARKER = "[redacted]"

# --- parsed JSON ------------------------------------------------------------------------------------------


_SHORTEST_CREDENTIAL = len("basic ") + 8


def _clean_string(text: str) -> str:
    if len(text) < TOKEN_RUN:  # too short for a token: only a Bearer/Basic credential may hide in it
        if len(text) < _SHORTEST_CREDENTIAL or not any(word in text.lower() for word in CREDENTIAL_WORDS):
            return text
    return SECRET_VALUE.sub(MARKER, text)


def _mask(key: str, value: Any) -> Any:
    """The value of a secret key, whatever its type; ``null`` and booleans carry no secret and stay."""
    if value is None or isinstance(value, bool):
        return value
    if folded(key) == "token" and isinstance(value, str) and COIN_ID.fullmatch(value):
        return value
    return MARKER


_SCALARS = frozenset({int, float, bool, type(None)})


def _clean_object(value: dict, mask_key) -> dict:
    """``value`` with ``mask_key(key, item)`` for every string key; ``value`` itself when nothing changed."""
    cleaned = {}
    for key, item in value.items():
        if isinstance(key, str):
            item = mask_key(key, item)
            key = _clean_string(key)
            while key in cleaned:  # a key that was itself a secret: several may now read the same
                key += "'"
        cleaned[key] = item
    same = len(cleaned) == len(value) and all(map(operator.is_, cleaned, value))
    return value if same and all(map(operator.is_, cleaned.values(), value.values())) else cleaned


def _clean_list(value: list, clean) -> list:
    """``[clean(item) …]``; ``value`` itself when nothing changed."""
    cleaned = [clean(item) for item in value]
    return value if all(map(operator.is_, cleaned, value)) else cleaned


def _redact_value(value: Any) -> Any:
    """``value`` with secret keys' values and secret-shaped strings replaced; the same object when it holds none."""
    if isinstance(value, str):
        return _clean_string(value)
    if isinstance(value, dict):
        return _clean_object(value, lambda key, item: _mask(key, item) if is_secret_key(key) else _redact_value(item))
    if isinstance(value, list):
        if set(map(type, value)) <= _SCALARS:  # price paths and other number arrays: nothing to look at
            return value
        return _clean_list(value, _redact_value)
    return value


def _is_attachment_stub(value: Any) -> bool:
    return type(value) is dict and value.get("_placeholder") is True and type(value.get("num")) is int


def _mask_all(value: Any) -> Any:
    """Every string and number in ``value`` masked (a credential exchange); trace and attachment stubs keep
    their shape and only lose what the ordinary rules take."""
    if isinstance(value, str):
        return MARKER if value else value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return MARKER
    if isinstance(value, dict):
        if is_trace_arg(value) or _is_attachment_stub(value):
            return _redact_value(value)
        return _clean_object(value, lambda key, item: _mask_all(item))
    if isinstance(value, list):
        return _clean_list(value, _mask_all)
    return value


def _redact_connect(data: Any) -> Any:
    """A CONNECT payload: the client's ``auth`` object, all secret; the server's ``{"sid": …}`` is public."""
    if isinstance(data, dict):
        return _clean_object(data, lambda key, item: item if key == "sid" and isinstance(item, str) else _mask_all(item))
    return _mask_all(data)


# --- text that is not JSON (malformed frames, log lines) ---------------------------------------------------
_KEY = re.compile(r'"((?:[^"\\]|\\.)*)"[ \t\n\r]*:\s*', re.S)  # JSON's own whitespace: what the pre-filter skips
_STRING = re.compile(r'"(?:[^"\\]|\\.)*(?:"|\\?\Z)', re.S)
_NESTING = re.compile(r'"(?:[^"\\]|\\.)*(?:"|\\?\Z)|[\[\]{}]|[^"\[\]{}]+', re.S)
_SCALAR = re.compile(r"[^,\]}\s]*")
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*(?:"|\\?\Z)|-?\d[\d.eE+-]*|[^"\d-]+|.', re.S)
_COLON_AHEAD = re.compile(r"[ \t\n\r]*:")
_LITERALS = frozenset({"true", "false", "null"})
_QUOTED_MARKER = f'"{MARKER}"'


def _key_name(raw: str) -> str:
    if "\\" not in raw:
        return raw
    try:
        return json.loads(f'"{raw}"')
    except ValueError:
        return raw


def _value_end(text: str, start: int) -> int:
    """Where the JSON value starting at ``start`` ends; a value cut off by the end of the text ends there."""
    head = text[start : start + 1]
    if head == '"':
        return _STRING.match(text, start).end()
    if head not in ("[", "{"):
        return _SCALAR.match(text, start).end()
    depth = 0
    for token in _NESTING.finditer(text, start):
        piece = token.group()
        if piece in ("[", "{"):
            depth += 1
        elif piece in ("]", "}"):
            depth -= 1
            if depth == 0:
                return token.end()
    return len(text)


def _redact_pairs(text: str) -> str:
    """``"key": value`` pairs under secret keys, a value of any JSON type, even one cut off by the end."""
    pieces, done, position = [], 0, 0
    while (match := _KEY.search(text, position)) is not None:
        name = _key_name(match.group(1))
        if not is_secret_key(name):
            position = match.start() + 1  # every quote may open a key: a misread string cannot hide one
            continue
        start = match.end()
        end = _value_end(text, start)
        if _holds_secret(name, text[start:end]):
            pieces += [text[done:start], _QUOTED_MARKER]
            done = end
        position = end
    return "".join(pieces) + text[done:] if pieces else text


def _holds_secret(name: str, value: str) -> bool:
    """What :func:`_mask` would take, read from text: anything but nothing, a literal, or a complete
    practice-coin id under a bare "token" key."""
    if not value or value in _LITERALS:
        return False
    quoted = len(value) >= 2 and value[0] == value[-1] == '"'
    return not (quoted and folded(name) == "token" and COIN_ID.fullmatch(value[1:-1]))


def _mask_all_text(text: str) -> str:
    """Every string value and number in (possibly cut off) JSON text masked; keys are kept."""
    pieces = []
    for token in _TOKEN.finditer(text):
        piece = token.group()
        if piece[0] == '"':
            keep = piece == '""' or _COLON_AHEAD.match(text, token.end()) is not None  # a key, or nothing
            pieces.append(piece if keep else _QUOTED_MARKER)
        elif piece[0].isdigit() or (piece[0] == "-" and len(piece) > 1):
            pieces.append(_QUOTED_MARKER)
        else:
            pieces.append(piece)
    return "".join(pieces)


def _redact_malformed(text: str) -> str:
    return _redact_pairs(SECRET_VALUE.sub(MARKER, text))


# --- frames -----------------------------------------------------------------------------------------------
_SOCKET_HEAD = re.compile(r"4[0-6](?:\d+-)?(?:/[^,]*,)?\d*")
_EVENT_NAME = re.compile(r'\[[ \t\n\r]*"((?:[^"\\]|\\.)*)"')


def _redact_packet(packet: str) -> str:
    head = _SOCKET_HEAD.match(packet)
    if head is None:
        if packet[:1] == "0":  # Engine.IO OPEN: JSON
            return _redact_json(packet, 1, _redact_value)
        if packet[:1] == "b":
            return _redact_base64(packet)
        return _redact_malformed(packet)
    socket_type = packet[1]
    if socket_type == "0":
        return _redact_json(packet, head.end(), _redact_connect, everything=True)
    if socket_type in "25":
        return _redact_json(packet, head.end(), _redact_event, everything=_is_auth_head(packet, head.end()))
    return _redact_json(packet, head.end(), _redact_value)


def _redact_event(data: Any) -> Any:
    if isinstance(data, list) and data and isinstance(data[0], str) and is_auth_event(data[0]):
        args = data[1:]
        masked = _clean_list(args, _mask_all)
        return data if masked is args else [data[0], *masked]
    return _redact_value(data)


def _is_auth_head(packet: str, start: int) -> bool:
    name = _EVENT_NAME.match(packet, start)
    return name is not None and is_auth_event(_key_name(name.group(1)))


def _redact_json(packet: str, start: int, redact, *, everything: bool = False) -> str:
    if start == len(packet):
        return packet
    try:
        redacted = _redact_parsed(packet, start, redact)
    except (ValueError, RecursionError):  # not JSON, or nested deeper than parsing and this walk follow
        redacted = None
    return redacted if redacted is not None else _redact_as_text(packet, start, everything)


def _redact_parsed(packet: str, start: int, redact) -> str | None:
    """The packet with its parsed body redacted; None when the text itself must be read."""
    head, body = packet[:start], packet[start:]
    data = loads(body)
    clean_head = _clean_string(head)  # a namespace may be shaped like a credential too
    redacted = redact(data)
    if redacted is not data:
        return clean_head + dumps(redacted)
    # Nothing to take from what was parsed. The text may still hold what parsing dropped — a repeated key keeps
    # only its last value — unless it is exactly the JSON that was parsed.
    if dumps(data) != body:
        return None
    return packet if clean_head is head else clean_head + body


def _redact_as_text(packet: str, start: int, everything: bool) -> str:
    if everything:  # credentials: every value goes, after the event name (a quoted head)
        name = _EVENT_NAME.match(packet, start)
        keep = name.end() if name is not None else start
        return SECRET_VALUE.sub(MARKER, packet[:keep]) + SECRET_VALUE.sub(MARKER, _mask_all_text(packet[keep:]))
    return _redact_malformed(packet)


def _redact_base64(packet: str) -> str:
    """A binary packet of a polling body: its bytes get the binary rules and are encoded back."""
    try:
        data = base64.b64decode(packet[1:], validate=True)
    except (binascii.Error, ValueError):
        return _redact_malformed(packet)
    redacted = _redact_bytes_fully(data)
    return packet if redacted is data else "b" + base64.b64encode(redacted).decode("ascii")


def redact_frame_fully(text: str) -> str:
    """The redactor without the pre-filter: what :func:`redact_frame` returns, always at the cost of a parse."""
    if RECORD_SEPARATOR in text:
        parts = text.split(RECORD_SEPARATOR)
        redacted = [_redact_packet(part) for part in parts]
        return text if redacted == parts else RECORD_SEPARATOR.join(redacted)
    redacted = _redact_packet(text)
    return text if redacted == text else redacted


def _redact_bytes_fully(data: bytes) -> bytes:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return data  # not text: an opaque attachment
    redacted = redact_frame(text)
    return data if redacted is text else redacted.encode("utf-8")


# The last object returned: redaction is idempotent, so a payload the recorder redacted for its observers
# costs the writer nothing when it lands the same object.
_last_returned: object = None


def redact_frame(text: str) -> str:
    """A frame (WebSocket message or polling body, either direction) with its secrets replaced; the very same
    string when there are none."""
    global _last_returned
    if text is _last_returned or not could_hold_secret(text):
        redacted = text
    else:
        redacted = redact_frame_fully(text)
    _last_returned = redacted
    return redacted


def redact_bytes(data: bytes) -> bytes:
    """A binary frame: redacted as a text frame when it is UTF-8 text, otherwise kept (an opaque attachment)."""
    global _last_returned
    redacted = data if data is _last_returned else _redact_bytes_fully(data)
    _last_returned = redacted
    return redacted


def redact_payload(payload: str | bytes) -> str | bytes:
    """What the landing zone holds of a frame's payload (text or binary)."""
    if isinstance(payload, str):
        return redact_frame(payload)
    if isinstance(payload, (bytes, bytearray, memoryview)):
        return redact_bytes(payload if isinstance(payload, bytes) else bytes(payload))
    return payload


# --- URLs, headers, details, free text ----------------------------------------------------------------------
_EMBEDDED_URL = re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]*://[^\s\"'<>]+")


def redact_url(url: str) -> str:
    """A URL without credentials: user:password@, secret query parameters and secret-looking values."""
    if not url:
        return url
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{MARKER}@{netloc.rsplit('@', 1)[1]}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        cleaned = [(key, MARKER if is_secret_key(key) and value else SECRET_VALUE.sub(MARKER, value)) for key, value in pairs]
        if cleaned != pairs:
            query = "&".join(f"{quote(key, safe='')}={quote(value, safe='[]')}" for key, value in cleaned)
    fragment = SECRET_VALUE.sub(MARKER, parts.fragment)
    path = SECRET_VALUE.sub(MARKER, parts.path)
    if (netloc, query, fragment, path) == (parts.netloc, parts.query, parts.fragment, parts.path):
        return url
    return urlunsplit((parts.scheme, netloc, path, query, fragment))


def redact_text(text: str) -> str:
    """Free text (a log line, a row's JSON detail): secret-shaped values, ``"key": value`` pairs under secret
    keys and the credentials of embedded URLs."""
    text = _redact_malformed(text)
    return _EMBEDDED_URL.sub(lambda match: redact_url(match.group()), text) if "://" in text else text


def redact_headers(headers: dict) -> dict:
    """A copy of HTTP headers with auth, cookie and token headers masked and other values scrubbed."""
    return {
        key: (MARKER if is_secret_key(str(key)) else (redact_text(value) if isinstance(value, str) else value))
        for key, value in headers.items()
    }


_DETAIL_DEPTH = 64


def redact_detail(detail: dict | None) -> dict:
    """A copy of a row's detail (a click, a lifecycle fact) as it may be landed, logged and published.

    Never raises: values it cannot vouch for — nested deeper than it looks — are replaced, not passed on.
    """
    return _detail_value(detail or {}, 0)


def _detail_value(value: Any, depth: int) -> Any:
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, str):
        return redact_text(value)
    if depth >= _DETAIL_DEPTH:
        return f"{MARKER}: nested deeper than {_DETAIL_DEPTH} levels"
    if isinstance(value, dict):
        return {
            key: (_mask(str(key), item) if is_secret_key(str(key)) else _detail_value(item, depth + 1))
            for key, item in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [_detail_value(item, depth + 1) for item in value]
    return redact_text(str(value))  # what the writer's JSON encoding would make of it
