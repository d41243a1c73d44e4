"""The capture library under the CLI: each stop condition ends a session with its reason and the figures of what was
landed; a failing source still publishes; the live feed option; options that cannot run are one clear error."""

from __future__ import annotations

import asyncio
import json
import re
import socket
import urllib.request
from pathlib import Path

import pytest
from capture_kit import landed_rows, leave_a_crashed_wal, wait_for
from ports import free_port

from capture_agent.errors import VectraError
from capture_agent.landing.segments import segment_paths
from capture_agent.protocol.client import Backoff
from capture_agent.session import CaptureOptions, CaptureSession, ExitReason, FeedOptions, SimulatorOptions
from capture_agent.sources.browser import BrowserOptions
from capture_agent.sources.direct import DirectOptions
from simulator.server import start_simulator

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def simulator():
    handle = start_simulator(speed=20, bots=2)
    yield handle
    handle.stop()


class Count:
    def __init__(self) -> None:
        self.rows = 0

    def observe(self, captured) -> None:
        self.rows += 1


def _check_landed(data: Path, result) -> None:
    """The result's figures are those of the landing zone: every row, every published byte, no WAL left."""
    rows = [row for row in landed_rows(data) if row["capture_id"] == result.capture_id]
    assert len(rows) == result.rows and [row["seq"] for row in rows] == list(range(result.rows))
    frames = [row for row in rows if row["record_type"] == "frame"]
    assert result.frames_in == sum(row["direction"] == "in" for row in frames)
    assert result.frames_out == sum(row["direction"] == "out" for row in frames)
    mine = [path for path in segment_paths(data) if path.name.startswith(result.capture_id)]
    assert result.segments == len(mine) and result.bytes_published == sum(path.stat().st_size for path in mine)
    assert not list(data.glob("landing/_wal/*.wal")) and result.drops == 0


def test_max_frames_duration_and_stop_each_end_the_session_with_their_reason(tmp_path, simulator):
    async def scenario():
        results = {}
        count = Count()
        limited = CaptureSession(CaptureOptions(tmp_path / "limit", DirectOptions(url=simulator.url), max_frames=60), observers=[count])
        results["limit"] = await asyncio.wait_for(limited.run(), 60)
        assert limited.started.is_set() and count.rows == results["limit"].rows  # the caller's observer saw every row
        timed = CaptureSession(CaptureOptions(tmp_path / "timed", DirectOptions(url=simulator.url), duration_s=1.0))
        results["timed"] = await asyncio.wait_for(timed.run(), 60)
        stopped = CaptureSession(CaptureOptions(tmp_path / "stopped", DirectOptions(url=simulator.url)))
        task = asyncio.get_running_loop().create_task(stopped.run())
        await asyncio.wait_for(stopped.started.wait(), 60)
        await wait_for(lambda: stopped.stats.frames_in >= 20, 60)
        stopped.stop()
        results["stopped"] = await asyncio.wait_for(task, 60)
        return results

    results = asyncio.run(scenario())
    assert results["limit"].exit_reason is ExitReason.MAX_FRAMES
    assert 60 <= results["limit"].frames_in + results["limit"].frames_out < 80  # stops promptly at the limit
    assert results["timed"].exit_reason is ExitReason.DURATION and results["timed"].frames_in > 0
    assert results["stopped"].exit_reason is ExitReason.STOPPED and results["stopped"].frames_in >= 20
    for name, result in results.items():
        _check_landed(tmp_path / name, result)
        rows = landed_rows(tmp_path / name)
        assert rows[-1]["event"] == "disconnected" and rows[-1]["detail"]["reason"] == "stopped"  # closed cleanly


def test_a_cancelled_run_still_publishes_everything_it_landed(tmp_path, simulator):
    async def scenario():
        session = CaptureSession(CaptureOptions(tmp_path, DirectOptions(url=simulator.url)))
        task = asyncio.get_running_loop().create_task(session.run())
        await wait_for(lambda: session.stats.frames_in >= 10, 60)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return session.result

    result = asyncio.run(scenario())
    assert result.exit_reason is ExitReason.STOPPED
    _check_landed(tmp_path, result)


def test_a_failing_source_raises_once_everything_it_landed_is_published(tmp_path):
    options = DirectOptions(url=f"http://127.0.0.1:{free_port()}", give_up_after_s=0.5, backoff=Backoff(0.05, 0.1))
    session = CaptureSession(CaptureOptions(tmp_path, options))
    with pytest.raises(VectraError, match="no connection within 0.5 s"):
        asyncio.run(session.run())
    assert session.result.exit_reason is ExitReason.FAILED
    _check_landed(tmp_path, session.result)
    assert [row["event"] for row in landed_rows(tmp_path)][-1] == "gave_up"


