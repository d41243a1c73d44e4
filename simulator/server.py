"""The simulator's Socket.IO server: python-socketio (Engine.IO 4, polling + websocket) on uvicorn at
``/socket.io/``, the play page at ``/``, a wire log of every frame, and a loopback-only admin endpoint.

It listens on loopback unless told ``public``, and serves only itself (docs/SECURITY.md): every request, Socket.IO
handshakes included, must name it in ``Host`` and, if it carries an ``Origin``, come from its own play page or an
origin given with ``--allow-origin`` — else 403 before python-socketio sees it. python-socketio's own CORS check
(``cors_allowed_origins``) applies the same rule, so it never echoes a foreign origin back as allowed.

The game itself is :class:`~simulator.engine.lifecycle.SimulatorEngine` (pure); this module only turns
the wall clock into engine time, sends what the engine emits and feeds it the clients' emits.

Wire log (JSONL, one line per Engine.IO packet, in the order the server hands them to the transport):
``{"t_ns": …, "sid": <engine.io session id>, "direction": "out"|"in", "event": name|null, "ack_id": n|null,
"frame": <the packet text exactly as on the wire>}``. Outgoing packets are logged when the transport takes
them (WebSocket write or polling response), incoming ones when the server reads them. Not logged: the
``2probe``/``3probe``/``5`` packets of the polling → WebSocket upgrade handshake, which engine.io exchanges
outside its packet queue.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from capture_agent.errors import VectraError
from capture_agent.live.origin import Origin, OriginPolicy, is_loopback
from capture_agent.protocol import jsjson
from capture_agent.protocol.socketio import decode_frame
from simulator.engine.lifecycle import SimulatorEngine
from simulator.engine.wire import Emission

REPO = Path(__file__).resolve().parents[1]
STATIC_DIR = Path(__file__).resolve().parent / "static"
SOCKET_IO_BUNDLE = REPO / ".cache" / "npm" / "node_modules" / "socket.io-client" / "dist" / "socket.io.min.js"
LIVE_ROOM = "live"  # clients that already got their connect snapshot receive the broadcasts


class JsJson:
    """python-socketio's ``json`` hook: the wire JSON is what JavaScript's JSON.stringify writes, like the
    real Node server's (``1`` not ``1.0``, compact)."""

    @staticmethod
    def dumps(value: Any, **_: Any) -> str:
        return jsjson.dumps(value)

    @staticmethod
    def loads(text: str | bytes, **_: Any) -> Any:
        return jsjson.loads(text.decode() if isinstance(text, bytes) else text)


def bundle_path() -> Path:
    if not SOCKET_IO_BUNDLE.is_file():
        raise VectraError(
            f"the socket.io-client browser bundle is missing ({SOCKET_IO_BUNDLE}); run scripts/setup.sh to install it"
        )
    return SOCKET_IO_BUNDLE


