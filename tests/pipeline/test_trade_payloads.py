"""Trade and side-bet payloads are decoded by msgspec straight into typed fields, and read leniently only when a field
has another type: hypothesis writes hostile payloads (wrong types, bools, numbers beyond Int32 or a double, floats
for ticks, duplicate keys, arrays, empty text) and every typed value must be the one the lenient reading gives
(orjson, then each value checked in Python), the reference."""

from __future__ import annotations

import json

import orjson
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vectra_pipeline.silver.trades import _TRADE_FIELDS, _typed_payloads, typed_value

KEYS = [key for key, _ in _TRADE_FIELDS.values()]
NUMBERS = st.one_of(
    st.integers(-(2**31) - 2, 2**31 + 2), st.integers(-(2**70), 2**70), st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0, -0.0, 2**31 - 1, -(2**31), 2**31, 5.0, 5.5, 2**53 + 1, 1e308]),
)
VALUES = st.one_of(NUMBERS, st.booleans(), st.none(), st.text(max_size=8), st.lists(st.integers(), max_size=2),
                   st.dictionaries(st.sampled_from(KEYS), st.integers(), max_size=2))


def _text(pairs: list[tuple[str, object]]) -> str:
    """An object written pair by pair: a key may come twice (the last one counts)."""
    return "{" + ",".join(f"{json.dumps(key)}:{json.dumps(value)}" for key, value in pairs) + "}"


PAYLOADS = st.one_of(
    st.lists(st.tuples(st.sampled_from([*KEYS, "other"]), VALUES), max_size=16).map(_text),
    st.lists(st.tuples(st.sampled_from(KEYS), NUMBERS), max_size=16).map(_text),  # well typed or nearly
    st.sampled_from(["", "[]", "[1, 2]", '"text"', "null", "3", "{}"]),
    st.floats(allow_nan=False, allow_infinity=False).map(lambda value: _text([("price", value), ("tickIndex", value), ("qty", repr(value))])),
)


def _lenient(text: str) -> dict:
    payload = orjson.loads(text) if text else {}
    return {name: typed_value(payload.get(key) if isinstance(payload, dict) else None, dtype)
            for name, (key, dtype) in _TRADE_FIELDS.items()}


@settings(max_examples=300, deadline=None)
@given(texts=st.lists(st.one_of(PAYLOADS, st.none()), max_size=12))
def test_typed_payloads_are_the_lenient_values(texts):
    rows = _typed_payloads(pl.Series(texts, dtype=pl.String), _TRADE_FIELDS)
    assert len(rows) == len(texts)
    for row, text in zip(rows, texts):
        expected = _lenient(text or "")
        got = {name: getattr(row, name) for name in _TRADE_FIELDS}
        assert got == expected, text
        assert all(type(got[name]) is type(expected[name]) for name in _TRADE_FIELDS), text  # 1 is not 1.0, True not 1


@given(text=st.sampled_from(['{"price":Infinity}', '{"price":NaN}', '{"id":"a"', "{'id': 1}", "not json"]))
def test_text_that_is_not_json_fails_as_the_lenient_reading_does(text):
    with pytest.raises(orjson.JSONDecodeError):
        _lenient(text)
    with pytest.raises(orjson.JSONDecodeError):
        _typed_payloads(pl.Series([text]), _TRADE_FIELDS)
