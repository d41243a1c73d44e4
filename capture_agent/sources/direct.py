"""Direct source: a raw ``websockets`` client speaking Engine.IO v4 to a Socket.IO server.

Every frame in both directions is landed verbatim with its receive (or send) time — the server's frames,
and the agent's own ``40`` and pongs — whatever it holds: a text message that is not UTF-8 is landed as its bytes
(opcode 1, flagged) and the connection goes on. Lost connections are retried with bounded exponential backoff and
jitter; each loss lands as rows: ``disconnected`` (reason, close code), ``reconnecting`` (attempt, delay),
``connected`` (sid) and ``gap`` (time between the last frame before and the first frame after). A server that
never lets the agent join within ``give_up_after_s`` ends the capture with the reason (a ``gave_up`` row and a
:class:`VectraError`); once joined, the agent retries without end.
The protocol decisions live in :mod:`capture_agent.protocol.client`; this module is only the socket loop.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections import deque
from dataclasses import dataclass, field
from urllib.parse import urlencode, urlsplit, urlunsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.frames import Frame, Opcode

from capture_agent.errors import VectraError
from capture_agent.landing.schema import Direction, FrameMeta, Transport
from capture_agent.protocol.client import Backoff, EngineIOSession, FirstJoin
from capture_agent.sources.recorder import Recorder, decode_message

DEFAULT_QUERY = {"frontend-version": "1.0"}  # rugs.fun refuses clients without it (docs/PROTOCOL.md §1)
RUGS_ORIGIN = "https://rugs.fun"
MAX_FRAME_BYTES = 64 * 2**20  # full game-state frames reach ~170 kB; never cut a frame short


def websocket_url(url: str, query: dict[str, str] | None = None) -> str:
    """``http://host:port`` → ``ws://host:port/socket.io/?EIO=4&transport=websocket&<query>``."""
    parts = urlsplit(url)
    scheme = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}.get(parts.scheme)
    if scheme is None or not parts.netloc:
        raise VectraError(f"--url {url!r} is not an http(s):// or ws(s):// address, e.g. http://127.0.0.1:8000")
    path = parts.path.rstrip("/")
    if not path.endswith("/socket.io"):
        path += "/socket.io"
    params = {"EIO": "4", "transport": "websocket", **(query if query is not None else DEFAULT_QUERY)}
    return urlunsplit((scheme, parts.netloc, path + "/", urlencode(params), ""))


def default_origin(url: str) -> str:
    """rugs.fun's own origin for its backend (its server checks it); the server's own origin otherwise."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if host == "rugs.fun" or host.endswith(".rugs.fun"):
        return RUGS_ORIGIN
    scheme = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
    return f"{scheme}://{parts.netloc}"


@dataclass
class DirectOptions:
    url: str | None = None  # http(s)://host:port of the Socket.IO server (a capture session fills in its simulator's)
    query: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_QUERY))
    origin: str | None = None  # None: default_origin(url)
    open_timeout_s: float = 10.0
    backoff: Backoff = field(default_factory=Backoff)
    give_up_after_s: float | None = 30.0  # a server never joined within this long ends the capture; None: retry forever

    def __post_init__(self) -> None:
        if self.url is not None:
            websocket_url(self.url, self.query)  # a bad address is one line now, not after the capture started
        if self.give_up_after_s is not None and self.give_up_after_s <= 0:
            raise VectraError("--give-up-after must be positive (--retry-forever never gives up)")


class _VerbatimConnection(ClientConnection):
    """Notes each incoming message's opcode (its first frame's), in order, so that ``recv(decode=False)`` still
    tells text from binary: a text message that is not UTF-8 is then landed as bytes, where websockets would
    fail the connection (close 1007) and the message would be lost."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.message_opcodes: deque[Opcode] = deque()

    def process_event(self, event) -> None:
        if isinstance(event, Frame) and (event.opcode is Opcode.TEXT or event.opcode is Opcode.BINARY):
            self.message_opcodes.append(event.opcode)
        super().process_event(event)


