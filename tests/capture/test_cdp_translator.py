"""The CDP translator alone — no browser, no Playwright, no event loop: hand-made events for each rule, random event
sequences, and a real Chromium's recording on the simulator's play page checked against the server's wire log."""

from __future__ import annotations

import base64
import gzip
import json
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from capture_agent.landing.schema import Direction, Transport
from capture_agent.protocol.engineio import RECORD_SEPARATOR
from capture_agent.sources.cdp import Body, CdpTranslator, Click, Fetch, Frame, Lifecycle, Settle

RECORDING = Path(__file__).resolve().parents[1] / "fixtures" / "cdp" / "simulator_session.jsonl.gz"
POLL = "http://127.0.0.1:8000/socket.io/?EIO=4&transport=polling&t=1"
WS = "ws://127.0.0.1:8000/socket.io/?EIO=4&transport=websocket"
OPEN = '0{"sid":"S1","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}'
# Exchanged by engine.io outside its logged packet queue during the upgrade, so absent from the server's wire log;
# so is the noop ("6") that ends the poll still open when the WebSocket takes over.
UPGRADE_PROBES = {"2probe", "3probe", "5"}


def run(translator: CdpTranslator, events: list[tuple[str, dict]], answers: dict | None = None) -> list:
    """What the browser source would land, in order: each event's steps, a body's at its place once answered."""
    answers = answers or {}
    queue, results = [], {}
    for n, (method, params) in enumerate(events):
        for step in translator.event(method, params, 1_000_000 + n, n):
            if isinstance(step, Fetch):
                results[step.body] = answers.get((step.method, step.params["requestId"]), ConnectionError("never answered"))
            elif isinstance(step, Settle):
                results.setdefault(step.body, step.result)
            else:
                queue.append(step)
    landed = []
    for step in queue:
        landed.extend(translator.body(step, results.get(step)) if isinstance(step, Body) else [step])
    return landed


def ws_frame(request_id: str, data: str, *, opcode: int = 1, timestamp: float = 1.0) -> dict:
    return {"requestId": request_id, "timestamp": timestamp, "response": {"opcode": opcode, "payloadData": data}}


def test_a_polling_body_takes_its_place_at_the_response_headers_and_is_filled_by_the_answer():
    translator = CdpTranslator("socket.io")
    assert translator.event("Network.requestWillBeSent", {"requestId": "g1", "timestamp": 10.0, "wallTime": 1000.0,
                                                          "request": {"url": POLL, "method": "GET"}}, 1, 1) == []
    [place] = translator.event("Network.responseReceived", {"requestId": "g1", "timestamp": 10.5}, 2, 2)
    post, settle = translator.event("Network.requestWillBeSent", {"requestId": "p1", "timestamp": 10.6,
                                                                  "request": {"url": POLL + "&sid=S1", "method": "POST", "postData": "40"}}, 3, 3)
    [fetch] = translator.event("Network.loadingFinished", {"requestId": "g1", "timestamp": 10.7}, 4, 4)
    assert isinstance(place, Body) and place.direction is Direction.IN and (place.wall_ns, place.browser_ts) == (2, 1000.5)
    assert isinstance(post, Body) and isinstance(settle, Settle) and settle.body is post and settle.result == {"postData": "40"}
    assert isinstance(fetch, Fetch) and fetch.body is place and fetch.method == "Network.getResponseBody"
    [opened] = translator.body(place, {"body": OPEN, "base64Encoded": False})
    [connect] = translator.body(post, settle.result)
    assert (opened.meta.direction, opened.meta.transport, opened.payload) == (Direction.IN, Transport.POLLING, OPEN)
    assert opened.meta.socket_id == "S1" and connect.meta.socket_id == "S1"  # from the open packet, then the URL
    assert (opened.meta.recv_wall_ns, opened.meta.browser_ts, connect.meta.browser_ts) == (2, 1000.5, 1000.6)
    assert connect.meta.direction is Direction.OUT and connect.payload == "40" and connect.meta.opcode is None


