"""deploy/dagster.yaml, used verbatim, on a real PostgreSQL: runs go through the queue the daemon drains, one run per
date at a time, while different dates run side by side.

The deployment's own shape: a gRPC code server (``dagster api grpc``), the daemon, and runs submitted from another
process (``dagster job launch``, what the webserver's Launch button does). Run A holds date D open; then B (date D
again) and C (another date) are submitted. C starting proves the daemon has looked at the queue past B, so B still
queued then is the tag limit at work, not a slow daemon. Once released, everything succeeds and B starts only
after A ended. One test: each Dagster process takes seconds to start on a loaded machine.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from ports import free_port
from waits import wait_until

REPO = Path(__file__).resolve().parents[2]
LOCATION = Path(__file__).with_name("queue_location.py")
DAGSTER = Path(sys.executable).with_name("dagster")
DAEMON = Path(sys.executable).with_name("dagster-daemon")
WAIT_S = 300


def wait_for(condition, what: str, processes=()) -> None:
    def holds() -> bool:
        for process in processes:
            assert process.poll() is None, f"{process.args[:3]} exited with {process.returncode} while waiting for {what}"
        return condition()

    wait_until(holds, WAIT_S, what, interval=0.2)


def stop(process: subprocess.Popen) -> None:
    """Its whole process group: a gRPC server may ignore SIGTERM, so SIGKILL after a grace period."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=20)


@pytest.mark.timeout(900)
def test_the_queue_runs_one_run_per_date_and_different_dates_side_by_side(tmp_path, postgres, monkeypatch):
    import dagster as dg

    postgres.query('CREATE DATABASE "dagster"')
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "deploy" / "dagster.yaml", home / "dagster.yaml")
    grpc_port = free_port()
    (home / "workspace.yaml").write_text(
        f"load_from:\n  - grpc_server:\n      host: 127.0.0.1\n      port: {grpc_port}\n      location_name: queue_test\n"
    )
    settings = {
        "DAGSTER_HOME": str(home),
        "DAGSTER_PG_HOST": postgres.host,
        "DAGSTER_PG_PORT": str(postgres.port),
        "DAGSTER_PG_USER": postgres.user,
        "DAGSTER_PG_PASSWORD": "unused-trust-auth",
        "DAGSTER_PG_DB": "dagster",
    }
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    env = {**os.environ, **settings}
    logs = tmp_path / "logs"
    logs.mkdir()

    def background(name: str, *command: str) -> subprocess.Popen:
        with open(logs / f"{name}.log", "wb") as log:  # the child keeps its own copy of the descriptor
            return subprocess.Popen(command, env=env, cwd=home, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    release = tmp_path / "release"

    def launch(date: str) -> subprocess.Popen:
        run_id = str(uuid.uuid4())
        process = background(
            f"launch-{run_id}",
            str(DAGSTER), "job", "launch", "-w", str(home / "workspace.yaml"), "-j", "one_date", "--run-id", run_id,
            "--tags", json.dumps({"dagster/partition": date}),
            "--config-json", json.dumps({"ops": {"hold": {"config": {"release": str(release)}}}}),
        )
        process.run_id = run_id
        return process

    def launched(process: subprocess.Popen) -> str:
        assert process.wait(timeout=WAIT_S) == 0, (logs / f"launch-{process.run_id}.log").read_text()[-2000:]
        return process.run_id

    code_server = background("grpc", str(DAGSTER), "api", "grpc", "-h", "127.0.0.1", "-p", str(grpc_port), "-f", str(LOCATION))
    daemon = instance = None
    try:
        wait_for(lambda: _accepts(grpc_port), "the gRPC code server", [code_server])
        daemon = background("daemon", str(DAEMON), "run", "-w", str(home / "workspace.yaml"))
        instance = dg.DagsterInstance.from_config(str(home))
        status = lambda run_id: instance.get_run_by_id(run_id).status  # noqa: E731
        servers = [code_server, daemon]

        first = launched(launch("2026-01-01"))
        wait_for(lambda: status(first) == dg.DagsterRunStatus.STARTED, "the first run of 2026-01-01 to start", servers)
        same_date, other_date = launch("2026-01-01"), launch("2026-01-02")
        same_date, other_date = launched(same_date), launched(other_date)
        wait_for(lambda: status(other_date) == dg.DagsterRunStatus.STARTED, "the run of 2026-01-02 to start", servers)
        assert status(same_date) == dg.DagsterRunStatus.QUEUED, "a second run of 2026-01-01 started beside the first"
        assert status(first) == dg.DagsterRunStatus.STARTED

        release.touch()
        finished = {dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}
        wait_for(lambda: all(status(run) in finished for run in (first, same_date, other_date)), "every run to end", servers)
        assert [status(run) for run in (first, same_date, other_date)] == [dg.DagsterRunStatus.SUCCESS] * 3
        records = {record.dagster_run.run_id: record for record in instance.get_run_records()}
        assert records[same_date].start_time >= records[first].end_time, "the second run of a date overlapped the first"
        assert {records[run].dagster_run.tags["dagster/partition"] for run in (first, same_date)} == {"2026-01-01"}
        # the history is in Postgres, where every machine sees it
        assert postgres.query("SELECT count(*) FROM runs", "dagster") == [(3,)]
    except AssertionError as failure:  # what the daemon and the code server said is what explains it
        said = "".join(f"\n--- {log.name} ---\n{log.read_text(errors='replace')[-3000:]}" for log in sorted(logs.iterdir()))
        raise AssertionError(f"{failure}{said}") from None
    finally:
        release.touch()  # a failed assertion must not leave run workers holding
        if instance is not None:
            instance.dispose()
        for process in (daemon, code_server):
            if process is not None:
                stop(process)


def _accepts(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False
