"""Worker processes of a build (days built at once, a day's slices decoded at once): they die with it."""

from __future__ import annotations

import os


def die_with_parent(parent: int) -> None:
    """Linux: the kernel SIGKILLs this worker when the build process dies (prctl PR_SET_PDEATHSIG); a build that
    died while this worker was starting is seen here, and the worker ends before it takes any work."""
    import ctypes
    import signal

    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: workers end when their task queue closes
        return
    if os.getppid() != parent:
        os.kill(os.getpid(), signal.SIGKILL)