def test_a_body_finished_without_headers_takes_its_place_then_and_a_failed_one_is_a_loss():
    translator = CdpTranslator("socket.io")
    translator.event("Network.requestWillBeSent", {"requestId": "g2", "request": {"url": POLL + "&sid=S9", "method": "GET"}}, 1, 1)
    place, fetch = translator.event("Network.loadingFinished", {"requestId": "g2"}, 2, 2)
    assert isinstance(place, Body) and fetch.body is place
    [lost] = translator.body(place, RuntimeError("No resource with given identifier found"))
    assert lost == Lifecycle("body_lost", {"request_id": "g2", "error": "No resource with given identifier found", "url": POLL + "&sid=S9"}, "S9", lost=True)
    assert translator.event("Network.loadingFinished", {"requestId": "g2"}, 3, 3) == []  # once only

    translator.event("Network.requestWillBeSent", {"requestId": "g3", "request": {"url": POLL + "&sid=S9", "method": "GET"}}, 4, 4)
    [place] = translator.event("Network.responseReceived", {"requestId": "g3"}, 5, 5)
    settle, failed = translator.event("Network.loadingFailed", {"requestId": "g3", "errorText": "net::ERR_ABORTED", "canceled": True}, 6, 6)
    assert settle.body is place and isinstance(settle.result, ConnectionError)
    assert failed.event == "polling_failed" and failed.detail["canceled"] is True and failed.socket_id == "S9" and not failed.lost
    assert translator.body(place, settle.result)[0].lost


def test_a_large_post_body_is_asked_for_and_binary_bodies_are_decoded():
    translator = CdpTranslator("socket.io")
    post, fetch = translator.event("Network.requestWillBeSent", {"requestId": "p2", "request": {"url": POLL + "&sid=S1", "method": "POST"}}, 1, 1)
    assert fetch == Fetch(post, "Network.getRequestPostData", {"requestId": "p2"})
    [frame] = translator.body(post, {"postData": "42" + "x" * 100})
    assert frame.payload == "42" + "x" * 100 and frame.meta.direction is Direction.OUT
    translator.event("Network.requestWillBeSent", {"requestId": "g4", "request": {"url": POLL + "&sid=S1", "method": "GET"}}, 2, 2)
    place, _ = translator.event("Network.loadingFinished", {"requestId": "g4"}, 3, 3)
    [binary] = translator.body(place, {"body": base64.b64encode(b"\x00\xff").decode(), "base64Encoded": True})
    assert binary.payload == b"\x00\xff"


def test_only_polling_requests_of_the_filter_are_read():
    translator = CdpTranslator("socket.io")
    for url, method in ((POLL.replace("socket.io", "engine"), "POST"), ("http://127.0.0.1:8000/static/socket.io.min.js", "GET"),
                        (POLL, "OPTIONS")):
        assert translator.event("Network.requestWillBeSent", {"requestId": "r", "request": {"url": url, "method": method, "postData": "x"}}, 1, 1) == []
        assert translator.event("Network.loadingFinished", {"requestId": "r"}, 2, 2) == []


def test_websocket_frames_filters_binary_connected_and_closing():
    translator = CdpTranslator("socket.io")
    raw = base64.b64encode(b"\x00\x01\xff").decode()
    landed = run(translator, [
        ("Network.webSocketCreated", {"requestId": "w1", "url": WS}),
        ("Network.webSocketCreated", {"requestId": "other", "url": "ws://127.0.0.1:8000/analytics"}),
        ("Network.webSocketHandshakeResponseReceived", {"requestId": "w1", "response": {"status": 101}}),
        ("Network.webSocketFrameReceived", ws_frame("w1", OPEN)),
        ("Network.webSocketFrameReceived", ws_frame("other", "hello")),
        ("Network.webSocketFrameSent", ws_frame("w1", "40")),
        ("Network.webSocketFrameReceived", ws_frame("w1", '40{"sid":"x"}')),
        ("Network.webSocketFrameReceived", ws_frame("w1", raw, opcode=2)),
        ("Network.webSocketFrameError", {"requestId": "w1", "errorMessage": "boom"}),
        ("Network.webSocketClosed", {"requestId": "w1"}),
    ])
    kinds = [step.event if isinstance(step, Lifecycle) else step.meta.direction for step in landed]
    assert kinds == ["websocket_created", "websocket_open", Direction.IN, Direction.OUT, Direction.IN, "connected", Direction.IN,
                     "websocket_error", "disconnected"]
    frames = [step for step in landed if isinstance(step, Frame)]
    assert all(f.meta.socket_id == "S1" and f.meta.url == WS for f in frames) and "hello" not in repr(landed)
    assert frames[-1].payload == b"\x00\x01\xff" and frames[-1].meta.opcode == 2
    assert landed[5].detail == {"sid": "S1", "socket_sid": "x", "transport": "websocket"}
    assert frames[0].packets[0].payload["sid"] == "S1"  # decoded once, for the recorder


