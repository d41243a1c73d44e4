"""``build(jobs=N)`` / ``vectra build --jobs N``: a backfill's days in worker processes, N at a time (issue 13).

The days built in parallel give the same bytes, rows and checks as one after another, every day's Dagster run comes
from a worker (not the build's own process), and a kill -9 of the build takes its workers with it: none is left
writing behind it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import dagster as dg
from outputs_kit import DAYS, REPO, output_digests, small_landing, vectra_command, vectra_env
from waits import kill_and_wait_for_workers, wait_until

from vectra_pipeline.build import build
from vectra_pipeline.defs.stale_runs import TAG_PID

WAIT_S = 200  # generous: CI is a cold, shared 2-core machine


def _children(pid: int) -> set[int]:
    """PIDs of the live worker processes ``pid`` spawned (multiprocessing's spawn_main), read from /proc."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            command = (entry / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile
        if parent == pid and b"spawn_main" in command:
            found.add(int(entry.name))
    return found


def test_days_built_in_parallel_equal_days_built_one_after_another(tmp_path, monkeypatch):
    landing = small_landing(tmp_path / "landing-only")
    roots = {}
    for jobs in (1, 2):
        roots[jobs] = tmp_path / f"jobs-{jobs}"
        shutil.copytree(landing / "landing", roots[jobs] / "landing")
    home = tmp_path / "dagster_home"
    vectra_env(home)  # writes its dagster.yaml
    monkeypatch.setenv("DAGSTER_HOME", str(home))  # spawned workers inherit it
    summaries = {jobs: build(root, list(DAYS), jobs=jobs) for jobs, root in roots.items()}
    assert summaries[2].failed_runs == [] and summaries[2].ok
    assert summaries[2].rows == summaries[1].rows
    assert sorted(summaries[2].checks) == sorted(summaries[1].checks)
    assert [c[1] for c in summaries[2].checks if c[1]] == sorted(c[1] for c in summaries[2].checks if c[1])  # date order
    digests = output_digests(roots[2])
    assert any(name.startswith("silver/") for name in digests) and any(name.startswith("datasets/") for name in digests)
    assert digests == output_digests(roots[1])
    with dg.DagsterInstance.get() as instance:
        daily = [run for run in instance.get_runs() if run.tags.get("dagster/partition") in DAYS]
    pids = sorted(run.tags[TAG_PID] for run in daily)
    assert len(pids) == 4 and pids.count(str(os.getpid())) == 2  # the sequential build ran its two days in-process…
    assert len({pid for pid in pids if pid != str(os.getpid())}) >= 1  # …the parallel one in worker processes


def test_a_killed_build_takes_its_workers_with_it(tmp_path):
    root = small_landing(tmp_path / "data")
    env = vectra_env(tmp_path / "dagster_home")
    build_process = subprocess.Popen(vectra_command("build", "--jobs", "2", "--data", str(root)), cwd=REPO, env=env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        workers: set[int] = set()

        def two_workers() -> bool:
            assert build_process.poll() is None, f"the build ended (exit {build_process.returncode}) before two workers ran"
            workers.update(_children(build_process.pid))
            return len(workers) >= 2

        wait_until(two_workers, WAIT_S, "the build having two workers at once")
        kill_and_wait_for_workers(build_process, workers)  # often while a worker is still importing: that race too
    finally:
        build_process.kill()
        build_process.wait(timeout=60)
