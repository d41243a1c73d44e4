"""The leaderboard's slices of board frames read and decoded on every core the build gives a day's decode.

A slice needs nothing from the others: its frames carry the landing rows bronze indexed, a worker reads their text
back from landing, decodes the boards and sends back the rows compressed per run of games
(:func:`vectra_pipeline.gold.leaderboard.spill_leaderboard`), which the build process keeps in slice order.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor

import polars as pl

from vectra_pipeline import storage
from vectra_pipeline.bronze.frames import with_payloads
from vectra_pipeline.landing_files import LandingPayloads
from vectra_pipeline.worker_processes import die_with_parent

PAYLOAD_INDEX = ("payload_kind", "landing_file", "landing_row", "content_hash")  # what with_payloads reads of bronze
_KEYS = ("capture_id", "seq")
_readers: dict[str, LandingPayloads] = {}  # a process's reader per root: it keeps the landing files' row group starts


def board_texts(root: str, board_slice: pl.DataFrame) -> pl.DataFrame:
    """(capture_id, seq, payload_text) of a slice of board frames carrying their bronze index (:data:`PAYLOAD_INDEX`),
    read back from the landing rows and checked against their hashes; a frame bronze does not index has no text."""
    reader = _readers.setdefault(root, LandingPayloads(storage.location(root)))
    rows = board_slice.select(*_KEYS, *PAYLOAD_INDEX).unique(_KEYS, maintain_order=True)  # a frame's packets: one read
    return with_payloads(rows, reader).select(*_KEYS, "payload_text")


def map_in_workers(workers: int) -> Callable[[Callable, Sequence], Iterator]:
    """A ``map`` for :func:`~vectra_pipeline.gold.leaderboard.spill_leaderboard`: the results in the tasks' order,
    computed by ``workers`` spawned processes that die with the build (at most two tasks each in flight, so memory
    holds a few slices, never the day); in this process when there is one worker or one task."""

    def mapped(function: Callable, tasks: Sequence) -> Iterator:
        if workers <= 1 or len(tasks) <= 1:
            yield from map(function, tasks)
            return
        spawn = multiprocessing.get_context("spawn")  # no fork of a process holding polars' threads
        with ProcessPoolExecutor(
            workers, mp_context=spawn, initializer=die_with_parent, initargs=(os.getpid(),)
        ) as pool:
            pending: deque[Future] = deque()
            waiting = iter(tasks)
            try:
                while True:
                    while len(pending) < 2 * workers and (task := next(waiting, None)) is not None:
                        pending.append(pool.submit(function, task))
                    if not pending:
                        return
                    yield pending.popleft().result()
            finally:
                for future in pending:
                    future.cancel()

    return mapped
