"""kill -9 a landing writer at random moments, restart it, and check nothing fsynced is lost or duplicated."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import orjson
import pyarrow.parquet as pq

from capture_agent.landing.recovery import recover
from capture_agent.landing.schema import LANDING_SCHEMA
from capture_agent.landing.segments import read_landing, segment_paths

REPO = Path(__file__).resolve().parents[2]
CHILD = Path(__file__).with_name("landing_crash_child.py")
FSYNC_INTERVAL = 0.05
LOSS_SLACK_S = 2.0  # rows handed over this long before the kill must have survived (fsync window + scheduling)


def _run_and_kill(data: Path, delay: float, after_ready: bool) -> tuple[str | None, list[tuple[int, int, float]], float]:
    """Start the child and kill -9 it ``delay`` seconds after its writer is ready (``after_ready``) or after
    it was started (which may land in its start-up recovery of the previous run)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, str(CHILD), str(data), str(FSYNC_INTERVAL)], stdout=subprocess.PIPE, text=True, env=env
    )
    lines: list[str] = []
    ready = threading.Event()

    def read() -> None:
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("capture "):
                ready.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    if after_ready:
        assert ready.wait(timeout=120), "the child never started writing"
    time.sleep(delay)  # not a wait: the kill must fall at a random moment of the run
    killed_at = time.monotonic()
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    reader.join(timeout=30)
    capture = next((line.split()[1] for line in lines if line.startswith("capture ")), None)
    progress = [
        (int(parts[1]), int(parts[2]), float(parts[3]))
        for parts in (line.split() for line in lines if line.startswith("progress "))
    ]
    return capture, progress, killed_at


def test_kill_9_at_random_moments_loses_nothing_durable(tmp_path: Path) -> None:
    rng = random.Random(20251212)
    data = tmp_path / "data"
    runs = []
    for iteration in range(15):
        if iteration % 5 == 4:  # now and then during start-up, possibly mid-recovery of the previous run
            runs.append(_run_and_kill(data, rng.uniform(0.05, 1.5), after_ready=False))
        else:
            runs.append(_run_and_kill(data, rng.uniform(0.02, 1.2), after_ready=True))
    recover(data)

    leftovers = [p for p in (data / "landing").rglob("*") if p.is_file() and p.suffix != ".parquet"]
    assert leftovers == [], "recovery left WAL or temp files behind"
    for path in segment_paths(data):
        assert pq.read_schema(path).equals(LANDING_SCHEMA), path  # every published file is readable and exact
    table = read_landing(data)
    rows_by_capture: dict[str, list[dict]] = {}
    for row in table.select(["capture_id", "seq", "record_type", "event", "payload_text", "detail"]).to_pylist():
        rows_by_capture.setdefault(row["capture_id"], []).append(row)

    for capture, rows in rows_by_capture.items():
        rows.sort(key=lambda r: r["seq"])
        assert [r["seq"] for r in rows] == list(range(len(rows))), f"{capture}: seq not gapless or duplicated"
        frames = [r for r in rows if r["record_type"] == "frame"]
        for row in frames:  # the frame at seq n is the n-th frame written: nothing reordered or invented
            assert orjson.loads(row["payload_text"][2:])[1]["n"] == row["seq"]
        # every run was killed: its capture ends with exactly one gap row (cause crash), after all its frames
        assert rows[-1]["record_type"] == "connection" and rows[-1]["event"] == "gap", capture
        assert orjson.loads(rows[-1]["detail"])["cause"] == "crash"
        assert len(frames) == len(rows) - 1

    exercised = 0
    for capture, progress, killed_at in runs:
        if capture is None:
            continue  # killed while starting (possibly mid-recovery of the previous run)
        landed = len(rows_by_capture.get(capture, [])) - 1
        durable = max((d for _, d, _ in progress), default=0)
        assert landed >= durable, f"{capture}: {durable} rows were reported durable, {landed} landed"
        settled = max((w for w, _, t in progress if t <= killed_at - LOSS_SLACK_S), default=0)
        assert landed >= settled, f"{capture}: lost rows written {LOSS_SLACK_S}s before the kill"
        exercised += durable > 0
    assert exercised >= 8, "too few runs got far enough to write durable rows"
    segments_per_capture: dict[str, int] = {}
    for path in segment_paths(data):
        capture_id = path.name.rsplit("-", 1)[0]
        segments_per_capture[capture_id] = segments_per_capture.get(capture_id, 0) + 1
    assert max(segments_per_capture.values()) > 1, "no run rolled a segment before being killed"

    assert recover(data).published == []  # idempotent: nothing is published twice
    assert read_landing(data).num_rows == table.num_rows
