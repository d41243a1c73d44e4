"""The landing writer: gapless order, exact schema, rolling, atomic publish, WAL recovery, torn tails."""

from __future__ import annotations

import os
import shutil
import threading
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from realdata import event_records

from capture_agent.errors import VectraError
from capture_agent.landing.recovery import recover
from capture_agent.landing.rows import frame_header
from capture_agent.landing.schema import LANDING_SCHEMA, Direction, RecordType, Source, Transport
from capture_agent.landing.segments import SegmentFile, read_landing, segment_paths
from capture_agent.landing.wal import WAL_DIR, WalReader
from capture_agent.landing.writer import LandingWriter
from capture_agent.protocol.socketio import decode_frame

NS = 1_000_000_000
DAY_NS = 86_400 * NS


def _frame(n: int) -> str:
    return f'42["tick",{{"n":{n}}}]'


def _wal_files(data: Path) -> list[Path]:
    return sorted((data / "landing" / WAL_DIR).iterdir())


def _rows(data: Path) -> list[dict]:
    table = read_landing(data)
    table = table.set_column(table.schema.get_field_index("recv_wall_ns"), "recv_wall_ns", table["recv_wall_ns"].cast("int64"))
    return table.to_pylist()


def _simulate_crash(data: Path, crashed: Path) -> None:
    """What a kill -9 leaves on disk: a copy of the data dir taken while the writer is still open."""
    shutil.copytree(data, crashed)


def test_rows_are_gapless_ordered_and_schema_exact(tmp_path: Path) -> None:
    with LandingWriter(tmp_path, Source.DIRECT, segment_max_rows=7) as writer:
        assert writer.connection("connected", url="http://127.0.0.1:1/socket.io/?EIO=4&transport=websocket", socket_id="s1") == 0
        seqs = [writer.frame(Direction.IN, Transport.WEBSOCKET, _frame(n), socket_id="s1") for n in range(40)]
        seqs.append(writer.frame(Direction.OUT, Transport.WEBSOCKET, '4229["buyOrder",{"amount":0.002}]'))
        seqs.append(writer.frame(Direction.IN, Transport.POLLING, '4329[{"success":true}]\x1e2'))
        seqs.append(writer.frame(Direction.IN, Transport.WEBSOCKET, b"\x00\xffbinary"))
        seqs.append(writer.click({"target": "#buy", "amount": 0.002}, browser_ts=12.5))
        seqs.append(writer.connection("disconnected", detail={"reason": "transport close"}))
        capture_id = writer.capture_id
        stats = writer.stats
    assert seqs == list(range(1, 46))
    assert stats.rows == 46 and stats.frames_in == 42 and stats.frames_out == 1 and stats.drops == 0
    paths = segment_paths(tmp_path)
    assert len(paths) == 7  # 46 rows in segments of at most 7
    for path in paths:
        assert pq.read_schema(path).equals(LANDING_SCHEMA, check_metadata=True)
        assert pq.ParquetFile(path).metadata.row_group(0).column(0).compression == "ZSTD"
        assert path.parent.name == f"date={datetime.now(UTC):%Y-%m-%d}" or path.parent.name.startswith("date=")
    rows = _rows(tmp_path)
    assert [r["seq"] for r in rows] == list(range(46))
    assert {r["capture_id"] for r in rows} == {capture_id} and {r["source"] for r in rows} == {"direct"}
    assert [orjson.loads(r["payload_text"][2:])[1]["n"] for r in rows[1:41]] == list(range(40))
    by_seq = {r["seq"]: r for r in rows}
    assert by_seq[0]["record_type"] == RecordType.CONNECTION and by_seq[0]["event"] == "connected"
    assert by_seq[1]["event"] == "tick" and by_seq[1]["opcode"] == 1 and by_seq[1]["direction"] == "in"
    assert (by_seq[41]["event"], by_seq[41]["ack_id"], by_seq[41]["direction"]) == ("buyOrder", 29, "out")
    assert (by_seq[42]["event"], by_seq[42]["ack_id"], by_seq[42]["opcode"]) == (None, 29, None)  # polling body
    assert by_seq[43]["payload_bytes"] == b"\x00\xffbinary" and by_seq[43]["payload_text"] is None and by_seq[43]["opcode"] == 2
    assert by_seq[44]["record_type"] == "click" and by_seq[44]["browser_ts"] == 12.5
    assert orjson.loads(by_seq[44]["detail"]) == {"target": "#buy", "amount": 0.002}
    assert orjson.loads(by_seq[45]["detail"]) == {"reason": "transport close"}
    assert _wal_files(tmp_path) == []  # closed: every WAL removed


