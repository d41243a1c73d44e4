"""No secret reaches disk or the feed: planted secrets driven through the real capture path — the recorder, the
landing writer, the live feed's events, the status line and table, the log — are found in none of them.

The first test plants them (hypothesis) in frames of both directions, valid and cut short, binary and polling,
and in click and lifecycle details. The second is the direct source against a tiny loopback server whose
frames carry the server's auth material, with a real client on the live feed.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import orjson
from capture_kit import RunningCapture, capture_session, landed_rows, wait_for
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from planted import bare_secrets, frame, planted_payload, secret_strings
from rich.console import Console
from websockets.asyncio.client import connect
from websockets.asyncio.server import serve

from capture_agent.landing.schema import Direction, FrameMeta, RecordType, Source, Transport
from capture_agent.landing.segments import read_landing
from capture_agent.landing.wal import WAL_DIR
from capture_agent.landing.writer import LandingWriter
from capture_agent.live.feed import FeedServer
from capture_agent.live.normalise import normalise
from capture_agent.live.state import LiveState
from capture_agent.live.status import health, status_line, status_table
from capture_agent.protocol.socketio import decode_frame
from capture_agent.redact import MARKER, redact_payload
from capture_agent.sources.browser import BrowserOptions, BrowserSource
from capture_agent.sources.direct import DirectOptions
from capture_agent.sources.recorder import Captured, Recorder


class FeedEvents:
    """The live feed's events for one captured row, encoded as :class:`FeedServer` sends them."""

    def __init__(self) -> None:
        self.messages: list[bytes] = []

    def observe(self, captured: Captured) -> None:
        self.messages += [orjson.dumps(event, option=orjson.OPT_NON_STR_KEYS) for event in normalise(captured)]


class StatusText:
    """The status line after every row, as the capture logs it every few seconds."""

    def __init__(self, state: LiveState, writer: LandingWriter) -> None:
        self.state, self.writer, self.lines = state, writer, []

    def observe(self, captured: Captured) -> None:
        self.lines.append(status_line(health(self.state.snapshot(time.monotonic_ns()), self.writer.stats)))

    def table(self) -> str:
        console = Console(file=io.StringIO(), width=200, record=True)
        console.print(status_table(health(self.state.snapshot(time.monotonic_ns()), self.writer.stats)))
        return console.export_text()


class Tattler:
    """A live view that fails telling what it was given: the recorder logs its failure."""

    def observe(self, captured: Captured) -> None:
        raise ValueError(f"cannot show seq {captured.seq}: {captured.packets!r} {captured.detail!r}")


