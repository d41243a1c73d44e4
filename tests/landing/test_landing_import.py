"""vectra import: every real recording lands row for row; raw frame files land verbatim; games files are refused."""

from __future__ import annotations

import gzip
from pathlib import Path

import orjson
import pytest
from realdata import event_files, event_records, real_files

from capture_agent.cli import main
from capture_agent.errors import VectraError
from capture_agent.landing.importer import RAW_FRAMES, RECORDINGS, import_files
from capture_agent.landing.segments import read_landing, segment_paths
from capture_agent.protocol.recordings import MARKER_EVENTS, direction_of
from capture_agent.protocol.socketio import decode_frame


def _rows(data: Path, capture_id: str) -> list[dict]:
    table = read_landing(data)
    table = table.set_column(table.schema.get_field_index("recv_wall_ns"), "recv_wall_ns", table["recv_wall_ns"].cast("int64"))
    return sorted((r for r in table.to_pylist() if r["capture_id"] == capture_id), key=lambda r: r["seq"])


@pytest.mark.parametrize("path", event_files(), ids=lambda p: p.name)
def test_every_real_event_file_lands_record_for_record(tmp_path: Path, path: Path) -> None:
    records = [record for _, record in event_records(path)]
    (result,) = import_files(tmp_path, [path])
    assert result.kind == RECORDINGS and result.rows == len(records) and not result.already_imported
    rows = _rows(tmp_path, result.capture_id)
    assert [r["seq"] for r in rows] == list(range(len(records)))
    assert {r["source"] for r in rows} == {"import"} and result.segments == segment_paths(tmp_path)
    for number, (record, row) in enumerate(zip(records, rows), start=1):
        where = orjson.loads(row["detail"])["import"]
        assert where["line"] == number and where["source"] == record["source"] and where["file"] == path.name
        if record.get("ts_ms") is not None:
            assert row["recv_wall_ns"] == record["ts_ms"] * 1_000_000
        else:
            assert "import time" in where["recv_wall_ns"]
        if record["event"] in MARKER_EVENTS:
            assert row["record_type"] == "connection" and where["marker"] == record["event"]
            continue
        assert row["record_type"] == "frame" and row["direction"] == direction_of(record)
        packet = decode_frame(row["payload_text"])[0]
        if record["event"] == "ack":
            assert packet.socket_type == "ack" and row["event"] is None
        else:
            assert packet.event == record["event"] == row["event"]
            if record["data"] is not None and not (record["meta"] or {}).get("payload_lost"):
                assert packet.payload == record["data"]
        assert (packet.error is None) == ("frame_error" not in where)


def test_every_real_file_at_once_and_not_twice(tmp_path: Path) -> None:
    files = event_files()
    results = import_files(tmp_path, files)
    assert len({r.capture_id for r in results}) == len(files)
    total = read_landing(tmp_path).num_rows
    assert total == sum(1 for _ in event_records())
    again = import_files(tmp_path, files[:1])
    assert again[0].already_imported and again[0].capture_id == results[0].capture_id
    assert read_landing(tmp_path).num_rows == total
    forced = import_files(tmp_path, files[:1], again=True)
    assert not forced[0].already_imported and forced[0].capture_id != results[0].capture_id


def test_an_import_that_crashed_is_imported_again(tmp_path: Path) -> None:
    import shutil

    from capture_agent.landing.importer import file_digest
    from capture_agent.landing.recovery import recover
    from capture_agent.landing.schema import Source
    from capture_agent.landing.writer import LandingWriter

    path = event_files()[0]
    live, crashed = tmp_path / "live", tmp_path / "crashed"
    writer = LandingWriter(live, Source.IMPORT, capture_id=f"20250101T000000-import-{file_digest(path)[:12]}-dead")
    writer.frame("in", "websocket", '42["gameStateUpdate",{}]')
    writer.flush()
    shutil.copytree(live, crashed)  # the import was killed here
    writer.close()
    recover(crashed)
    (result,) = import_files(crashed, [path])
    assert not result.already_imported and result.rows == sum(1 for _ in event_records(path))
    (again,) = import_files(crashed, [path])
    assert again.already_imported and again.capture_id == result.capture_id


def test_raw_frame_files_land_verbatim_with_binary_and_malformed_lines_flagged(tmp_path: Path) -> None:
    lines = [
        b'0{"sid":"abc","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}',
        b"40",
        b'42["gameStateUpdate",{"gameId":"20251212-0000000000000000","tickCount":3}]',
        b"",
        b'4329[{"success":true}]',
        b"not a frame at all",
        b'42["broken",{"a":',
        b"\xff\xfe\x00binary",
        b"2",
        b'4329[{"success":true}]\x1e42["x",1]',
    ]
    path = tmp_path / "frames.txt"
    path.write_bytes(b"\n".join(lines) + b"\n")
    (result,) = import_files(tmp_path / "data", [path])
    assert result.kind == RAW_FRAMES and result.rows == 9 and result.blank_lines == 1 and result.flagged == 1
    rows = _rows(tmp_path / "data", result.capture_id)
    kept = [r["payload_text"].encode() if r["payload_text"] is not None else r["payload_bytes"] for r in rows]
    assert kept == [line for line in lines if line]  # verbatim, in order, nothing dropped
    assert [r["event"] for r in rows][:5] == [None, None, "gameStateUpdate", None, None]
    assert rows[3]["ack_id"] == 29
    assert decode_frame(rows[5]["payload_text"])[0].error  # malformed: kept, the codec flags it downstream
    binary = orjson.loads(rows[6]["detail"])["import"]
    assert "not UTF-8" in binary["error"] and rows[6]["payload_text"] is None
    assert [r["transport"] for r in rows].count("polling") == 1 and rows[8]["transport"] == "polling"
    assert (rows[8]["ack_id"], rows[8]["opcode"]) == (29, None)


