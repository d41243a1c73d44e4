"""Recovery never blocks a start: what a WAL holds that cannot be published is set aside with its reason, counted
and reported in one line, and everything else is published. A data root poisoned by the agent's old ack-id bug
(an int ≥ 2**63 in the ``ack_id`` value of a WAL row) recovers on the next ``capture``, ``synth`` or ``import``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from capture_agent.landing.recovery import REASON_SUFFIX, REJECTED_DIR, recover
from capture_agent.landing.rows import ROW_FIELDS
from capture_agent.landing.segments import read_landing
from capture_agent.landing.wal import WAL_DIR, WalHeader, WalReader, append_row, encode_header, wal_name

REPO = Path(__file__).resolve().parents[2]
NS = 1_000_000_000
T0 = 1_767_225_600 * NS  # 2026-01-01T00:00:00Z


def _row(seq: int, payload: str = '42["tick",1]', **values) -> tuple:
    row = dict.fromkeys(ROW_FIELDS)
    row.update(seq=seq, record_type="frame", recv_wall_ns=T0 + seq * NS, recv_mono_ns=seq * NS, direction="in",
               transport="websocket", opcode=1, payload_text=payload, event="tick")
    row.update(values)
    return tuple(row[name] for name in ROW_FIELDS)


def _write_wal(data: Path, capture_id: str, rows: list[tuple], *, segment: int = 0) -> Path:
    """A WAL exactly as the writer leaves it on a crash: its header record, then one record per row (the same
    encode_header/append_row the writer has always used, so the old agent's rows come out byte for byte)."""
    folder = data / "landing" / WAL_DIR
    folder.mkdir(parents=True, exist_ok=True)
    buffer = bytearray(encode_header(WalHeader(capture_id, "direct", segment, rows[0][0] if rows else 0, T0, 0)))
    for row in rows:
        append_row(buffer, row)
    path = folder / wal_name(capture_id, segment)
    path.write_bytes(bytes(buffer))
    return path


def _rows(data: Path, capture_id: str | None = None) -> list[dict]:
    table = read_landing(data)
    table = table.set_column(table.schema.get_field_index("recv_wall_ns"), "recv_wall_ns", table["recv_wall_ns"].cast("int64"))
    rows = [row for row in table.to_pylist() if capture_id is None or row["capture_id"] == capture_id]
    return sorted(rows, key=lambda row: (row["capture_id"], row["seq"]))


def _poison(data: Path) -> str:
    """What the old agent left after an ack id between 2**63 and 2**64: its WAL holds the int in ``ack_id`` (and
    the half-written segment it could not finish)."""
    capture_id = "20260101T000000-direct-0ld0ac"
    _write_wal(data, capture_id, [
        _row(0, '0{"sid":"a"}', event=None),
        _row(1, '439223372036854775809["x"]', event=None, ack_id=2**63 + 1),
        _row(2, '4318446744073709551615[1]', event=None, ack_id=2**64 - 1, detail='{"codec_error":"kept"}'),
        _row(3),
    ])
    stale = data / "landing" / "date=2026-01-01" / f".{capture_id}-000000.parquet.tmp"
    stale.parent.mkdir(parents=True, exist_ok=True)
    stale.write_bytes(b"PAR1 half written")
    return capture_id


def _check_poison_recovered(data: Path, capture_id: str) -> None:
    rows = _rows(data, capture_id)
    assert [row["seq"] for row in rows] == [0, 1, 2, 3, 4] and rows[-1]["event"] == "gap"
    assert rows[1]["payload_text"] == '439223372036854775809["x"]' and rows[1]["ack_id"] is None
    assert orjson.loads(rows[1]["detail"]) == {"flags": ["ack_id_out_of_range"], "ack_id": str(2**63 + 1)}
    assert orjson.loads(rows[2]["detail"]) == {"codec_error": "kept", "flags": ["ack_id_out_of_range"], "ack_id": str(2**64 - 1)}
    assert rows[3]["event"] == "tick"
    assert not list((data / "landing" / WAL_DIR).glob("*.wal"))
    assert not list((data / "landing" / WAL_DIR).glob(f"{REJECTED_DIR}/{capture_id}*"))  # repaired, not set aside


def test_a_poisoned_wal_is_published_with_the_wide_ack_ids_flagged(tmp_path: Path) -> None:
    capture_id = _poison(tmp_path)
    recovery = recover(tmp_path)
    assert len(recovery.published) == 1 and recovery.set_aside == [] and recovery.report() is None
    _check_poison_recovered(tmp_path, capture_id)
    assert not list(tmp_path.glob("landing/date=*/.*.tmp"))
    assert recover(tmp_path).published == [] and len(_rows(tmp_path)) == 5  # idempotent


def _vectra(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "capture_agent.cli", *args], cwd=REPO, capture_output=True, text=True, timeout=180)


