"""Resident memory of a process and of each of its descendants, sampled every 20 ms.

The kernel's own peaks cannot serve here: ``ru_maxrss`` of the children counts a spawned worker's image between
its fork and its exec — a copy of the parent's resident pages, so a 300 MB worker of an 800 MB build reads 800 MB —
and no peak says which step set it nor adds up processes that run at once. A child is therefore counted only once
its command line differs from the sampled process's (it has exec'd: every worker here is spawned).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable

PERIOD_S = 0.02
_PAGE_MB = os.sysconf("SC_PAGE_SIZE") / 2**20


def tree_pids(pid: int) -> list[int]:
    """``pid`` and its descendants (decode and leaderboard workers, the days a backfill builds at once)."""
    pids, index = [pid], 0
    while index < len(pids):
        try:
            with open(f"/proc/{pids[index]}/task/{pids[index]}/children") as children:
                pids += [int(child) for child in children.read().split()]
        except OSError:
            pass  # ended meanwhile
        index += 1
    return pids


def _read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as file:
            return file.read()
    except OSError:
        return None  # ended meanwhile


class RssSampler(threading.Thread):
    """Every :data:`PERIOD_S`, the resident MB of this process and of each descendant that has exec'd; every fifth
    sample also ``extra()`` (e.g. what this process's allocators hold), kept with its time."""

    def __init__(self, extra: Callable[[], dict] | None = None) -> None:
        super().__init__(daemon=True)
        self.samples: list[tuple[float, dict[int, float]]] = []
        self.extras: list[tuple[float, dict]] = []
        self.tree_peak_mb = 0.0
        self.peak_by_pid: dict[int, float] = {}
        self.done = threading.Event()
        self._extra = extra
        self._own_cmdline = _read(f"/proc/{os.getpid()}/cmdline")
        self._execed: set[int] = {os.getpid()}

    def _has_execed(self, pid: int) -> bool:
        if pid not in self._execed:
            cmdline = _read(f"/proc/{pid}/cmdline")
            if not cmdline or cmdline == self._own_cmdline:
                return False  # between fork and exec: the parent's pages, not the worker's
            self._execed.add(pid)
        return True

    def run(self) -> None:
        while not self.done.wait(PERIOD_S):
            resident = {}
            for pid in tree_pids(os.getpid()):
                statm = _read(f"/proc/{pid}/statm") if self._has_execed(pid) else None
                if statm:
                    resident[pid] = int(statm.split()[1]) * _PAGE_MB
                    self.peak_by_pid[pid] = max(self.peak_by_pid.get(pid, 0.0), resident[pid])
            self.samples.append((time.time(), resident))
            self.tree_peak_mb = max(self.tree_peak_mb, sum(resident.values()))
            if self._extra and len(self.samples) % 5 == 0:
                self.extras.append((time.time(), self._extra()))

    @property
    def largest_child_mb(self) -> float | None:
        """The highest resident memory any one descendant reached (None: no descendant)."""
        children = [mb for pid, mb in self.peak_by_pid.items() if pid != os.getpid()]
        return max(children) if children else None
