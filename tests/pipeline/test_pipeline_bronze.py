"""Bronze dedupe and event decoding on hand-made landing tables built from real frames."""

from __future__ import annotations

import polars as pl
import realdata

from capture_agent.protocol.engineio import RECORD_SEPARATOR
from vectra_pipeline.bronze.frames import build_frames, payloads_in_memory, with_payloads
from vectra_pipeline.schema import schema
from vectra_pipeline.silver.contracts import apply_contracts
from vectra_pipeline.silver.events import decode_events
from vectra_pipeline.silver.game_history import build_game_history
from vectra_pipeline.silver.ticks import build_game_ticks

SECOND = 1_000_000_000


def _landing(rows: list[tuple[str, int, int, str, str]]) -> pl.DataFrame:
    """(capture_id, seq, recv_wall_ns, direction, payload_text) → landing rows."""
    return pl.DataFrame(
        {
            "capture_id": [r[0] for r in rows], "seq": [r[1] for r in rows], "record_type": ["frame"] * len(rows),
            "source": ["browser"] * len(rows), "recv_wall_ns": [r[2] for r in rows], "recv_mono_ns": [r[2] for r in rows],
            "direction": [r[3] for r in rows], "transport": ["websocket"] * len(rows), "payload_text": [r[4] for r in rows],
        },
        schema_overrides={"recv_wall_ns": pl.Int64},
    )  # fmt: skip


def test_overlapping_captures_decode_each_broadcast_once():
    frames = realdata.frames_of_a_day(60)
    a = [("cap-a", i, t, "in", f) for i, (t, f) in enumerate(frames)]
    # capture B joined 20 frames late and receives the same broadcasts 0.3 s later
    b = [("cap-b", i, t + 300_000_000, "in", f) for i, (t, f) in enumerate(frames[20:])]
    landing = _landing(a + b + a[:5])  # a[:5] again: the same segment imported twice
    bronze, stats = build_frames(landing)
    assert bronze.schema == schema("frames")
    assert stats.repeated_rows == 5 and stats.conflicting_rows == 0
    assert stats.cross_capture_duplicates == 40
    flagged = bronze.filter(pl.col("duplicate_of").is_not_null())
    assert set(flagged["capture_id"]) == {"cap-b"}
    assert flagged["duplicate_of"].str.starts_with("cap-a:").all()
    bronze = with_payloads(bronze, payloads_in_memory(landing))
    events = apply_contracts(decode_events(bronze), bronze).events
    assert events.height == 60
    ticks = build_game_ticks(events, build_game_history(events))
    assert ticks.filter(pl.col("price_source") == "observed")["frames"].max() == 1


def test_identical_frames_far_apart_or_in_one_capture_are_kept():
    (t, frame), = realdata.frames_of_a_day(1)
    landing = _landing([
        ("cap-a", 0, t, "in", frame),
        ("cap-a", 1, t + 1, "in", frame),  # the same capture got it twice: both real receipts
        ("cap-b", 0, t + 3 * SECOND, "in", frame),  # another capture, outside the 2 s window
        ("cap-b", 1, t + 3 * SECOND, "out", frame),  # outbound frames are never cross-capture duplicates
    ])  # fmt: skip
    bronze, stats = build_frames(landing)
    assert stats.cross_capture_duplicates == 0
    assert bronze.height == 4


def test_polling_bodies_split_and_unknown_events_counted():
    (t, frame), = realdata.frames_of_a_day(1)
    body = RECORD_SEPARATOR.join(['0{"sid":"abc","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}', "40", frame])
    landing = _landing([
        ("cap", 0, t, "in", body),
        ("cap", 1, t + 1, "in", '42["brandNewEvent",{"x":1}]'),
        ("cap", 2, t + 2, "in", "42[not json"),
    ])  # fmt: skip
    bronze = with_payloads(build_frames(landing)[0], payloads_in_memory(landing))
    result = apply_contracts(decode_events(bronze), bronze)
    events = result.events
    assert events.filter(pl.col("seq") == 0)["packet_index"].to_list() == [0, 1, 2]
    assert events.filter(pl.col("seq") == 0)["engine_type"].to_list() == ["open", "message", "message"]
    assert result.unknown_events == {"brandNewEvent": 1}
    unknown = events.filter(pl.col("event") == "brandNewEvent").row(0, named=True)
    assert unknown["contract"] is None and unknown["payload_json"] == '{"x":1}'
    bad = result.quarantine.row(0, named=True)
    assert bad["rule"] == "decode" and bad["raw"] == "42[not json" and bad["explained"] is False


def test_type_errors_and_broken_shapes_are_quarantined_not_dropped():
    frames = [f for _, f in realdata.frames_of_a_day(60) if '"tradeCount"' in f and '"gameHistory"' not in f]
    good = frames[0]
    wrong_type = good.replace('"tickCount":', '"tickCount":"', 1).replace(',"cooldownTimer"', '","cooldownTimer"', 1)
    landing = _landing([("cap", 0, 1, "in", good), ("cap", 1, 2, "in", wrong_type)])
    bronze = with_payloads(build_frames(landing)[0], payloads_in_memory(landing))
    result = apply_contracts(decode_events(bronze), bronze)
    assert result.events.height == 2
    assert result.events["contract_ok"].to_list() == [True, False]
    rules = set(result.quarantine["rule"])
    assert any(rule.endswith(".type") for rule in rules)