def test_frames_of_a_socket_that_predates_the_attach_are_kept_and_flagged_once():
    translator = CdpTranslator("socket.io")
    landed = run(translator, [("Network.webSocketFrameReceived", ws_frame("old", f'42["t",{n}]')) for n in range(3)]
                 + [("Network.webSocketClosed", {"requestId": "old"})])
    assert landed[0] == Lifecycle("socket_predates_attach", {"request_id": "old"})
    assert [step.payload for step in landed[1:4]] == ['42["t",0]', '42["t",1]', '42["t",2]']
    assert {(step.meta.socket_id, step.meta.url) for step in landed[1:4]} == {("cdp:old", None)}
    assert landed[4].event == "disconnected" and landed[4].socket_id == "cdp:old"


def test_the_clock_offset_is_taken_once_and_clicks_keep_the_page_clock():
    translator = CdpTranslator("socket.io")
    translator.event("Network.webSocketWillSendHandshakeRequest", {"requestId": "w", "timestamp": 5.0, "wallTime": 105.0}, 1, 1)
    translator.event("Network.webSocketCreated", {"requestId": "w", "url": WS + "&sid=A"}, 2, 2)
    translator.event("Network.requestWillBeSent", {"requestId": "x", "timestamp": 6.0, "wallTime": 999.0, "request": {"url": "http://other/"}}, 3, 3)
    [frame] = translator.event("Network.webSocketFrameReceived", ws_frame("w", "2", timestamp=7.0), 4, 4)
    assert frame.meta.browser_ts == 107.0  # the first offset (100 s), not a later one: no jitter between rows
    assert translator.event("Network.dataReceived", {"requestId": "w"}, 5, 5) == []


def test_clicks_come_only_through_the_listeners_binding_and_keep_the_page_clock():
    translator = CdpTranslator("socket.io", click_binding="vectra_b1")
    detail = {"path": "#buy", "name": "BUY", "ts_ms": 1_700_000_000_123.5}
    clicked = translator.event("Runtime.bindingCalled", {"name": "vectra_b1", "payload": json.dumps(detail)}, 42, 1)
    assert clicked == [Click({**detail, "agent_wall_ns": 42}, 1_700_000_000.1235)]
    # another binding's call is not a click; without a binding nothing is
    assert translator.event("Runtime.bindingCalled", {"name": "other", "payload": json.dumps(detail)}, 1, 1) == []
    assert CdpTranslator("socket.io").event("Runtime.bindingCalled", {"name": None, "payload": "{}"}, 1, 1) == []


@given(st.one_of(st.text(max_size=300), st.none(), st.integers(), st.lists(st.integers(), max_size=3),
                 st.dictionaries(st.text(max_size=5), st.floats(allow_nan=True) | st.text(max_size=5) | st.booleans(), max_size=4).map(json.dumps),
                 st.fixed_dictionaries({"ts_ms": st.floats() | st.integers() | st.booleans() | st.text(max_size=3) | st.none()}).map(json.dumps)))
@settings(max_examples=200, deadline=None)
def test_a_hostile_click_payload_is_kept_bounded_never_raised(payload):
    """Whatever reaches the binding — not JSON, not an object, a NaN or boolean clock — lands as one click row."""
    translator = CdpTranslator("socket.io", click_binding="b")
    [click] = translator.event("Runtime.bindingCalled", {"name": "b", "payload": payload}, 7, 7)
    assert click.detail["agent_wall_ns"] == 7
    assert click.browser_ts is None or isinstance(click.browser_ts, float)
    if not isinstance(payload, str) or not payload.startswith("{"):
        assert click.detail == {"raw": str(payload)[:2000], "agent_wall_ns": 7}


frame_texts = st.one_of(st.text(max_size=40), st.sampled_from([OPEN, "40", '40{"sid":"q"}', '42["e",1]', "2", "3"]))
ws_events = st.lists(
    st.tuples(
        st.sampled_from(["created", "created_other", "in", "out", "binary", "closed"]),
        st.sampled_from(["a", "b", "c"]),
        frame_texts,
    ),
    max_size=40,
)


@settings(max_examples=200, deadline=None)
@given(ws_events)
def test_every_frame_of_a_selected_socket_is_landed_once_verbatim_in_order(events):
    """Random WebSocket lives: whatever the order, each frame of a socket the filter selects (or one never announced)
    is one Frame with exactly its payload, in event order; frames of a filtered-out socket never appear."""
    translator = CdpTranslator("socket.io")
    excluded: set[str] = set()  # ever announced with a URL the filter leaves out
    announced: set[str] = set()  # open and selected
    cdp_events, expected = [], []
    for kind, request_id, text in events:
        if kind == "created":
            cdp_events.append(("Network.webSocketCreated", {"requestId": request_id, "url": WS}))
            announced.add(request_id)
        elif kind == "created_other":
            cdp_events.append(("Network.webSocketCreated", {"requestId": request_id, "url": "ws://h/other"}))
            excluded.add(request_id)
        elif kind == "closed":
            cdp_events.append(("Network.webSocketClosed", {"requestId": request_id}))
            announced.discard(request_id)
        else:
            data = base64.b64encode(text.encode("utf-8", "surrogatepass")).decode() if kind == "binary" else text
            method = "Network.webSocketFrameSent" if kind == "out" else "Network.webSocketFrameReceived"
            cdp_events.append((method, ws_frame(request_id, data, opcode=2 if kind == "binary" else 1)))
            if request_id in announced or request_id not in excluded:
                expected.append(text.encode("utf-8", "surrogatepass") if kind == "binary" else text)
    frames = [step.payload for step in run(translator, cdp_events) if isinstance(step, Frame)]
    assert frames == expected