class WireLog:
    """Append-only JSONL of every frame to and from every client (line-buffered: complete at any moment)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._file: TextIO = path.open("a", encoding="utf-8", buffering=1)
        self._lock = threading.Lock()

    def write(self, sid: str, direction: str, frame: str | bytes) -> None:
        text = frame if isinstance(frame, str) else frame.decode("utf-8", "replace")
        (packet,) = decode_frame(text)
        record = {"t_ns": time.time_ns(), "sid": sid, "direction": direction, "event": packet.event,
                  "ack_id": packet.ack_id, "frame": text}
        with self._lock:
            self._file.write(json.dumps(record, ensure_ascii=False) + "\n")

    def close(self) -> None:
        with self._lock:
            self._file.close()


def _logged_socket_class(base: type) -> type:
    class LoggedSocket(base):  # type: ignore[misc, valid-type]
        """An engine.io socket that writes what it transmits and receives to the wire log."""

        wire_log: WireLog

        async def poll(self):  # packets leave here, for both transports
            packets = await super().poll()
            for pkt in packets:
                self.wire_log.write(self.sid, "out", pkt.encode())
            return packets

        async def receive(self, pkt):
            self.wire_log.write(self.sid, "in", pkt.encode())
            await super().receive(pkt)

    return LoggedSocket


class _SocketTable(dict):
    """engine.io's ``sockets`` dict: a socket is switched to the logging subclass as it is registered, before
    its OPEN packet is queued (engine.io offers no hook for this)."""

    def __init__(self, socket_class: type, wire_log: WireLog) -> None:
        super().__init__()
        self._socket_class = socket_class
        self._wire_log = wire_log

    def __setitem__(self, sid: str, sock: Any) -> None:
        sock.__class__ = self._socket_class
        sock.wire_log = self._wire_log
        super().__setitem__(sid, sock)


@dataclass
class SimulatorApp:
    """The ASGI application and the engine loop that drives it (one asyncio loop)."""

    speed: float = 1.0
    seed: str = "vectra"
    bots: int = 8
    wire_log: Path | None = None
    admin: bool = False
    policy: OriginPolicy = field(kw_only=True)  # who may talk to it: see for_socket()
    engine: SimulatorEngine = field(init=False)

    def __post_init__(self) -> None:
        import engineio.async_socket
        import socketio

        self._log = WireLog(self.wire_log) if self.wire_log else None
        self.sio = socketio.AsyncServer(async_mode="asgi", json=JsJson, cors_allowed_origins=self._cors_allows,
                                        always_connect=True)
        if self._log is not None:
            self.sio.eio.sockets = _SocketTable(_logged_socket_class(engineio.async_socket.AsyncSocket), self._log)
        static_files = {
            "/": {"filename": str(STATIC_DIR / "index.html"), "content_type": "text/html; charset=utf-8"},
            "/static": str(STATIC_DIR),
            "/socket.io.min.js": {"filename": str(bundle_path()), "content_type": "text/javascript"},
        }
        self._socketio_app = socketio.ASGIApp(self.sio, other_asgi_app=self._http, static_files=static_files,
                                              socketio_path="socket.io")
        self.requests_refused = 0
        self.engine = SimulatorEngine(self.seed, _now_ms(), bots=self.bots, speed=self.speed)
        self._lock = asyncio.Lock()
        self.sio.on("connect", self._on_connect)
        self.sio.on("disconnect", self._on_disconnect)
        self.sio.on("*", self._on_event)

    # --- engine loop and fan-out

    async def drive(self) -> None:
        """Advance the engine on the wall clock forever, sending what it emits."""
        while True:
            async with self._lock:
                await self._send(self.engine.advance(_now_ms()))
            await asyncio.sleep(max(0.0, (self.engine.next_at - _now_ms()) / 1000))

    async def _send(self, emissions: list[Emission]) -> None:
        for emission in emissions:
            if emission.target is None:
                await self.sio.emit(emission.event, emission.args, room=LIVE_ROOM)
            else:
                await self.sio.emit(emission.event, emission.args, to=emission.target)

    async def _on_connect(self, sid: str, environ: dict, auth: Any = None) -> None:
        account = auth.get("account") if isinstance(auth, dict) else None
        async with self._lock:
            await self._send(self.engine.connect(sid, _now_ms(), account if isinstance(account, str) else None))
            await self.sio.enter_room(sid, LIVE_ROOM)

    async def _on_disconnect(self, sid: str, reason: Any = None) -> None:
        async with self._lock:
            self.engine.disconnect(sid)

    async def _on_event(self, event: str, sid: str, *args: Any) -> Any:
        async with self._lock:
            reply = self.engine.request(sid, event, args, _now_ms())
            await self._send(reply.emissions)
        if not reply.ack:
            return None  # → 43<id>[]
        return reply.ack[0] if len(reply.ack) == 1 else tuple(reply.ack)

    async def drop_all(self) -> int:
        """Cut every Engine.IO session as a network drop would: no CLOSE packet, the transport just ends, so
        clients see a transport close and reconnect."""
        eio = self.sio.eio
        sessions = list(eio.sockets.items())
        for sid, sock in sessions:
            await sock.close(wait=False, abort=True, reason=eio.reason.TRANSPORT_CLOSE)
            await sock.queue.put(None)  # wakes the transport's writer, which then closes the connection
            eio.sockets.pop(sid, None)
        return len(sessions)

    # --- who may talk to it

    async def asgi(self, scope: dict, receive: Any, send: Any) -> None:
        """Every HTTP request and WebSocket handshake passes the Host/Origin rules before anything else runs."""
        if scope["type"] in ("http", "websocket"):
            hosts = [value.decode("latin-1") for name, value in scope["headers"] if name == b"host"]
            origins = [value.decode("latin-1") for name, value in scope["headers"] if name == b"origin"]
            refusal = self.policy.refusal(hosts, origins)
            if refusal is not None:
                self.requests_refused += 1
                if scope["type"] == "websocket":
                    await send({"type": "websocket.close", "code": 1008})  # before accept: uvicorn answers 403
                else:
                    await _respond(send, 403, {"error": f"refused: {refusal}"})
                return
        await self._socketio_app(scope, receive, send)

    def _cors_allows(self, origin: str | None, environ: dict) -> bool:
        """python-socketio's CORS hook (also asked with no Origin, when it builds response headers)."""
        origins = [origin] if origin else []
        return self.policy.origin_refusal(origins, [environ.get("HTTP_HOST", "")], required=False) is None

    # --- plain HTTP: the admin endpoint

    async def _http(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        if scope["method"] == "POST" and scope["path"] == "/admin/drop":
            peer = (scope.get("client") or (None,))[0]
            if not self.admin:
                await _respond(send, 404, {"error": "admin endpoint disabled (start with --admin)"})
            elif not is_loopback(peer):
                await _respond(send, 403, {"error": "admin endpoint is loopback-only"})
            else:
                await _respond(send, 200, {"dropped": await self.drop_all()})
            return
        await _respond(send, 404, {"error": "not found"})

    def close(self) -> None:
        if self._log is not None:
            self._log.close()


async def _respond(send: Any, status: int, body: dict) -> None:
    data = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]})
    await send({"type": "http.response.body", "body": data})


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def bind(host: str, port: int, *, public: bool = False) -> socket.socket:
    """Bind the listening socket first, so port 0 resolves and a busy port is one clear error; a non-loopback
    address needs ``public`` (anyone who reaches it can play and read every player's state)."""
    if not public and not is_loopback(host):
        raise VectraError(f"--host {host} would expose the simulator beyond this machine; use 127.0.0.1 or add --public")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        raise VectraError(f"cannot listen on {host}:{port} ({error.strerror}); choose another --port") from error
    sock.listen(128)
    sock.setblocking(False)
    return sock


