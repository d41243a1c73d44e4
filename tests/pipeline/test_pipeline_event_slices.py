"""Silver events decoded slice by slice (issue 13): bronze is read a batch at a time and each batch decoded and put
under contracts alone, so the day's frame text is never held at once. The result must be exactly the whole-day one,
wherever the slices are cut: between a binary event and its attachment, inside a capture, between captures."""

from __future__ import annotations

import polars as pl
import pytest
import realdata
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pipeline_kit import import_real

from vectra_pipeline import storage
from vectra_pipeline.bronze.frames import build_frames, landing_index, payloads_in_memory, with_payloads
from vectra_pipeline.landing_files import LandingPayloads, read_landing_day
from vectra_pipeline.silver.events import build_events, build_events_in_slices

SECOND = 1_000_000_000


def _assert_same(sliced, whole) -> None:
    assert sliced.events.equals(whole.events)
    assert sliced.quarantine.equals(whole.quarantine)
    assert sliced.unknown_events == whole.unknown_events


@pytest.fixture(scope="module")
def handmade() -> pl.DataFrame:
    """Real frames of two captures around a binary event and its attachment, an unannounced binary frame, an
    unknown event and a frame that is not JSON: bronze frames in bronze order."""
    real = realdata.frames_of_a_day(40)
    texts: list[str | bytes] = [frame for _, frame in real[:20]]
    texts += ['451-["upload",{"_placeholder":true,"num":0}]', b"\xff\x00 attachment", b"\x01 announced by nobody",
              '42["someNewEvent",{"a":1}]', '42["newChatMessage",{"message":Infinity}]']
    texts += [frame for _, frame in real[20:]]
    start = real[0][0]
    rows = [("cap-a" if i % 7 else "cap-b", i, start + i * SECOND, text) for i, text in enumerate(texts)]
    landing = pl.DataFrame(
        {
            "capture_id": [r[0] for r in rows], "seq": [r[1] for r in rows], "record_type": ["frame"] * len(rows),
            "source": ["browser"] * len(rows), "recv_wall_ns": [r[2] for r in rows], "recv_mono_ns": [r[2] for r in rows],
            "direction": ["in"] * len(rows), "transport": ["websocket"] * len(rows),
            "opcode": [2 if isinstance(r[3], bytes) else 1 for r in rows],
            "payload_text": [None if isinstance(r[3], bytes) else r[3] for r in rows],
            "payload_bytes": [r[3] if isinstance(r[3], bytes) else None for r in rows],
        },
        schema_overrides={"recv_wall_ns": pl.Int64, "opcode": pl.Int8},
    )  # fmt: skip
    return with_payloads(build_frames(landing)[0], payloads_in_memory(landing))


def test_the_handmade_day_has_what_slicing_could_break(handmade):
    whole = build_events(handmade)
    assert "upload" in whole.events["event"].to_list()
    assert whole.unknown_events == {"someNewEvent": 1, "upload": 1}
    assert whole.quarantine.filter(pl.col("detail").str.contains("announced")).height == 1  # only the unannounced one
    assert whole.quarantine.filter(pl.col("detail").str.contains("not JSON")).height == 1


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(size=st.integers(1, 70))
def test_any_slicing_gives_the_whole_day_result(handmade, size):
    _assert_same(build_events_in_slices(handmade.iter_slices(size)), build_events(handmade))


def test_real_days_read_in_batches_from_bronze_give_the_whole_day_result(tmp_path):
    dates = import_real(tmp_path)
    for date in dates:
        landing = read_landing_day(tmp_path, date).frame
        frames, _ = build_frames(landing)
        index, _ = build_frames(read_landing_day(tmp_path, date, keep=landing_index).frame)  # as the bronze asset reads it
        storage.write_table(tmp_path, "frames", date, index)
        read_back = list(storage.iter_table_slices(tmp_path, "frames", date, 997))
        assert len(read_back) == -(-frames.height // 997)
        assert pl.concat(read_back).equals(storage.read_table(tmp_path, "frames", date))
        from_files = (with_payloads(part, LandingPayloads(tmp_path)) for part in storage.iter_table_slices(tmp_path, "frames", date, 997))
        _assert_same(build_events_in_slices(from_files), build_events(with_payloads(frames, payloads_in_memory(landing))))
    assert list(storage.iter_table_slices(tmp_path, "frames", "2000-01-01", 997)) == []


def test_no_slices_is_an_empty_day():
    result = build_events_in_slices([])
    assert result.events.height == 0 and result.quarantine.height == 0 and result.unknown_events == {}
