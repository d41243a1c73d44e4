"""Helpers for the capture tests: run a capture session in-process into a landing dir and read the rows back."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pyarrow as pa

from capture_agent.landing.segments import read_landing
from capture_agent.session import CaptureOptions, CaptureSession


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


WEBSOCKET_FIRST = 'transports: ["websocket", "polling"]'
POLLING_FIRST = 'transports: ["polling", "websocket"]'


async def polling_first(route):
    """A Playwright route serving the play page's script with polling as the first transport (socket.io-client's
    default), so the handshake travels in polling bodies before the upgrade."""
    response = await route.fetch()
    script = await response.text()
    assert script.count(WEBSOCKET_FIRST) == 1, "the play page's transports line changed: update this test"
    await route.fulfill(response=response, body=script.replace(WEBSOCKET_FIRST, POLLING_FIRST))


async def wait_for(predicate, timeout: float, interval: float = 0.02) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(interval)


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