def listener_policy(host: str, sock: socket.socket, allowed: frozenset[Origin] = frozenset()) -> OriginPolicy:
    """The names and origins of a simulator bound to ``sock`` (``host`` as the user gave it)."""
    address, port = sock.getsockname()[:2]
    return OriginPolicy.for_listener([host, address], port, allowed)


def urls(host: str, port: int) -> dict[str, str]:
    shown = f"[{host}]" if ":" in host else host
    base = f"http://{shown}:{port}"
    return {"page": f"{base}/", "socket": f"ws://{shown}:{port}/socket.io/?EIO=4&transport=websocket",
            "admin": f"{base}/admin/drop"}


async def serve(app: SimulatorApp, sock: socket.socket, server_holder: list | None = None,
                started: threading.Event | None = None) -> None:
    """Run uvicorn on ``sock`` with the engine loop beside it until the server is told to exit."""
    import uvicorn

    # No proxy stands in front: X-Forwarded-* headers must not rewrite the peer address the admin check reads.
    config = uvicorn.Config(app.asgi, interface="asgi3", log_level="warning", lifespan="off", ws="websockets-sansio",
                            proxy_headers=False, timeout_graceful_shutdown=1)
    server = uvicorn.Server(config)
    if server_holder is not None:
        server_holder.append(server)
    driver = asyncio.create_task(app.drive())
    if started is not None:
        asyncio.get_running_loop().call_soon(_signal_when_started, server, started)
    try:
        await server.serve(sockets=[sock])
    finally:
        driver.cancel()
        await app.drop_all()
        app.close()


def _cancel_leftovers(loop: asyncio.AbstractEventLoop) -> None:
    """engine.io leaves ping and service tasks behind; end them before the loop closes."""
    pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
    for task in pending:
        task.cancel()
    if pending:
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))


def _signal_when_started(server: Any, started: threading.Event) -> None:
    if server.started:
        started.set()
    else:
        asyncio.get_running_loop().call_later(0.01, _signal_when_started, server, started)


@dataclass
class SimulatorHandle:
    """A simulator running in a background thread (tests, demo, capture-agent tests)."""

    url: str
    wire_log: Path | None
    _app: SimulatorApp = field(repr=False)
    _loop: asyncio.AbstractEventLoop = field(repr=False)
    _server: Any = field(repr=False)
    _thread: threading.Thread = field(repr=False)

    @property
    def engine(self) -> SimulatorEngine:
        return self._app.engine

    def drop_all(self) -> None:
        asyncio.run_coroutine_threadsafe(self._app.drop_all(), self._loop).result(timeout=10)

    def stop(self) -> None:
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(setattr, self._server, "should_exit", True)
            self._thread.join(timeout=10)


def start_simulator(
    *, host: str = "127.0.0.1", port: int = 0, speed: float = 1.0, seed: str = "vectra", bots: int = 8,
    wire_log: Path | None = None, admin: bool = False, public: bool = False,
    allowed_origins: frozenset[Origin] = frozenset(),
) -> SimulatorHandle:
    """Start the simulator on uvicorn in a background thread; returns once it is listening."""
    if speed <= 0:
        raise VectraError("--speed must be positive")
    sock = bind(host, port, public=public)
    policy = listener_policy(host, sock, allowed_origins)
    bound_port = sock.getsockname()[1]
    loop = asyncio.new_event_loop()
    started = threading.Event()
    holder: list = []
    failure: list[BaseException] = []
    app_holder: list[SimulatorApp] = []

    def run() -> None:
        asyncio.set_event_loop(loop)

        async def main() -> None:
            app = SimulatorApp(speed=speed, seed=seed, bots=bots, wire_log=wire_log, admin=admin, policy=policy)
            app_holder.append(app)
            await serve(app, sock, holder, started)

        try:
            loop.run_until_complete(main())
        except BaseException as error:  # noqa: BLE001 - reported to the starting thread
            failure.append(error)
            started.set()
        finally:
            _cancel_leftovers(loop)
            loop.close()

    thread = threading.Thread(target=run, name=f"vectra-simulator-{bound_port}", daemon=True)
    thread.start()
    if not started.wait(timeout=30) or failure:
        sock.close()
        if failure and isinstance(failure[0], VectraError):
            raise failure[0]
        raise VectraError(f"the simulator did not start: {failure[0] if failure else 'timed out'}")
    return SimulatorHandle(urls(host, bound_port)["page"].rstrip("/"), wire_log, app_holder[0], loop, holder[0], thread)
