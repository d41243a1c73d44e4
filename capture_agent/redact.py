"""Secret redaction, applied before anything is written or logged.

Outgoing frames (``authenticate`` and friends), URLs and headers can carry auth tokens, cookies, JWTs, Privy
tokens and wallet signatures. They are replaced by :data:`MARKER` while the frame stays what it was: a valid
Socket.IO packet stays a valid packet with the same prefix, ack id and event name, and a frame with nothing
to redact is returned unchanged (the very same string), so verbatim capture is kept for everything else.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit, urlunsplit

from capture_agent.protocol.codec import RECORD_SEPARATOR, dumps, is_trace_arg, loads

MARKER = "[redacted]"

# Keys whose values are secrets, compared after lower-casing and dropping "_" / "-" (accessToken = access_token).
_SECRET_KEYS = frozenset(
    {
        "token", "accesstoken", "refreshtoken", "idtoken", "authtoken", "sessiontoken", "bearertoken",
        "privytoken", "privyidtoken", "privyrefreshtoken", "privyaccesstoken", "identitytoken", "jwt",
        "signature", "sig", "signedmessage", "signedtransaction", "signedtx",
        "authorization", "proxyauthorization", "auth", "authentication", "credentials", "credential",
        "cookie", "cookies", "setcookie", "session", "sessionid", "sessionkey",
        "password", "passwd", "passphrase", "secret", "clientsecret", "apisecret", "apikey", "xapikey",
        "privatekey", "secretkey", "seed", "seedphrase", "mnemonic", "otp", "pin",
    }
)
# Key fragments that make any key secret (e.g. "walletSignature", "x-privy-token").
_SECRET_FRAGMENTS = ("token", "secret", "password", "signature", "privatekey", "cookie", "authoriz", "mnemonic")
# Keys that merely look secret-ish but are public protocol data and must survive (provably-fair hashes, ids).
_PUBLIC_KEYS = frozenset({"serverseedhash", "serverseed", "seedhash", "tokenaddress", "tokenmint", "coinaddress"})

# Events whose every non-trace argument is a credential exchange: all their string leaves are redacted.
_AUTH_EVENTS = frozenset(
    {"authenticate", "auth", "login", "signin", "verify", "verifysignature", "connectwallet", "linkwallet", "signmessage"}
)

# Value patterns, anywhere in any string.
_JWT = r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}"
_BASE58_SIGNATURE = r"(?<![1-9A-HJ-NP-Za-km-z])[1-9A-HJ-NP-Za-km-z]{86,88}(?![1-9A-HJ-NP-Za-km-z])"
_HEX_SIGNATURE = r"(?<![0-9A-Za-z])(?:0x)?[0-9a-fA-F]{128,132}(?![0-9A-Za-z])"
_BEARER = r"(?i:bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}"
_SECRET_VALUE = re.compile(f"{_JWT}|{_BASE58_SIGNATURE}|{_HEX_SIGNATURE}|{_BEARER}")
# "key": "value" pairs in text that is not JSON we can parse (malformed frames, log lines).
_SECRET_PAIR = re.compile(  # a value cut off by the end of a malformed frame counts too
    r'("(?P<key>[A-Za-z0-9_-]{2,40})"\s*:\s*)"(?P<value>(?:[^"\\]|\\.)*)(?:"|$)'
)
_SOCKET_PREFIX = re.compile(r"4[0-6](?:\d+-)?(?:/[^,]*,)?\d*")


def _normal(key: str) -> str:
    return key.lower().replace("_", "").replace("-", "")


def is_secret_key(key: str) -> bool:
    name = _normal(key)
    if name in _PUBLIC_KEYS:
        return False
    return name in _SECRET_KEYS or any(fragment in name for fragment in _SECRET_FRAGMENTS)


def _masks_numbers(key: str) -> bool:
    """Exact secret names (``otp``, ``pin``…) hide numbers too; names that only contain a fragment
    (``tokenAmount``) keep their numbers: only their text can be a credential."""
    return _normal(key) in _SECRET_KEYS


def redact_text(text: str) -> str:
    """Secret-looking values (JWTs, signatures, bearer tokens, ``"token":"…"`` pairs) in free text."""
    text = _SECRET_VALUE.sub(MARKER, text)

    def pair(match: re.Match[str]) -> str:
        if is_secret_key(match.group("key")) and match.group("value"):
            return f'{match.group(1)}"{MARKER}"'
        return match.group(0)

    return _SECRET_PAIR.sub(pair, text) if '"' in text else text


def _redact_value(value: Any, everything: bool = False) -> Any:
    """A copy of ``value`` with secret keys' values and secret-looking strings replaced."""
    if isinstance(value, str):
        if everything:
            return MARKER if value else value
        return _SECRET_VALUE.sub(MARKER, value)
    if isinstance(value, dict):
        if is_trace_arg(value):
            return value
        return {key: _redact_entry(key, item, everything) for key, item in value.items()}
    if isinstance(value, list):
        return [_redact_value(item, everything) for item in value]
    return value


