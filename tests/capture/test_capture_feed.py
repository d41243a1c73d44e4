"""Live feed: a slow client is dismissed with a notice while capture goes on at full rate; /health answers."""

from __future__ import annotations

import asyncio
import json
import socket
import urllib.request

import pytest
from capture_kit import (
    RunningCapture,
    capture_session,
    frames_of,
    landed_rows,
    landed_sids,
    wait_for,
    wire_frames,
    wire_records,
)
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from capture_agent.errors import VectraError
from capture_agent.landing.schema import RecordType
from capture_agent.live.feed import FeedServer, parse_bind
from capture_agent.sources.direct import DirectOptions
from capture_agent.sources.recorder import Captured
from simulator.server import start_simulator


def http_get(url: str) -> tuple[int, str, bytes]:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback, never a proxy
    with opener.open(url, timeout=5) as response:
        return response.status, response.headers["Content-Type"], response.read()


def small_buffer_socket(port: int) -> socket.socket:
    """A client socket with a tiny receive buffer, so a client that stops reading backs up quickly."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    sock.setblocking(False)
    return sock


def test_slow_client_is_dismissed_with_a_notice_and_capture_keeps_full_rate(tmp_path):
    simulator = start_simulator(speed=50, bots=8, wire_log=tmp_path / "wire.jsonl")
    try:
        asyncio.run(_scenario(tmp_path, simulator))
    finally:
        simulator.stop()


async def _scenario(tmp_path, simulator):
    feed = FeedServer(lambda: session.figures(), queue_size=64)
    await feed.start("127.0.0.1", 0)
    session = capture_session(tmp_path / "data", DirectOptions(url=simulator.url), observers=[feed])
    capture = None
    base = f"http://127.0.0.1:{feed.port}"
    fast_events: list[dict] = []

    async def fast_client():
        async with connect(f"ws://127.0.0.1:{feed.port}/feed", proxy=None) as ws:
            async for message in ws:
                fast_events.append(json.loads(message))

    fast = asyncio.get_running_loop().create_task(fast_client())
    slow = await connect(
        f"ws://127.0.0.1:{feed.port}/feed", proxy=None, sock=small_buffer_socket(feed.port), max_queue=1
    )
    try:
        capture = RunningCapture(session)
        await wait_for(lambda: feed.clients_dismissed == 1, 60)  # the slow one reads nothing
        landed_at_dismissal = capture.stats.frames_in
        # /health answers while capturing, and reports the dismissal
        status, content_type, body = await asyncio.to_thread(http_get, f"{base}/health")
        report = json.loads(body)
        assert status == 200 and content_type == "application/json"
        assert report["connected"] is True and report["drops"] == 0
        assert report["feed"]["clients_dismissed"] == 1 and report["feed"]["clients"] == 1
        assert report["frames_in"] > 0 and report["last_seq"] is not None
        status, content_type, page = await asyncio.to_thread(http_get, f"{base}/")
        assert status == 200 and content_type.startswith("text/html") and b"/feed" in page
        # the slow client catches up: its backlog, then the notice, then close 1008
        seen = []
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                seen.append(json.loads(await asyncio.wait_for(slow.recv(), 15)))
        assert seen[-1]["type"] == "feed.notice" and "slow consumer" in seen[-1]["data"]["reason"]
        assert closed.value.rcvd.code == 1008
        await wait_for(lambda: capture.stats.frames_in > landed_at_dismissal + 200, 20)  # capture goes on
    finally:
        if capture is not None:
            await capture.stop()
        await slow.close()
        fast.cancel()
        await asyncio.gather(fast, return_exceptions=True)
        await feed.stop()

    # capture at full rate: every frame the server sent is landed, in order
    rows = landed_rows(tmp_path / "data")
    (sid,) = landed_sids(rows)
    landed_in = frames_of(rows, "in", sid)
    assert landed_in == [f for _, f in wire_frames(wire_records(tmp_path / "wire.jsonl"), sid, "out")[: len(landed_in)]]
    # the fast client kept up and got every event in capture order
    seqs = [event["seq"] for event in fast_events if "seq" in event]
    assert len(seqs) > 500 and seqs == sorted(seqs)
    ticks = [event for event in fast_events if event["type"] == "game.tick"]
    assert ticks and all(event["game_id"] for event in ticks)
    assert all(event["type"] != "feed.notice" for event in fast_events)


def test_feed_binds_loopback_only_unless_told():
    assert parse_bind("127.0.0.1:9000") == ("127.0.0.1", 9000)
    assert parse_bind("[::1]:9000") == ("::1", 9000)
    assert parse_bind("localhost:0") == ("localhost", 0)
    with pytest.raises(VectraError, match="--serve-public"):
        parse_bind("0.0.0.0:9000")
    assert parse_bind("0.0.0.0:9000", public=True) == ("0.0.0.0", 9000)
    for bad in ("9000", "host:", ":9000", "127.0.0.1:99999"):
        with pytest.raises(VectraError):
            parse_bind(bad)


def test_feed_is_read_only_and_unknown_paths_are_404(tmp_path):
    async def scenario():
        feed = FeedServer(lambda: {"connected": False})
        await feed.start("127.0.0.1", 0)
        try:
            async with connect(f"ws://127.0.0.1:{feed.port}/feed", proxy=None) as ws:
                hello = json.loads(await ws.recv())
                assert hello["type"] == "feed.hello"
                before = feed.health()
                await ws.send('{"type":"buy","amount":1}')
                await (await ws.ping())  # the pong comes after the server has read the message before it
                # ignored: no answer, no change, and the client is still fed what the capture lands
                assert feed.health() == before and len(feed.clients) == 1
                feed.observe(Captured(0, RecordType.CONNECTION, 1, 1, event="connected", detail={}))
                assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "connection.connected"
            try:
                await asyncio.to_thread(http_get, f"http://127.0.0.1:{feed.port}/admin")
            except urllib.error.HTTPError as error:
                assert error.code == 404
            else:
                raise AssertionError("/admin answered")
        finally:
            await feed.stop()

    asyncio.run(scenario())
