"""The engine as one unauthenticated observer receives it over a WebSocket: frame text with its time, endlessly and
as fast as the CPU allows (no sleeping). The capture agent's synthetic landing data and benchmarks come from here."""

from __future__ import annotations

from collections.abc import Iterator

from capture_agent.protocol.engineio import PING, encode_open
from capture_agent.protocol.socketio import encode_connect
from simulator.engine.lifecycle import SimulatorEngine
from simulator.engine.wire import WireEncoder

OBSERVER_ID = "observer"
PING_INTERVAL_MS = 25000
_OPEN_SID = "VectraSimObserver01"


def observer_frames(engine: SimulatorEngine, client_id: str, start_ms: int) -> Iterator[tuple[int, str]]:
    """What one unauthenticated client receives over a WebSocket, endlessly: Engine.IO OPEN, the Socket.IO
    CONNECT, its snapshot, then every broadcast (and a ping every 25 s)."""
    yield start_ms, encode_open(
        {"sid": _OPEN_SID, "upgrades": [], "pingInterval": PING_INTERVAL_MS, "pingTimeout": 20000, "maxPayload": 1000000}
    )
    yield start_ms, encode_connect({"sid": f"{_OPEN_SID}-socket"})
    next_ping = start_ms + PING_INTERVAL_MS
    encoder = WireEncoder()
    emissions = engine.connect(client_id, start_ms)
    while True:
        for emission in emissions:
            while next_ping <= emission.at_ms:
                yield next_ping, PING
                next_ping += PING_INTERVAL_MS
            if emission.target is None or emission.target == client_id:
                yield emission.at_ms, encoder.encode(emission.event, emission.args)
        emissions = engine.advance(engine.next_at)


def wire_frames(seed: str, start_ms: int, bots: int = 8) -> Iterator[tuple[int, str]]:
    """An endless, deterministic stream of ``(time_ms, text frame)`` exactly as one unauthenticated observing
    client receives them over a WebSocket from a speed-1 server started at ``start_ms``."""
    engine = SimulatorEngine(seed, start_ms, bots=bots)
    return observer_frames(engine, OBSERVER_ID, start_ms)
