"""Malformed and binary frames from a server are landed verbatim and flagged (direct source)."""

from __future__ import annotations

import asyncio

from capture_kit import RunningCapture, capture_session, frames_of, landed_rows, wait_for
from websockets.asyncio.server import serve

from capture_agent.protocol.socketio import UNANNOUNCED_BINARY
from capture_agent.sources.direct import DirectOptions

OPEN = '0{"sid":"garbage-sid","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}'
SENT_AFTER_CONNECT = [
    '40{"sid":"socket-sid"}',
    "2",
    '42["gameStateUpdate",{"gameId":"20251217-cc4486eb5e354cd5","active":true,"tickCount":1,"price":0.98}]',
    "",  # empty message
    "x not engine.io",
    '42["gameStateUpdate",{"gameId":',  # truncated JSON
    "4",  # message without a Socket.IO type
    '43[{"success":true}]',  # ack without an id
    b"\x00\xff\x10binary-orphan",  # bytes nobody announced
    '451-["upload",{"_placeholder":true,"num":0}]',
    b"\x01\x02attachment",  # announced attachment
    '42["café 🚀",{"emoji":"☃"}]',  # non-ASCII kept as is
]
NOT_UTF8 = b'42["bad \xff\xfe text"]'  # a *text* message that is not UTF-8: websockets alone would drop the connection
AFTER_NOT_UTF8 = '42["still here",1]'


async def _garbage_server(websocket, received: list):
    received.append((websocket.request.path, websocket.request.headers.get("Origin")))
    await websocket.send(OPEN)
    received.append(await websocket.recv())  # the client's "40"
    for frame in SENT_AFTER_CONNECT:
        await websocket.send(frame)
    await websocket.send(NOT_UTF8, text=True)
    await websocket.send(AFTER_NOT_UTF8)
    received.append(await websocket.recv())  # the pong to our "2"
    await websocket.wait_closed()


def test_malformed_and_binary_frames_are_kept_verbatim_and_flagged(tmp_path):
    received: list = []

    async def scenario():
        async with serve(lambda ws: _garbage_server(ws, received), "127.0.0.1", 0) as server:
            port = server.sockets[0].getsockname()[1]
            capture = RunningCapture(capture_session(tmp_path, DirectOptions(url=f"http://127.0.0.1:{port}")))
            await wait_for(lambda: capture.stats.frames_in >= 3 + len(SENT_AFTER_CONNECT) and len(received) == 3, 10)
            await capture.stop()

    asyncio.run(scenario())
    (path, origin), *replies = received
    assert path == "/socket.io/?EIO=4&transport=websocket&frontend-version=1.0"
    assert origin.startswith("http://127.0.0.1:")  # the server's own origin (rugs.fun gets https://rugs.fun)
    rows = landed_rows(tmp_path)
    assert frames_of(rows, "in") == [OPEN, *SENT_AFTER_CONNECT, NOT_UTF8, AFTER_NOT_UTF8]
    assert frames_of(rows, "out") == ["40", "3"] == replies
    by_text = {}
    for row in rows:
        if row["record_type"] == "frame" and row["direction"] == "in":
            by_text[row["payload_text"] if row["payload_text"] is not None else row["payload_bytes"]] = row
    for text in ("", "x not engine.io", '42["gameStateUpdate",{"gameId":', "4", '43[{"success":true}]'):
        assert by_text[text]["detail"]["codec_error"], text
    orphan = by_text[b"\x00\xff\x10binary-orphan"]
    assert orphan["opcode"] == 2 and orphan["payload_text"] is None
    assert orphan["detail"]["codec_error"] == UNANNOUNCED_BINARY
    attachment = by_text[b"\x01\x02attachment"]
    assert attachment["opcode"] == 2 and attachment["detail"] == {"binary_bytes": 12}
    not_utf8 = by_text[NOT_UTF8]
    assert not_utf8["opcode"] == 1 and not_utf8["payload_text"] is None  # its bytes, with the text opcode
    assert not_utf8["detail"]["codec_error"].startswith("not valid UTF-8 text")
    assert by_text[AFTER_NOT_UTF8]["opcode"] == 1  # the same connection went on
    for good in (SENT_AFTER_CONNECT[2], SENT_AFTER_CONNECT[-1], AFTER_NOT_UTF8):
        assert by_text[good]["detail"] is None and by_text[good]["opcode"] == 1
    assert by_text[SENT_AFTER_CONNECT[2]]["event"] == "gameStateUpdate"
    assert all(row["socket_id"] == "garbage-sid" for row in rows if row["record_type"] == "frame")
    events = [row["event"] for row in rows if row["record_type"] == "connection"]
    assert events[:2] == ["open", "connected"] and events[-1] == "disconnected"
    assert events.count("connected") == 1 and events.count("disconnected") == 1  # one connection throughout
    assert [row["seq"] for row in rows] == list(range(len(rows)))
