"""The landing row: the contract between the capture agent (writer) and the pipeline (reader).

Layout on disk: ``<data>/landing/date=YYYY-MM-DD/<capture_id>-<segment:06d>.parquet`` (UTC date of the
segment's first row). Files are zstd Parquet, published atomically and never modified. The date lives in
the folder name only (no ``date`` column inside files: DuckDB's hive partitioning would silently override it).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import pyarrow as pa

LANDING_DIR = "landing"
SEGMENT_GLOB = "date=*/*.parquet"
SCHEMA_VERSION = 1


class RecordType(StrEnum):
    FRAME = "frame"  # a WebSocket message or an Engine.IO polling body, verbatim
    CONNECTION = "connection"  # lifecycle: connected, disconnected, reconnecting, gap, …
    CLICK = "click"  # a click on a trade control of the page, recorded by the injected listener


class Direction(StrEnum):
    IN = "in"  # server → client
    OUT = "out"  # client → server


class Transport(StrEnum):
    WEBSOCKET = "websocket"
    POLLING = "polling"


class Source(StrEnum):
    BROWSER = "browser"
    DIRECT = "direct"
    SIMULATOR = "simulator"
    IMPORT = "import"
    SYNTHETIC = "synthetic"


@dataclass(frozen=True, slots=True)
class FrameMeta:
    """What a source knows about one frame besides its payload: the columns of its landing row that it fills.

    Sources hand it to the :class:`~capture_agent.sources.recorder.Recorder`; the writer's own call stays flat
    (:meth:`~capture_agent.landing.writer.LandingWriter.frame`), so bulk landing (``synth``, ``import``) builds no
    object per frame."""

    direction: Direction
    transport: Transport
    url: str | None = None
    socket_id: str | None = None  # Engine.IO sid, or the CDP request id of a socket whose sid is unknown
    opcode: int | None = None  # WebSocket opcode (1 text, 2 binary); None: from the payload's type, or a polling body
    browser_ts: float | None = None  # the source's own clock (CDP, the page), epoch seconds
    recv_wall_ns: int | None = None  # receipt time; None: stamped when the frame is landed
    recv_mono_ns: int | None = None


LANDING_SCHEMA = pa.schema(
    [
        pa.field("capture_id", pa.string(), nullable=False),  # one run of the agent (or one import)
        pa.field("seq", pa.int64(), nullable=False),  # gapless from 0 within a capture
        pa.field("record_type", pa.string(), nullable=False),  # RecordType
        pa.field("source", pa.string(), nullable=False),  # Source
        pa.field("recv_wall_ns", pa.timestamp("ns", tz="UTC"), nullable=False),  # receipt (or import) time
        pa.field("recv_mono_ns", pa.int64(), nullable=False),  # time.monotonic_ns() at receipt
        pa.field("browser_ts", pa.float64()),  # source's own timestamp in seconds (CDP), when it has one
        pa.field("direction", pa.string()),  # Direction; null for connection rows
        pa.field("transport", pa.string()),  # Transport
        pa.field("socket_id", pa.string()),  # Engine.IO sid or CDP request id
        pa.field("url", pa.string()),
        pa.field("opcode", pa.int8()),  # WebSocket opcode: 1 text, 2 binary; null for polling bodies
        pa.field("payload_text", pa.string()),  # the frame verbatim when it is text
        pa.field("payload_bytes", pa.binary()),  # the frame verbatim when it is binary
        pa.field("event", pa.string()),  # convenience: Socket.IO event name of the first packet (codec)
        pa.field("ack_id", pa.int64()),  # convenience: Socket.IO ack id of the first packet (codec)
        pa.field("detail", pa.string()),  # JSON: lifecycle reason, click target, import provenance, …
    ],
    metadata={"vectra.landing.schema_version": str(SCHEMA_VERSION)},
)


def flagged(detail: dict | None, flag: str, **values) -> dict:
    """``detail`` plus ``flag`` in its ``flags`` list, and the values a typed column could not hold (an ack id
    past int64 is ``ack_id_out_of_range`` with its digits in ``detail.ack_id``: the payload keeps it anyway)."""
    detail = dict(detail or {})
    detail["flags"] = [*detail.get("flags", ()), flag]
    detail.update(values)
    return detail
