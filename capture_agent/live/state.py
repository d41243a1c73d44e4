"""What the live status shows, tracked from captured rows alone (pure: fed rows, asked for a snapshot)."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

from capture_agent.landing.schema import Direction, RecordType
from capture_agent.protocol.game import phase
from capture_agent.protocol.rules import GAME_STATE_UPDATE, PLAYER_UPDATE
from capture_agent.sources.recorder import Captured

_NS = 1_000_000_000


class RateCounter:
    """Events per second over the last ``window_s`` whole seconds (per-second buckets, O(1) per event)."""

    def __init__(self, window_s: int = 5) -> None:
        self.window_s = window_s
        self._buckets: deque[list[int]] = deque(maxlen=window_s + 1)  # [second, count]

    def add(self, mono_ns: int, count: int = 1) -> None:
        second = mono_ns // _NS
        if self._buckets and self._buckets[-1][0] == second:
            self._buckets[-1][1] += count
        else:
            self._buckets.append([second, count])

    def rate(self, now_mono_ns: int) -> float:
        """Average over the completed seconds of the window (the current second is still filling)."""
        now_second = now_mono_ns // _NS
        first = now_second - self.window_s
        total = sum(count for second, count in self._buckets if first <= second < now_second)
        return total / self.window_s


@dataclass(frozen=True, slots=True)
class Snapshot:
    source: str
    connected: bool
    connection_note: str  # last lifecycle event, e.g. "reconnecting (attempt 3, 4.0 s)"
    frames_in: int
    frames_out: int
    clicks: int
    rate_in: float
    rate_out: float
    last_seq: int | None
    game_id: str | None
    phase: str | None
    tick: int | None
    cooldown_ms: int | None
    price: float | None
    cash: float | None
    malformed: int


class LiveState:
    """Connection, rates and the game as the captured frames show it. No value is made up: a field the
    frames have not carried yet (price during cooldown, cash on an unauthenticated socket) stays None."""

    def __init__(self, source: str, window_s: int = 5) -> None:
        self.source = source
        self.connected = False
        self.connection_note = "starting"
        self.frames_in = 0
        self.frames_out = 0
        self.clicks = 0
        self.malformed = 0
        self.last_seq: int | None = None
        self.game_id: str | None = None
        self.phase: str | None = None
        self.tick: int | None = None
        self.cooldown_ms: int | None = None
        self.price: float | None = None
        self.cash: float | None = None
        self._rate_in = RateCounter(window_s)
        self._rate_out = RateCounter(window_s)

    def observe(self, captured: Captured) -> None:
        self.last_seq = captured.seq
        if captured.record_type is RecordType.FRAME:
            self._frame(captured)
        elif captured.record_type is RecordType.CONNECTION:
            self._connection(captured.event or "", captured.detail)
        elif captured.record_type is RecordType.CLICK:
            self.clicks += 1

    def _frame(self, captured: Captured) -> None:
        if captured.direction is Direction.OUT:
            self.frames_out += 1
            self._rate_out.add(captured.recv_mono_ns)
            return
        self.frames_in += 1
        self._rate_in.add(captured.recv_mono_ns)
        for packet in captured.packets:
            if packet.error is not None:
                self.malformed += 1
            elif packet.event == GAME_STATE_UPDATE and isinstance(packet.payload, dict):
                self._game_state(packet.payload)
            elif packet.event == PLAYER_UPDATE and isinstance(packet.payload, dict):
                cash = packet.payload.get("cash")
                if isinstance(cash, (int, float)) and not isinstance(cash, bool):
                    self.cash = float(cash)

    def _game_state(self, state: dict[str, Any]) -> None:
        game_id = state.get("gameId")
        if isinstance(game_id, str) and game_id != self.game_id:
            self.game_id = game_id
            self.tick = self.price = None  # a new game: the old game's tick and price no longer apply
        self.phase = str(phase(state))
        if isinstance(state.get("tickCount"), int):
            self.tick = state["tickCount"]
        price = state.get("price")
        if isinstance(price, (int, float)) and not isinstance(price, bool):
            self.price = float(price)
        timer = state.get("cooldownTimer")
        self.cooldown_ms = timer if isinstance(timer, int) and timer > 0 else None

    def _connection(self, event: str, detail: dict[str, Any]) -> None:
        if event == "connected":
            self.connected = True
            self.connection_note = f"connected (sid {detail.get('sid')})"
        elif event == "disconnected":
            self.connected = False
            self.connection_note = f"disconnected: {detail.get('reason')}"
        elif event == "reconnecting":
            self.connected = False
            why = self.connection_note if self.connection_note.startswith(("connect failed", "disconnected")) else ""
            self.connection_note = f"reconnecting (attempt {detail.get('attempt')}, in {detail.get('delay_s')} s)"
            if why:  # keep saying why: the retry alone does not tell a wrong URL from a server restart
                self.connection_note += f" after {why}"
        elif event == "connect_failed":
            self.connected = False
            self.connection_note = f"connect failed: {detail.get('error')}"
        elif event in ("socket_opened", "open"):
            self.connection_note = event.replace("_", " ")
        elif event == "socket_closed":
            self.connected = False
            self.connection_note = "socket closed"

    def snapshot(self, now_mono_ns: int) -> Snapshot:
        return Snapshot(
            source=self.source,
            connected=self.connected,
            connection_note=self.connection_note,
            frames_in=self.frames_in,
            frames_out=self.frames_out,
            clicks=self.clicks,
            rate_in=self._rate_in.rate(now_mono_ns),
            rate_out=self._rate_out.rate(now_mono_ns),
            last_seq=self.last_seq,
            game_id=self.game_id,
            phase=self.phase,
            tick=self.tick,
            cooldown_ms=self.cooldown_ms,
            price=self.price,
            cash=self.cash,
            malformed=self.malformed,
        )
