"""What is secret, and a cheap test that a frame holds nothing of it (the pre-filter of :mod:`capture_agent.redact`).

Secret are the values under secret keys (:func:`is_secret_key`: names holding a fragment such as ``token`` or
``cookie``, or exactly a name such as ``sig``, in any ASCII casing, words joined by nothing, ``_`` or ``-``), the
arguments of authentication events (:data:`AUTH_EVENTS`), and values shaped like credentials
(:data:`SECRET_VALUE`: JWTs, base58 and hex signatures, ``Bearer``/``Basic`` credentials).
"""

from __future__ import annotations

import functools
import itertools
import re
from typing import Any

from ahocorasick_rs import BytesAhoCorasick, MatchKind

from capture_agent.protocol.engineio import RECORD_SEPARATOR

# --- what is secret ---------------------------------------------------------------------------------------
# Names are words; a written name may join its words with "", "_" or "-" and use any ASCII casing
# (accessToken, access_token, ACCESS-TOKEN, Privy-Token all contain "token").

# A key containing one of these is secret.
_FRAGMENT_WORDS = (
    "token", "secret", "password", "passwd", "passphrase", "signature", "cookie", "authoriz", "mnemonic",
    "credential", "session", "jwt", "signed", "private key", "api key", "seed phrase",
)
# A key that is exactly one of these is secret (as fragments they would catch too many public words).
_EXACT_WORDS = ("sig", "auth", "authentication", "otp", "pin", "pwd", "pass")
# Events whose every argument is a credential exchange.
_AUTH_EVENT_WORDS = (
    "authenticate", "auth", "login", "log in", "sign in", "verify", "verify signature", "connect wallet",
    "link wallet", "sign message",
)
# Keys that contain a fragment but name public coin data ("tokenAddress", "token_amount").
_COIN_DATA_WORDS = ("address", "mint", "amount", "balance", "symbol", "name", "decimals", "price", "id", "count", "qty", "supply")
PUBLIC_KEYS = frozenset("token" + word for word in _COIN_DATA_WORDS)
# The practice coin's id ("0xPractice") is what public broadcasts carry under a bare "token" key.
COIN_ID = re.compile(r"0x[A-Za-z]{1,32}")


def _spellings(words: tuple[str, ...]) -> frozenset[str]:
    return frozenset(
        "".join(itertools.chain.from_iterable(zip(parts, (*joins, ""))))
        for parts in (phrase.split() for phrase in words)
        for joins in itertools.product(("", "_", "-"), repeat=len(parts) - 1)
    )


FRAGMENTS = _spellings(_FRAGMENT_WORDS)
EXACT_NAMES = _spellings(_EXACT_WORDS)
AUTH_EVENTS = _spellings(_AUTH_EVENT_WORDS)
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def folded(name: str) -> str:
    """ASCII-only lower case: the same folding as ``bytes.lower`` in the pre-filter (``str.lower`` would also
    turn e.g. the Kelvin sign into a "k" the pre-filter cannot see)."""
    return name.lower() if name.isascii() else name.translate(_ASCII_LOWER)


@functools.lru_cache(maxsize=4096)
def is_secret_key(key: str) -> bool:
    name = folded(key)
    if name.replace("_", "").replace("-", "") in PUBLIC_KEYS:
        return False
    return name in EXACT_NAMES or any(fragment in name for fragment in FRAGMENTS)


def is_auth_event(name: Any) -> bool:
    return isinstance(name, str) and folded(name) in AUTH_EVENTS


# Value shapes, anywhere in any string. A JWT, a base58 or a hex signature is a run of at least TOKEN_RUN
# letters, digits, dots, dashes and underscores: JWTs are counted from that length (a JWT signed with HMAC-SHA256
# over the smallest claims has 80 characters; Privy's ES256 tokens have hundreds).
TOKEN_RUN = 72
_JWT = rf"(?=[A-Za-z0-9_.-]{{{TOKEN_RUN}}})eyJ[A-Za-z0-9_-]{{4,}}\.[A-Za-z0-9_-]{{4,}}\.[A-Za-z0-9_-]{{4,}}"
# A signature of only digits is vanishingly rare ((10/16)^128, (9/58)^86) while a wide JSON number is a plain
# number: a run of digits alone is never taken for one (unless written 0x…).
_BASE58_SIGNATURE = r"(?<![1-9A-HJ-NP-Za-km-z])(?=[1-9]*[A-HJ-NP-Za-km-z])[1-9A-HJ-NP-Za-km-z]{86,88}(?![1-9A-HJ-NP-Za-km-z])"
_HEX_SIGNATURE = r"(?<![0-9A-Za-z])(?:0x|(?=[0-9]*[a-fA-F]))[0-9a-fA-F]{128,132}(?![0-9A-Za-z])"
_BEARER = r"(?i:bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}"
SECRET_VALUE = re.compile(f"{_JWT}|{_BASE58_SIGNATURE}|{_HEX_SIGNATURE}|{_BEARER}")
CREDENTIAL_WORDS = ("bearer", "basic")

