"""The one path from a source to the landing zone and the live views.

Every source hands each frame, lifecycle fact and click to :class:`Recorder`, in the order it happened. The
recorder redacts it, lands it (the writer assigns the gapless seq), then tells the observers (live status, live
feed) exactly what was landed: the redacted payload, decoded, and the redacted detail — so nothing an observer
shows, publishes or logs can hold a secret the landing zone does not. An observer that fails is counted and
reported, never allowed to stop or slow the capture.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from capture_agent.landing.rows import header_of
from capture_agent.landing.schema import Direction, FrameMeta, RecordType, Transport
from capture_agent.protocol.engineio import Packet
from capture_agent.protocol.socketio import Attachments, decode_frame, decode_text_bytes
from capture_agent.redact import redact_detail, redact_payload

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Captured:
    """What the observers see of one landed row (frames come decoded, once, for all of them)."""

    seq: int
    record_type: RecordType
    recv_wall_ns: int
    recv_mono_ns: int
    direction: Direction | None = None
    transport: Transport | None = None
    socket_id: str | None = None
    packets: tuple[Packet, ...] = ()
    event: str | None = None  # connection event (connected, disconnected, …)
    detail: dict[str, Any] = field(default_factory=dict)


class Observer(Protocol):
    def observe(self, captured: Captured) -> None: ...


class FrameFlags:
    """What is wrong with a frame, for its row's ``detail`` (None when nothing is): the codec's errors, binary
    messages that no ``45``/``46`` packet announced (:class:`~capture_agent.protocol.socketio.Attachments`) among them."""

    def __init__(self) -> None:
        self._attachments = Attachments()

    def check(self, stream: object, packets: tuple[Packet, ...]) -> dict[str, Any] | None:
        packets = self._attachments.check(stream, packets)
        errors = [packet.error for packet in packets if packet.error is not None]
        flags: dict[str, Any] = {}
        binary = [len(packet.payload) for packet in packets if isinstance(packet.payload, bytes)]
        if binary:
            flags["binary_bytes"] = binary[-1]
        if errors:
            flags["codec_error"] = errors[0] if len(errors) == 1 else errors
        return flags or None


TEXT_OPCODE = 1


def decode_message(payload: str | bytes, opcode: int | None) -> list[Packet]:
    """The packets of one message. Bytes that came as a *text* message are text that is not UTF-8: one error
    packet, where :func:`decode_frame` would take them for a binary attachment."""
    if opcode == TEXT_OPCODE and not isinstance(payload, str):
        return decode_text_bytes(bytes(payload))
    return decode_frame(payload)


class Recorder:
    def __init__(self, writer: Any, observers: list[Observer] | None = None) -> None:
        self.writer = writer
        self.observers: list[Observer] = list(observers or [])
        self.observer_errors = 0
        self.flagged = 0  # frames landed with a codec flag (malformed, unexpected binary)
        self._flags = FrameFlags()

    def frame(self, meta: FrameMeta, payload: str | bytes, *, packets: Sequence[Packet] | None = None) -> int:
        """Land one frame; ``packets``, the source's own decoding of ``payload``, saves decoding it again
        when redaction leaves the payload as it is."""
        wall = time.time_ns() if meta.recv_wall_ns is None else meta.recv_wall_ns
        mono = time.monotonic_ns() if meta.recv_mono_ns is None else meta.recv_mono_ns
        landed = redact_payload(payload)  # the writer redacts too: the same object again costs it nothing
        decoded = tuple(packets if packets is not None and landed is payload else decode_message(landed, meta.opcode))
        flags = self._flags.check((meta.socket_id, meta.direction), decoded)
        seq = self.writer.frame(
            meta.direction,
            meta.transport,
            landed,
            url=meta.url,
            socket_id=meta.socket_id,
            opcode=meta.opcode,
            browser_ts=meta.browser_ts,
            recv_wall_ns=wall,
            recv_mono_ns=mono,
            detail=flags,
            header=header_of(decoded) if isinstance(landed, str) else None,  # decoded once, above
        )
        if flags:
            self.flagged += 1
        captured = Captured(seq, RecordType.FRAME, wall, mono, meta.direction, meta.transport, meta.socket_id, decoded, detail=flags or {})
        self._tell(captured)
        return seq

    def connection(
        self,
        event: str,
        detail: dict[str, Any] | None = None,
        *,
        url: str | None = None,
        socket_id: str | None = None,
    ) -> int:
        wall, mono = time.time_ns(), time.monotonic_ns()
        detail = redact_detail(detail)
        seq = self.writer.connection(event, detail=detail, url=url, socket_id=socket_id, recv_wall_ns=wall, recv_mono_ns=mono)
        self._tell(Captured(seq, RecordType.CONNECTION, wall, mono, socket_id=socket_id, event=event, detail=detail))
        return seq

    def click(self, detail: dict[str, Any], *, browser_ts: float | None = None) -> int:
        wall, mono = time.time_ns(), time.monotonic_ns()
        detail = redact_detail(detail)
        seq = self.writer.click(detail, browser_ts=browser_ts, recv_wall_ns=wall, recv_mono_ns=mono)
        self._tell(Captured(seq, RecordType.CLICK, wall, mono, event="click", detail=detail))
        return seq

    def _tell(self, captured: Captured) -> None:
        for observer in self.observers:
            try:
                observer.observe(captured)
            except Exception:  # noqa: BLE001 - a live view must never stop the capture
                self.observer_errors += 1
                if self.observer_errors <= 3:
                    log.exception("live view %s failed on seq %d (capture continues)", type(observer).__name__, captured.seq)
