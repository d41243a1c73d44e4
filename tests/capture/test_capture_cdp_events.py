"""The browser source's CDP event handling, driven by synthetic events (no browser): ordering through the one
queue, polling bodies landed in their receipt place even when fetched late, filters, binary frames, losses."""

from __future__ import annotations

import asyncio
import base64
import json

from capture_agent.landing.schema import Direction, Transport
from capture_agent.sources.browser import BrowserOptions, BrowserSource
from capture_agent.sources.recorder import Recorder

URL = "http://127.0.0.1:8000/socket.io/?EIO=4&transport=polling&t=1"
OPEN = '0{"sid":"S1","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}'


class ListWriter:
    """Stands in for the landing writer: keeps the rows in order."""

    def __init__(self) -> None:
        self.rows: list[tuple] = []

    def frame(self, direction, transport, payload, **kw):
        self.rows.append(("frame", direction, transport, payload, kw["socket_id"], kw["opcode"], kw["browser_ts"]))
        return len(self.rows) - 1

    def connection(self, event, **kw):
        self.rows.append(("connection", event, kw.get("detail"), kw.get("socket_id")))
        return len(self.rows) - 1

    def click(self, detail, **kw):
        self.rows.append(("click", detail, kw.get("browser_ts")))
        return len(self.rows) - 1


class FakeCDP:
    """``send`` answers with futures the test resolves, in any order it likes."""

    def __init__(self) -> None:
        self.pending: dict[tuple, asyncio.Future] = {}

    def send(self, method: str, params: dict):
        future = asyncio.get_running_loop().create_future()
        self.pending[(method, params["requestId"])] = future
        return _await(future)


async def _await(future):
    return await future


def make_source() -> tuple[BrowserSource, ListWriter, FakeCDP]:
    writer = ListWriter()
    source = BrowserSource(Recorder(writer), BrowserOptions(url=None, headless=True, say=lambda _: None))
    cdp = FakeCDP()
    source._cdp = cdp
    source._consumer = asyncio.get_running_loop().create_task(source._drain())
    return source, writer, cdp


async def settle(source: BrowserSource) -> None:
    await asyncio.wait_for(source._queue.join(), 2)


def test_polling_bodies_land_at_their_receipt_even_when_fetched_after_later_events():
    async def scenario():
        source, writer, cdp = make_source()
        # GET handshake poll: request, response headers (receipt), then the page already POSTs "40" …
        source.on_cdp_event("Network.requestWillBeSent", {"requestId": "g1", "timestamp": 10.0, "wallTime": 1000.0, "request": {"url": URL, "method": "GET"}})
        source.on_cdp_event("Network.responseReceived", {"requestId": "g1", "timestamp": 10.5})
        source.on_cdp_event("Network.requestWillBeSent", {"requestId": "p1", "timestamp": 10.6, "request": {"url": URL + "&sid=S1", "method": "POST", "postData": "40"}})
        # … and only then does Chromium report the GET finished; its body arrives last of all
        source.on_cdp_event("Network.loadingFinished", {"requestId": "g1", "timestamp": 10.7})
        await asyncio.sleep(0.05)
        assert writer.rows == []  # the POST waits behind the GET's reserved place
        cdp.pending[("Network.getResponseBody", "g1")].set_result({"body": OPEN, "base64Encoded": False})
        await settle(source)
        source._consumer.cancel()
        return writer.rows

    rows = asyncio.run(scenario())
    assert [(r[1], r[2], r[3]) for r in rows] == [
        (Direction.IN, Transport.POLLING, OPEN),
        (Direction.OUT, Transport.POLLING, "40"),
    ]
    assert rows[0][4] == "S1" and rows[1][4] == "S1"  # sid from the open packet, then from the URL
    assert rows[0][6] == 1000.5 and rows[1][6] == 1000.6  # CDP monotonic → epoch via wallTime − timestamp


def test_websocket_frames_filters_binary_and_closing():
    async def scenario():
        source, writer, _ = make_source()
        source.on_cdp_event("Network.webSocketCreated", {"requestId": "w1", "url": "ws://127.0.0.1:8000/socket.io/?EIO=4&transport=websocket"})
        source.on_cdp_event("Network.webSocketCreated", {"requestId": "other", "url": "ws://127.0.0.1:8000/analytics"})
        source.on_cdp_event("Network.webSocketFrameReceived", {"requestId": "w1", "timestamp": 1.0, "response": {"opcode": 1, "payloadData": OPEN}})
        source.on_cdp_event("Network.webSocketFrameReceived", {"requestId": "other", "timestamp": 1.1, "response": {"opcode": 1, "payloadData": "hello"}})
        source.on_cdp_event("Network.webSocketFrameSent", {"requestId": "w1", "timestamp": 1.2, "response": {"opcode": 1, "payloadData": "40"}})
        source.on_cdp_event("Network.webSocketFrameReceived", {"requestId": "w1", "timestamp": 1.3, "response": {"opcode": 1, "payloadData": '40{"sid":"x"}'}})
        raw = base64.b64encode(b"\x00\x01\xff").decode()
        source.on_cdp_event("Network.webSocketFrameReceived", {"requestId": "w1", "timestamp": 1.4, "response": {"opcode": 2, "payloadData": raw}})
        source.on_cdp_event("Network.webSocketClosed", {"requestId": "w1", "timestamp": 2.0})
        await settle(source)
        source._consumer.cancel()
        return writer.rows

    rows = asyncio.run(scenario())
    kinds = [(r[0], r[1]) for r in rows]
    assert kinds == [
        ("connection", "websocket_created"),
        ("frame", Direction.IN),
        ("frame", Direction.OUT),
        ("frame", Direction.IN),
        ("connection", "connected"),
        ("frame", Direction.IN),
        ("connection", "disconnected"),
    ]
    assert all("hello" not in str(r) for r in rows)  # the URL filter leaves other sockets out
    binary = rows[5]
    assert binary[3] == b"\x00\x01\xff" and binary[5] == 2
    assert all(r[4] == "S1" for r in rows if r[0] == "frame")


