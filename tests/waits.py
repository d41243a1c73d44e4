"""Waiting for a condition, never for a fixed time: poll until it holds, fail loudly after a generous deadline.

CI is a cold machine with two shared cores, so a fixed sleep is either too short (flaky) or too long (slow); a
deadline is only a bound on a hang, set far above what the condition needs.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


Description = str | Callable[[], str]


def _timed_out(what: Description, timeout: float) -> AssertionError:
    return AssertionError(f"{what() if callable(what) else what} not met within {timeout:g} s")


def wait_until(predicate: Callable[[], T], timeout: float, what: Description = "condition", interval: float = 0.05) -> T:
    """Poll ``predicate`` until it returns something truthy, and return that; AssertionError after ``timeout`` s,
    saying ``what`` (a function is called then, to describe the state the condition was left in)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise _timed_out(what, timeout)
        time.sleep(interval)


async def wait_for(predicate: Callable[[], T], timeout: float, interval: float = 0.02, what: Description = "condition") -> T:
    """:func:`wait_until` inside an event loop: the loop keeps running between polls."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if loop.time() > deadline:
            raise _timed_out(what, timeout)
        await asyncio.sleep(interval)


def running(pid: int) -> bool:
    """Whether process ``pid`` runs (Linux /proc: a zombie, dead but not yet reaped, does not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def kill_and_wait_for_workers(process: subprocess.Popen, workers: Iterable[int]) -> None:
    """kill -9 ``process`` (no cleanup code of its own runs) and wait until none of ``workers`` (pids) runs: they die
    with it."""
    workers = sorted(workers)
    process.kill()
    process.wait(timeout=60)
    wait_until(lambda: not any(map(running, workers)), 60, lambda: f"workers {list(filter(running, workers))} ending with the killed build")
