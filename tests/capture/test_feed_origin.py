"""The live feed serves only its own pages and local tools: a foreign Origin or Host gets 403 on every path, the
WebSocket handshake included, and the monitor page it serves still shows live events in a real Chromium."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from capture_kit import RunningCapture, capture_session, wait_for
from hypothesis import given, settings
from hypothesis import strategies as st
from ports import free_port
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from capture_agent.live.feed import FeedServer
from capture_agent.live.origin import parse_allowed_origins
from capture_agent.sources.browser import CHROMIUM, CHROMIUM_FLAGS, HEADLESS_FLAGS
from capture_agent.sources.direct import DirectOptions
from simulator.server import start_simulator

ALLOWED = "http://127.0.0.1:5173"
REPO = Path(__file__).resolve().parents[2]


class RunningFeed:
    """A FeedServer on its own loop in a thread, so blocking clients (and hypothesis) can hit it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.feed = FeedServer(lambda: {"connected": False}, allowed_origins=parse_allowed_origins([ALLOWED]))
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.feed.start("127.0.0.1", 0), self.loop).result(timeout=10)
        self.port = self.feed.port

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.feed.stop(), self.loop).result(timeout=10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)


@pytest.fixture(scope="module")
def running():
    server = RunningFeed()
    yield server
    server.close()


def raw_request(port: int, path: str, headers: list[tuple[str, str]], *, websocket: bool = False) -> tuple[int, bytes]:
    """One HTTP/1.1 request with exactly these headers (Host included); returns the status and what followed."""
    lines = [f"GET {path} HTTP/1.1", *(f"{name}: {value}" for name, value in headers)]
    if websocket:
        key = base64.b64encode(os.urandom(16)).decode()
        lines += ["Upgrade: websocket", "Connection: Upgrade", f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13"]
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("utf-8", "surrogateescape"))
        received = b""
        while b"\r\n\r\n" not in received:
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


def own_host(port: int) -> tuple[str, str]:
    return ("Host", f"127.0.0.1:{port}")


@pytest.mark.parametrize("path", ["/health", "/", "/feed", "/nowhere"])
@pytest.mark.parametrize(
    "headers",
    [
        [("Host", "evil.example:{port}")],
        [("Host", "localhost.evil.example:{port}")],
        [("Host", "127.0.0.1.nip.io:{port}")],
        [("Host", "127.0.0.1:{port}"), ("Host", "evil.example:{port}")],
        [],
        [("Host", "127.0.0.1:{port}"), ("Origin", "https://evil.example")],
        [("Host", "127.0.0.1:{port}"), ("Origin", "null")],
        [("Host", "127.0.0.1:{port}"), ("Origin", "http://127.0.0.1:{port}.evil.example")],
    ],
    ids=["rebinding", "suffix", "nip.io", "two-hosts", "no-host", "foreign-origin", "null-origin", "origin-suffix"],
)
@pytest.mark.parametrize("websocket", [False, True], ids=["http", "ws"])
def test_foreign_host_or_origin_is_refused_on_every_path(running, path, headers, websocket):
    before = running.feed.requests_refused
    filled = [(name, value.format(port=running.port)) for name, value in headers]
    status, body = raw_request(running.port, path, filled, websocket=websocket)
    assert status == 403 and body.startswith(b"refused: ")
    assert running.feed.requests_refused == before + 1
    assert not running.feed.clients


@pytest.mark.parametrize(
    ("path", "headers", "status"),
    [
        ("/health", [], 200),  # curl and scripts send no Origin
        ("/health", [("Origin", "http://127.0.0.1:{port}")], 200),
        ("/health", [("Origin", "http://localhost:{port}")], 200),
        ("/", [("Origin", ALLOWED)], 200),
        ("/feed", [("Origin", "http://127.0.0.1:{port}")], 101),
        ("/feed", [("Origin", ALLOWED)], 101),
        ("/feed", [], 101),
        ("/nowhere", [], 404),
    ],
)
def test_own_and_allowed_origins_and_local_tools_are_served(running, path, headers, status):
    filled = [own_host(running.port), *((name, value.format(port=running.port)) for name, value in headers)]
    assert raw_request(running.port, path, filled, websocket=path == "/feed")[0] == status


@settings(max_examples=40, deadline=None)
@given(
    st.sampled_from(["evil.example", "localhost.evil.example", "127.0.0.1.nip.io", "localhost.", "[::1]", "127.0.0.2"])
    | st.from_regex(r"[a-z0-9.-]{1,30}", fullmatch=True).filter(lambda h: h not in ("localhost", "127.0.0.1")),
    st.sampled_from(["", ":{port}", ":1", ":{port}0", "@127.0.0.1:{port}"]),
)
def test_generated_rebinding_hosts_never_reach_the_feed(running, name, suffix):
    host = name + suffix.format(port=running.port)
    assert raw_request(running.port, "/health", [("Host", host)])[0] == 403
    assert raw_request(running.port, "/feed", [("Host", host)], websocket=True)[0] == 403