# --- a real Chromium's recording -----------------------------------------------------------------------------


def _recording() -> list[dict]:
    with gzip.open(RECORDING, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def _packets(frames: list[Frame], direction: Direction) -> list[tuple[str, str]]:
    out = []
    for frame in frames:
        if frame.meta.direction is direction:
            parts = frame.payload.split(RECORD_SEPARATOR) if frame.meta.transport is Transport.POLLING else [frame.payload]
            out.extend((frame.meta.transport.value, part) for part in parts)
    return out


def _logged(packets: list[tuple[str, str]]) -> list[str]:
    """The packets the server's wire log holds: without the upgrade's probes and the noop ending the last poll."""
    return [text for transport, text in packets if text not in UPGRADE_PROBES and (transport, text) != ("polling", "6")]


def test_a_recorded_chromium_session_translates_to_exactly_the_servers_frames():
    lines = _recording()
    events = [(line["event"], line["params"]) for line in lines if "event" in line]
    answers = {(line["answer"], line["requestId"]): line["result"] for line in lines if "answer" in line}
    wire = [line["wire"] for line in lines if "wire" in line]
    landed = run(CdpTranslator("socket.io"), events, answers)

    frames = [step for step in landed if isinstance(step, Frame)]
    sid = frames[0].meta.socket_id
    assert frames[0].meta.transport is Transport.POLLING and frames[0].payload.startswith('0{"sid":"' + sid)  # the handshake
    assert sid and {frame.meta.socket_id for frame in frames} == {sid}  # one socket, its sid on every frame
    # the open body lands at its response headers, before the connect the page sent in reaction (CDP reports
    # that request before the open response finished loading)
    assert [(f.meta.direction, f.meta.transport, f.payload[:2]) for f in frames[:2]] == [
        (Direction.IN, Transport.POLLING, "0{"), (Direction.OUT, Transport.POLLING, "40")
    ]
    sent = [r["frame"] for r in wire if r["sid"] == sid and r["direction"] == "out"]
    received = [r["frame"] for r in wire if r["sid"] == sid and r["direction"] == "in"]
    landed_in = _logged(_packets(frames, Direction.IN))
    landed_out = _logged(_packets(frames, Direction.OUT))
    assert len(landed_in) > 20 and landed_in == sent[: len(landed_in)]  # the recording stops mid-stream
    assert landed_out == received
    # polling first, then the upgrade; the namespace joined once, right after the server's CONNECT
    transports = [transport for transport, _ in _packets(frames, Direction.IN)]
    assert transports[0] == "polling" and transports[-1] == "websocket"
    assert [text for transport, text in _packets(frames, Direction.OUT) if transport == "websocket"][:2] == ["2probe", "5"]
    [connected] = [i for i, step in enumerate(landed) if isinstance(step, Lifecycle) and step.event == "connected"]
    assert isinstance(landed[connected - 1], Frame) and landed[connected - 1].payload.split(RECORD_SEPARATOR)[0].startswith("40")
    assert not any(isinstance(step, Lifecycle) and step.lost for step in landed)
    # the browser's clock on every frame, close to the server's send time and never going back on the WebSocket
    assert all(frame.meta.browser_ts is not None for frame in frames)
    sent_at = iter((r["frame"], r["t_ns"] / 1e9) for r in wire if r["sid"] == sid and r["direction"] == "out")
    for frame in frames:
        if frame.meta.direction is Direction.IN and frame.meta.transport is Transport.WEBSOCKET and frame.payload not in UPGRADE_PROBES:
            at = next(t for text, t in sent_at if text == frame.payload)  # the same frame in the server's order
            assert abs(frame.meta.browser_ts - at) < 2.0
    ws_times = [frame.meta.browser_ts for frame in frames if frame.meta.transport is Transport.WEBSOCKET]
    assert ws_times == sorted(ws_times)
