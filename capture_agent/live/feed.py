"""Live feed: normalised events over WebSocket at ``/feed``, ``/health`` JSON and a monitor page at ``/``.

Read-only by construction: the server ignores whatever clients send and offers nothing that changes state.
Capture never waits for a client: each client has a bounded queue; when it is full the client is dismissed
(a ``feed.notice`` event, then close code 1008) and the capture goes on at full rate.

Only this machine's own pages and tools are served (docs/SECURITY.md): every request, the WebSocket handshake
included, must name the feed in ``Host`` (no DNS rebinding) and, if it carries an ``Origin``, come from the
feed's own origin or one given with ``--allow-origin``; anything else gets 403. A request without ``Origin``
(curl, scripts — browsers always send one on WebSocket handshakes and cross-origin fetches) is served.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from typing import Any

import orjson

from capture_agent.errors import VectraError
from capture_agent.live.monitor_page import MONITOR_HTML
from capture_agent.live.normalise import normalise
from capture_agent.live.origin import Origin, OriginPolicy, is_loopback
from capture_agent.sources.recorder import Captured

DEFAULT_QUEUE = 2048  # events per client: ~8 minutes of ticks, ~10 s of a heavy burst
# Kernel send buffer per client. Left to autotuning it grows to megabytes, hiding a stalled client for
# minutes; fixed, a client that stops reading fills it and its queue within seconds at a burst's rate.
SEND_BUFFER_BYTES = 64 * 1024
SLOW_CLOSE_CODE = 1008  # policy violation: the client did not keep up


def parse_bind(text: str, *, public: bool = False) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:PORT`` for IPv6) → (host, port); non-loopback hosts need ``public``."""
    host, sep, port_text = text.rpartition(":")
    if not sep or not port_text.isdigit() or not host:
        raise VectraError(f"--serve {text!r} is not HOST:PORT, e.g. 127.0.0.1:9000")
    host = host.strip("[]")
    check_bind(host, int(port_text), public=public)
    return host, int(port_text)


def check_bind(host: str, port: int, *, public: bool = False) -> None:
    """The feed listens on this machine only unless ``public`` says otherwise."""
    if not 0 <= port <= 65535:
        raise VectraError(f"--serve port {port} is out of range (0–65535)")
    if not public and not is_loopback(host):
        shown = f"[{host}]" if ":" in host else host
        raise VectraError(
            f"--serve {shown}:{port} would expose the feed beyond this machine; bind 127.0.0.1 or add --serve-public"
        )


def encode_event(event: dict[str, Any]) -> bytes:
    """An event as the JSON text the feed sends. What JSON cannot carry as it stands — lone UTF-16 surrogates (legal
    in JavaScript strings), nesting past orjson's 255 levels — becomes a ``raw.unencodable`` event naming why: the
    client learns the frame exists (its seq) and the capture never counts it as an observer failure."""
    try:
        return orjson.dumps(event, option=orjson.OPT_NON_STR_KEYS)
    except orjson.JSONEncodeError as error:
        reason = {"error": f"not encodable as JSON: {error}", "original_type": event.get("type")}
        return orjson.dumps({**event, "type": "raw.unencodable", "data": reason}, option=orjson.OPT_NON_STR_KEYS)


class _Client:
    __slots__ = ("websocket", "queue", "sender", "dismissed")

    def __init__(self, websocket: Any, size: int) -> None:
        self.websocket = websocket
        self.queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize=size)
        self.sender: asyncio.Task | None = None
        self.dismissed = False


