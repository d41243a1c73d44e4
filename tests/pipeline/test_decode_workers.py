"""A day decoded by worker processes (``vectra_pipeline.decode_workers``) is the day decoded in one process, slice for
slice: on the real capture days, and on a day whose slices are cut between a binary event and the attachment it
announces (the one state that crosses slices, carried on by decoding that slice again in the build process)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest
import realdata
from pipeline_kit import import_real
from waits import kill_and_wait_for_workers, running, wait_until

from capture_agent.landing.schema import LANDING_SCHEMA
from capture_agent.landing.segments import segment_name
from capture_agent.protocol.socketio import Attachments
from vectra_pipeline import storage
from vectra_pipeline.bronze.frames import build_frames, landing_frame, landing_index, with_payloads
from vectra_pipeline.decode_workers import WORKERS_ENV, decode_workers, decoded_slices
from vectra_pipeline.landing_files import LandingPayloads, read_landing_day
from vectra_pipeline.silver.contracts import apply_contracts
from vectra_pipeline.silver.events import decode_events, events_of_slices

DATE = "2025-12-12"
ANNOUNCED_AT = 20  # the binary event's row in bronze order: a slice of 21 rows ends on it


def _bronze(root, date: str) -> None:
    index, _ = build_frames(read_landing_day(root, date, keep=landing_index).frame)  # as the bronze asset builds it
    storage.write_table(root, "frames", date, index)


def _in_one_process(root, date: str, rows: int) -> list:
    reader = LandingPayloads(root)
    slices = storage.iter_table_slices(root, "frames", date, rows)
    return list(events_of_slices(with_payloads(frames, reader, decoded_only=True) for frames in slices))


def _assert_same(pooled: list, alone: list) -> None:
    assert len(pooled) == len(alone) > 1
    for a, b in zip(pooled, alone):
        assert a.events.equals(b.events) and a.quarantine.equals(b.quarantine) and a.unknown_events == b.unknown_events


@pytest.fixture(scope="module")
def attachment_day(tmp_path_factory):
    """One capture's real frames with a binary event at ANNOUNCED_AT, its attachment next, then an unannounced one."""
    root = tmp_path_factory.mktemp("attachments")
    texts: list[str | bytes] = [text for _, text in realdata.frames_of_a_day(60)]
    texts[ANNOUNCED_AT:ANNOUNCED_AT] = [
        '451-["upload",{"_placeholder":true,"num":0}]',
        b"\xff\x00 attachment",
        b"\x01 nobody's",
    ]
    start = 1_765_497_600_000_000_000
    landing = pl.DataFrame(
        {"capture_id": "cap", "seq": range(len(texts)), "record_type": "frame", "source": "browser",
         "recv_wall_ns": [start + i * 1_000_000 for i in range(len(texts))], "recv_mono_ns": range(len(texts)),
         "direction": "in", "transport": "websocket", "opcode": [2 if isinstance(t, bytes) else 1 for t in texts],
         "payload_text": [None if isinstance(t, bytes) else t for t in texts],
         "payload_bytes": [t if isinstance(t, bytes) else None for t in texts]},
        schema_overrides={"recv_wall_ns": pl.Int64, "opcode": pl.Int8},
    )  # fmt: skip
    folder = storage.landing_folder(root, DATE)
    folder.mkdir(parents=True)
    pq.write_table(
        landing_frame(landing).to_arrow().cast(LANDING_SCHEMA),
        folder / segment_name("cap", 1),
        row_group_size=7,
    )
    _bronze(root, DATE)
    return root


def test_a_slice_cut_after_a_binary_event_gets_its_attachment(attachment_day):
    alone = _in_one_process(attachment_day, DATE, ANNOUNCED_AT + 1)
    quarantine = pl.concat([result.quarantine for result in alone])
    assert quarantine.filter(pl.col("detail").str.contains("announced")).height == 1  # only the unannounced bytes
    # a slice decoded from scratch would flag the announced attachment too: the carried state is what holds it
    reader, second = (
        LandingPayloads(attachment_day),
        list(storage.iter_table_slices(attachment_day, "frames", DATE, ANNOUNCED_AT + 1))[1],
    )
    frames = with_payloads(second, reader, decoded_only=True)
    fresh = apply_contracts(decode_events(frames, Attachments()), frames).quarantine
    assert fresh.filter(pl.col("detail").str.contains("announced")).height == 2
    _assert_same(list(decoded_slices(attachment_day, DATE, workers=2, rows=ANNOUNCED_AT + 1)), alone)


def test_real_days_decode_the_same_in_workers(tmp_path):
    dates = import_real(tmp_path)
    for date in dates:
        _bronze(tmp_path, date)
    day = max(dates, key=lambda date: storage.read_table(tmp_path, "frames", date).height)
    _assert_same(list(decoded_slices(tmp_path, day, workers=2, rows=97)), _in_one_process(tmp_path, day, 97))
    assert list(decoded_slices(tmp_path, "2000-01-01", workers=2)) == []


def test_one_worker_or_one_slice_decodes_in_this_process(attachment_day, monkeypatch):
    whole = _in_one_process(attachment_day, DATE, 10_000)
    monkeypatch.setattr("vectra_pipeline.decode_workers.ProcessPoolExecutor", None)  # a pool would fail here
    for workers, rows in ((1, 7), (4, 10_000)):
        results = list(decoded_slices(attachment_day, DATE, workers=workers, rows=rows))
        assert pl.concat([r.events for r in results]).equals(pl.concat([r.events for r in whole]))


def test_workers_follow_the_environment_then_the_cores(monkeypatch):
    monkeypatch.setenv(WORKERS_ENV, "3")
    assert decode_workers() == 3
    for junk in ("0", "-2", "many", ""):
        monkeypatch.setenv(WORKERS_ENV, junk)
        assert decode_workers() >= 1


_DECODE_THEN_HANG = """
import sys
from vectra_pipeline.decode_workers import decoded_slices
slices = decoded_slices(sys.argv[1], sys.argv[2], workers=2, rows=7)
next(slices)  # the pool is up, slices are in flight
print("decoding", flush=True)
sys.stdin.read()  # until killed
"""


def _children(pid: int) -> set[int]:
    tasks = Path(f"/proc/{pid}/task")
    return (
        {int(child) for task in tasks.iterdir() for child in (task / "children").read_text().split()}
        if tasks.exists()
        else set()
    )


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads a process's children from /proc (Linux)")
def test_a_killed_build_leaves_no_decode_worker_behind(attachment_day):
    build = subprocess.Popen([sys.executable, "-c", _DECODE_THEN_HANG, str(attachment_day), DATE], cwd=realdata.REPO,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert build.stdout.readline().strip() == "decoding"
        workers = wait_until(lambda: {pid for pid in _children(build.pid) if running(pid)}, 60, "decode workers started")
        kill_and_wait_for_workers(build, workers)
    finally:
        build.kill()
        build.wait(timeout=60)
