"""The simulator serves only its own play page and local tools: loopback unless --public, a foreign Origin's
Socket.IO handshake (polling and websocket) refused, Host checked on every route, the admin endpoint included."""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import socketio
import websockets
from hypothesis import given, settings
from hypothesis import strategies as st

from capture_agent.errors import VectraError
from capture_agent.live.origin import parse_allowed_origins
from capture_agent.sources.browser import CHROMIUM, CHROMIUM_FLAGS, HEADLESS_FLAGS
from simulator.server import bind, start_simulator

REPO = Path(__file__).resolve().parents[2]
ALLOWED = "http://127.0.0.1:5173"
POLLING = "/socket.io/?EIO=4&transport=polling"
WEBSOCKET = "/socket.io/?EIO=4&transport=websocket"


@pytest.fixture(scope="module")
def simulator():
    handle = start_simulator(speed=20, seed="origin-tests", admin=True, allowed_origins=parse_allowed_origins([ALLOWED]))
    yield handle
    handle.stop()


def port_of(handle) -> int:
    return int(handle.url.rsplit(":", 1)[1])


def request(port: int, method: str, path: str, headers: list[tuple[str, str]], *, websocket: bool = False):
    """One raw HTTP/1.1 request with exactly these headers; returns (status, lower-cased headers, body).
    A WebSocket handshake returns once the response head is in (an accepted one stays open)."""
    lines = [f"{method} {path} HTTP/1.1", *(f"{name}: {value}" for name, value in headers), "Content-Length: 0"]
    if websocket:
        key = base64.b64encode(os.urandom(16)).decode()
        lines += ["Upgrade: websocket", "Connection: Upgrade", f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13"]
    else:
        lines.append("Connection: close")
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        received = b""
        while not websocket or b"\r\n\r\n" not in received:
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    found = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        found[name.strip().lower()] = value.strip()
    return int(status_line.split(" ", 2)[1]), found, body


def own(port: int) -> tuple[str, str]:
    return ("Host", f"127.0.0.1:{port}")


@pytest.mark.parametrize("origin", ["https://evil.example", "null", "http://127.0.0.1:1", "http://localhost.evil.example"])
def test_a_foreign_origin_socketio_handshake_is_refused_on_both_transports(simulator, origin):
    port = port_of(simulator)
    before = simulator._app.requests_refused
    status, headers, _ = request(port, "GET", POLLING, [own(port), ("Origin", origin)])
    assert status == 403 and "access-control-allow-origin" not in headers
    assert request(port, "OPTIONS", POLLING, [own(port), ("Origin", origin)])[0] == 403  # the CORS preflight
    assert request(port, "GET", WEBSOCKET, [own(port), ("Origin", origin)], websocket=True)[0] == 403
    assert simulator._app.requests_refused == before + 3

    async def websocket_client():
        with pytest.raises(websockets.InvalidStatus) as refused:
            async with websockets.connect(f"ws://127.0.0.1:{port}{WEBSOCKET}", origin=origin, proxy=None):
                pass
        return refused.value.response.status_code

    assert asyncio.run(websocket_client()) == 403


@pytest.mark.parametrize(("origin", "status"), [("https://evil.example", 400), ("http://127.0.0.1:{port}", 200)])
def test_python_socketio_own_cors_check_applies_the_same_rule_behind_the_guard(simulator, origin, status):
    """Second line: python-socketio itself, reached without the guard, neither accepts nor echoes a foreign origin."""
    port = port_of(simulator)
    origin = origin.format(port=port)
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
             "path": "/socket.io/", "raw_path": b"/socket.io/", "query_string": b"EIO=4&transport=polling",
             "root_path": "", "client": ("127.0.0.1", 1), "server": ("127.0.0.1", port),
             "headers": [(b"host", f"127.0.0.1:{port}".encode()), (b"origin", origin.encode())]}
    sent: list[dict] = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    app = simulator._app
    asyncio.run_coroutine_threadsafe(app._socketio_app(scope, receive, send), simulator._loop).result(timeout=10)
    start = sent[0]
    allow = [value.decode() for name, value in start["headers"] if name.lower() == b"access-control-allow-origin"]
    assert start["status"] == status
    assert allow == ([origin] if status == 200 else [])


@pytest.mark.parametrize("origin", [None, "http://127.0.0.1:{port}", "http://localhost:{port}", ALLOWED])
def test_own_page_allowed_origins_and_scripts_get_the_handshake(simulator, origin):
    port = port_of(simulator)
    headers = [own(port)] + ([("Origin", origin.format(port=port))] if origin else [])
    status, found, body = request(port, "GET", POLLING, headers)
    assert status == 200 and b"0{\"sid\"" in body  # the Engine.IO open packet
    if origin:  # CORS echoes only an accepted origin
        assert found["access-control-allow-origin"] == origin.format(port=port)
    assert request(port, "GET", WEBSOCKET, headers, websocket=True)[0] == 101