def test_event_and_ack_match_the_codec_on_every_real_frame() -> None:
    from capture_agent.protocol.recordings import frame_from_record

    frames = [frame for _, record in event_records() if (frame := frame_from_record(record)) is not None]
    assert len(frames) > 800
    for frame in frames:
        first = decode_frame(frame)[0]
        assert frame_header(frame) == (first.event, first.ack_id), frame[:80]
    for frame in ['42["a\\"b",1]', '451-["bin",{"_placeholder":true,"num":0}]', '42/ns,5["e",1]', "40", "2", "43[]", "42[1]", '42["x"']:
        first = decode_frame(frame)[0]
        assert frame_header(frame) == (first.event, first.ack_id), frame


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=300, deadline=None)
@given(name=st.text(max_size=20), args=st.lists(json_values, max_size=3), ack=st.none() | st.integers(0, 10**6))
def test_frame_header_agrees_with_the_codec_on_valid_frames(name: str, args: list, ack: int | None) -> None:
    from capture_agent.protocol.socketio import encode_ack, encode_event

    for frame in (encode_event(name, *args, ack_id=ack), encode_ack(ack if ack is not None else 1, *args)):
        first = decode_frame(frame)[0]
        assert first.error is None
        assert frame_header(frame) == (first.event, first.ack_id)
        assert frame_header(frame + "\x1e2") == (first.event, first.ack_id)  # first packet of a polling body


@settings(max_examples=500, deadline=None)
@given(prefix=st.sampled_from(["", "4", "42", "43", "4212", "4312", "451-", "42/ns,", '42["', "43[", "2"]), rest=st.text(max_size=60))
def test_frame_header_never_raises_and_agrees_when_the_codec_accepts(prefix: str, rest: str) -> None:
    text = prefix + rest
    first = decode_frame(text)[0]
    header = frame_header(text)
    if first.error is None:
        assert header == (first.event, first.ack_id)


def test_segments_roll_by_payload_bytes(tmp_path: Path) -> None:
    with LandingWriter(tmp_path, Source.DIRECT, segment_max_bytes=100) as writer:
        for n in range(10):
            writer.frame(Direction.IN, Transport.WEBSOCKET, f'42["t",{{"pad":"{"x" * 30}","n":{n}}}]')  # ≈ 50 B
    assert [pq.read_metadata(p).num_rows for p in segment_paths(tmp_path)] == [2] * 5


def test_segments_never_span_two_utc_dates(tmp_path: Path) -> None:
    midnight = int(datetime(2026, 1, 2, tzinfo=UTC).timestamp()) * NS
    with LandingWriter(tmp_path, Source.SYNTHETIC) as writer:
        for n, wall in enumerate([midnight - 2 * NS, midnight - 1, midnight, midnight + NS]):
            writer.frame(Direction.IN, Transport.WEBSOCKET, _frame(n), recv_wall_ns=wall)
    paths = segment_paths(tmp_path)
    assert [p.parent.name for p in paths] == ["date=2026-01-01", "date=2026-01-02"]
    assert segment_paths(tmp_path, "2026-01-02") == paths[1:]
    assert read_landing(tmp_path, ["2026-01-01"])["seq"].to_pylist() == [0, 1]
    assert read_landing(tmp_path, ["2026-01-02"])["seq"].to_pylist() == [2, 3]


