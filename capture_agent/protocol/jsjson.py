r"""JSON exactly as JavaScript reads and writes it: ``loads`` as ``JSON.parse``, ``dumps`` as ``JSON.stringify``,
``js_number`` as ``Number.prototype.toString``, objects with their array-index keys first as a JS object holds them.

``loads`` uses orjson and falls back to the stdlib parser only for what JavaScript's ``JSON.parse`` accepts and
orjson rejects (lone surrogate escapes such as ``"\ud800"``, numbers beyond the double range which JS reads as
±Infinity). NaN/Infinity literals stay rejected, as in JS. JSON nested deeper than the parsers follow (~1,000
levels; JS goes further) raises :class:`NestedTooDeep`. ``dumps`` writes through orjson, taking a slower exact
path only when orjson's float layout or key order differs from JavaScript's. Pure.
"""

from __future__ import annotations

import json
import math
import re
from decimal import Decimal
from typing import Any

import orjson


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


_INT64_MIN, _UINT64_END = -(2**63), 2**64
MAX_INT_DIGITS = 20  # every 64-bit integer fits in 20 digits (plus a sign)


def _js_int(literal: str) -> int | float:
    """An integer literal with orjson's range: beyond 64 bits the nearest double, as JS reads it. Long literals
    go straight to ``float`` (no 4,300-digit limit there, and no quadratic ``int()``); ±inf beyond the doubles."""
    if len(literal) <= MAX_INT_DIGITS:
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

