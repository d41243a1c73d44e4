"""Helpers for the capture tests: run a capture session in-process into a landing dir and read the rows back."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
from waits import wait_for  # noqa: F401 - the capture tests take it from here with the other helpers

from capture_agent.landing.rows import ROW_FIELDS
from capture_agent.landing.segments import read_landing
from capture_agent.landing.wal import WAL_DIR, WAL_SUFFIX, WalReader
from capture_agent.protocol.engineio import RECORD_SEPARATOR
from capture_agent.session import CaptureOptions, CaptureSession

REPO = Path(__file__).resolve().parents[2]


def landed_rows(data_dir: Path) -> list[dict]:
    """Every landed row, ordered by capture then seq, with ``detail`` parsed."""
    table = read_landing(data_dir)
    index = table.schema.get_field_index("recv_wall_ns")
    table = table.set_column(index, "recv_wall_ns", table["recv_wall_ns"].cast(pa.int64()))  # ns, as ints
    rows = table.to_pylist()
    rows.sort(key=lambda r: (r["capture_id"], r["seq"]))
    for row in rows:
        row["detail"] = json.loads(row["detail"]) if row["detail"] else None
    return rows


def frames_of(rows: list[dict], direction: str, socket_id: str | None = None) -> list[str | bytes]:
    return [
        row["payload_text"] if row["payload_text"] is not None else row["payload_bytes"]
        for row in rows
        if row["record_type"] == "frame" and row["direction"] == direction and (socket_id is None or row["socket_id"] == socket_id)
    ]


def landed_sids(rows: list[dict]) -> list[str]:
    """The socket ids of the landed frames, in order of first appearance."""
    seen = []
    for row in rows:
        if row["record_type"] == "frame" and row["socket_id"] and row["socket_id"] not in seen:
            seen.append(row["socket_id"])
    return seen


def wal_rows(data_dir: Path) -> dict[str, list[dict]]:
    """capture id → the intact rows its live WAL files hold on disk now (what a kill -9 would leave to recovery);
    a WAL published and removed while being read is skipped: its rows are in a published segment by then."""
    captures: dict[str, list[dict]] = {}
    for path in sorted((data_dir / "landing" / WAL_DIR).glob(f"*{WAL_SUFFIX}")):
        reader = WalReader(path)
        try:
            rows = [dict(zip(ROW_FIELDS, row)) for row in reader.rows()]
        except FileNotFoundError:
            continue
        if reader.header is not None:
            captures.setdefault(reader.header.capture_id, []).extend(rows)
    return captures


def wire_records(path: Path) -> list[dict]:
    """The simulator's wire log, complete lines only (the server may be writing the last one)."""
    with path.open(encoding="utf-8") as handle:
        lines = handle.read().split("\n")[:-1]
    return [json.loads(line) for line in lines if line.strip()]


def wire_frames(records: list[dict], sid: str, direction: str) -> list[tuple[int, str]]:
    """(server time ns, frame) the server sent ("out") to / received ("in") from one client."""
    return [(r["t_ns"], r["frame"]) for r in records if r["sid"] == sid and r["direction"] == direction]


class Seen:
    """Observer: every row the capture has landed so far, as its observers see it (frames decoded)."""

    def __init__(self) -> None:
        self.rows: list = []

    def observe(self, captured) -> None:
        self.rows.append(captured)

    def packets(self, direction: str | None = None) -> list:
        """(row, packet) of every landed frame's packets, in landing order; one direction when given."""
        return [(row, packet) for row in self.rows for packet in row.packets if direction is None or row.direction == direction]


# Exchanged by engine.io outside its packet queue during the upgrade, so absent from the server's wire log.
UPGRADE_PROBES = {"2probe", "3probe", "5"}
IN_FLIGHT_NS = 1_000_000_000  # sent just before the stop, still on its way on loaded shared cores: not lost


