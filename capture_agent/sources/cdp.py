"""CDP events → what the browser source lands, pure: frames, lifecycle facts and clicks, in the order they happened.

Chromium reports the page's network as Chrome DevTools Protocol ``Network.*`` events; :class:`CdpTranslator` reads
them one by one and says what each means for the capture. It owns the meaning: which WebSockets and Engine.IO
polling requests the URL filter selects, each socket's Engine.IO sid (from the URL, or from the open packet
``0{…}``), the browser's clock, the sockets that predate the attach, and the ``connected`` fact a Socket.IO
``CONNECT`` from the server implies, and the clicks the injected listener reports over the same session
(``Runtime.bindingCalled``, so a click and the order frame it causes keep their order). It never does I/O and
never reads a clock: the shell (:mod:`capture_agent.sources.browser`) stamps each event with its receipt times
and does what the steps ask.

A polling body is not in the event that announces it: CDP gives it only when asked. Its place in the order is a
:class:`Body`, taken when the response headers arrive (the receipt); :class:`Fetch` asks the shell to get it, and
:meth:`CdpTranslator.body` turns the answer — or the reason there is none — into the steps landed at that place.

``browser_ts`` is epoch seconds: CDP's monotonic timestamps shifted by ``wallTime − timestamp``, taken once from
the first request event that carries both, so frames and clicks share one clock for latency downstream. Headers
and cookies are never read.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from capture_agent.landing.schema import Direction, FrameMeta, Transport
from capture_agent.protocol.engineio import EngineType, Packet
from capture_agent.protocol.socketio import SocketType, decode_frame
from capture_agent.redact import redact_url

BINARY_OPCODE = 2
RAW_CLICK_LIMIT = 2000  # characters of a click payload that is not the listener's JSON object


@dataclass
class Socket:
    """A game socket (a WebSocket, or the polling requests of one Engine.IO session) and its sid once known."""

    url: str
    sid: str | None


@dataclass(frozen=True, slots=True)
class Frame:
    meta: FrameMeta
    payload: str | bytes
    packets: tuple[Packet, ...]  # decoded once, here: the recorder reuses them


@dataclass(frozen=True, slots=True)
class Lifecycle:
    event: str
    detail: dict
    socket_id: str | None = None
    url: str | None = None
    lost: bool = False  # a row the browser could not give us (a body it no longer has): counted as a drop


@dataclass(frozen=True, slots=True)
class Click:
    detail: dict
    browser_ts: float | None


@dataclass(eq=False, slots=True)
class Body:
    """The place in the order of a polling body CDP gives later (or never): a GET's response, a POST's data."""

    direction: Direction
    request_id: str
    socket: Socket
    browser_ts: float | None
    wall_ns: int
    mono_ns: int


@dataclass(frozen=True, slots=True)
class Fetch:
    """Ask CDP ``method`` with ``params``; its answer (or error) is the content of ``body``."""

    body: Body
    method: str
    params: dict


@dataclass(frozen=True, slots=True)
class Settle:
    """The content of ``body`` is known now: a POST's data that came with its event, or why a response never will."""

    body: Body
    result: dict | BaseException


Step = Frame | Lifecycle | Click | Body | Fetch | Settle


