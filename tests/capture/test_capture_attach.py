"""Browser source attached over CDP to a Chromium the user already runs, whose page is already playing."""

from __future__ import annotations

import asyncio
import re
import subprocess

import pytest
from capture_kit import RunningCapture, capture_session, landed_rows, wait_for

from capture_agent.sources.browser import CHROMIUM, CHROMIUM_FLAGS, HEADLESS_FLAGS, BrowserOptions, sandbox_off
from simulator.server import start_simulator

pytestmark = [pytest.mark.browser]


@pytest.fixture
def running_browser(tmp_path):
    """(simulator, CDP address): a headless Chromium with remote debugging, already showing the play page."""
    simulator = start_simulator(speed=10, bots=2)
    command = [CHROMIUM, "--headless", *CHROMIUM_FLAGS, *HEADLESS_FLAGS, *(["--no-sandbox"] if sandbox_off() else []),
               f"--user-data-dir={tmp_path / 'profile'}",
               "--remote-debugging-port=0", simulator.url]
    browser = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        address = None
        for line in browser.stderr:
            match = re.search(r"DevTools listening on ws://([\d.]+:\d+)/", line)
            if match:
                address = f"http://{match.group(1)}"
                break
        assert address, "Chromium did not open its DevTools port"
        yield simulator, address, browser
    finally:
        browser.terminate()
        browser.wait(timeout=10)
        simulator.stop()


async def _attach(data, simulator, address, *, reload_stale: bool, during=None):
    said: list[str] = []
    options = BrowserOptions(url=simulator.url, connect_cdp=address, reload_stale=reload_stale, say=said.append)
    capture = RunningCapture(capture_session(data, options))
    await capture.started()
    await during(capture)
    await capture.stop()
    return said


def test_attach_to_a_playing_page_waits_or_reloads_visibly(tmp_path, running_browser):
    simulator, address, browser = running_browser

    async def page_is_playing():
        await asyncio.sleep(2.0)  # the page connected long before the agent attaches

    asyncio.run(page_is_playing())

    # 1. --no-reload: the old socket's frames are landed, flagged; a reconnect brings a full handshake
    async def old_socket_then_reconnect(capture):
        await wait_for(lambda: capture.stats.frames_in > 10, 10)
        await asyncio.to_thread(simulator.drop_all)
        await wait_for(lambda: capture.stats.frames_in > 40, 10)
        await asyncio.sleep(1.0)

    said = asyncio.run(_attach(tmp_path / "wait", simulator, address, reload_stale=False, during=old_socket_then_reconnect))
    assert len(said) == 1 and "frames of that socket are landed as they come" in said[0]
    rows = landed_rows(tmp_path / "wait")
    assert rows[0]["event"] == "socket_predates_attach" and rows[0]["detail"]["reload"] is False
    stale = [r for r in rows if r["record_type"] == "frame" and (r["socket_id"] or "").startswith("cdp:")]
    assert stale and all(r["url"] is None for r in stale)
    assert any(r["event"] == "disconnected" and r["socket_id"] == stale[0]["socket_id"] for r in rows)
    fresh = [r for r in rows if r["record_type"] == "frame" and r["seq"] > stale[-1]["seq"]]
    assert fresh[0]["payload_text"].startswith("0{")  # the reconnect's handshake, sid known from here on
    assert any(r["event"] == "connected" for r in rows)
    assert browser.poll() is None  # the user's browser is left running

    # 2. default: the agent says so and reloads, so the capture starts from the handshake
    async def settle(capture):
        await wait_for(lambda: capture.stats.frames_in > 20, 15)

    said = asyncio.run(_attach(tmp_path / "reload", simulator, address, reload_stale=True, during=settle))
    assert len(said) == 1 and "reloading the page" in said[0]
    rows = landed_rows(tmp_path / "reload")
    assert rows[0]["event"] == "socket_predates_attach" and rows[0]["detail"]["reload"] is True
    frames = [r for r in rows if r["record_type"] == "frame" and not (r["socket_id"] or "").startswith("cdp:")]
    assert frames[0]["payload_text"].startswith("0{") and frames[0]["direction"] == "in"
    assert browser.poll() is None
