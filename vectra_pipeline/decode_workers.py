"""A day's bronze frames decoded into silver events slice by slice, on every core the build gives it.

Decoding a slice (its text read back from landing, msgspec, the contracts) needs nothing from the other slices but
one small state: the binary attachments a frame still awaits (:class:`capture_agent.protocol.socketio.Attachments`).
So the slices go to worker processes, each starting with no attachments due, and come back in bronze order; a slice
whose predecessor ended awaiting attachments (rare: a binary event cut from its bytes) is decoded again here with the
state carried on. The results are what :func:`vectra_pipeline.silver.events.events_of_slices` gives in one process,
slice for slice, so the partitions written from them are the same bytes.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor

from capture_agent.protocol.socketio import Attachments
from vectra_pipeline import storage
from vectra_pipeline.bronze.frames import with_payloads
from vectra_pipeline.landing_files import LandingPayloads
from vectra_pipeline.schema import conform
from vectra_pipeline.silver.contracts import ContractResult, apply_contracts
from vectra_pipeline.silver.events import decode_events
from vectra_pipeline.worker_processes import die_with_parent

SLICE_ROWS = 10_000  # bronze frames decoded at a time (200k-frame day, decode step peak incl. the events write: 20k 1.18 GB, 10k 0.83 GB, 5k 0.86 GB)
WORKERS_ENV = "VECTRA_DECODE_WORKERS"  # set by `vectra build --jobs N` for each day it builds at once


def decode_workers() -> int:
    """Processes that decode one day: ``$VECTRA_DECODE_WORKERS`` when set (``vectra build --jobs N`` gives each of
    the N days its share of the cores), else every core this process may run on; 1 decodes in this process."""
    named = os.environ.get(WORKERS_ENV, "")
    if named.isdigit() and int(named) > 0:
        return int(named)
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def decoded_slices(root, date: str, workers: int, rows: int = SLICE_ROWS) -> Iterator[ContractResult]:
    """The decoded events and quarantine of the day's bronze frames, ``rows`` frames at a time in bronze order:
    decoded here when ``workers`` is 1 or the day is one slice, else by ``workers`` processes (at most two slices each
    in flight, so memory holds a few slices, never the day)."""
    path = storage.table_path(root, "frames", date)
    total = sum(storage.parquet_row_group_rows(path)) if path.exists() else 0
    starts = range(0, total, rows)
    if workers <= 1 or len(starts) <= 1:
        attachments, reader = Attachments(), LandingPayloads(root)
        for start in starts:
            yield _decoded(root, date, start, rows, attachments, reader)
        return
    spawn = multiprocessing.get_context("spawn")  # no fork of a process holding polars' threads
    # the root as text: a worker makes its own S3 client
    with ProcessPoolExecutor(workers, mp_context=spawn, initializer=die_with_parent, initargs=(os.getpid(),)) as pool:
        pending: deque[tuple[int, Future]] = deque()
        waiting = iter(starts)
        carried = Attachments()
        try:
            while True:
                while len(pending) < 2 * workers and (start := next(waiting, None)) is not None:
                    pending.append((start, pool.submit(_in_worker, str(root), date, start, rows)))
                if not pending:
                    return
                start, future = pending.popleft()
                result, after = future.result()
                if carried.awaiting():  # this slice's first frames may be the bytes the last one announced
                    result = _decoded(root, date, start, rows, carried, LandingPayloads(root))
                else:
                    carried = after
                yield result
        finally:
            for _, future in pending:
                future.cancel()


def _decoded(
    root, date: str, start: int, rows: int, attachments: Attachments, reader: LandingPayloads
) -> ContractResult:
    """One slice decoded with ``attachments`` (updated for the next slice)."""
    frames = conform(storage.scan_table(root, "frames", date).slice(start, rows).collect(), "frames")
    frames = with_payloads(frames, reader, decoded_only=True)
    return apply_contracts(decode_events(frames, attachments), frames)


_readers: dict[str, LandingPayloads] = {}  # a worker's reader per root: it keeps the landing files' row group starts


def _in_worker(root: str, date: str, start: int, rows: int) -> tuple[ContractResult, Attachments]:
    attachments = Attachments()
    reader = _readers.setdefault(root, LandingPayloads(storage.location(root)))
    return _decoded(storage.location(root), date, start, rows, attachments, reader), attachments