class FeedServer:
    """An :class:`~capture_agent.sources.recorder.Observer` that fans each captured row out to clients."""

    def __init__(
        self,
        health: Callable[[], dict[str, Any]],
        *,
        queue_size: int = DEFAULT_QUEUE,
        allowed_origins: frozenset[Origin] = frozenset(),
    ) -> None:
        self._health = health
        self.queue_size = queue_size
        self.allowed_origins = allowed_origins
        self.policy: OriginPolicy | None = None  # known once bound (port 0 picks the port)
        self.clients: set[_Client] = set()
        self.events_published = 0
        self.clients_dismissed = 0
        self.requests_refused = 0
        self._server = None
        self._tasks: set[asyncio.Task] = set()
        self.host: str | None = None
        self.port: int | None = None

    # --- capture side: synchronous, never waits ---------------------------------------------------------

    def observe(self, captured: Captured) -> None:
        if not self.clients:
            return
        for event in normalise(captured):
            message = encode_event(event)
            self.events_published += 1
            for client in list(self.clients):
                try:
                    client.queue.put_nowait(message)
                except asyncio.QueueFull:
                    self._dismiss(client)

    def _dismiss(self, client: _Client) -> None:
        self.clients.discard(client)
        client.dismissed = True
        self.clients_dismissed += 1
        if client.sender is not None:
            client.sender.cancel()
        self._spawn(self._say_goodbye(client))

    async def _say_goodbye(self, client: _Client) -> None:
        reason = f"slow consumer: {self.queue_size} events queued unread; disconnected so capture never waits"
        notice = orjson.dumps({"type": "feed.notice", "data": {"reason": reason, "dropped_from_seq": None}})
        websocket = client.websocket
        try:
            # The notice goes behind what is already in the socket buffer; the client sees it when it catches up.
            await asyncio.wait_for(websocket.send(notice, text=True), timeout=10)
            await asyncio.wait_for(websocket.close(SLOW_CLOSE_CODE, "slow consumer"), timeout=10)
        except Exception:  # noqa: BLE001 - a client that never reads again is simply cut off
            websocket.transport.abort()

    def _spawn(self, coroutine) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- network side -------------------------------------------------------------------------------------

    async def start(self, host: str, port: int) -> None:
        from websockets.asyncio.server import serve

        try:
            self._server = await serve(
                self._handle,
                host,
                port,
                process_request=self._process_request,
                max_size=2**16,  # clients have nothing to say; the feed is read-only
                server_header="vectra-feed",
            )
        except OSError as error:
            raise VectraError(f"cannot serve the live feed on {host}:{port}: {error.strerror or error}") from error
        self.host, self.port = self._server.sockets[0].getsockname()[:2]
        bound = [sock.getsockname()[0] for sock in self._server.sockets]
        self.policy = OriginPolicy.for_listener([host, *bound], self.port, self.allowed_origins)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            try:
                await asyncio.wait_for(self._server.wait_closed(), timeout=3)
            except TimeoutError:
                pass
        for task in list(self._tasks):
            task.cancel()

    def _process_request(self, connection, request):
        headers = request.headers
        refusal = self.policy.refusal(headers.get_all("Host"), headers.get_all("Origin"))
        if refusal is not None:
            self.requests_refused += 1
            return _response(connection, 403, f"refused: {refusal}\n".encode(), "text/plain; charset=utf-8")
        path = request.path.split("?", 1)[0]
        if path == "/feed":
            return None  # WebSocket handshake
        if path == "/health":
            body = orjson.dumps(self.health(), option=orjson.OPT_NON_STR_KEYS)
            return _response(connection, 200, body, "application/json")
        if path in ("/", "/index.html"):
            return _response(connection, 200, MONITOR_HTML, "text/html; charset=utf-8")
        return _response(connection, 404, b"not found: try /, /health or /feed\n", "text/plain; charset=utf-8")

    def health(self) -> dict[str, Any]:
        return {
            **self._health(),
            "feed": {
                "clients": len(self.clients),
                "events_published": self.events_published,
                "clients_dismissed": self.clients_dismissed,
                "queue_size": self.queue_size,
                "requests_refused": self.requests_refused,
            },
        }

    async def _handle(self, websocket) -> None:
        sock = websocket.transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER_BYTES)
        client = _Client(websocket, self.queue_size)
        self.clients.add(client)
        client.sender = asyncio.get_running_loop().create_task(self._send_queued(client))
        try:
            async for _ignored in websocket:  # read-only: whatever a client says changes nothing
                pass
        except Exception:  # noqa: BLE001 - the client went away
            pass
        finally:
            self.clients.discard(client)
            if not client.dismissed:
                client.sender.cancel()
            await websocket.wait_closed()

    async def _send_queued(self, client: _Client) -> None:
        websocket = client.websocket
        try:
            hello = {"type": "feed.hello", "data": {"queue_size": self.queue_size, "health": self.health()}}
            await websocket.send(orjson.dumps(hello, option=orjson.OPT_NON_STR_KEYS), text=True)
            while True:
                message = await client.queue.get()
                await websocket.send(message, text=True)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - the connection closed under us; the handler cleans up
            pass


def _response(connection, status: int, body: bytes, content_type: str):
    response = connection.respond(status, "")
    response.body = body
    del response.headers["Content-Type"]
    del response.headers["Content-Length"]
    response.headers["Content-Type"] = content_type
    response.headers["Content-Length"] = str(len(body))
    response.headers["Cache-Control"] = "no-store"
    return response


