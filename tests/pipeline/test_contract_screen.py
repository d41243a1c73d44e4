"""The contract screen (``silver.contract_screen.passes``) lets a frame skip pandera's ``validate`` only when pandera
would find nothing: on hostile generated frames for every contract (nulls, NaN, infinities, out-of-range numbers,
wrong patterns, a column of another type or missing) it says "passes" exactly when pandera raises no error, and on
the real captures the events and quarantine decoded with the screen are those decoded without it."""

from __future__ import annotations

import re

import pandera.polars as pa
import polars as pl
import pytest
import realdata
from hypothesis import given, settings
from hypothesis import strategies as st
from pipeline_kit import import_real, read_landing

from vectra_pipeline.bronze.frames import build_frames, payloads_in_memory, with_payloads
from vectra_pipeline.silver import contracts
from vectra_pipeline.silver.contract_screen import passes
from vectra_pipeline.silver.events import build_events

SCHEMAS = {f"gameStateUpdate.{shape.value}": schema for shape, schema in contracts.GSU_CONTRACTS.items()}
SCHEMAS |= {name: flat.schema for name, flat in contracts.FLAT_CONTRACTS.items()}

_INTS = [0, 1, 2, 40, 41, 5_000, 9_999, 10_000, 14_999, 15_000, -1, 2**31 - 1, -(2**31)]
_FLOATS = [0.0, -0.0, 1.0, 0.5, 2.0, 0.02, 100.0, -1e-9, 1e-9, float("nan"), float("inf"), float("-inf")]
_TEXTS = ["20251220-0123456789abcdef", "20251220-0123456789ABCDEF", "a" * 64, "f" * 63, "buy", "sell", "shortOpen",
          "placed", "payout", "", "é", "x\n"]  # fmt: skip
_PAIRS = st.lists(
    st.fixed_dictionaries({"tick": st.sampled_from(_INTS), "price": st.sampled_from(_FLOATS)}), max_size=3
)


def _values(dtype: pl.DataType) -> st.SearchStrategy:
    """Mostly plausible values of the column's type, with nulls and the hostile ones among them."""
    if dtype == pl.Boolean:
        plain = st.booleans()
    elif dtype.is_integer():
        plain = st.sampled_from(_INTS)
    elif dtype.is_float():
        plain = st.sampled_from(_FLOATS)
    elif dtype == pl.String:
        plain = st.sampled_from(_TEXTS)
    else:
        plain = _PAIRS
    return st.one_of(plain, plain, plain, st.none())


@st.composite
def _frames(draw, schema: pa.DataFrameSchema) -> pl.DataFrame:
    declared = {name: column.dtype.type for name, column in schema.columns.items()}
    # the columns frame checks read that a contract does not declare (contracts._gsu_frame adds the partial price)
    declared.setdefault("partial_price_at_tick", pl.Float64)
    for name in ("price", "qty", "amount", "payout", "profit", "bet_amount"):
        declared.setdefault(name, pl.Float64)
    declared |= {name: pl.Int32 for name in ("start_tick", "end_tick", "tick_count") if name not in declared}
    declared.setdefault("type", pl.String)
    rows = draw(st.integers(1, 4))
    columns = {name: draw(st.lists(_values(dtype), min_size=rows, max_size=rows)) for name, dtype in declared.items()}
    frame = pl.DataFrame(columns, schema=declared).with_row_index("_row")
    damage = draw(st.sampled_from(["none"] * 6 + ["widen", "drop"]))
    victim = draw(st.sampled_from(sorted(schema.columns)))
    if damage == "widen":  # a column of another type than the contract's
        frame = frame.with_columns(pl.lit(1 if frame.schema[victim] == pl.String else "1").alias(victim))
    elif damage == "drop":
        frame = frame.drop(victim)
    return frame


def _pandera_passes(schema: pa.DataFrameSchema, frame: pl.DataFrame) -> bool:
    try:
        schema.validate(frame, lazy=True)
    except (pa.errors.SchemaErrors, pa.errors.SchemaError):
        return False
    return True


@pytest.mark.parametrize("name", sorted(SCHEMAS))
@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_the_screen_passes_a_frame_exactly_when_pandera_does(name, data):
    schema = SCHEMAS[name]
    frame = data.draw(_frames(schema))
    assert passes(schema, frame) == _pandera_passes(schema, frame), frame


def test_a_frame_pandera_passes_is_screened_as_passing():
    trade = pl.DataFrame(
        {"_row": [0], "id": ["t1"], "game_id": ["20251220-0123456789abcdef"], "player_id": ["p"], "type": ["buy"],
         "tick": [3], "price": [2.0], "qty": [0.5], "amount": [1.0]},
        schema_overrides={"_row": pl.UInt32, "tick": pl.Int32},
    )  # fmt: skip
    schema = contracts.FLAT_CONTRACTS["trade"].schema
    assert _pandera_passes(schema, trade) and passes(schema, trade)
    wrong = trade.with_columns(pl.lit(2.5).alias("amount"))  # qty × price ≠ amount: a frame check fails
    assert not _pandera_passes(schema, wrong) and not passes(schema, wrong)


_BREAKS = [(r'"cooldownTimer":\d+', '"cooldownTimer":99999'), (r'"price":[0-9.e-]+', '"price":-1'),
           (r'"type":"buy"', '"type":"bogus"'), (r'"tickCount":\d+', '"tickCount":-3'), (r'"qty":[0-9.e-]+', '"qty":7'),
           (r'"connectedPlayers":\d+', '"connectedPlayers":null')]  # fmt: skip


def _real_frames_and_broken_copies() -> pl.DataFrame:
    """A real day's frames, then each again with one field broken (every kind of contract failure), as bronze frames
    with their text."""
    texts = [text for _, text in realdata.frames_of_a_day(400)]
    texts += [
        re.sub(pattern, value, text) for i, text in enumerate(texts) for pattern, value in [_BREAKS[i % len(_BREAKS)]]
    ]
    start = 1_765_000_000_000_000_000
    landing = pl.DataFrame(
        {"capture_id": "cap", "seq": range(len(texts)), "record_type": "frame", "source": "browser",
         "recv_wall_ns": [start + i * 1_000_000 for i in range(len(texts))], "recv_mono_ns": range(len(texts)),
         "direction": "in", "transport": "websocket", "opcode": 1, "payload_text": texts},
        schema_overrides={"recv_wall_ns": pl.Int64, "opcode": pl.Int8},
    )  # fmt: skip
    return with_payloads(build_frames(landing)[0], payloads_in_memory(landing))


def test_real_and_broken_frames_decode_the_same_with_and_without_the_screen(tmp_path, monkeypatch):
    days = [with_payloads(build_frames(landing)[0], payloads_in_memory(landing))
            for landing in (read_landing(tmp_path, [date]) for date in import_real(tmp_path))]  # fmt: skip
    days.append(_real_frames_and_broken_copies())
    screened = [build_events(frames) for frames in days]
    rules = pl.concat([result.quarantine for result in screened])["rule"]
    assert rules.str.contains("gameStateUpdate").any() and rules.str.starts_with("trade.").any()
    assert rules.n_unique() >= 5
    monkeypatch.setattr(contracts, "passes", lambda schema, frame: False)  # pandera validates every frame
    for frames, result in zip(days, screened):
        unscreened = build_events(frames)
        assert result.events.equals(unscreened.events) and result.quarantine.equals(unscreened.quarantine)