# --- the pre-filter ---------------------------------------------------------------------------------------


def _name_needles() -> list[bytes]:
    """Every spelling of every fragment, and of every exact name closed by its quote (``sig"``); a needle that
    holds another is left out (wherever it occurs, the shorter one does too)."""
    words = {fragment.encode() for fragment in FRAGMENTS} | {f'{name}"'.encode() for name in EXACT_NAMES | AUTH_EVENTS}
    return sorted(word for word in words if not any(other != word and other in word for other in words))


# Leftmost-first, non-overlapping matching: the kind the SIMD searcher serves. A match hides only what overlaps
# it: names in the same quoted string (read alike), or for a credential word, what it reports anyway — no name
# ends with the start of a credential word, so none can hide one.
NEEDLES = [word.encode() for word in CREDENTIAL_WORDS] + _name_needles()
_MATCHER = BytesAhoCorasick(NEEDLES, matchkind=MatchKind.LeftmostFirst)
_TOKEN_CLASS = bytes(
    0x61 if chr(byte).isascii() and (chr(byte).isalnum() or chr(byte) in "._-") else 0x20 for byte in range(256)
)
_LONG_RUN = b"a" * TOKEN_RUN
# Half the bytes are looked at first: a run of 72 covers 36 positions of either stride-2 sample. JSON's regular
# layout makes the even sample alias (about 1 % of game frames), so a hit is checked on all bytes.
_SAMPLED_RUN = b"a" * (TOKEN_RUN // 2)
_JSON_SPACE = b" \t\n\r"
_NEAR = 32


def _in_key_or_event_name(data: bytes, start: int) -> bool:
    """Whether the quoted string holding ``start`` is read as an object key (a colon follows it) or as an
    event name (it opens an array); any doubt — no quotes around, long whitespace — counts as yes."""
    opening, closing = data.rfind(b'"', 0, start), data.find(b'"', start)
    if opening < 0 or closing < 0:
        return True
    after = data[closing + 1 : closing + 1 + _NEAR].lstrip(_JSON_SPACE)
    before = data[max(0, opening - _NEAR) : opening].rstrip(_JSON_SPACE)
    return after[:1] in (b":", b"") or before[-1:] in (b"[", b"")


def could_hold_secret(text: str) -> bool:
    """False only for a frame the full redactor would return unchanged; it costs a few byte scans, not a parse.

    Why no secret passes (each way the redactor changes a frame is caught):

    * A JSON escape can spell any key or name (``"\\u0074oken"``), so any backslash answers True. Without one,
      every key, event name and string is written in the text exactly as it decodes, between the nearest quotes.
    * Secret keys and authentication events: ``bytes.lower`` folds the text as :func:`folded` folds names, so a
      key holding a fragment holds it in the folded text too, and an exact name (key or event name) ends with
      its quote. The name needles are every spelling of these, searched at once (Aho-Corasick). A name counts
      only where the redactor reads one: a key is a quoted string followed by a colon (parsed JSON, and the
      ``"key": value`` pairs of malformed text), an event name a quoted string opening an array. Matches never
      span a quote but at their end, so each lies in one quoted string and shares its reading with every needle
      it may overlap; a fragment in a value (``"Free Practice Token"``) does not cost a parse.
    * A client ``CONNECT`` payload (``40…``) and base64 packets (``b…``) are masked or decoded as a whole: any
      packet starting so answers True.
    * Value shapes: a ``Bearer``/``Basic`` credential starts with its word (a needle too, folded); a JWT, a base58
      or a hex signature is a run of at least 72 ASCII letters, digits, dots, dashes or underscores.
    """
    if "\\" in text or text.startswith(("40", "b")):
        return True
    if RECORD_SEPARATOR in text and (RECORD_SEPARATOR + "40" in text or RECORD_SEPARATOR + "b" in text):
        return True
    data = text.encode("utf-8", "surrogatepass")
    lowered = data.lower()
    for needle, start, _ in _MATCHER.find_matches_as_indexes(lowered):
        if needle < len(CREDENTIAL_WORDS) or _in_key_or_event_name(lowered, start):
            return True
    return _SAMPLED_RUN in data[::2].translate(_TOKEN_CLASS) and _LONG_RUN in data.translate(_TOKEN_CLASS)
