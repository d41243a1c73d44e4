"""What ``vectra build`` prints when a step fails: one line per failed step (where, the root cause, what to do), the
steps left unbuilt, no traceback unless ``--verbose``; a check that fails to run is named as the check it is."""

from __future__ import annotations

import pytest
import realdata

from capture_agent.cli import main
from capture_agent.landing.importer import import_files
from vectra_pipeline.defs.assets import silver as silver_assets
from vectra_pipeline.defs.checks import silver as silver_checks

DATE = "2025-12-07"


@pytest.fixture
def landed(tmp_path, monkeypatch):
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.delenv("VECTRA_DEBUG", raising=False)
    capture = next(p for p in realdata.event_files() if p.name.startswith("capture_2025-12-06"))
    import_files(tmp_path / "data", [capture])
    return tmp_path / "data"


def _boom(*_args, **_kwargs):
    raise RuntimeError("boom: the games stage broke")


def test_a_failed_step_is_one_line_with_its_cause_and_what_to_do(landed, monkeypatch, capsys):
    monkeypatch.setattr(silver_assets, "build_games", _boom)
    assert main(["build", "--data", str(landed)]) == 1
    captured = capsys.readouterr()
    assert captured.err == "" and "Traceback" not in captured.out and "Stack Trace" not in captured.out
    failed = [line for line in captured.out.splitlines() if line.startswith("failed")]
    assert failed[0] == (
        f"failed {DATE} games: RuntimeError: boom: the games stage broke — run `vectra build --date {DATE} --verbose` for the traceback"
    )
    assert failed[1].startswith(f"failed {DATE}: not built because a step they need failed: ")
    assert "sidebets" in failed[1] and "episodes" in failed[1]
    assert len(failed) == 2 or all(line.startswith("failed datasets") for line in failed[2:])


def test_verbose_shows_the_traceback(landed, monkeypatch, capsys):
    monkeypatch.setattr(silver_assets, "build_games", _boom)
    assert main(["build", "--data", str(landed), "--verbose"]) == 1
    out = capsys.readouterr().out
    assert "Stack Trace" in out and "_boom" in out and "boom: the games stage broke" in out


def test_a_check_that_cannot_run_is_named_as_the_check(landed, monkeypatch, capsys):
    monkeypatch.setattr(silver_checks, "preview", _boom)  # every silver check with an examples preview raises
    assert main(["build", "--data", str(landed)]) == 1
    failed = [line for line in capsys.readouterr().out.splitlines() if line.startswith("failed")]
    assert any(line.startswith(f"failed {DATE} check unexplained_quarantine (quarantine): RuntimeError: boom") for line in failed)
    assert any(line.startswith(f"failed {DATE} check undecodable_frames (quarantine): RuntimeError: boom") for line in failed)