def test_readers_never_see_the_segment_being_written(tmp_path: Path) -> None:
    writer = LandingWriter(tmp_path, Source.DIRECT, segment_max_rows=1000)
    for n in range(10):
        writer.frame(Direction.IN, Transport.WEBSOCKET, _frame(n))
    temps = [p for p in (tmp_path / "landing").rglob("*.tmp")]
    assert len(temps) == 1 and temps[0].name.startswith(".")  # the open segment: hidden, not *.parquet
    assert segment_paths(tmp_path) == [] and read_landing(tmp_path).num_rows == 0
    writer.close()
    assert len(segment_paths(tmp_path)) == 1 and read_landing(tmp_path).num_rows == 10
    assert list((tmp_path / "landing").rglob("*.tmp")) == []


def test_published_files_are_never_overwritten(tmp_path: Path) -> None:
    with LandingWriter(tmp_path, Source.DIRECT, capture_id="fixed-capture") as writer:
        writer.frame(Direction.IN, Transport.WEBSOCKET, _frame(0))
    published = segment_paths(tmp_path)[0]
    before = published.read_bytes()
    clash = SegmentFile(tmp_path, "fixed-capture", "direct", 0, published.stat().st_mtime_ns // (86_400 * NS))
    clash.add((0, "frame", 0, 0, None, "in", "websocket", None, None, 1, "x", None, None, None, None), 1)
    with pytest.raises(RuntimeError, match="already exists"):
        clash.publish()
    assert published.read_bytes() == before


def test_thread_safe_seq_under_concurrent_writers(tmp_path: Path) -> None:
    writer = LandingWriter(tmp_path, Source.DIRECT, fsync_interval_s=0.001, segment_max_rows=500)
    returned: list[int] = []
    lock = threading.Lock()

    def land(thread: int) -> None:
        for n in range(1000):
            seq = writer.frame(Direction.IN, Transport.WEBSOCKET, f'42["t{thread}",{n}]')
            with lock:
                returned.append(seq)

    threads = [threading.Thread(target=land, args=(t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    writer.close()
    assert sorted(returned) == list(range(4000))
    rows = read_landing(tmp_path).select(["seq", "event", "payload_text"]).to_pylist()
    assert [r["seq"] for r in rows] == list(range(4000))
    for thread in range(4):  # each thread's frames keep their order
        mine = [orjson.loads(r["payload_text"][2:])[1] for r in rows if r["event"] == f"t{thread}"]
        assert mine == list(range(1000))


def test_flush_makes_rows_durable_and_stats_report_it(tmp_path: Path) -> None:
    with LandingWriter(tmp_path, Source.DIRECT, fsync_interval_s=60) as writer:
        for n in range(5):
            writer.frame(Direction.IN, Transport.WEBSOCKET, _frame(n))
        assert writer.stats.durable_seq == 0 and writer.stats.wal_lag_s > 0
        writer.flush()
        stats = writer.stats
        assert stats.durable_seq == 5 and stats.wal_lag_s == 0 and stats.last_fsync is not None
        reader = WalReader(_wal_files(tmp_path)[0])
        assert [row[0] for row in reader.rows()] == [0, 1, 2, 3, 4] and reader.torn_bytes == 0


def test_background_thread_fsyncs_within_the_interval(tmp_path: Path) -> None:
    with LandingWriter(tmp_path, Source.DIRECT, fsync_interval_s=0.02) as writer:
        writer.frame(Direction.IN, Transport.WEBSOCKET, _frame(0))
        for _ in range(200):
            if writer.stats.durable_seq == 1:
                break
            threading.Event().wait(0.01)
        assert writer.stats.durable_seq == 1


def test_recovery_publishes_the_wal_once_and_closes_with_a_gap(tmp_path: Path) -> None:
    data, crashed = tmp_path / "live", tmp_path / "crashed"
    writer = LandingWriter(data, Source.DIRECT, segment_max_rows=4)
    for n in range(10):
        writer.frame(Direction.IN, Transport.WEBSOCKET, _frame(n))
    writer.flush()
    _simulate_crash(data, crashed)
    writer.close()

    published = recover(crashed).published
    assert len(published) == 1
    rows = _rows(crashed)
    assert [r["seq"] for r in rows] == list(range(11))
    assert [r["event"] for r in rows] == ["tick"] * 10 + ["gap"]
    gap = orjson.loads(rows[-1]["detail"])
    assert gap["cause"] == "crash" and gap["torn_bytes"] == 0
    assert rows[-1]["recv_wall_ns"] == rows[-2]["recv_wall_ns"]  # the gap starts at the last landed row
    assert _wal_files(crashed) == [] and list((crashed / "landing").rglob("*.tmp")) == []
    assert recover(crashed).published == [] and len(_rows(crashed)) == 11  # idempotent


def test_crash_after_publish_before_wal_removal_publishes_nothing_twice(tmp_path: Path) -> None:
    data, crashed = tmp_path / "live", tmp_path / "crashed"
    writer = LandingWriter(data, Source.DIRECT, fsync_interval_s=60)
    for n in range(6):
        writer.frame(Direction.IN, Transport.WEBSOCKET, _frame(n))
    writer.flush()
    wal = _wal_files(data)[0]
    kept = wal.read_bytes()
    writer.close()  # publishes the segment and removes the WAL …
    shutil.copytree(data, crashed)
    (crashed / "landing" / WAL_DIR / wal.name).write_bytes(kept)  # … but the crash came before the removal
    recover(crashed)
    rows = _rows(crashed)
    assert [r["seq"] for r in rows] == list(range(7)) and rows[-1]["event"] == "gap"
    (crashed / "landing" / WAL_DIR / wal.name).write_bytes(kept)  # and again, after the gap was published
    assert recover(crashed).published == [] and len(_rows(crashed)) == 7


def test_crash_right_after_a_roll_lands_the_rows_the_wal_had_not_received(tmp_path: Path) -> None:
    data, crashed = tmp_path / "live", tmp_path / "crashed"
    writer = LandingWriter(data, Source.DIRECT, segment_max_rows=3, fsync_interval_s=60)
    for n in range(4):  # the 4th row rolls segment 0 (3 rows) and opens WAL 1, its row still buffered
        writer.frame(Direction.IN, Transport.WEBSOCKET, _frame(n))
    _simulate_crash(data, crashed)
    writer.close()
    recover(crashed)
    rows = _rows(crashed)
    assert [r["seq"] for r in rows] == [0, 1, 2, 3] and rows[3]["event"] == "gap"


def test_two_wals_of_one_capture_close_it_with_one_gap(tmp_path: Path) -> None:
    data, crashed = tmp_path / "live", tmp_path / "crashed"
    writer = LandingWriter(data, Source.DIRECT, segment_max_rows=3, fsync_interval_s=60)
    for n in range(3):
        writer.frame(Direction.IN, Transport.WEBSOCKET, _frame(n))
    writer.flush()
    (old_wal,) = _wal_files(data)
    kept = old_wal.read_bytes()
    for n in range(3, 5):  # the 4th row rolls: segment 0 published, WAL 1 opened, WAL 0 removed
        writer.frame(Direction.IN, Transport.WEBSOCKET, _frame(n))
    writer.flush()
    _simulate_crash(data, crashed)
    writer.close()
    (crashed / "landing" / WAL_DIR / old_wal.name).write_bytes(kept)  # the crash came before WAL 0 went
    assert len(_wal_files(crashed)) == 2
    recover(crashed)
    rows = _rows(crashed)
    assert [(r["seq"], r["event"]) for r in rows] == [(n, "tick") for n in range(5)] + [(5, "gap")]


@pytest.mark.parametrize("cut", [1, 5, 9, 30, -1])
def test_torn_wal_tail_is_cut_never_misread(tmp_path: Path, cut: int) -> None:
    data, crashed = tmp_path / "live", tmp_path / "crashed"
    writer = LandingWriter(data, Source.DIRECT, fsync_interval_s=60)
    for n in range(8):
        writer.frame(Direction.IN, Transport.WEBSOCKET, _frame(n))
    writer.flush()
    _simulate_crash(data, crashed)
    writer.close()
    wal = _wal_files(crashed)[0]
    raw = wal.read_bytes()
    if cut > 0:
        wal.write_bytes(raw[:-cut])  # a record cut short
    else:
        wal.write_bytes(raw[:-3] + bytes([raw[-3] ^ 0xFF]) + raw[-2:])  # a flipped bit in the last record
    recover(crashed)
    rows = _rows(crashed)
    assert [r["seq"] for r in rows] == list(range(8))  # 7 intact rows, then the gap at seq 7
    assert [orjson.loads(r["payload_text"][2:])[1]["n"] for r in rows[:7]] == list(range(7))
    gap = orjson.loads(rows[-1]["detail"])
    assert rows[-1]["event"] == "gap" and gap["torn_bytes"] > 0 and gap["torn_reason"]


def test_recovery_skips_the_wal_of_a_live_writer(tmp_path: Path) -> None:
    with LandingWriter(tmp_path, Source.DIRECT) as writer:
        writer.frame(Direction.IN, Transport.WEBSOCKET, _frame(0))
        writer.flush()
        assert recover(tmp_path).published == []
        assert len(_wal_files(tmp_path)) == 1
        writer.frame(Direction.IN, Transport.WEBSOCKET, _frame(1))
    assert [r["seq"] for r in _rows(tmp_path)] == [0, 1]


def test_a_writer_that_dies_before_its_first_row_leaves_a_gap_only(tmp_path: Path) -> None:
    data, crashed = tmp_path / "live", tmp_path / "crashed"
    writer = LandingWriter(data, Source.BROWSER)
    _simulate_crash(data, crashed)
    writer.close()
    assert segment_paths(data) == []  # a clean close with no rows publishes nothing
    recover(crashed)
    rows = _rows(crashed)
    assert [(r["seq"], r["event"], r["source"]) for r in rows] == [(0, "gap", "browser")]


def test_resuming_a_capture_continues_its_seq(tmp_path: Path) -> None:
    data, crashed = tmp_path / "live", tmp_path / "crashed"
    writer = LandingWriter(data, Source.DIRECT, capture_id="agent-1")
    for n in range(3):
        writer.frame(Direction.IN, Transport.WEBSOCKET, _frame(n))
    writer.flush()
    _simulate_crash(data, crashed)
    writer.close()
    with LandingWriter(crashed, Source.DIRECT, capture_id="agent-1") as resumed:  # recovers, then continues
        assert resumed.frame(Direction.IN, Transport.WEBSOCKET, _frame(3)) == 4
    rows = _rows(crashed)
    assert [(r["seq"], r["event"]) for r in rows] == [(0, "tick"), (1, "tick"), (2, "tick"), (3, "gap"), (4, "tick")]
    assert [p.name for p in segment_paths(crashed)] == ["agent-1-000000.parquet", "agent-1-000001.parquet"]


def test_capture_ids_with_dots_and_dashes_recover_under_their_own_name(tmp_path: Path) -> None:
    data, crashed = tmp_path / "live", tmp_path / "crashed"
    writer = LandingWriter(data, Source.DIRECT, capture_id="agent.v2-run-000001")
    writer.frame(Direction.IN, Transport.WEBSOCKET, _frame(0))
    writer.flush()
    _simulate_crash(data, crashed)
    writer.close()
    recover(crashed)
    assert [p.name for p in segment_paths(crashed)] == ["agent.v2-run-000001-000000.parquet"]
    assert {r["capture_id"] for r in _rows(crashed)} == {"agent.v2-run-000001"}
    with LandingWriter(crashed, Source.DIRECT, capture_id="agent.v2-run-000001") as resumed:
        assert resumed.frame(Direction.IN, Transport.WEBSOCKET, _frame(1)) == 2


def test_a_capture_cannot_be_written_by_two_writers(tmp_path: Path) -> None:
    with LandingWriter(tmp_path, Source.DIRECT, capture_id="agent-2"):
        with pytest.raises(VectraError, match="another running agent"):
            LandingWriter(tmp_path, Source.DIRECT, capture_id="agent-2")


def test_idle_segments_roll_by_age(tmp_path: Path) -> None:
    with LandingWriter(tmp_path, Source.DIRECT, fsync_interval_s=0.01, segment_max_seconds=0.05) as writer:
        writer.frame(Direction.IN, Transport.WEBSOCKET, _frame(0))
        for _ in range(300):
            if segment_paths(tmp_path):
                break
            threading.Event().wait(0.01)
        assert len(segment_paths(tmp_path)) == 1  # published without a further row or close
        writer.frame(Direction.IN, Transport.WEBSOCKET, _frame(1))
    assert [r["seq"] for r in _rows(tmp_path)] == [0, 1]


def test_closed_writer_refuses_rows_and_bad_arguments_are_clear(tmp_path: Path) -> None:
    writer = LandingWriter(tmp_path, Source.DIRECT)
    writer.close()
    writer.close()  # idempotent
    with pytest.raises(VectraError, match="closed"):
        writer.frame(Direction.IN, Transport.WEBSOCKET, "2")
    with pytest.raises(VectraError):
        LandingWriter(tmp_path, Source.DIRECT, capture_id="../escape")
    with LandingWriter(tmp_path, Source.DIRECT) as other:
        with pytest.raises(ValueError):
            other.frame("sideways", Transport.WEBSOCKET, "2")
        with pytest.raises(TypeError):
            other.frame(Direction.IN, Transport.WEBSOCKET, 42)
        with pytest.raises(ValueError):
            other.frame(Direction.IN, Transport.WEBSOCKET, "2", opcode=300)
        with pytest.raises(ValueError):
            other.frame(Direction.IN, Transport.WEBSOCKET, "2", recv_wall_ns=2**70)
        # loosely typed values are normalised, never allowed to poison the WAL
        assert other.frame(Direction.IN, Transport.WEBSOCKET, "2", socket_id=7, recv_wall_ns=1.7e18, opcode="1") == 0
    row = read_landing(tmp_path).drop_columns(["recv_wall_ns"]).to_pylist()[0]
    assert (row["socket_id"], row["opcode"]) == ("7", 1)


def test_a_disk_failure_stops_landing_loudly_and_the_wal_keeps_the_rows(tmp_path: Path, monkeypatch) -> None:
    writer = LandingWriter(tmp_path, Source.DIRECT, fsync_interval_s=60)
    writer.frame(Direction.IN, Transport.WEBSOCKET, _frame(0))

    def disk_full(self) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(SegmentFile, "_write_group", disk_full)
    monkeypatch.setattr("capture_agent.landing.segments.ROW_GROUP_MAX_ROWS", 2)
    with pytest.raises(OSError):
        writer.frame(Direction.IN, Transport.WEBSOCKET, _frame(1))
    with pytest.raises(VectraError, match="stopped"):
        writer.frame(Direction.IN, Transport.WEBSOCKET, _frame(2))
    with pytest.raises(VectraError, match="published on the next start"):
        writer.close()
    monkeypatch.undo()
    assert segment_paths(tmp_path) == [] and len(_wal_files(tmp_path)) == 1
    recover(tmp_path)
    assert [(r["seq"], r["event"]) for r in _rows(tmp_path)] == [(0, "tick"), (1, "tick"), (2, "gap")]


def test_lone_surrogates_are_kept_as_wtf8_bytes(tmp_path: Path) -> None:
    text = '42["chat",{"m":"\ud83d"}]'
    with LandingWriter(tmp_path, Source.BROWSER) as writer:
        writer.frame(Direction.IN, Transport.WEBSOCKET, text)
    row = _rows(tmp_path)[0]
    assert row["payload_text"] is None and row["payload_bytes"].decode("utf-8", "surrogatepass") == text
    assert "wtf-8" in orjson.loads(row["detail"])["payload_encoding"] and row["opcode"] == 1


def test_rows_land_where_the_date_says(tmp_path: Path) -> None:
    day = int(datetime(2025, 12, 12, 23, 0, tzinfo=UTC).timestamp()) * NS
    with LandingWriter(tmp_path, Source.IMPORT) as writer:
        writer.frame(Direction.IN, Transport.WEBSOCKET, _frame(0), recv_wall_ns=day, recv_mono_ns=5)
    (path,) = segment_paths(tmp_path)
    assert path.parent.name == "date=2025-12-12"
    row = _rows(tmp_path)[0]
    assert row["recv_wall_ns"] == day and row["recv_mono_ns"] == 5
    assert os.path.basename(path).endswith("-000000.parquet")


def test_cached_event_heads_never_stand_in_for_a_different_frame() -> None:
    """The cache fast path answers only for a complete first packet with a known head; the rest is the codec's."""
    frames = [
        '42["tick",{"n":1}]',  # fills the cache for the head 42["tick"
        '42["tick",{"n":1}',  # same head, cut short
        '42["tick"',
        '42["tick",1]\x1e42["other",2]',  # a polling body: its first packet counts
        '42["tick",1\x1e42["other",2]',  # first packet cut short, a later one complete
        '42["tick\\"x",1]',
        '42["tick"]',
    ]
    for frame in frames * 2:  # twice: once filling the cache, once answered from it
        first = decode_frame(frame)[0]
        assert frame_header(frame) == (first.event, first.ack_id), frame


def test_row_groups_keep_every_value_exact(tmp_path: Path) -> None:
    """Constant and null columns are built in bulk: mixed, constant, null and signed-zero values survive."""
    with LandingWriter(tmp_path, Source.DIRECT) as writer:
        for n in range(6):
            writer.frame(
                Direction.IN if n % 3 else Direction.OUT,
                Transport.WEBSOCKET,
                _frame(n) if n != 4 else b"\x01\x02",
                url="ws://127.0.0.1:1/socket.io/?EIO=4&transport=websocket",
                browser_ts=-0.0 if n == 2 else 0.0,
                recv_wall_ns=DAY_NS * 20_000 + 7,
                recv_mono_ns=9,
            )
    rows = _rows(tmp_path)
    assert [r["direction"] for r in rows] == ["out", "in", "in", "out", "in", "in"]
    assert {r["url"] for r in rows} == {"ws://127.0.0.1:1/socket.io/?EIO=4&transport=websocket"}
    assert [str(r["browser_ts"]) for r in rows] == ["0.0", "0.0", "-0.0", "0.0", "0.0", "0.0"]
    assert {(r["recv_wall_ns"], r["recv_mono_ns"]) for r in rows} == {(DAY_NS * 20_000 + 7, 9)}
    assert [r["opcode"] for r in rows] == [1, 1, 1, 1, 2, 1]
    assert rows[4]["payload_text"] is None and rows[4]["payload_bytes"] == b"\x01\x02" and rows[4]["event"] is None
    assert [r["socket_id"] for r in rows] == [None] * 6 and [r["seq"] for r in rows] == list(range(6))