def _redact_entry(key: Any, item: Any, everything: bool) -> Any:
    if not (isinstance(key, str) and is_secret_key(key)):
        return _redact_value(item, everything)
    if isinstance(item, (int, float)) and not _masks_numbers(key):
        return item
    return _mask(item)


def _mask(value: Any) -> Any:
    """The whole value of a secret key: strings (also nested) become the marker, the shape is kept."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, (dict, list)):
        return _redact_value(value, everything=True)
    return MARKER


def _redact_packet(packet: str) -> str:
    prefix_match = _SOCKET_PREFIX.match(packet)
    if prefix_match is None:
        return redact_text(packet)
    prefix, body = packet[: prefix_match.end()], packet[prefix_match.end() :]
    if not body:
        return packet
    try:
        data = loads(body)
    except ValueError:
        return redact_text(packet)
    socket_type = packet[1]
    if socket_type == "0":
        # CONNECT from the client: its payload is the Socket.IO ``auth`` object, credentials by definition.
        redacted = _redact_value(data, everything=True)
    elif socket_type in "25" and isinstance(data, list) and data and isinstance(data[0], str):
        everything = _normal(data[0]) in _AUTH_EVENTS
        redacted = [data[0], *(_redact_value(arg, everything) for arg in data[1:])]
    else:
        redacted = _redact_value(data)
    if redacted == data:
        return packet
    return prefix + dumps(redacted)


def redact_frame(text: str) -> str:
    """An outgoing frame (WebSocket message or polling body) with its secrets replaced; unchanged if none."""
    if RECORD_SEPARATOR in text:
        parts = text.split(RECORD_SEPARATOR)
        redacted = [_redact_packet(part) for part in parts]
        return text if redacted == parts else RECORD_SEPARATOR.join(redacted)
    return _redact_packet(text)


def redact_bytes(data: bytes) -> bytes:
    """Binary frames: redacted as text when they are UTF-8 text, otherwise kept (opaque attachments)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return data
    redacted = redact_frame(text)
    return data if redacted is text else redacted.encode("utf-8")


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
        cleaned = [(key, MARKER if is_secret_key(key) and value else _SECRET_VALUE.sub(MARKER, value)) for key, value in pairs]
        if cleaned != pairs:
            query = "&".join(f"{quote(key, safe='')}={quote(value, safe='[]')}" for key, value in cleaned)
    fragment = _SECRET_VALUE.sub(MARKER, parts.fragment)
    path = _SECRET_VALUE.sub(MARKER, parts.path)
    if (netloc, query, fragment, path) == (parts.netloc, parts.query, parts.fragment, parts.path):
        return url
    return urlunsplit((parts.scheme, netloc, path, query, fragment))


def redact_headers(headers: dict) -> dict:
    """A copy of HTTP headers with auth, cookie and token headers masked and other values scrubbed."""
    return {
        key: (MARKER if is_secret_key(str(key)) else (redact_text(value) if isinstance(value, str) else value))
        for key, value in headers.items()
    }
