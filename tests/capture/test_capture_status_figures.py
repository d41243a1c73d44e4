"""What the capture status says while a capture runs: rows safe in the WAL before any segment is published,
segments published as often as ``--segment-seconds`` asks, and why a connection failed — not only "NOT connected"."""

from __future__ import annotations

import asyncio

import pytest
from capture_kit import wait_for
from ports import free_port

from capture_agent.cli import main
from capture_agent.landing.segments import segment_paths
from capture_agent.live.status import status_line, status_table
from capture_agent.protocol.client import Backoff
from capture_agent.session import CaptureOptions, CaptureSession
from capture_agent.sources.direct import DirectOptions
from simulator.server import start_simulator


@pytest.fixture(scope="module")
def simulator():
    handle = start_simulator(speed=20, bots=2)
    yield handle
    handle.stop()


def _table_text(figures) -> str:
    from rich.console import Console

    console = Console(width=200, record=True, file=open("/dev/null", "w"))  # noqa: SIM115 - closed with the console
    console.print(status_table(figures))
    return console.export_text()


def test_rows_are_shown_safe_before_any_segment_is_published(tmp_path, simulator):
    async def scenario():
        session = CaptureSession(CaptureOptions(tmp_path, DirectOptions(url=simulator.url), fsync_interval_s=0.05))
        task = asyncio.get_running_loop().create_task(session.run())
        await wait_for(lambda: (session.figures()["rows_safe"] or 0) >= 20, 60)
        figures = session.figures()
        session.stop()
        await asyncio.wait_for(task, 60)
        return figures

    figures = asyncio.run(scenario())
    assert figures["segments_published"] == 0  # the default segment is 15 minutes: nothing published yet
    assert figures["rows_safe"] >= 20 and figures["rows_safe"] <= figures["rows_landed"]
    line = status_line(figures)
    assert f"safe {figures['rows_safe']} (WAL or published)" in line and "published 0 segments" in line
    assert f"/ {figures['rows_safe']}  (safe: fsynced in the WAL or published)" in _table_text(figures)


def test_segment_seconds_publishes_a_short_capture_sooner(tmp_path, simulator):
    async def scenario():
        options = CaptureOptions(tmp_path, DirectOptions(url=simulator.url), fsync_interval_s=0.05, segment_max_seconds=0.5)
        session = CaptureSession(options)
        task = asyncio.get_running_loop().create_task(session.run())
        await wait_for(lambda: session.stats.segments_published >= 2, 60)  # while it runs, not only at the end
        session.stop()
        return await asyncio.wait_for(task, 60)

    result = asyncio.run(scenario())
    assert result.segments >= 3 and len(segment_paths(tmp_path)) == result.segments


@pytest.mark.parametrize("value", ["0", "-1"])
def test_segment_seconds_must_be_positive(tmp_path, capsys, value):
    argv = ["capture", "--source", "direct", "--url", "http://127.0.0.1:9", "--segment-seconds", value, "--data", str(tmp_path)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--segment-seconds must be positive" in err


def test_a_failed_connection_says_why_while_retrying(tmp_path):
    closed = free_port()  # nothing listens on it
    options = DirectOptions(url=f"http://127.0.0.1:{closed}", give_up_after_s=30, backoff=Backoff(0.05, 0.1))

    async def scenario():
        session = CaptureSession(CaptureOptions(tmp_path, options, fsync_interval_s=0.05))
        task = asyncio.get_running_loop().create_task(session.run())
        await wait_for(lambda: "after connect failed" in session.figures()["connection"], 30)
        figures = session.figures()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return figures

    figures = asyncio.run(scenario())
    line = status_line(figures)
    assert "NOT connected (reconnecting (attempt" in line and "after connect failed: " in line
    cause = line.split("after connect failed: ", 1)[1].split(")")[0]
    assert cause.strip(), line  # the error itself, e.g. a refused connection