def packets(rows, sid, direction):
    """Engine.IO packets landed for one sid, polling bodies split, in landing order."""
    out = []
    for row in rows:
        if row["record_type"] == "frame" and row["socket_id"] == sid and row["direction"] == direction:
            text = row["payload_text"]
            parts = text.split(RECORD_SEPARATOR) if row["transport"] == "polling" else [text]
            out.extend((row["transport"], part) for part in parts)
    return out


def assert_same_packets(landed: list[tuple[str, str]], sent: list[tuple[int, str]], stop_ns: int) -> None:
    """Every packet the server sent is landed exactly once, in order; the only extras are the upgrade's
    probes and a polling ``6`` that ended a poll during the upgrade (engine.io answers both outside its
    logged queue); what is missing was sent after the capture stopped."""
    reachable = {0}  # how many sent packets the landed ones so far can account for
    for transport, text in landed:
        skippable = text in UPGRADE_PROBES or (transport == "polling" and text == "6")
        step = {j + 1 for j in reachable if j < len(sent) and sent[j][1] == text}
        step |= reachable if skippable else set()
        if not step:
            expected = [sent[j][1][:80] for j in sorted(reachable) if j < len(sent)]
            raise AssertionError(f"landed {text[:80]!r} ({transport}) where the server sent {expected}")
        reachable = step
    matched = max(reachable)
    early = [(round((stop_ns - t) / 1e6, 1), text[:60]) for t, text in sent[matched:] if t < stop_ns - IN_FLIGHT_NS]
    assert not early, f"frames sent before the stop are missing (ms before stop, frame): {early}"
    assert matched > 50


WEBSOCKET_FIRST = 'transports: ["websocket", "polling"]'
POLLING_FIRST = 'transports: ["polling", "websocket"]'


async def polling_first(route):
    """A Playwright route serving the play page's script with polling as the first transport (socket.io-client's
    default), so the handshake travels in polling bodies before the upgrade."""
    response = await route.fetch()
    script = await response.text()
    assert script.count(WEBSOCKET_FIRST) == 1, "the play page's transports line changed: update this test"
    await route.fulfill(response=response, body=script.replace(WEBSOCKET_FIRST, POLLING_FIRST))


def capture_session(data_dir: Path, source, *, observers=()) -> CaptureSession:
    """A capture session as the tests run it: quick fsyncs, no status view, no signal handlers."""
    return CaptureSession(CaptureOptions(data_dir, source, fsync_interval_s=0.05), observers=list(observers))


class RunningCapture:
    """A capture session running as a task; ``stop()`` ends it the way Ctrl-C does (what is queued is landed and
    published)."""

    def __init__(self, session: CaptureSession) -> None:
        self.session = session
        self.task = asyncio.get_running_loop().create_task(session.run())

    @property
    def stats(self):
        return self.session.stats

    async def started(self, timeout: float = 60) -> CaptureSession:
        """The session once its source runs (a browser's page is open)."""
        await asyncio.wait_for(asyncio.shield(self.session.started.wait()), timeout)
        return self.session

    async def stop(self):
        """Stop and wait for the last segment to be published; a source's failure stays in ``self.task``."""
        self.session.stop()
        await asyncio.gather(self.task, return_exceptions=True)
        return self.session.result


def leave_a_crashed_wal(data_dir: Path, frames: int) -> None:
    """A capture that died: ``frames`` frames in its WAL on disk, its segment never published (a child writer,
    killed with SIGKILL once it says the WAL is flushed)."""
    code = (
        "import time\n"
        "from capture_agent.landing.writer import LandingWriter\n"
        "from capture_agent.landing.schema import Source, Direction, Transport\n"
        f"w = LandingWriter({str(data_dir)!r}, Source.DIRECT, fsync_interval_s=0.01)\n"
        f"for i in range({frames}): w.frame(Direction.IN, Transport.WEBSOCKET, '42[\"n\",%d]' % i)\n"
        "w.flush(); print('ready', flush=True); time.sleep(60)\n"  # not a wait: alive with its WAL open until killed
    )
    child = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "ready"
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
