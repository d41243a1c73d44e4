"""Direct source: a raw ``websockets`` client speaking Engine.IO v4 to a Socket.IO server.

Every frame in both directions is landed verbatim with its receive (or send) time — the server's frames,
and the agent's own ``40`` and pongs. Lost connections are retried with bounded exponential backoff and
jitter; each loss lands as rows: ``disconnected`` (reason, close code), ``reconnecting`` (attempt, delay),
``connected`` (sid) and ``gap`` (time between the last frame before and the first frame after).
The protocol decisions live in :mod:`capture_agent.sources.session`; this module is only the socket loop.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from urllib.parse import urlencode, urlsplit, urlunsplit

from capture_agent.errors import VectraError
from capture_agent.landing.schema import Direction, Transport
from capture_agent.protocol.codec import decode_frame
from capture_agent.sources.recorder import Recorder
from capture_agent.sources.session import Backoff, EngineIOSession

DEFAULT_QUERY = {"frontend-version": "1.0"}  # rugs.fun refuses clients without it (PROTOCOL.md §1)
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
    url: str  # http(s)://host:port of the Socket.IO server
    query: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_QUERY))
    origin: str | None = None  # None: default_origin(url)
    open_timeout_s: float = 10.0
    backoff: Backoff = field(default_factory=Backoff)


class DirectSource:
    """Runs until cancelled; cancelling lands a final ``disconnected`` (reason ``stopped``) row."""

    def __init__(self, recorder: Recorder, options: DirectOptions) -> None:
        self.recorder = recorder
        self.options = options
        self.ws_url = websocket_url(options.url, options.query)
        self.origin = options.origin or default_origin(options.url)
        self._last_frame_mono_ns: int | None = None
        self._last_frame_seq: int | None = None
        self._gap_pending = False
        self.connections = 0

    async def run(self) -> None:
        from websockets.asyncio.client import connect

        backoff = self.options.backoff
        while True:
            session = EngineIOSession()
            try:
                websocket = await connect(
                    self.ws_url,
                    origin=self.origin,
                    proxy=None,  # loopback and the game server are reached directly, never via $HTTPS_PROXY
                    ping_interval=None,  # Engine.IO has its own heartbeat (pings answered below)
                    max_size=MAX_FRAME_BYTES,
                    open_timeout=self.options.open_timeout_s,
                    user_agent_header="vectra-capture",
                )
            except Exception as error:  # noqa: BLE001 - refused, timed out, rejected handshake: all mean retry
                self.recorder.connection("connect_failed", {"error": _describe(error)}, url=self.ws_url)
                await self._wait_before_retry(backoff)
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
            await self._wait_before_retry(backoff)

    async def _serve(self, websocket, session: EngineIOSession) -> tuple[str, int | None, str | None]:
        """Receive until the connection ends; returns (reason, close code, close reason)."""
        from websockets.exceptions import ConnectionClosed

        session.opened(time.monotonic())
        while True:
            left = session.seconds_left(time.monotonic())
            try:
                async with asyncio.timeout(None if left is None else max(left, 0.0)):
                    message = await websocket.recv()
            except TimeoutError:
                return "ping timeout: no ping from the server within pingInterval + pingTimeout", None, None
            except ConnectionClosed as closed:
                frame = closed.rcvd or closed.sent
                return "connection closed", getattr(frame, "code", None), getattr(frame, "reason", None) or None
            wall_ns, mono_ns = time.time_ns(), time.monotonic_ns()
            packets = decode_frame(message)
            step = session.receive(packets, mono_ns / 1e9)  # pure: decided now, acted on after landing the frame
            seq = self.recorder.frame(
                Direction.IN,
                Transport.WEBSOCKET,
                message,
                url=self.ws_url,
                socket_id=session.sid,
                opcode=2 if isinstance(message, bytes) else 1,
                recv_wall_ns=wall_ns,
                recv_mono_ns=mono_ns,
                packets=packets,
            )
            self._after_frame(seq, mono_ns)
            for fact in step.facts:
                self.recorder.connection(fact.event, fact.detail, url=self.ws_url, socket_id=session.sid)
                if fact.event == "connected":
                    # only a joined namespace counts as success: a server that accepts and drops at once
                    # keeps the delays growing
                    self.options.backoff.reset()
            for reply in step.replies:
                try:
                    await websocket.send(reply)
                except ConnectionClosed as closed:
                    frame = closed.rcvd or closed.sent
                    return "connection closed while sending", getattr(frame, "code", None), getattr(frame, "reason", None) or None
                sent_mono = time.monotonic_ns()
                seq = self.recorder.frame(
                    Direction.OUT,
                    Transport.WEBSOCKET,
                    reply,
                    url=self.ws_url,
                    socket_id=session.sid,
                    opcode=1,
                    recv_mono_ns=sent_mono,
                )
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

    async def _wait_before_retry(self, backoff: Backoff) -> None:
        delay = backoff.next_delay()
        self.recorder.connection(
            "reconnecting", {"attempt": backoff.attempt, "delay_s": round(delay, 3)}, url=self.ws_url
        )
        await asyncio.sleep(delay)


def _describe(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    return f"{type(error).__name__}: {text}" if text != type(error).__name__ else text


async def _close_quietly(websocket) -> None:
    try:
        await asyncio.wait_for(websocket.close(), timeout=2.0)
    except Exception:  # noqa: BLE001 - the connection is being abandoned either way
        websocket.transport.abort()