class DirectSource:
    """Runs until cancelled; cancelling lands a final ``disconnected`` (reason ``stopped``) row."""

    def __init__(self, recorder: Recorder, options: DirectOptions) -> None:
        if not options.url:
            raise VectraError("the direct source needs the server's address (--url http://host:port)")
        self.recorder = recorder
        self.options = options
        self.ws_url = websocket_url(options.url, options.query)
        self.origin = options.origin or default_origin(options.url)
        self._last_frame_mono_ns: int | None = None
        self._last_frame_seq: int | None = None
        self._gap_pending = False
        self._first_join: FirstJoin | None = None  # started by run()
        self.connections = 0

    async def run(self) -> None:
        backoff = self.options.backoff
        self._first_join = FirstJoin(self.options.give_up_after_s, time.monotonic())
        while True:
            session = EngineIOSession()
            left = self._first_join.remaining(time.monotonic())
            try:
                websocket = await connect(
                    self.ws_url,
                    origin=self.origin,
                    proxy=None,  # loopback and the game server are reached directly, never via $HTTPS_PROXY
                    ping_interval=None,  # Engine.IO has its own heartbeat (pings answered below)
                    max_size=MAX_FRAME_BYTES,
                    open_timeout=self.options.open_timeout_s if left is None else max(min(self.options.open_timeout_s, left), 0.1),
                    user_agent_header="vectra-capture",
                    create_connection=_VerbatimConnection,
                )
            except Exception as error:  # noqa: BLE001 - refused, timed out, rejected handshake: all mean retry
                self.recorder.connection("connect_failed", {"error": _describe(error)}, url=self.ws_url)
                await self._wait_before_retry(backoff, connect_failure(error, self.ws_url))
                continue
            self.connections += 1
            self._gap_pending = self._last_frame_mono_ns is not None
            try:
                reason, code, close_reason = await self._serve(websocket, session)
            except asyncio.CancelledError:
                self._disconnected(session, "stopped", None, None)
                await _close_quietly(websocket)
                raise
            self._disconnected(session, reason, code, close_reason)
            await _close_quietly(websocket)
            await self._wait_before_retry(backoff, f"{urlsplit(self.ws_url).netloc} accepted the WebSocket, then: {reason}")

    async def _serve(self, websocket, session: EngineIOSession) -> tuple[str, int | None, str | None]:
        """Receive until the connection ends; returns (reason, close code, close reason)."""
        session.opened(time.monotonic())
        while True:
            left = session.seconds_left(time.monotonic())
            try:
                async with asyncio.timeout(None if left is None else max(left, 0.0)):
                    message = await websocket.recv(decode=False)
            except TimeoutError:
                return "ping timeout: no ping from the server within pingInterval + pingTimeout", None, None
            except ConnectionClosed as closed:
                frame = closed.rcvd or closed.sent
                return "connection closed", getattr(frame, "code", None), getattr(frame, "reason", None) or None
            wall_ns, mono_ns = time.time_ns(), time.monotonic_ns()
            opcode = websocket.message_opcodes.popleft()
            if opcode is Opcode.TEXT:
                try:
                    message = message.decode()
                except UnicodeDecodeError:
                    pass  # not UTF-8: landed as the bytes it is, with the text opcode, and flagged
            packets = decode_message(message, opcode.value)
            step = session.receive(packets, mono_ns / 1e9)  # pure: decided now, acted on after landing the frame
            meta = FrameMeta(
                Direction.IN, Transport.WEBSOCKET, self.ws_url, session.sid, opcode.value, recv_wall_ns=wall_ns, recv_mono_ns=mono_ns
            )
            seq = self.recorder.frame(meta, message, packets=packets)
            self._after_frame(seq, mono_ns)
            for fact in step.facts:
                self.recorder.connection(fact.event, fact.detail, url=self.ws_url, socket_id=session.sid)
                if fact.event == "connected":
                    # only a joined namespace counts as success: a server that accepts and drops at once
                    # keeps the delays growing (and never stops the give-up clock)
                    self.options.backoff.reset()
                    self._first_join.joined()
            for reply in step.replies:
                try:
                    await websocket.send(reply)
                except ConnectionClosed as closed:
                    frame = closed.rcvd or closed.sent
                    return "connection closed while sending", getattr(frame, "code", None), getattr(frame, "reason", None) or None
                sent_mono = time.monotonic_ns()
                meta = FrameMeta(Direction.OUT, Transport.WEBSOCKET, self.ws_url, session.sid, 1, recv_mono_ns=sent_mono)
                seq = self.recorder.frame(meta, reply)
                self._after_frame(seq, sent_mono)
            if step.close_reason:
                return step.close_reason, None, None

    def _after_frame(self, seq: int, mono_ns: int) -> None:
        if self._gap_pending:
            self._gap_pending = False
            gap_s = (mono_ns - self._last_frame_mono_ns) / 1e9
            self.recorder.connection(
                "gap",
                {"gap_s": round(gap_s, 6), "last_seq_before": self._last_frame_seq, "first_seq_after": seq},
                url=self.ws_url,
            )
        self._last_frame_mono_ns = mono_ns
        self._last_frame_seq = seq

    def _disconnected(self, session: EngineIOSession, reason: str, code: int | None, close_reason: str | None) -> None:
        detail = {"reason": reason, "close_code": code, "close_reason": close_reason, "sid": session.sid}
        self.recorder.connection("disconnected", detail, url=self.ws_url, socket_id=session.sid)

    async def _wait_before_retry(self, backoff: Backoff, failure: str) -> None:
        """Sleep the backoff delay, or give up (``gave_up`` row, then :class:`VectraError`) once a server never
        joined has had its whole window."""
        left = self._first_join.remaining(time.monotonic())
        if left is not None and left <= 0:
            window = self._first_join.window_s
            self.recorder.connection(
                "gave_up", {"reason": failure, "window_s": window, "attempts": backoff.attempt + 1}, url=self.ws_url
            )
            raise VectraError(
                f"no connection within {window:g} s ({backoff.attempt + 1} attempts): {failure} "
                "(--give-up-after SECONDS waits longer, --retry-forever never gives up)"
            )
        delay = backoff.next_delay() if left is None else min(backoff.next_delay(), left)
        self.recorder.connection(
            "reconnecting", {"attempt": backoff.attempt, "delay_s": round(delay, 3)}, url=self.ws_url
        )
        await asyncio.sleep(delay)


def connect_failure(error: BaseException, ws_url: str) -> str:
    """Why a connection attempt failed, as one plain sentence (``connection refused by 127.0.0.1:1``)."""
    where = urlsplit(ws_url).netloc
    if isinstance(error, ConnectionRefusedError):
        return f"connection refused by {where}"
    if isinstance(error, TimeoutError):
        return f"no answer from {where} (connection or handshake timed out)"
    if isinstance(error, socket.gaierror):
        return f"cannot resolve the host of {where} ({error.strerror or error})"
    if isinstance(error, InvalidStatus):
        return f"{where} refused the WebSocket handshake with HTTP {error.response.status_code}"
    if isinstance(error, OSError) and error.strerror:
        return f"cannot reach {where}: {error.strerror}"
    return f"cannot connect to {where}: {_describe(error)}"


def _describe(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    return f"{type(error).__name__}: {text}" if text != type(error).__name__ else text


async def _close_quietly(websocket) -> None:
    try:
        await asyncio.wait_for(websocket.close(), timeout=2.0)
    except Exception:  # noqa: BLE001 - the connection is being abandoned either way
        websocket.transport.abort()
