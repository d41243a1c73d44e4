"""The leaderboard's slices of board frames read and decoded on every core the build gives a day's decode.

A slice needs nothing from the others: its frames carry the landing rows bronze indexed, a worker reads their text
back from landing, decodes the boards and sends back the rows compressed per run of games
(:func:`vectra_pipeline.gold.leaderboard.spill_leaderboard`), which the build process appends to a scratch file
(:func:`scratch_pieces`) until their run is written.
"""

from __future__ import annotations

import multiprocessing
import os
import tempfile
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager

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
    rows = (
        board_slice.select(*_KEYS, *PAYLOAD_INDEX)
        .unique(_KEYS, maintain_order=True)  # a frame's packets: one read
        .with_columns(pl.col("landing_file").cast(pl.String))  # held as a categorical
    )
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


class FilePieces:
    """A :class:`~vectra_pipeline.gold.leaderboard.PieceStore` on an open file: pieces appended one after another,
    each found again by its (offset, length), so the bytes read back are the bytes written."""

    def __init__(self, descriptor: int) -> None:
        self.descriptor, self.end = descriptor, 0

    def put(self, piece: bytes) -> tuple[int, int]:
        at, written = self.end, 0
        while written < len(piece):  # a write may take part of the bytes
            written += os.pwrite(self.descriptor, memoryview(piece)[written:], at + written)
        self.end += len(piece)
        return at, len(piece)

    def get(self, ref: tuple[int, int]) -> bytes:
        at, length = ref
        piece = os.pread(self.descriptor, length, at)
        if len(piece) != length:
            raise OSError(f"the leaderboard's scratch file gave {len(piece)} of {length} bytes at {at}")
        return piece


@contextmanager
def scratch_pieces(root, date: str) -> Iterator[FilePieces]:
    """A :class:`FilePieces` on a file with no name, in the leaderboard partition's folder (its filesystem, not memory;
    the system's temp folder under a remote root): closed when the block ends, whatever ends it, and freed by the
    kernel with a killed process, so no build leaves it behind."""
    folder = None
    if storage.is_local(root):
        folder = storage.table_path(root, "leaderboard", date).parent
        folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryFile(dir=folder, prefix=".leaderboard-pieces-") as scratch:
        yield FilePieces(scratch.fileno())