def test_unknown_socket_frames_are_kept_and_flagged_once():
    async def scenario():
        source, writer, _ = make_source()
        for n in range(3):
            source.on_cdp_event("Network.webSocketFrameReceived", {"requestId": "old", "timestamp": 1.0 + n, "response": {"opcode": 1, "payloadData": f"42[\"t\",{n}]"}})
        await settle(source)
        source._consumer.cancel()
        return writer.rows

    rows = asyncio.run(scenario())
    assert rows[0][:2] == ("connection", "socket_predates_attach")
    assert [r[3] for r in rows[1:]] == ['42["t",0]', '42["t",1]', '42["t",2]']
    assert {r[4] for r in rows[1:]} == {"cdp:old"}


def test_a_body_chromium_no_longer_has_is_a_loud_loss_not_a_silent_gap():
    async def scenario():
        source, writer, cdp = make_source()
        source.on_cdp_event("Network.requestWillBeSent", {"requestId": "g2", "timestamp": 5.0, "wallTime": 100.0, "request": {"url": URL + "&sid=S9", "method": "GET"}})
        source.on_cdp_event("Network.responseReceived", {"requestId": "g2", "timestamp": 5.1})
        source.on_cdp_event("Network.loadingFinished", {"requestId": "g2", "timestamp": 5.2})
        await asyncio.sleep(0)
        cdp.pending[("Network.getResponseBody", "g2")].set_exception(RuntimeError("No resource with given identifier found"))
        source.on_cdp_event("Network.requestWillBeSent", {"requestId": "g3", "timestamp": 5.3, "request": {"url": URL + "&sid=S9", "method": "GET"}})
        source.on_cdp_event("Network.loadingFailed", {"requestId": "g3", "errorText": "net::ERR_ABORTED", "canceled": True})
        await settle(source)
        source._consumer.cancel()
        return source.losses, writer.rows

    losses, rows = asyncio.run(scenario())
    assert losses == 1
    assert rows[0][1] == "body_lost" and "No resource" in rows[0][2]["error"] and rows[0][3] == "S9"
    assert rows[1][1] == "polling_failed" and rows[1][2]["canceled"] is True


def test_clicks_keep_the_page_clock():
    async def scenario():
        source, writer, _ = make_source()
        detail = {"path": "#buy", "name": "BUY", "ts_ms": 1_700_000_000_123.5, "trusted": True}
        source.on_cdp_event("Runtime.bindingCalled", {"name": source.click_binding, "payload": json.dumps(detail)})
        await settle(source)
        source._consumer.cancel()
        return writer.rows

    (row,) = asyncio.run(scenario())
    assert row[0] == "click" and row[1]["name"] == "BUY" and row[2] == 1_700_000_000.1235


def test_a_body_that_never_comes_does_not_hold_back_later_frames(monkeypatch):
    monkeypatch.setattr("capture_agent.sources.browser.BODY_WAIT_S", 0.2)

    async def scenario():
        source, writer, _ = make_source()
        source.on_cdp_event("Network.requestWillBeSent", {"requestId": "g4", "timestamp": 1.0, "request": {"url": URL + "&sid=S2", "method": "GET"}})
        source.on_cdp_event("Network.responseReceived", {"requestId": "g4", "timestamp": 1.1})  # headers, then nothing ever again
        source.on_cdp_event("Network.webSocketCreated", {"requestId": "w2", "url": "ws://h/socket.io/?EIO=4&transport=websocket&sid=S2"})
        source.on_cdp_event("Network.webSocketFrameReceived", {"requestId": "w2", "timestamp": 1.2, "response": {"opcode": 1, "payloadData": "2"}})
        await settle(source)
        source._consumer.cancel()
        return source.losses, writer.rows

    losses, rows = asyncio.run(scenario())
    assert losses == 1
    assert [r[1] for r in rows] == ["body_lost", "websocket_created", Direction.IN]
    assert "no response body within 0.2 s" in rows[0][2]["error"]
