"""Direct source liveness: a server that stops pinging is left and rejoined; an unreachable one is retried."""

from __future__ import annotations

import asyncio

from capture_kit import RunningCapture, capture_session, landed_rows, wait_for
from ports import free_port
from websockets.asyncio.server import serve

from capture_agent.protocol.client import Backoff
from capture_agent.sources.direct import DirectOptions


def test_silent_server_is_left_after_ping_interval_plus_timeout_and_rejoined(tmp_path):
    connections = []

    async def handler(websocket):
        number = len(connections)
        connections.append(websocket)
        await websocket.send(f'0{{"sid":"hb-{number}","upgrades":[],"pingInterval":200,"pingTimeout":200,"maxPayload":1000}}')
        assert await websocket.recv() == "40"
        await websocket.send('40{"sid":"s"}')
        await websocket.send("2")
        assert await websocket.recv() == "3"
        await websocket.wait_closed()  # then silence: no more pings

    async def scenario():
        async with serve(handler, "127.0.0.1", 0) as server:
            port = server.sockets[0].getsockname()[1]
            backoff = Backoff(initial_s=0.05, maximum_s=0.1)
            capture = RunningCapture(capture_session(tmp_path, DirectOptions(url=f"http://127.0.0.1:{port}", backoff=backoff)))
            await wait_for(lambda: len(connections) >= 2 and capture.stats.frames_in >= 5, 10)
            await capture.stop()

    asyncio.run(scenario())
    rows = landed_rows(tmp_path)
    first = [r for r in rows if r["socket_id"] == "hb-0"]
    assert [r["payload_text"] for r in first if r["record_type"] == "frame"][:5] == [
        '0{"sid":"hb-0","upgrades":[],"pingInterval":200,"pingTimeout":200,"maxPayload":1000}', "40", '40{"sid":"s"}', "2", "3",
    ]
    left = next(r for r in rows if r["event"] == "disconnected")
    assert left["detail"]["reason"].startswith("ping timeout") and left["socket_id"] == "hb-0"
    events = [r["event"] for r in rows if r["record_type"] == "connection"]
    assert events[events.index("disconnected") + 1] == "reconnecting"
    assert "gap" in events and any(r["socket_id"] == "hb-1" for r in rows)
    gap = next(r for r in rows if r["event"] == "gap")
    assert 0.4 <= gap["detail"]["gap_s"] < 5  # ≥ pingInterval + pingTimeout of silence


def test_unreachable_server_is_retried_with_growing_bounded_delays(tmp_path):
    port = free_port()  # nothing listens on it

    async def scenario():
        backoff = Backoff(initial_s=0.02, maximum_s=0.08, jitter=0.0)
        capture = RunningCapture(capture_session(tmp_path, DirectOptions(url=f"http://127.0.0.1:{port}", backoff=backoff)))
        await wait_for(lambda: capture.stats.rows >= 10, 10)
        await capture.stop()

    asyncio.run(scenario())
    rows = landed_rows(tmp_path)
    failed = [r for r in rows if r["event"] == "connect_failed"]
    retries = [r["detail"] for r in rows if r["event"] == "reconnecting"]
    assert failed and "refused" in failed[0]["detail"]["error"].lower()
    assert [d["attempt"] for d in retries[:4]] == [1, 2, 3, 4]
    assert [d["delay_s"] for d in retries[:4]] == [0.02, 0.04, 0.08, 0.08]