@pytest.mark.parametrize("command", ["capture", "synth", "import"])
def test_every_start_recovers_a_poisoned_root_and_reports_what_it_set_aside(tmp_path: Path, command: str) -> None:
    data = tmp_path / "data"
    capture_id = _poison(data)
    broken = _write_wal(data, "20260101T000001-direct-b40ken", [_row(0), _row(1), _row(7)])  # seq order broken
    if command == "capture":
        result = _vectra("capture", "--source", "simulator", "--speed", "20", "--data", str(data), "--max-frames", "5", "--no-status")
    elif command == "synth":
        result = _vectra("synth", "--frames", "50", "--data", str(data))
    else:
        frames = tmp_path / "frames.txt"
        frames.write_text('42["a",1]\n2\n')
        result = _vectra("import", str(frames), "--data", str(data))
    assert result.returncode == 0, result.stderr
    assert "internal error" not in result.stderr
    report = [line for line in result.stderr.splitlines() if "recovery set aside" in line]
    assert len(report) == 1 and "1 WAL file(s) and 0 WAL row(s)" in report[0] and REASON_SUFFIX in report[0]
    _check_poison_recovered(data, capture_id)
    rejected = data / "landing" / WAL_DIR / REJECTED_DIR
    assert (rejected / broken.name).read_bytes() == _write_wal(tmp_path / "again", "20260101T000001-direct-b40ken",
                                                                 [_row(0), _row(1), _row(7)]).read_bytes()  # kept whole
    reason = (rejected / (broken.name + REASON_SUFFIX)).read_text()
    assert "breaks the seq order at 7 (expected 2)" in reason
    assert len({row["capture_id"] for row in _rows(data)}) == 2  # the poisoned capture and this run's own


def test_rows_that_cannot_be_published_are_set_aside_and_leave_a_marker(tmp_path: Path) -> None:
    bad_opcode = _row(1, opcode=300)
    bad_text = _row(3, payload_text=12345)
    path = _write_wal(tmp_path, "20260101T000000-direct-r0ws00", [_row(0), bad_opcode, _row(2), bad_text, _row(4)])
    recovery = recover(tmp_path)
    assert recovery.rows_set_aside == 2 and recovery.wals_set_aside == 0 and len(recovery.published) == 1
    assert recovery.report().startswith("recovery set aside 0 WAL file(s) and 2 WAL row(s) that could not be published")
    rows = _rows(tmp_path)
    assert [row["seq"] for row in rows] == [0, 1, 2, 3, 4, 5]  # still gapless: markers stand at the rejected seqs
    assert [row["event"] for row in rows] == ["tick", "set_aside", "tick", "set_aside", "tick", "gap"]
    marker = orjson.loads(rows[1]["detail"])
    assert "opcode 300 does not fit the int8 column" in marker["reason"]
    assert marker["set_aside_in"] == f"{REJECTED_DIR}/{path.stem}.rows.wal"
    assert rows[1]["recv_wall_ns"] == rows[0]["recv_wall_ns"]  # the time of the row before it
    [kept] = recovery.set_aside
    reader = WalReader(kept)
    assert list(reader.rows()) == [bad_opcode, bad_text] and reader.torn_bytes == 0  # verbatim, readable as a WAL
    assert reader.header.capture_id == "20260101T000000-direct-r0ws00"
    reasons = kept.with_name(kept.name + REASON_SUFFIX).read_text().splitlines()
    assert reasons[0].startswith("seq 1: opcode 300") and reasons[1].startswith("seq 3: payload_text 12345")
    assert not path.exists()


def test_a_wal_with_an_unreadable_header_is_set_aside_and_the_others_published(tmp_path: Path) -> None:
    damaged = _write_wal(tmp_path, "20260101T000000-direct-dama9e", [_row(0), _row(1)])
    content = bytearray(damaged.read_bytes())
    content[10] ^= 0xFF  # inside the header record: its checksum no longer holds
    damaged.write_bytes(bytes(content))
    healthy = _write_wal(tmp_path, "20260101T000000-direct-hea1th", [_row(0), _row(1)])
    recovery = recover(tmp_path)
    assert recovery.wals_set_aside == 1 and len(recovery.published) == 1
    assert [row["capture_id"] for row in _rows(tmp_path)] == ["20260101T000000-direct-hea1th"] * 3
    rejected = tmp_path / "landing" / WAL_DIR / REJECTED_DIR
    assert (rejected / damaged.name).read_bytes() == bytes(content)
    assert "its header cannot be read (record checksum mismatch)" in (rejected / (damaged.name + REASON_SUFFIX)).read_text()
    assert not damaged.exists() and not healthy.exists()
    assert recover(tmp_path).set_aside == []  # set aside once: the next start does not meet it again
