"""Client side of one Engine.IO v4 WebSocket connection, sans I/O: what to answer and what happened.

The direct source feeds every received frame (already decoded by the codec) to :class:`EngineIOSession`
and gets back the frames to send and the lifecycle facts to record. :class:`Backoff` decides how long to wait
before the next connection attempt, :class:`FirstJoin` when to stop trying a server never joined. None of them
touches a socket or a clock: the caller passes the time in.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from capture_agent.protocol.engineio import PONG, EngineType, Packet
from capture_agent.protocol.socketio import SocketType, encode_connect


@dataclass(frozen=True, slots=True)
class Lifecycle:
    """A connection fact to land as a ``connection`` row: ``event`` plus its JSON-able ``detail``."""

    event: str
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Step:
    """The session's answer to one received frame."""

    replies: list[str] = field(default_factory=list)  # frames to send now, in this order
    facts: list[Lifecycle] = field(default_factory=list)  # rows to land after the received frame
    close_reason: str | None = None  # the connection is over (server said so); close it and reconnect


class EngineIOSession:
    """One Engine.IO v4 connection over a WebSocket (``transport=websocket``, no polling, no upgrade).

    The server opens with ``0{sid, pingInterval, pingTimeout, …}``; the client joins the default namespace
    with ``40`` and answers each server ping ``2`` with a pong ``3``. If no ping arrives within
    ``pingInterval + pingTimeout`` the server is gone (Engine.IO's own liveness rule).
    """

    def __init__(self, namespace: str = "/") -> None:
        self.namespace = namespace
        self.sid: str | None = None  # Engine.IO session id, from the open packet
        self.socket_sid: str | None = None  # Socket.IO session id, from the namespace connect ack
        self.connected = False  # namespace joined
        self.ping_interval_s: float | None = None
        self.ping_timeout_s: float | None = None
        self._last_heartbeat_s: float | None = None

    def opened(self, now_s: float) -> None:
        """The WebSocket is up; the liveness clock starts now (the open packet must come first)."""
        self._last_heartbeat_s = now_s

    def receive(self, packets: list[Packet], now_s: float) -> Step:
        step = Step()
        for packet in packets:
            self._receive_packet(packet, now_s, step)
        return step

    def _receive_packet(self, packet: Packet, now_s: float, step: Step) -> None:
        kind = packet.engine_type
        if kind is EngineType.OPEN and isinstance(packet.payload, dict):
            handshake = packet.payload
            self.sid = handshake.get("sid") if isinstance(handshake.get("sid"), str) else None
            self.ping_interval_s = _ms_to_s(handshake.get("pingInterval"))
            self.ping_timeout_s = _ms_to_s(handshake.get("pingTimeout"))
            self._last_heartbeat_s = now_s
            step.replies.append(encode_connect(namespace=self.namespace))
            step.facts.append(
                Lifecycle(
                    "open",
                    {
                        "sid": self.sid,
                        "ping_interval_ms": handshake.get("pingInterval"),
                        "ping_timeout_ms": handshake.get("pingTimeout"),
                        "max_payload": handshake.get("maxPayload"),
                        "upgrades": handshake.get("upgrades"),
                    },
                )
            )
        elif kind is EngineType.PING:
            self._last_heartbeat_s = now_s
            # "2probe" only happens during a polling→websocket upgrade, which this client never starts.
            step.replies.append(PONG if packet.payload is None else PONG + str(packet.payload))
        elif kind is EngineType.CLOSE:
            self.connected = False
            step.close_reason = "server sent an Engine.IO close packet"
        elif kind is EngineType.MESSAGE and packet.namespace == self.namespace:
            self._receive_socket_packet(packet, step)

    def _receive_socket_packet(self, packet: Packet, step: Step) -> None:
        kind = packet.socket_type
        if kind is SocketType.CONNECT and packet.error is None:
            self.connected = True
            payload = packet.payload if isinstance(packet.payload, dict) else {}
            self.socket_sid = payload.get("sid") if isinstance(payload.get("sid"), str) else None
            step.facts.append(Lifecycle("connected", {"sid": self.sid, "socket_sid": self.socket_sid}))
        elif kind is SocketType.CONNECT_ERROR:
            step.facts.append(Lifecycle("connect_error", {"sid": self.sid, "error": packet.payload}))
            step.close_reason = "server refused the namespace connect"
        elif kind is SocketType.DISCONNECT:
            self.connected = False
            step.close_reason = "server disconnected the namespace"

    def seconds_left(self, now_s: float) -> float | None:
        """Time until the server counts as gone without a ping; None before the handshake says the rule."""
        if self._last_heartbeat_s is None:
            return None
        if self.ping_interval_s is None or self.ping_timeout_s is None:
            return None
        return self._last_heartbeat_s + self.ping_interval_s + self.ping_timeout_s - now_s


def _ms_to_s(value: Any) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        return value / 1000.0
    return None


class FirstJoin:
    """How long a capture keeps trying a server it has never joined: ``window_s`` from the start (None: forever).

    A capture that never connects must fail loudly (an unreachable or wrong ``--url`` is a mistake to report);
    one that joined once rides out any outage, retrying without end.
    """

    def __init__(self, window_s: float | None, started_s: float) -> None:
        if window_s is not None and window_s <= 0:
            raise ValueError("the give-up window must be positive (or None: never give up)")
        self.window_s = window_s
        self._deadline_s = None if window_s is None else started_s + window_s

    def joined(self) -> None:
        self._deadline_s = None

    def remaining(self, now_s: float) -> float | None:
        """Seconds left before giving up (≤ 0: give up now); None once joined, or without a window."""
        return None if self._deadline_s is None else self._deadline_s - now_s


class Backoff:
    """Exponential reconnect delays with full jitter, bounded: ``min(maximum, initial·factor^n)·U(1−j, 1]``.

    Jitter keeps many agents (or tabs) from reconnecting in lockstep after a server restart; the bound
    keeps a long outage from stretching the wait past ``maximum``.
    """

    def __init__(
        self,
        initial_s: float = 0.5,
        maximum_s: float = 30.0,
        factor: float = 2.0,
        jitter: float = 0.5,
        rng: random.Random | None = None,
    ) -> None:
        if initial_s <= 0 or maximum_s < initial_s or factor < 1 or not 0 <= jitter <= 1:
            raise ValueError("backoff needs 0 < initial ≤ maximum, factor ≥ 1 and 0 ≤ jitter ≤ 1")
        self.initial_s = initial_s
        self.maximum_s = maximum_s
        self.factor = factor
        self.jitter = jitter
        self._rng = rng or random.Random()
        self.attempt = 0  # attempts since the last successful connection

    def next_delay(self) -> float:
        ceiling = min(self.maximum_s, self.initial_s * self.factor**self.attempt)
        self.attempt += 1
        return ceiling * (1.0 - self.jitter * self._rng.random())

    def reset(self) -> None:
        self.attempt = 0
