"""A capture that never connects fails in one line; one that connected rides out any outage.

The give-up window is short in these tests (1–2 s) so that they stay quick; every wait is on a condition.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

import pytest
from capture_kit import RunningCapture, capture_session, landed_rows, wait_for
from ports import free_port
from websockets.asyncio.server import serve

from capture_agent.errors import VectraError
from capture_agent.protocol.client import Backoff, FirstJoin
from capture_agent.sources.direct import DirectOptions

REPO = Path(__file__).resolve().parents[2]
OPEN = '0{"sid":"s1","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}'


def _vectra(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "capture_agent.cli", *args], cwd=REPO, capture_output=True, text=True, timeout=120
    )


def _events(data: Path) -> list[tuple[str, dict | None]]:
    return [(row["event"], row["detail"]) for row in landed_rows(data) if row["record_type"] == "connection"]


def test_first_join_window_is_pure_and_ends_once_joined() -> None:
    window = FirstJoin(2.0, started_s=100.0)
    assert window.remaining(101.5) == 0.5 and window.remaining(102.5) == -0.5
    window.joined()
    assert window.remaining(10_000.0) is None  # joined once: never gives up
    assert FirstJoin(None, 0.0).remaining(1e9) is None
    with pytest.raises(ValueError):
        FirstJoin(0.0, 0.0)


def test_a_refused_server_fails_the_capture_with_the_reason_in_one_line(tmp_path: Path) -> None:
    port = free_port()
    result = _vectra("capture", "--source", "direct", "--url", f"http://127.0.0.1:{port}", "--data", str(tmp_path),
                     "--no-status", "--give-up-after", "1.5")
    assert result.returncode == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("vectra: error:")]
    assert len(errors) == 1 and "Traceback" not in result.stderr
    assert f"connection refused by 127.0.0.1:{port}" in errors[0] and "within 1.5 s" in errors[0]
    events = _events(tmp_path)  # the landing zone tells the same story, attempt by attempt
    names = [name for name, _ in events]
    assert names.count("connect_failed") >= 2 and names[-1] == "gave_up"
    assert events[-1][1]["reason"] == f"connection refused by 127.0.0.1:{port}"


def test_retry_forever_never_gives_up(tmp_path: Path) -> None:
    port = free_port()
    result = _vectra("capture", "--source", "direct", "--url", f"http://127.0.0.1:{port}", "--data", str(tmp_path),
                     "--no-status", "--give-up-after", "0.5", "--retry-forever", "--duration", "2")
    assert result.returncode == 0, result.stderr
    names = [name for name, _ in _events(tmp_path)]
    assert names.count("connect_failed") >= 2 and "gave_up" not in names


def test_a_server_that_refuses_the_namespace_is_given_up_with_that_reason(tmp_path: Path) -> None:
    async def refusing(websocket):
        await websocket.send(OPEN)
        await websocket.recv()  # our "40"
        await websocket.send('44{"message":"not allowed"}')
        await websocket.wait_closed()

    async def scenario():
        async with serve(refusing, "127.0.0.1", 0) as server:
            port = server.sockets[0].getsockname()[1]
            options = DirectOptions(url=f"http://127.0.0.1:{port}", give_up_after_s=1.0, backoff=Backoff(0.05, 0.2))
            capture = RunningCapture(capture_session(tmp_path, options))
            with pytest.raises(VectraError) as raised:
                await asyncio.wait_for(capture.task, 60)
            result = await capture.stop()
            assert result.exit_reason == "failed" and result.rows > 0  # what was landed is published all the same
            return str(raised.value)

    message = asyncio.run(scenario())
    assert "accepted the WebSocket, then: server refused the namespace connect" in message
    names = [name for name, _ in _events(tmp_path)]
    assert names.count("connect_error") >= 2 and names[-1] == "gave_up" and "connected" not in names


class EventLog:
    """Observer: the connection events as they are landed."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def observe(self, captured) -> None:
        if captured.event is not None:
            self.names.append(captured.event)


def test_a_capture_that_joined_keeps_reconnecting_past_the_window(tmp_path: Path) -> None:
    """The server goes away for longer than the give-up window, then comes back on the same port."""
    joined = asyncio.Event()

    async def game(websocket):
        await websocket.send(OPEN)
        await websocket.recv()
        await websocket.send('40{"sid":"socket"}')
        joined.set()
        await websocket.send('42["tick",1]')
        await websocket.wait_closed()

    async def scenario():
        log = EventLog()
        server = await serve(game, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        options = DirectOptions(url=f"http://127.0.0.1:{port}", give_up_after_s=1.0, backoff=Backoff(0.05, 0.2))
        capture = RunningCapture(capture_session(tmp_path, options, observers=[log]))
        source = (await capture.started()).source
        await wait_for(joined.is_set, 30)
        server.close()
        await server.wait_closed()
        outage_started = time.monotonic()
        await wait_for(
            lambda: log.names.count("connect_failed") >= 3 and time.monotonic() - outage_started > 2 * options.give_up_after_s, 60
        )
        assert not capture.task.done()  # still trying, long past the window
        joined.clear()
        async with serve(game, "127.0.0.1", port):
            await wait_for(lambda: source.connections == 2 and joined.is_set(), 60)
            await capture.stop()

    asyncio.run(scenario())
    names = [name for name, _ in _events(tmp_path)]
    assert names.count("connected") == 2 and "gave_up" not in names


@pytest.mark.browser
def test_a_page_that_never_loads_fails_the_browser_capture_in_one_line(tmp_path: Path) -> None:
    port = free_port()
    result = _vectra("capture", "--source", "browser", "--headless", "--url", f"http://127.0.0.1:{port}",
                     "--data", str(tmp_path), "--no-status", "--give-up-after", "2")
    assert result.returncode == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("vectra: error:")]
    assert len(errors) == 1 and "Traceback" not in result.stderr
    assert f"cannot open http://127.0.0.1:{port} within 2 s" in errors[0] and "ERR_CONNECTION_REFUSED" in errors[0]
    names = [name for name, _ in _events(tmp_path)]
    assert names.count("page_load_failed") >= 2
