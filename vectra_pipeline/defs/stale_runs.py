"""Runs that a killed ``vectra build`` left STARTED are marked failed by the next build.

Dagster's run monitoring cannot see them: ``vectra build`` executes in-process (``dg.materialize``), with no run
worker, no daemon, and the default run launcher cannot tell whether a run's process is alive
(``supports_check_run_worker_health`` is false). So every run a build starts carries its process's host, PID and
start time (tags); a later build on that host fails each run still NOT_STARTED/STARTING/STARTED whose process is
gone — a PID reused by another process does not match the recorded start time.
"""

from __future__ import annotations

import os
import socket

import dagster as dg

TAG_HOST = "vectra/host"
TAG_PID = "vectra/pid"
TAG_PROCESS_START = "vectra/process_start"
IN_PROGRESS = [dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED]


def _process_start(pid: int) -> str:
    """The process's start time in clock ticks since boot (``/proc/<pid>/stat`` field 22); "" when unknown."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            return handle.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def run_process_tags() -> dict[str, str]:
    pid = os.getpid()
    return {TAG_HOST: socket.gethostname(), TAG_PID: str(pid), TAG_PROCESS_START: _process_start(pid)}


def _process_alive(pid: int, start: str) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return not start or _process_start(pid) == start


def fail_runs_of_dead_processes(instance: dg.DagsterInstance) -> list[str]:
    """Report RUN_FAILURE for this host's in-progress build runs whose process is gone; returns their run ids."""
    records = instance.get_run_records(filters=dg.RunsFilter(statuses=IN_PROGRESS, tags={TAG_HOST: socket.gethostname()}))
    failed = []
    for record in records:
        run = record.dagster_run
        pid = run.tags.get(TAG_PID, "")
        if pid.isdigit() and not _process_alive(int(pid), run.tags.get(TAG_PROCESS_START, "")):
            instance.report_run_failed(run, f"the process that ran it (PID {pid}) is gone (killed); marked failed by the next vectra build")
            failed.append(run.run_id)
    return failed