def test_the_simulator_source_lives_exactly_as_long_as_the_session(tmp_path):
    said: list[str] = []
    options = CaptureOptions(tmp_path, SimulatorOptions(speed=20, bots=0), max_frames=20)
    result = asyncio.run(CaptureSession(options, say=said.append).run())
    assert result.exit_reason is ExitReason.MAX_FRAMES
    _check_landed(tmp_path, result)
    assert {row["source"] for row in landed_rows(tmp_path)} == {"simulator"}
    (port,) = {int(match) for line in said for match in re.findall(r"simulator at http://127\.0\.0\.1:(\d+)", line)}
    with pytest.raises(ConnectionRefusedError):  # stopped with the session
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    assert any(line.startswith(f"capture {result.capture_id} → ") for line in said)


def test_the_wal_of_a_crashed_run_is_recovered_first_and_reported(tmp_path, simulator):
    leave_a_crashed_wal(tmp_path, 5)
    said: list[str] = []
    result = asyncio.run(CaptureSession(CaptureOptions(tmp_path, DirectOptions(url=simulator.url), max_frames=5), say=said.append).run())
    assert len(result.recovery.published) == 1 and said[0].startswith("recovered 1 segment(s)")
    crashed = [row for row in landed_rows(tmp_path) if row["capture_id"] != result.capture_id]
    assert [row["payload_text"] for row in crashed if row["record_type"] == "frame"] == [f'42["n",{i}]' for i in range(5)]


def test_the_feed_option_serves_the_sessions_own_figures_on_loopback(tmp_path, simulator):
    def health(port: int) -> dict:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(f"http://127.0.0.1:{port}/health", timeout=5) as response:
            return json.loads(response.read())

    async def scenario():
        session = CaptureSession(CaptureOptions(tmp_path, DirectOptions(url=simulator.url), feed=FeedOptions(port=0)))
        task = asyncio.get_running_loop().create_task(session.run())
        await asyncio.wait_for(session.started.wait(), 60)
        await wait_for(lambda: session.stats.frames_in >= 20, 60)
        report = await asyncio.to_thread(health, session.feed.port)
        session.stop()
        return report, await task, session.feed.host

    report, result, host = asyncio.run(scenario())
    assert host == "127.0.0.1" and report["connected"] is True and report["source"] == "direct"
    assert 20 <= report["frames_in"] <= result.frames_in and report["rows_landed"] <= result.rows and report["drops"] == 0


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: CaptureOptions(Path("d"), DirectOptions()), "--source direct needs --url"),
        (lambda: CaptureOptions(Path("d"), BrowserOptions(headless=True)), "--source browser needs --url"),
        (lambda: CaptureOptions(Path("d"), DirectOptions(url="http://h"), fsync_interval_s=0), "--fsync-ms must be positive"),
        (lambda: CaptureOptions(Path("d"), DirectOptions(url="http://h"), duration_s=0), "--duration must be positive"),
        (lambda: CaptureOptions(Path("d"), DirectOptions(url="http://h"), max_frames=0), "--max-frames must be positive"),
        (lambda: DirectOptions(url="ftp://h"), "is not an http(s)://"),
        (lambda: DirectOptions(url="http://h", give_up_after_s=0), "--give-up-after must be positive"),
        (lambda: BrowserOptions(profile="p", connect_cdp="http://127.0.0.1:9222"), "exclude each other"),
        (lambda: SimulatorOptions(speed=0), "--speed must be positive"),
        (lambda: SimulatorOptions(bots=-1), "--bots must be 0 or more"),
        (lambda: SimulatorOptions(autoplay=True), "--autoplay trades"),
        (lambda: SimulatorOptions(via=DirectOptions(url="http://h")), "drop --url"),
        (lambda: FeedOptions(host="0.0.0.0"), "--serve-public"),
        (lambda: FeedOptions(port=70000), "out of range"),
    ],
)
def test_options_that_cannot_run_are_refused_in_one_line(build, message):
    with pytest.raises(VectraError, match=re.escape(message)):
        build()


def test_a_headed_browser_without_a_display_is_refused_before_anything_starts(tmp_path, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    options = CaptureOptions(tmp_path, SimulatorOptions(via=BrowserOptions()))
    with pytest.raises(VectraError, match="no display for a headed browser"):
        CaptureSession(options)
    assert not (tmp_path / "landing").exists()


def test_the_feed_listens_beyond_this_machine_only_when_asked():
    assert FeedOptions().host == "127.0.0.1"
    assert FeedOptions(host="0.0.0.0", public=True).host == "0.0.0.0"