def test_a_python_socketio_client_from_an_allowed_origin_connects(simulator):
    async def scenario(origin: str) -> bool:
        client = socketio.AsyncClient(reconnection=False)
        try:
            await client.connect(simulator.url, transports=["polling"], headers={"Origin": origin}, wait_timeout=10)
        except (socketio.exceptions.ConnectionError, RuntimeError):
            # refused: the client reports the 403 (ConnectionError), or on a loaded machine aiohttp finds the refused
            # connection closed before it reads the 403's body ("Connection closed."); the server's count says which
            return False
        await client.disconnect()
        return True

    assert asyncio.run(scenario(ALLOWED)) is True
    refused_before = simulator._app.requests_refused
    assert asyncio.run(scenario("http://127.0.0.1:5174")) is False
    assert simulator._app.requests_refused > refused_before  # refused by the Origin rule, not dropped for another reason


@pytest.mark.parametrize("path", ["/", "/static/play.js", "/socket.io.min.js", POLLING, "/admin/drop", "/nowhere"])
@pytest.mark.parametrize("host", ["evil.example:{port}", "127.0.0.1.nip.io:{port}", "localhost.:{port}", "127.0.0.1:1"])
def test_every_route_checks_host(simulator, path, host):
    port = port_of(simulator)
    method = "POST" if path == "/admin/drop" else "GET"
    status, _, body = request(port, method, path, [("Host", host.format(port=port))])
    assert status == 403 and b"refused" in body


@settings(max_examples=30, deadline=None)
@given(st.from_regex(r"[a-z0-9][a-z0-9.-]{0,25}", fullmatch=True).filter(lambda h: h not in ("localhost", "127.0.0.1")))
def test_generated_rebinding_hosts_never_reach_socketio(simulator, name):
    port = port_of(simulator)
    assert request(port, "GET", POLLING, [("Host", f"{name}:{port}")])[0] == 403


def test_admin_drop_refuses_a_foreign_page_and_drops_nothing(simulator):
    port = port_of(simulator)

    async def scenario():
        client = socketio.AsyncClient(reconnection=False)
        await client.connect(simulator.url, transports=["websocket"], wait_timeout=10)
        try:
            for origin in ("https://evil.example", "null"):
                status, _, _ = await asyncio.to_thread(request, port, "POST", "/admin/drop", [own(port), ("Origin", origin)])
                assert status == 403
            assert client.connected and len(simulator._app.sio.eio.sockets) >= 1
            status, _, body = await asyncio.to_thread(
                request, port, "POST", "/admin/drop", [own(port), ("Origin", f"http://127.0.0.1:{port}")])
            assert status == 200 and b'"dropped"' in body  # the own page (or curl) still may
        finally:
            await client.disconnect()

    asyncio.run(scenario())


def test_a_non_loopback_address_needs_public():
    with pytest.raises(VectraError, match="--public"):
        bind("0.0.0.0", 0)
    with pytest.raises(VectraError, match="--public"):
        start_simulator(host="0.0.0.0")
    result = subprocess.run([sys.executable, "-m", "capture_agent.cli", "simulate", "--host", "0.0.0.0", "--port", "0"],
                            cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "--public" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_a_public_simulator_answers_ip_literals_but_not_foreign_names():
    handle = start_simulator(host="0.0.0.0", public=True, speed=20, seed="public")
    try:
        port = port_of(handle)
        own_literal = [("Host", f"127.0.0.1:{port}"), ("Origin", f"http://127.0.0.1:{port}")]
        assert request(port, "GET", POLLING, own_literal)[0] == 200
        assert request(port, "GET", POLLING, [("Host", f"evil.example:{port}")])[0] == 403
        assert request(port, "GET", POLLING, [("Host", f"127.0.0.1:{port}"), ("Origin", f"http://192.0.2.9:{port}")])[0] == 403
    finally:
        handle.stop()


@pytest.mark.browser
def test_a_page_of_another_origin_cannot_open_the_simulator_socket():
    from playwright.sync_api import sync_playwright

    target = start_simulator(speed=20, seed="target")
    other = start_simulator(speed=20, seed="other")  # a second origin that serves the socket.io client
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                                 args=[*CHROMIUM_FLAGS, *HEADLESS_FLAGS])
            try:
                page = browser.new_page()
                page.goto(other.url + "/")
                page.wait_for_selector("#connection.on", timeout=10_000)  # its own socket works
                outcome = page.evaluate(
                    """async (target) => {
                        const attempt = transports => new Promise(resolve => {
                            const s = io(target, {transports, reconnection: false, timeout: 5000, forceNew: true});
                            s.on('connect', () => { resolve('connected'); s.close(); });
                            s.on('gameStateUpdate', () => { resolve('read the game'); s.close(); });
                            s.on('connect_error', () => { resolve('refused'); s.close(); });
                        });
                        return [await attempt(['polling']), await attempt(['websocket'])];
                    }""",
                    target.url,
                )
                assert outcome == ["refused", "refused"]
                assert target._app.requests_refused >= 2
                assert not target._app.sio.eio.sockets  # no session was ever opened
            finally:
                browser.close()
    finally:
        target.stop()
        other.stop()
