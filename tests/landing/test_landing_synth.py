"""vectra synth: N simulator frames through the real landing path, stamped from the date's midnight UTC."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from pathlib import Path

import pytest

from capture_agent.cli import main
from capture_agent.errors import VectraError
from capture_agent.landing.schema import LANDING_SCHEMA
from capture_agent.landing.segments import read_landing, segment_paths
from capture_agent.landing.synthetic import write_synthetic_capture
from simulator.engine.observer import wire_frames


def test_synth_writes_exactly_n_frames_from_the_engine(tmp_path: Path) -> None:
    result = write_synthetic_capture(tmp_path, 2500, seed="test-seed", date="2026-01-01")
    assert result.rows == 2500 and result.segments == segment_paths(tmp_path)
    table = read_landing(tmp_path)
    assert table.schema.equals(LANDING_SCHEMA) and table.num_rows == 2500
    assert table["seq"].to_pylist() == list(range(2500))
    assert set(table["source"].to_pylist()) == {"synthetic"} and set(table["direction"].to_pylist()) == {"in"}
    midnight_ms = int(datetime(2026, 1, 1, tzinfo=UTC).timestamp() * 1000)
    expected = list(itertools.islice(wire_frames("test-seed", midnight_ms), 2500))
    assert table["payload_text"].to_pylist() == [text for _, text in expected]
    assert table["recv_wall_ns"].cast("int64").to_pylist() == [ms * 1_000_000 for ms, _ in expected]
    assert table["recv_mono_ns"].to_pylist() == [(ms - midnight_ms) * 1_000_000 for ms, _ in expected]
    assert "gameStateUpdate" in set(table["event"].to_pylist())
    assert segment_paths(tmp_path)[0].parent.name == "date=2026-01-01"


def test_synth_cli(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["synth", "--data", str(tmp_path), "--frames", "300", "--date", "2025-12-31"]) == 0
    assert read_landing(tmp_path).num_rows == 300
    assert "300 frames" in capsys.readouterr().out
    assert main(["synth", "--data", str(tmp_path), "--frames", "0"]) == 2
    assert main(["synth", "--data", str(tmp_path), "--frames", "5", "--date", "31/12/2025"]) == 2
    with pytest.raises(VectraError):
        write_synthetic_capture(tmp_path, 0)