def test_websocket_clients_see_the_refusal_and_own_origin_gets_the_hello(running):
    async def scenario():
        url = f"ws://127.0.0.1:{running.port}/feed"
        with pytest.raises(InvalidStatus) as refused:
            async with connect(url, proxy=None, origin="https://evil.example"):
                pass
        assert refused.value.response.status_code == 403
        async with connect(url, proxy=None, origin=f"http://127.0.0.1:{running.port}") as ws:
            assert json.loads(await ws.recv())["type"] == "feed.hello"

    asyncio.run(scenario())


@pytest.mark.browser
def test_monitor_page_shows_live_events_and_a_foreign_page_cannot_read_the_feed(tmp_path):
    simulator = start_simulator(speed=20, bots=4)
    try:
        asyncio.run(_browser_scenario(tmp_path, simulator))
    finally:
        simulator.stop()


async def _browser_scenario(tmp_path, simulator):
    from playwright.async_api import async_playwright

    feed = FeedServer(lambda: session.figures())
    await feed.start("127.0.0.1", 0)
    monitor = f"http://127.0.0.1:{feed.port}"
    session = capture_session(tmp_path / "data", DirectOptions(url=simulator.url), observers=[feed])
    capture = RunningCapture(session)
    try:
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=[*CHROMIUM_FLAGS, *HEADLESS_FLAGS]
            )
            try:
                page = await browser.new_page()
                errors: list[str] = []
                page.on("pageerror", lambda error: errors.append(str(error)))
                await page.goto(monitor + "/")
                await page.wait_for_function("document.querySelector('#link').textContent === 'feed: live'", timeout=20_000)
                # live events drawn: a game id, a price, a log line, and /health figures
                await page.wait_for_function(
                    "document.querySelector('#game').textContent.length > 8"
                    " && document.querySelector('#price').textContent.endsWith('x')"
                    " && document.querySelector('#log').textContent.includes('seq')",
                    timeout=30_000,
                )
                await page.wait_for_function("document.querySelector('#connected').textContent === 'yes'", timeout=10_000)
                assert errors == [] and len(feed.clients) == 1 and feed.requests_refused == 0

                # a page of another origin (the simulator's) tries the feed's socket and /health
                foreign = await browser.new_page()
                await foreign.goto(simulator.url + "/")
                outcome = await foreign.evaluate(
                    """async (base) => {
                        const socket = await new Promise(resolve => {
                            const ws = new WebSocket(base.replace('http', 'ws') + '/feed');
                            ws.onmessage = () => resolve('read an event');
                            ws.onclose = e => resolve('closed ' + e.code);
                        });
                        let health;
                        try { health = 'read ' + (await (await fetch(base + '/health')).text()).length; }
                        catch (e) { health = 'blocked'; }
                        return [socket, health];
                    }""",
                    monitor,
                )
                assert outcome == ["closed 1006", "blocked"]
                assert feed.requests_refused == 2  # both reached the feed and were answered 403
                assert len(feed.clients) == 1  # still only the monitor page
                events_before = feed.events_published
                await wait_for(lambda: feed.events_published > events_before, 10)
                await page.wait_for_function("document.querySelector('#link').textContent === 'feed: live'")
            finally:
                await browser.close()
    finally:
        await capture.stop()
        await feed.stop()


def test_vectra_capture_serve_takes_allow_origin(tmp_path):
    port = free_port()
    command = [sys.executable, "-m", "capture_agent.cli", "capture", "--source", "simulator", "--speed", "20",
               "--data", str(tmp_path), "--no-status", "--serve", f"127.0.0.1:{port}", "--allow-origin", ALLOWED]
    agent = subprocess.Popen(command, cwd=REPO, stderr=subprocess.PIPE, text=True)
    try:
        lines = []
        while not any("live feed on" in line for line in lines):
            line = agent.stderr.readline()
            assert line, "".join(lines)
            lines.append(line)
        host = own_host(port)
        assert raw_request(port, "/health", [host, ("Origin", ALLOWED)])[0] == 200
        assert raw_request(port, "/feed", [host, ("Origin", ALLOWED)], websocket=True)[0] == 101
        assert raw_request(port, "/feed", [host, ("Origin", "http://127.0.0.1:5174")], websocket=True)[0] == 403
    finally:
        agent.send_signal(signal.SIGINT)
        agent.communicate(timeout=30)
    assert agent.returncode == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--allow-origin", ALLOWED], "needs --serve"),
        (["--serve", "127.0.0.1:0", "--allow-origin", "null"], "never allowed"),
        (["--serve", "127.0.0.1:0", "--allow-origin", "127.0.0.1:5173"], "is not an origin"),
    ],
)
def test_bad_allow_origin_is_one_clear_line(tmp_path, args, message):
    command = [sys.executable, "-m", "capture_agent.cli", "capture", "--source", "simulator", "--data", str(tmp_path), *args]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