def test_broken_record_lines_are_kept_and_flagged(tmp_path: Path) -> None:
    good = b'{"event":"gameStateUpdate","ts_ms":1765577818953,"data":{"gameId":"g","tickCount":1},"source":"x","meta":{}}'
    spliced = good[:60] + good  # two objects spliced together, as in some real recorder files
    path = tmp_path / "rec.jsonl.gz"
    odd_time = good.replace(b"1765577818953", b"1e30")
    odd_meta = good.replace(b'"meta":{}', b'"meta":[1]')
    path.write_bytes(gzip.compress(b"\n".join([good, spliced, b"[1,2]", good, odd_time, odd_meta]) + b"\n"))
    (result,) = import_files(tmp_path / "data", [path])
    assert result.rows == 6 and result.flagged == 3
    rows = _rows(tmp_path / "data", result.capture_id)
    assert rows[1]["payload_text"] == spliced.decode() and "not JSON" in orjson.loads(rows[1]["detail"])["import"]["error"]
    assert rows[2]["payload_text"] == "[1,2]"
    assert rows[0]["event"] == rows[3]["event"] == rows[4]["event"] == rows[5]["event"] == "gameStateUpdate"
    assert "is not a time" in orjson.loads(rows[4]["detail"])["import"]["recv_wall_ns"]


def test_games_files_are_refused_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    games = [p for p in real_files() if p.name.startswith("games.jsonl")]
    assert games
    with pytest.raises(VectraError, match="per-game records"):
        import_files(tmp_path, [event_files()[0], games[0]])
    assert segment_paths(tmp_path) == []  # refused before anything was landed
    assert main(["import", "--data", str(tmp_path), str(games[0])]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "games file" in err
    assert main(["import", "--data", str(tmp_path), str(tmp_path / "missing.jsonl")]) == 2


def test_cli_imports_and_prints_a_summary(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = event_files()[0]
    assert main(["import", "--data", str(tmp_path), str(path)]) == 0
    out = capsys.readouterr().out
    assert path.name in out and "-import-" in out
    assert read_landing(tmp_path).num_rows == sum(1 for _ in event_records(path))


def test_hostile_lines_each_land_as_one_row(tmp_path: Path) -> None:
    """Every hostile frame kind as a raw line, and records a recorder could write badly: one row each, no crash."""
    from capture.hostile_frames import seeded_frames  # tests/ is on the path (conftest)

    raw = [f.wire for f in seeded_frames(11, 300, huge_bytes=1 << 20, deepest=20_000)]
    raw = [line for line in raw if b"\n" not in line and not line.endswith(b"\r") and line.strip()]
    frames = tmp_path / "hostile.txt"
    frames.write_bytes(b"\n".join(raw) + b"\n")
    deep_meta = "[" * 1000 + "]" * 1000
    records = [
        f'{{"event":"gameStateUpdate","ts_ms":1767225600000,"data":{{"a":1}},"source":"x","meta":{deep_meta}}}',
        '{"event":"gameStateUpdate","ts_ms":1767225600000,"data":%s,"source":"x","meta":{}}' % ("[" * 5000 + "]" * 5000),
        '{"event":"gameStateUpdate","ts_ms":1e400,"data":{"a":123456789012345678901234567890},"source":"x","meta":{}}',
        '{"event":"x","ts_ms":NaN,"data":[1],"source":"x","meta":{}}',
    ]
    recordings = tmp_path / "hostile.jsonl"
    recordings.write_text("\n".join(records) + "\n")
    assert main(["import", "--data", str(tmp_path / "data"), str(frames), str(recordings)]) == 0
    by_kind = {}
    for row in _rows_of_all(tmp_path / "data"):
        by_kind.setdefault(orjson.loads(row["detail"])["import"]["kind"], []).append(row)
    kept = [r["payload_text"].encode() if r["payload_text"] is not None else r["payload_bytes"] for r in by_kind[RAW_FRAMES]]
    assert kept == raw  # verbatim, in order, one row a line
    assert len(by_kind[RECORDINGS]) == len(records)
    assert "nested deeper than 64 levels: cut" in by_kind[RECORDINGS][0]["detail"]  # meta 1,000 deep: cut, row kept
    assert "not JSON" in by_kind[RECORDINGS][1]["detail"] and by_kind[RECORDINGS][1]["payload_text"] == records[1]


def _rows_of_all(data: Path) -> list[dict]:
    table = read_landing(data)
    table = table.set_column(table.schema.get_field_index("recv_wall_ns"), "recv_wall_ns", table["recv_wall_ns"].cast("int64"))
    return sorted(table.to_pylist(), key=lambda r: (r["capture_id"], r["seq"]))
