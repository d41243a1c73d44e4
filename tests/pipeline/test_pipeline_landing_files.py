"""One bad landing file never fails its day: each file is validated on its own and a bad one is moved aside.

Beside the good segments of a simulated session (landed by the real :class:`LandingWriter`), hypothesis drops
damaged files into the same date folder — a segment truncated at a random offset, zero bytes, random bytes, a
foreign schema, a required column of another kind or with nulls, an opcode that does not fit int8, a ``.parquet``
without a segment name — and files with benign type drift (int32 seq, int64 opcode, large strings, a timestamp
without time zone, optional columns left out), which must be read. Every good row must be read, every bad file
must end up in ``landing/_rejected/date=…/`` with a ``.reason`` saying why, and a second read must find nothing
left to reject. ``vectra build`` on such a day exits 0, names each rejected file in one line and builds the rest.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pipeline_kit import land_session

from capture_agent.cli import main
from capture_agent.landing.schema import Source
from capture_agent.landing.segments import segment_paths
from capture_agent.landing.writer import LandingWriter
from vectra_pipeline.bronze.frames import LANDING_DTYPES, with_payloads
from vectra_pipeline.landing_files import LandingPayloads, read_landing_day

START_MS = 1_766_361_600_000  # 2025-12-22 00:00 UTC
DATE = "2025-12-22"
KEY = ["capture_id", "seq"]


@pytest.fixture(scope="module")
def good(tmp_path_factory) -> Path:
    """A data dir whose one date holds a one-game session in segments of 100 rows, and a second capture whose
    segment the drift cases rewrite."""
    data_dir = tmp_path_factory.mktemp("good")
    with LandingWriter(data_dir, Source.SIMULATOR, capture_id="good", segment_max_rows=100) as writer:
        land_session(writer, "landing-files", START_MS, games=1)
    with LandingWriter(data_dir, Source.SIMULATOR, capture_id="drift") as writer:
        land_session(writer, "landing-files-drift", START_MS, games=1)
    return data_dir


def _folder(data_dir: Path) -> Path:
    return data_dir / "landing" / f"date={DATE}"


def _table(data_dir: Path, capture: str) -> pa.Table:
    return pa.concat_tables([pq.read_table(p) for p in segment_paths(data_dir, DATE) if p.name.startswith(f"{capture}-")])


def _rows(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.select(*KEY, "payload_text", "payload_bytes", "opcode", "direction").sort(KEY)


# -- damaged and foreign files: (name, bytes or table, expected reason) ----------------------------------------------


def _parquet(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return sink.getvalue().to_pybytes()


def _with(table: pa.Table, name: str, column: pa.Array) -> pa.Table:
    return table.set_column(table.schema.get_field_index(name), pa.field(name, column.type), column)


@st.composite
def bad_files(draw, segment: bytes, drift: pa.Table):
    kind = draw(st.sampled_from(["truncated", "empty", "random", "foreign", "seq_text", "seq_null", "opcode_wide", "stray"]))
    name = f"bad{draw(st.integers(0, 99))}-{draw(st.integers(0, 999_999)):06d}.parquet"
    if kind == "truncated":
        return name, segment[: draw(st.integers(1, len(segment) - 1))], "not a readable Parquet file"
    if kind == "empty":
        return name, b"", "not a readable Parquet file"
    if kind == "random":
        return name, draw(st.binary(min_size=1, max_size=2048)), "not a readable Parquet file"
    if kind == "foreign":
        columns = draw(st.lists(st.sampled_from(["a", "b", "capture_id", "payload", "ts"]), min_size=1, max_size=4, unique=True))
        table = pa.table({c: pa.array([draw(st.integers(0, 9)) for _ in range(3)]) for c in columns})
        return name, _parquet(table), "not landing data: no "
    if kind == "seq_text":
        return name, _parquet(_with(drift, "seq", pa.array([str(s) for s in drift["seq"].to_pylist()]))), "column seq is String"
    if kind == "seq_null":
        seqs = drift["seq"].to_pylist()
        seqs[draw(st.integers(0, len(seqs) - 1))] = None
        return name, _parquet(_with(drift, "seq", pa.array(seqs, pa.int64()))), "column seq has 1 null"
    if kind == "opcode_wide":
        return name, _parquet(_with(drift, "opcode", pa.array([300] * drift.num_rows, pa.int64()))), "column opcode holds values that do not fit Int8"
    return "notes.parquet", _parquet(drift), "not a landing segment name"


def _drifted(drift: pa.Table) -> pa.Table:
    """The drift capture with benign type drift: other integer widths, large strings, a naive timestamp, optional
    columns left out."""
    table = drift.drop_columns(["socket_id", "url", "detail", "browser_ts"])
    table = _with(table, "seq", table["seq"].cast(pa.int32()))
    table = _with(table, "opcode", table["opcode"].cast(pa.int64()))
    table = _with(table, "payload_text", table["payload_text"].cast(pa.large_string()))
    table = _with(table, "recv_wall_ns", table["recv_wall_ns"].cast(pa.timestamp("ns")))
    return _with(table, "ack_id", table["ack_id"].cast(pa.int32()))


@pytest.fixture(scope="module")
def material(good):
    segment = segment_paths(good, DATE)[0].read_bytes()
    drift = _table(good, "drift")
    good_rows = _rows(read_landing_day(good, DATE).frame)
    return segment, drift, good_rows


def _day_with(good: Path, target: Path, files: list[tuple[str, bytes]]) -> None:
    shutil.copytree(good / "landing", target / "landing", ignore=shutil.ignore_patterns("drift-*"))
    (_folder(target) / "drift-000000.parquet").write_bytes(_parquet(_drifted(_table(good, "drift"))))
    for name, data in files:
        (_folder(target) / name).write_bytes(data)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_bad_files_are_moved_aside_and_the_good_rows_read(good, material, data):
    segment, drift, good_rows = material
    bad = data.draw(st.lists(bad_files(segment, drift), min_size=1, max_size=4, unique_by=lambda b: b[0]))
    with tempfile.TemporaryDirectory() as temp:
        target = Path(temp)
        _day_with(good, target, [(name, content) for name, content, _ in bad])
        day = read_landing_day(target, DATE)
        assert _rows(day.frame).equals(good_rows), "a good row was lost or changed"
        assert {r.file for r in day.rejected} == {f"landing/date={DATE}/{name}" for name, _, _ in bad}
        rejected_dir = target / "landing" / "_rejected" / f"date={DATE}"
        for name, content, reason in bad:
            (found,) = [r for r in day.rejected if r.file.endswith(f"/{name}")]
            assert reason in found.reason and found.moved_to == f"landing/_rejected/date={DATE}/{name}"
            assert (rejected_dir / name).read_bytes() == content, "the rejected file is kept as it was"
            note = (rejected_dir / f"{name}.reason").read_text()
            assert reason in note and "rejected: " in note and f"landing/date={DATE}/{name}" in note
            assert not (_folder(target) / name).exists()
        again = read_landing_day(target, DATE)
        assert again.rejected == [] and _rows(again.frame).equals(good_rows)
        assert [p.parent.name for p in segment_paths(target)] == [f"date={DATE}"] * len(segment_paths(target))


def test_benign_type_drift_is_read_as_landing_data(good, material):
    _, drift, good_rows = material
    expected = pl.from_arrow(drift).select(*KEY, "payload_text", "opcode", "ack_id").sort(KEY)
    with tempfile.TemporaryDirectory() as temp:
        _day_with(good, Path(temp), [])
        day = read_landing_day(Path(temp), DATE)
    assert day.rejected == [] and day.segments == len(segment_paths(good, DATE))
    read = day.frame.filter(pl.col("capture_id") == "drift")
    assert read.select(*KEY, "payload_text", "opcode", "ack_id").sort(KEY).equals(expected)
    assert read["recv_wall_ns"].to_list() == pl.from_arrow(drift["recv_wall_ns"]).dt.epoch("ns").to_list()
    assert read["detail"].null_count() == read.height and dict(day.frame.schema) == LANDING_DTYPES
    assert good_rows.height > 100


def test_a_name_taken_in_rejected_gets_a_number(good, material, tmp_path):
    _day_with(good, tmp_path, [("bad-000001.parquet", b"first")])
    read_landing_day(tmp_path, DATE)
    (_folder(tmp_path) / "bad-000001.parquet").write_bytes(b"second")
    (second,) = read_landing_day(tmp_path, DATE).rejected
    assert second.moved_to == f"landing/_rejected/date={DATE}/bad-000001.parquet.1"
    rejected_dir = tmp_path / "landing" / "_rejected" / f"date={DATE}"
    assert (rejected_dir / "bad-000001.parquet").read_bytes() == b"first"
    assert (rejected_dir / "bad-000001.parquet.1").read_bytes() == b"second"
    assert (rejected_dir / "bad-000001.parquet.1.reason").exists()


def test_build_exits_0_names_each_rejected_file_and_builds_the_rest(good, material, tmp_path, capsys, monkeypatch):
    segment, drift, good_rows = material
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    bad = {
        "cut-000000.parquet": segment[: len(segment) // 2],
        "empty-000000.parquet": b"",
        "noise-000000.parquet": bytes(range(256)) * 8,
        "foreign-000000.parquet": _parquet(pa.table({"a": [1, 2], "b": ["x", "y"]})),
        "notes.parquet": _parquet(drift),
    }
    data_dir = tmp_path / "data"
    _day_with(good, data_dir, list(bad.items()))
    assert main(["build", "--data", str(data_dir)]) == 0
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    lines = [line for line in captured.out.splitlines() if line.startswith(f"{DATE} rejected ")]
    assert sorted(lines) == sorted(line for line in lines if "moved to landing/_rejected/" in line)
    for name in bad:
        assert sum(f"landing/date={DATE}/{name}:" in line for line in lines) == 1, name
        assert (data_dir / "landing" / "_rejected" / f"date={DATE}" / f"{name}.reason").exists()
    index = pl.read_parquet(data_dir / "bronze" / "frames" / f"date={DATE}" / "part.parquet")
    frames = with_payloads(index, LandingPayloads(data_dir))  # bronze is an index: the text is read back from landing
    assert _rows(frames.filter(pl.col("capture_id") == "good")).equals(good_rows.filter(pl.col("capture_id") == "good"))
    assert frames.filter(pl.col("capture_id") == "drift").height == drift.num_rows
    games = pl.read_parquet(data_dir / "silver" / "games" / f"date={DATE}" / "part.parquet")
    assert games.filter(pl.col("completeness") == "complete").height >= 1
    assert main(["build", "--data", str(data_dir)]) == 0  # nothing left to reject: the day builds quietly
    assert " rejected " not in capsys.readouterr().out