class LogText(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(logging.Formatter("%(levelname)s %(name)s %(message)s").format(record))  # with the traceback


def _wal_bytes(data: Path) -> bytes:
    return b"".join(path.read_bytes() for path in sorted((data / "landing" / WAL_DIR).iterdir()) if path.is_file())


def _published(data: Path) -> bytes:
    """The landing zone as files (compressed) and as the rows they hold, all text."""
    raw = b"".join(path.read_bytes() for path in (data / "landing").rglob("*.parquet"))
    rows = read_landing(data).drop_columns(["recv_wall_ns"]).to_pylist()
    return raw + orjson.dumps(rows, default=lambda value: value.decode("utf-8", "replace"))


text_frames = frame().filter(lambda case: not (isinstance(case[0], str) and case[0][:1] == "b"))  # base64 hides text
details = st.tuples(planted_payload(), bare_secrets, secret_strings).map(
    lambda parts: (
        {
            **parts[0].value,
            "error": f"refused: {parts[1]}",
            "url": f"wss://h.example/socket.io/?EIO=4&access_token={parts[2]}",
            "headers": {"Cookie": f"privy-token={parts[2]}"},
        },
        [*parts[0].secrets, parts[1], parts[2]],
    )
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(
    st.lists(st.tuples(text_frames, st.sampled_from(Direction), st.sampled_from(Transport)), min_size=1, max_size=4),
    st.lists(st.tuples(st.sampled_from(["connection", "click"]), details), max_size=2),
)
def test_planted_secrets_reach_neither_disk_nor_feed_nor_status_nor_log(frames, facts):
    log = LogText()
    logging.getLogger().addHandler(log)
    try:
        with tempfile.TemporaryDirectory(prefix="redaction-") as tmp:
            data = Path(tmp)
            writer = LandingWriter(data, Source.SYNTHETIC, fsync_interval_s=60)
            state, feed = LiveState("direct"), FeedEvents()
            status = StatusText(state, writer)
            recorder = Recorder(writer, [state, feed, status, Tattler()])
            secrets: list[str] = []
            for (payload, planted, _valid), direction, transport in frames:
                recorder.frame(FrameMeta(direction, transport), payload)
                secrets += planted
            for kind, (detail, planted) in facts:
                if kind == "click":
                    recorder.click(detail, browser_ts=1.5)
                else:
                    recorder.connection("connect_failed", detail, url=detail["url"])
                secrets += planted
            writer.flush()
            wal = _wal_bytes(data)
            writer.close()
            landed = [row for row in read_landing(data).drop_columns(["recv_wall_ns"]).to_pylist() if row["record_type"] == "frame"]
            published = _published(data)
    finally:
        logging.getLogger().removeHandler(log)
    assert recorder.observer_errors == len(frames) + len(facts)  # the tattler failed on every row, logged
    assert [row["payload_text"] or row["payload_bytes"] for row in landed] == [redact_payload(p) for (p, _, _), _, _ in frames]
    seen = {
        "WAL": wal,
        "landing zone": published,
        "feed": b"\n".join(feed.messages),
        "status": "\n".join([*status.lines, status.table()]).encode(),
        "log": "\n".join(log.lines).encode(),
    }
    for secret in secrets:
        for where, text in seen.items():
            assert secret.encode() not in text, f"{secret} reached the {where}"


def test_malformed_outgoing_frames_reach_the_feed_as_landed():
    """The tester's case: a cut-off outgoing ``authenticate`` used to be published raw on the feed."""
    frame_text = '4212["authenticate",{"__trace":true},{"accessToken":"zq-privy-access","wallet":"zq-wallet-sig'

    class Writer:
        def frame(self, *args, **kwargs):
            return 0

    feed = FeedEvents()
    Recorder(Writer(), [feed]).frame(FrameMeta(Direction.OUT, Transport.WEBSOCKET), frame_text)
    [message] = [json.loads(m) for m in feed.messages]
    assert message["type"] == "raw.malformed" and message["data"]["frame"] == redact_payload(frame_text)
    assert MARKER in message["data"]["frame"] and "zq-" not in message["data"]["frame"]


def test_click_and_connection_details_are_redacted_before_any_observer_sees_them(tmp_path):
    seen: list[Captured] = []

    class Observer:
        def observe(self, captured: Captured) -> None:
            seen.append(captured)

    with LandingWriter(tmp_path, Source.BROWSER) as writer:
        recorder = Recorder(writer, [Observer()])
        recorder.click({"selector": "#buy", "text": "Buy", "privyToken": "zq-click-token", "note": "Bearer zq-bearer-credential"})
        recorder.connection("websocket_error", {"error": "handshake to wss://h.example/?token=zq-url-token failed", "sid": "abc"})
    rows = landed_rows(tmp_path)
    for captured, row in zip(seen, rows):
        assert captured.detail == row["detail"]  # observers get exactly what was landed
        assert "zq-" not in json.dumps(captured.detail)
    assert [c.record_type for c in seen] == [RecordType.CLICK, RecordType.CONNECTION]
    assert seen[0].detail["text"] == "Buy" and seen[1].detail["sid"] == "abc"


def test_the_browser_sources_frames_clicks_and_lifecycle_details_reach_observers_redacted(tmp_path):
    """The browser source driven by synthetic CDP events (no browser): a hostile page's click, a socket error
    naming a URL with a token, the client's polling CONNECT with its auth object, the server's auth material."""
    url = "http://127.0.0.1:8000/socket.io/?EIO=4&transport=polling&t=1&sid=S1"
    secrets = ["zq-page-token", "zq-bearer-credential", "zq-url-token", "zq-connect-auth", "zq-server-refresh"]

    async def scenario():
        with LandingWriter(tmp_path, Source.BROWSER) as writer:
            feed = FeedEvents()
            source = BrowserSource(Recorder(writer, [feed]), BrowserOptions(url=None, headless=True, say=lambda _: None))
            source._consumer = asyncio.get_running_loop().create_task(source._drain())
            click = {"path": "#buy", "text": "Bearer zq-bearer-credential", "privyToken": "zq-page-token"}
            source.on_cdp_event("Runtime.bindingCalled", {"name": source.click_binding, "payload": json.dumps(click)})
            post = {"url": url, "method": "POST", "postData": '40{"token":"zq-connect-auth"}'}
            source.on_cdp_event("Network.requestWillBeSent", {"requestId": "p1", "timestamp": 1.0, "wallTime": 1000.0, "request": post})
            created = {"requestId": "w1", "url": "ws://127.0.0.1:8000/socket.io/?EIO=4&transport=websocket&sid=S1"}
            source.on_cdp_event("Network.webSocketCreated", created)
            frame = {"opcode": 1, "payloadData": '42["session",{"refresh_token":"zq-server-refresh","cash":2}]'}
            source.on_cdp_event("Network.webSocketFrameReceived", {"requestId": "w1", "timestamp": 2.0, "response": frame})
            error = "handshake failed for wss://h.example/socket.io/?access_token=zq-url-token"
            source.on_cdp_event("Network.webSocketFrameError", {"requestId": "w1", "errorMessage": error})
            await asyncio.wait_for(source._queue.join(), 5)
            source._consumer.cancel()
            return feed.messages

    messages = asyncio.run(scenario())
    published = _published(tmp_path)
    assert len(messages) >= 4  # click, connection rows and the server's event were all published
    for secret in secrets:
        assert secret.encode() not in b"\n".join(messages) and secret.encode() not in published, secret
    rows = landed_rows(tmp_path)
    assert [r["record_type"] for r in rows][:2] == ["click", "frame"] and rows[1]["payload_text"] == f'40{{"token":"{MARKER}"}}'


# --- the direct source against a loopback server that sends auth material -----------------------------------

KEYPAIR = "[" + ",".join(str(200 + i % 56) for i in range(64)) + "]"
SERVER_SECRETS = ["zq-server-jwt-signature", "zq-refresh", "zq-cookie", "zq-api-key", KEYPAIR[1:-1], "123456789012"]
JWT = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJkaWQ6cHJpdnk6Y20xMjMifQ.zq-server-jwt-signature"
SERVER_FRAMES = [
    '40{"sid":"socket-sid"}',
    f'42["authenticated",{{"__trace":true,"traceparent":"00-55110064298fdee6dc04d093c003b5c9-2870159c41eb0cab-01"}},{{"token":"{JWT}","refreshToken":"zq-refresh"}}]',
    f'42["playerUpdate",{{"id":"did:privy:cm123","cash":1.5,"wallet":{{"secretKey":{KEYPAIR}}},"otp":123456789012}}]',
    '4312[{"success":true,"Set-Cookie":"privy-token=zq-cookie; Path=/","x-api-key":"zq-api-key"}]',
    f'42["newChatMessage",{{"message":"look: {JWT}"}}]',
    '42["gameStateUpdate",{"gameId":"20251217-cc4486eb5e354cd5","active":true,"tickCount":3,"price":1.01}]',
    '42["cutOff",{"privateKey":[9,8,7',  # malformed: published as raw.malformed
    f'42["binary",{{"token":"{JWT}"}}]'.encode(),  # a binary frame that is text
]


def test_direct_capture_of_a_server_sending_auth_material_publishes_none_of_it(tmp_path, caplog):
    caplog.set_level(logging.DEBUG, logger="capture_agent")  # all of ours; libraries' frame dumps stay off, as in use
    received: list[bytes] = []

    async def server(websocket):
        await websocket.send('0{"sid":"engine-sid","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}')
        assert await websocket.recv() == "40"
        for message in SERVER_FRAMES:
            await websocket.send(message)
        await websocket.wait_closed()

    async def scenario():
        feed = FeedServer(lambda: session.figures())
        await feed.start("127.0.0.1", 0)
        async with serve(server, "127.0.0.1", 0) as game:
            port = game.sockets[0].getsockname()[1]
            session = capture_session(tmp_path, DirectOptions(url=f"http://127.0.0.1:{port}"), observers=[Tattler(), feed])
            async with connect(f"ws://127.0.0.1:{feed.port}/feed", proxy=None) as client:
                received.append(await client.recv(decode=False))  # feed.hello: the client is registered
                wal, line = await capture_until_the_feed_caught_up(session, client)
        await feed.stop()
        return wal, line

    async def capture_until_the_feed_caught_up(session, client):
        capture = RunningCapture(session)
        try:
            await wait_for(lambda: capture.stats.frames_in >= 1 + len(SERVER_FRAMES), 20)
            while not any(b"cutOff" in m or b"raw.malformed" in m for m in received):  # the feed catches up
                received.append(await asyncio.wait_for(client.recv(decode=False), 20))
            session.writer.flush()
            return _wal_bytes(tmp_path), status_line(session.figures())
        finally:
            await capture.stop()

    wal, line = asyncio.run(scenario())
    published = _published(tmp_path)
    feed_text = b"\n".join(received)
    for secret in SERVER_SECRETS:
        for where, text in {"WAL": wal, "landing zone": published, "feed": feed_text, "status": line.encode(), "log": caplog.text.encode()}.items():
            assert secret.encode() not in text, f"{secret} reached the {where}"
    rows = landed_rows(tmp_path)
    inbound = [r for r in rows if r["record_type"] == "frame" and r["direction"] == "in"]
    assert len(inbound) == 1 + len(SERVER_FRAMES)
    # still the same packets: every valid frame decodes to the same event and ack id, with the secrets masked
    for original, row in zip(SERVER_FRAMES, inbound[1:]):
        landed = row["payload_text"] if row["payload_text"] is not None else row["payload_bytes"]
        assert [(p.event, p.ack_id, p.error is None) for p in decode_frame(landed)] == [
            (p.event, p.ack_id, p.error is None) for p in decode_frame(original)
        ]
    assert inbound[3]["payload_text"] == f'42["playerUpdate",{{"id":"did:privy:cm123","cash":1.5,"wallet":{{"secretKey":"{MARKER}"}},"otp":"{MARKER}"}}]'
    assert inbound[6]["payload_text"] == '42["gameStateUpdate",{"gameId":"20251217-cc4486eb5e354cd5","active":true,"tickCount":3,"price":1.01}]'
    malformed = [json.loads(m) for m in received if b"raw.malformed" in m]
    assert malformed and malformed[0]["data"]["frame"] == f'42["cutOff",{{"privateKey":"{MARKER}"'
    assert "live view Tattler failed" in caplog.text  # the log was written, and holds none of it


def test_the_capture_command_prints_none_of_it(tmp_path):
    """``vectra capture`` as a user runs it: its stderr (lines, status, summary) and landing zone stay clean,
    the credentials of its own URL (``--query access_token=…``) included."""
    started, stop = threading.Event(), None
    address: list[int] = []

    async def server(websocket):
        await websocket.send('0{"sid":"engine-sid","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}')
        await websocket.recv()
        for message in SERVER_FRAMES:
            await websocket.send(message)
        await websocket.wait_closed()

    async def serve_until_stopped():
        nonlocal stop
        stop = asyncio.Event()
        async with serve(server, "127.0.0.1", 0) as game:
            address.append(game.sockets[0].getsockname()[1])
            started.set()
            await stop.wait()

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_until_complete, args=(serve_until_stopped(),), daemon=True)
    thread.start()
    assert started.wait(10)
    try:
        result = subprocess.run(
            [sys.executable, "-m", "capture_agent.cli", "capture", "--source", "direct", "--url", f"http://127.0.0.1:{address[0]}",
             "--query", "access_token=zq-cli-token", "--data", str(tmp_path), "--no-status", "--max-frames", str(2 + len(SERVER_FRAMES))],
            capture_output=True, text=True, timeout=60, cwd=Path(__file__).resolve().parents[2],
        )
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)
    assert result.returncode == 0, result.stderr
    assert "stopped: capture" in result.stderr
    published = _published(tmp_path)
    for secret in [*SERVER_SECRETS, "zq-cli-token"]:
        assert secret not in result.stderr + result.stdout, secret
        assert secret.encode() not in published, secret
    rows = landed_rows(tmp_path)
    assert any("&access_token=[redacted]" in (r["url"] or "") for r in rows)
