"""``vectra capture`` end to end: simulator source, stopping by itself or by signal, WAL recovery, errors."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from capture_kit import landed_rows, leave_a_crashed_wal, wal_rows
from waits import wait_until

from capture_agent.errors import VectraError

REPO = Path(__file__).resolve().parents[2]


def vectra(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "capture_agent.cli", *args], cwd=REPO, capture_output=True, text=True, timeout=timeout
    )


def test_simulator_source_stops_by_itself_and_publishes(tmp_path):
    result = vectra("capture", "--source", "simulator", "--speed", "20", "--bots", "4", "--data", str(tmp_path), "--max-frames", "120")
    assert result.returncode == 0, result.stderr
    assert "stopped: capture" in result.stderr and "drops 0" in result.stderr
    rows = landed_rows(tmp_path)
    frames = [r for r in rows if r["record_type"] == "frame"]
    assert 120 <= len(frames) < 140  # stops promptly once the limit is reached
    assert {r["source"] for r in rows} == {"simulator"}
    assert frames[0]["payload_text"].startswith("0{") and frames[1]["payload_text"] == "40"


def test_sigterm_and_sigint_flush_and_exit_zero(tmp_path):
    for signum in (signal.SIGTERM, signal.SIGINT):
        data = tmp_path / signum.name
        agent = subprocess.Popen(
            [sys.executable, "-m", "capture_agent.cli", "capture", "--source", "simulator", "--speed", "10", "--data", str(data), "--no-status"],
            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        # frames are flowing: some have reached the WAL, so the signal lands in the middle of a capture
        wait_until(lambda data=data: any(row["record_type"] == "frame" for rows in wal_rows(data).values() for row in rows), 60, "frames in the WAL")
        agent.send_signal(signum)
        _, stderr = agent.communicate(timeout=30)
        assert agent.returncode == 0, stderr
        assert not list(data.glob("landing/_wal/*.wal"))  # published, WAL removed
        assert any(r["record_type"] == "frame" for r in landed_rows(data))


def test_start_recovers_the_wal_of_a_crashed_run(tmp_path):
    # a run that died: its WAL is on disk, its segment never published (simulated in a child we kill)
    leave_a_crashed_wal(tmp_path, 50)
    assert not landed_rows(tmp_path)
    result = vectra("capture", "--source", "simulator", "--speed", "20", "--data", str(tmp_path), "--max-frames", "5")
    assert result.returncode == 0, result.stderr
    assert "recovered 1 segment" in result.stderr
    crashed = [r for r in landed_rows(tmp_path) if r["source"] == "direct"]
    assert [r["payload_text"] for r in crashed if r["record_type"] == "frame"] == [f'42["n",{i}]' for i in range(50)]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--source", "direct"], "--source direct needs --url"),
        (["--source", "simulator", "--url", "http://x"], "drop --url"),
        (["--source", "simulator", "--serve", "0.0.0.0:9000"], "--serve-public"),
        (["--source", "direct", "--url", "ftp://x"], "is not an http(s)://"),
        (["--source", "simulator", "--fsync-ms", "0"], "--fsync-ms must be positive"),
        (["--source", "direct", "--url", "http://127.0.0.1:1", "--query", "novalue"], "is not KEY=VALUE"),
        (["--source", "direct", "--url", "http://127.0.0.1:1", "--via", "browser"], "--via only applies"),
        (["--source", "browser", "--url", "http://x", "--headless", "--autoplay"], "--autoplay trades"),
        (["--source", "simulator", "--autoplay"], "--autoplay trades"),
        (["--source", "browser", "--url", "http://x", "--profile", "p", "--connect-cdp", "http://127.0.0.1:9222"], "exclude each other"),
    ],
)
def test_bad_arguments_are_one_clear_line(tmp_path, args, message):
    result = vectra("capture", "--data", str(tmp_path), *args, "--duration", "1")
    assert result.returncode == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_headed_browser_without_a_display_says_what_to_do(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    command = [sys.executable, "-m", "capture_agent.cli", "capture", "--source", "browser", "--url", "http://127.0.0.1:9",
               "--data", str(tmp_path), "--no-status"]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 2
    assert result.stderr.strip() == "vectra: error: no display for a headed browser: run from a desktop session, or add --headless"


@pytest.mark.browser
def test_simulator_via_headless_browser_with_a_persistent_profile(tmp_path):
    profile = tmp_path / "profile"
    result = vectra(
        "capture", "--source", "simulator", "--via", "browser", "--headless", "--profile", str(profile), "--autoplay",
        "--speed", "20", "--data", str(tmp_path / "data"), "--duration", "8", "--no-status", timeout=90,
    )
    assert result.returncode == 0, result.stderr
    assert (profile / "Default").is_dir()  # the profile persists (a wallet login would survive)
    rows = landed_rows(tmp_path / "data")
    frames = [r for r in rows if r["record_type"] == "frame"]
    assert frames[0]["payload_text"].startswith("0{")
    assert any(r["event"] == "connected" for r in rows)
    # the scripted player's clicks are landed like a person's, each followed by its order
    clicks = [r for r in rows if r["record_type"] == "click"]
    assert clicks and clicks[0]["detail"]["path"] == "#buy" and clicks[0]["detail"]["name"] == "BUY" and clicks[0]["detail"]["trusted"]
    assert any(r["direction"] == "out" and r["event"] == "buyOrder" and r["seq"] > clicks[0]["seq"] for r in frames)


def test_error_lines_are_one_line_and_never_carry_a_secret(monkeypatch, capsys):
    from capture_agent import cli
    from capture_agent.commands import prices

    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ2ZWN0cmEtdGVzdCIsImlhdCI6MTcwMDAwMDAwMH0.c2lnbmF0dXJlLW9mLXRoZS10b2tlbg"
    for error, code in ((VectraError(f"cannot reach wss://x/?token={jwt}\nretry"), 2), (RuntimeError(f'{{"accessToken": "{jwt}"}}'), 1)):
        def failing(_args, error=error):
            raise error

        monkeypatch.setattr(prices, "run", failing)
        assert cli.main(["prices", "--seed", "s", "--game-id", "g"]) == code
        err = capsys.readouterr().err
        assert jwt not in err and err.count("\n") == 1 and "[redacted]" in err
