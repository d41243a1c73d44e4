"""What this process's allocators hold, and handing back what they keep but nothing uses — between pipeline steps.

A build runs every step in one process, and each allocator keeps some of what a step freed for its next request:
glibc malloc (Python's objects, msgspec, DuckDB) keeps free chunks inside its heaps and arenas, pyarrow's pool
(mimalloc or jemalloc) keeps freed pages of its threads' heaps. Left there, the next step's peak stacks on the
previous step's leftovers. Polars' own jemalloc is not reachable from here; ``vectra build`` sets its decay
(``commands.build.ALLOCATOR``) and its background thread returns pages by itself.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os

MB = 2**20


class _Mallinfo2(ctypes.Structure):
    # glibc ≥ 2.33: the same fields as mallinfo, as size_t (mallinfo's ints wrap beyond 2 GB)
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost"
    )]  # fmt: skip


@functools.cache
def _libc() -> ctypes.CDLL | None:
    """glibc, when this process runs on it (musl and macOS have neither malloc_trim nor mallinfo2)."""
    name = ctypes.util.find_library("c")
    if not name:
        return None
    libc = ctypes.CDLL(name)
    if not (hasattr(libc, "malloc_trim") and hasattr(libc, "mallinfo2")):
        return None
    libc.mallinfo2.restype = _Mallinfo2
    libc.malloc_trim.argtypes = [ctypes.c_size_t]
    return libc


def resident_mb() -> float:
    """This process's resident memory now (not its peak)."""
    with open(f"/proc/{os.getpid()}/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / MB


def held() -> dict[str, float]:
    """MB each allocator holds now: resident memory; glibc's chunks in use and free inside its heaps (``malloc_free``
    is what ``malloc_trim`` can hand back); pyarrow's pool in use and at most. What none of them explains is polars'
    jemalloc, the interpreter's code and the libraries' mapped files."""
    import pyarrow as pa

    pool = pa.default_memory_pool()
    figures = {"rss": resident_mb(), "arrow_in_use": pool.bytes_allocated() / MB, "arrow_peak": pool.max_memory() / MB}
    libc = _libc()
    if libc is not None:
        info = libc.mallinfo2()
        figures |= {"malloc_in_use": (info.uordblks + info.hblkhd) / MB, "malloc_free": info.fordblks / MB}
    return {name: round(value, 1) for name, value in figures.items()}


def release() -> None:
    """Hand back to the system what this process's allocators keep and nothing uses: pyarrow's pool's unused pages,
    then glibc's free pages in every arena. (No ``gc.collect()``: 0.16 s a step for nothing measurable.)"""
    import pyarrow as pa

    pa.default_memory_pool().release_unused()
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)