class CdpTranslator:
    """Feed it every CDP event in the order Chromium sent it (:meth:`event`: ``Network.*``, and the click
    listener's ``Runtime.bindingCalled``) and the answers to its :class:`Fetch` steps (:meth:`body`, in
    :class:`Body` order)."""

    def __init__(self, url_filter: str, click_binding: str | None = None) -> None:
        self.url_filter = url_filter
        self.click_binding = click_binding  # the binding the click listener reports through (None: no clicks)
        self._sockets: dict[str, Socket] = {}  # CDP request id → game WebSocket
        self._polls: dict[str, Socket] = {}  # CDP request id → Engine.IO polling GET in flight
        self._reserved: dict[str, Body] = {}  # polling GETs whose body already has its place
        self._other_sockets: set[str] = set()  # WebSockets the URL filter leaves out
        self._stale_sockets: dict[str, Socket] = {}  # sockets opened before the attach
        self._clock_offset_s: float | None = None  # epoch − CDP monotonic
        self._handlers: dict[str, Callable[[dict, int, int], list[Step]]] = {
            "Network.requestWillBeSent": self._request,
            "Network.responseReceived": self._response,
            "Network.loadingFinished": self._loading_finished,
            "Network.loadingFailed": self._loading_failed,
            "Network.webSocketCreated": self._ws_created,
            "Network.webSocketWillSendHandshakeRequest": self._ws_handshake,
            "Network.webSocketHandshakeResponseReceived": self._ws_handshake_response,
            "Network.webSocketFrameSent": lambda params, wall, mono: self._ws_frame(params, Direction.OUT, wall, mono),
            "Network.webSocketFrameReceived": lambda params, wall, mono: self._ws_frame(params, Direction.IN, wall, mono),
            "Network.webSocketFrameError": self._ws_error,
            "Network.webSocketClosed": self._ws_closed,
            "Runtime.bindingCalled": self._binding_called,
        }

    @property
    def methods(self) -> tuple[str, ...]:
        """The CDP events this translator reads (the shell subscribes to these)."""
        return tuple(self._handlers)

    def event(self, method: str, params: dict, wall_ns: int, mono_ns: int) -> list[Step]:
        """The steps one CDP event calls for; ``wall_ns``/``mono_ns``: when the agent received it."""
        handler = self._handlers.get(method)
        return handler(params, wall_ns, mono_ns) if handler is not None else []

    def body(self, body: Body, result: dict | BaseException | None) -> list[Step]:
        """The steps at a body's place once CDP answered: its frame, or a ``body_lost`` fact (a loss)."""
        socket = body.socket
        if body.direction is Direction.OUT:
            if isinstance(result, BaseException) or result is None:
                return [Lifecycle("body_lost", {"error": str(result), "url": redact_url(socket.url)}, socket.sid, lost=True)]
            payload: str | bytes = result.get("postData", "")
        else:
            if isinstance(result, BaseException) or result is None:
                detail = {"request_id": body.request_id, "error": str(result), "url": redact_url(socket.url)}
                return [Lifecycle("body_lost", detail, socket.sid, lost=True)]
            text = result.get("body", "")
            payload = base64.b64decode(text) if result.get("base64Encoded") else text
            if isinstance(payload, str) and socket.sid is None:
                socket.sid = open_sid(payload)
        meta = FrameMeta(
            body.direction, Transport.POLLING, socket.url, socket.sid, None, body.browser_ts, body.wall_ns, body.mono_ns
        )
        return self._frame(meta, payload)

    # --- events ----------------------------------------------------------------------------------------------

    def _browser_ts(self, params: dict) -> float | None:
        if self._clock_offset_s is None and "wallTime" in params and "timestamp" in params:
            # Fixed once: re-deriving it per event adds millisecond jitter that could reorder close rows.
            self._clock_offset_s = params["wallTime"] - params["timestamp"]
        timestamp = params.get("timestamp")
        if timestamp is None or self._clock_offset_s is None:
            return None
        return timestamp + self._clock_offset_s

    def _matches(self, url: str) -> bool:
        return self.url_filter in url

    def _request(self, params: dict, wall_ns: int, mono_ns: int) -> list[Step]:
        browser_ts = self._browser_ts(params)
        request = params.get("request", {})
        url = request.get("url", "")
        if not self._matches(url) or "transport=polling" not in url:
            return []
        socket = Socket(url, query_sid(url))
        method = request.get("method")
        if method == "GET":
            self._polls[params["requestId"]] = socket
            return []
        if method != "POST":
            return []
        body = Body(Direction.OUT, params["requestId"], socket, browser_ts, wall_ns, mono_ns)
        if "postData" in request:
            return [body, Settle(body, {"postData": request["postData"]})]
        return [body, Fetch(body, "Network.getRequestPostData", {"requestId": params["requestId"]})]  # large bodies

    def _response(self, params: dict, wall_ns: int, mono_ns: int) -> list[Step]:
        """A polling GET's response headers: its body takes its place in the order now.

        Chromium reports ``loadingFinished`` only after the page's handler has run — after the request the page
        sends in reaction (the ``40`` after the open packet) — so the headers mark the receipt, and the body,
        fetched once loading finishes, fills the reserved place.
        """
        request_id = params.get("requestId")
        socket = self._polls.get(request_id)
        if socket is None or request_id in self._reserved:
            return []
        body = self._reserved[request_id] = self._place(request_id, socket, params, wall_ns, mono_ns)
        return [body]

    def _place(self, request_id: str, socket: Socket, params: dict, wall_ns: int, mono_ns: int) -> Body:
        return Body(Direction.IN, request_id, socket, self._browser_ts(params), wall_ns, mono_ns)

    def _loading_finished(self, params: dict, wall_ns: int, mono_ns: int) -> list[Step]:
        request_id = params.get("requestId")
        socket = self._polls.pop(request_id, None)
        if socket is None:
            return []
        steps: list[Step] = []
        body = self._reserved.pop(request_id, None)
        if body is None:  # no responseReceived came first: the place is taken now
            body = self._place(request_id, socket, params, wall_ns, mono_ns)
            steps.append(body)
        # Fetched at once (Chromium may evict the body later); it is landed in its reserved place.
        steps.append(Fetch(body, "Network.getResponseBody", {"requestId": request_id}))
        return steps

    def _loading_failed(self, params: dict, wall_ns: int, mono_ns: int) -> list[Step]:
        request_id = params.get("requestId")
        socket = self._polls.pop(request_id, None)
        if socket is None:
            return []
        steps: list[Step] = []
        body = self._reserved.pop(request_id, None)
        if body is not None:
            steps.append(Settle(body, ConnectionError(f"polling response failed: {params.get('errorText')}")))
        detail = {
            "request_id": request_id,
            "error": params.get("errorText"),
            "canceled": params.get("canceled", False),
            "url": redact_url(socket.url),
        }
        steps.append(Lifecycle("polling_failed", detail, socket.sid))
        return steps

    def _ws_created(self, params: dict, wall_ns: int, mono_ns: int) -> list[Step]:
        url = params.get("url", "")
        if not self._matches(url):
            self._other_sockets.add(params.get("requestId"))
            return []
        socket = Socket(url, query_sid(url))
        self._sockets[params["requestId"]] = socket
        return [Lifecycle("websocket_created", {"request_id": params["requestId"], "url": redact_url(url)}, socket.sid)]

    def _ws_handshake(self, params: dict, wall_ns: int, mono_ns: int) -> list[Step]:
        self._browser_ts(params)  # carries wallTime: fixes the clock offset if no request did (headers never read)
        return []

    def _ws_handshake_response(self, params: dict, wall_ns: int, mono_ns: int) -> list[Step]:
        socket = self._sockets.get(params.get("requestId"))
        if socket is None:
            return []
        status = params.get("response", {}).get("status")
        return [Lifecycle("websocket_open", {"request_id": params["requestId"], "status": status}, socket.sid)]

    def _ws_frame(self, params: dict, direction: Direction, wall_ns: int, mono_ns: int) -> list[Step]:
        request_id = params.get("requestId")
        steps: list[Step] = []
        socket = self._sockets.get(request_id)
        if socket is None:
            if request_id in self._other_sockets:
                return []
            # Never announced by webSocketCreated: the socket predates the attach, its URL (so the filter)
            # is unknown. Its frames are kept, flagged once, rather than lost.
            socket = self._stale_sockets.get(request_id)
            if socket is None:
                socket = self._stale_sockets[request_id] = Socket("", f"cdp:{request_id}")  # its sid is unknown
                steps.append(Lifecycle("socket_predates_attach", {"request_id": request_id}))
        response = params.get("response", {})
        opcode = response.get("opcode")
        data = response.get("payloadData", "")
        payload: str | bytes = base64.b64decode(data) if opcode == BINARY_OPCODE else data
        if isinstance(payload, str) and socket.sid is None and direction is Direction.IN:
            socket.sid = open_sid(payload)
        meta = FrameMeta(
            direction, Transport.WEBSOCKET, socket.url or None, socket.sid, opcode, self._browser_ts(params), wall_ns, mono_ns
        )
        steps.extend(self._frame(meta, payload))
        return steps

    def _binding_called(self, params: dict, wall_ns: int, mono_ns: int) -> list[Step]:
        """A click the injected listener reported (JSON), with the page's clock (``ts_ms``) as its ``browser_ts``.

        Only the listener's isolated world has the binding; a payload that is not its JSON object is landed as
        ``raw`` (bounded) rather than dropped."""
        if self.click_binding is None or params.get("name") != self.click_binding:
            return []
        payload = params.get("payload")
        try:
            detail = json.loads(payload) if isinstance(payload, str) else None
        except ValueError:
            detail = None
        if not isinstance(detail, dict):
            detail = {"raw": str(payload)[:RAW_CLICK_LIMIT]}
        return [Click({**detail, "agent_wall_ns": wall_ns}, _page_clock_s(detail.get("ts_ms")))]

    def _ws_error(self, params: dict, wall_ns: int, mono_ns: int) -> list[Step]:
        socket = self._sockets.get(params.get("requestId"))
        if socket is None:
            return []
        return [Lifecycle("websocket_error", {"request_id": params["requestId"], "error": params.get("errorMessage")}, socket.sid)]

    def _ws_closed(self, params: dict, wall_ns: int, mono_ns: int) -> list[Step]:
        request_id = params.get("requestId")
        socket = self._sockets.pop(request_id, None) or self._stale_sockets.pop(request_id, None)
        if socket is None:
            return []
        detail = {"request_id": request_id, "reason": "websocket closed", "sid": socket.sid}
        return [Lifecycle("disconnected", detail, socket.sid)]

    @staticmethod
    def _frame(meta: FrameMeta, payload: str | bytes) -> list[Step]:
        """A frame, then ``connected`` when it is the server's Socket.IO ``CONNECT``: the namespace is joined."""
        packets = tuple(decode_frame(payload))
        steps: list[Step] = [Frame(meta, payload, packets)]
        if meta.direction is Direction.IN:
            for packet in packets:
                if packet.engine_type is EngineType.MESSAGE and packet.socket_type is SocketType.CONNECT and packet.error is None:
                    socket_sid = packet.payload.get("sid") if isinstance(packet.payload, dict) else None
                    detail = {"sid": meta.socket_id, "socket_sid": socket_sid, "transport": str(meta.transport)}
                    steps.append(Lifecycle("connected", detail, meta.socket_id, url=meta.url))
        return steps


def _page_clock_s(ts_ms: object) -> float | None:
    """The page's clock in epoch seconds, when the listener's ``ts_ms`` is a finite number."""
    if isinstance(ts_ms, bool) or not isinstance(ts_ms, (int, float)):
        return None
    try:
        seconds = ts_ms / 1000.0
    except OverflowError:  # an integer beyond any float
        return None
    return seconds if math.isfinite(seconds) else None


def query_sid(url: str) -> str | None:
    values = parse_qs(urlsplit(url).query).get("sid")
    return values[0] if values else None


def open_sid(text: str) -> str | None:
    """The Engine.IO sid of a frame or polling body that starts with the open packet ``0{…}``."""
    if not text.startswith("0{"):
        return None
    for packet in decode_frame(text):
        if packet.engine_type is EngineType.OPEN and isinstance(packet.payload, dict):
            sid = packet.payload.get("sid")
            return sid if isinstance(sid, str) else None
    return None
