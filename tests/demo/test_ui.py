"""`vectra ui` starts the Dagster UI on loopback with every Vectra definition loaded, and stops on Ctrl-C (guard and
Dagster behind it; tests/demo/test_ui_guard.py attacks the guard)."""

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

from ports import free_port
from s3kit import s3_environment

from capture_agent.landing.synthetic import write_synthetic_capture

REPO = Path(__file__).resolve().parents[2]


SELECTOR = {"repositoryLocationName": "vectra_pipeline.definitions", "repositoryName": "__repository__"}
AUTOMATION = """query Automation($sensor: SensorSelector!, $schedule: ScheduleSelector!) {
  sensorOrError(sensorSelector: $sensor) { ... on Sensor { sensorState { status } } }
  scheduleOrError(scheduleSelector: $schedule) { ... on Schedule { scheduleState { status } } }
}"""


def _graphql(port: int, query: str, variables: dict | None = None) -> dict:
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}/graphql", data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)["data"]


def _asset_keys(port: int) -> list[str]:
    nodes = _graphql(port, "{ assetNodes { assetKey { path } } }")["assetNodes"]
    return sorted("/".join(node["assetKey"]["path"]) for node in nodes)


def _automation(port: int) -> tuple[str, str]:
    data = _graphql(port, AUTOMATION, {"sensor": {**SELECTOR, "sensorName": "landing_segments"},
                                       "schedule": {**SELECTOR, "scheduleName": "nightly_dataset"}})
    return data["sensorOrError"]["sensorState"]["status"], data["scheduleOrError"]["scheduleState"]["status"]


def _listening_addresses(port: int) -> set[str]:
    """Local addresses (kernel hex) of the TCP sockets listening on ``port``, from /proc/net/tcp{,6}."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, _, port_hex = local.partition(":")
            if state == "0A" and int(port_hex, 16) == port:
                found.add(address)
    return found


def _lines_until(process: subprocess.Popen, marker: str, timeout: float) -> tuple[list[str], list[str]]:
    """The output lines up to and including the first holding ``marker``, and the whole output so far. A thread reads
    (readline blocks) and keeps draining afterwards, so Dagster never blocks on a full pipe (the second list grows)."""
    lines: list[str] = []
    found = threading.Event()

    def read() -> None:
        for raw in process.stdout:
            lines.append(raw.decode(errors="replace"))
            if marker in lines[-1] and not found.is_set():
                shown.extend(lines)
                found.set()

    shown: list[str] = []
    threading.Thread(target=read, daemon=True).start()
    assert found.wait(timeout), "".join(lines)[-3000:]
    return shown, lines


def _ctrl_c(process: subprocess.Popen) -> None:
    """Ctrl-C to `vectra ui`'s session, as a terminal sends it; SIGKILL (and a failure) if it outlives a minute."""
    os.killpg(process.pid, signal.SIGINT)
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        raise


def test_ui_serves_the_roots_own_instance_on_loopback_with_automation_on_and_stops_on_ctrl_c(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}  # the default: the data root's own instance
    data = tmp_path / "data"
    process = subprocess.Popen(
        [sys.executable, "-m", "capture_agent.cli", "ui", "--port", str(port), "--data", str(data)],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
    )
    url, output = f"http://127.0.0.1:{port}/", []
    try:
        lines, output = _lines_until(process, "vectra ui: ready", timeout=240)
        # the URL is printed once Dagster answers through the guard: asked right then, without retrying, it answers
        assert not any(url in line for line in lines[:-1]) and url in lines[-1]
        keys = _asset_keys(port)
        assert {"frames", "events", "games", "player_state", "observations", "training_dataset"} <= set(keys), keys
        assert _listening_addresses(port) == {"0100007F"}  # 127.0.0.1 only, no wildcard or public bind
        assert _automation(port) == ("RUNNING", "RUNNING")  # switched on at start (no --no-automation)
        assert (data / "dagster" / "dagster.yaml").is_file()
        assert f"DAGSTER_HOME={data / 'dagster'}" in "".join(lines)
    finally:
        _ctrl_c(process)
    private = int("".join(output).split("Dagster starts behind it on 127.0.0.1:")[1].split()[0])
    assert not _listening_addresses(private)  # Ctrl-C reached Dagster behind the guard too


def test_ui_fails_fast_when_its_port_is_taken(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "capture_agent.cli", "ui", "--port", str(port), "--data", str(tmp_path / "data")],
            cwd=REPO, capture_output=True, text=True, timeout=120,
            env={k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"},
        )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "Serving" not in result.stdout + result.stderr and "ready" not in result.stdout  # Dagster never started


def test_ui_refuses_a_public_host_without_opt_in():
    result = subprocess.run(
        [sys.executable, "-m", "capture_agent.cli", "ui", "--host", "0.0.0.0"], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "--public" in result.stderr


def test_ui_on_a_bucket_offers_its_landing_days_and_keeps_its_instance_in_the_local_cache(tmp_path, s3_bucket):
    day = write_synthetic_capture(tmp_path / "local", 200, date="2026-11-01")
    s3_bucket.client.upload_file(str(day.segments[0]), s3_bucket.name, f"team/landing/date=2026-11-01/{day.segments[0].name}")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "VECTRA_", "DAGSTER_"))}
    env.update(s3_environment(s3_bucket.server), XDG_CACHE_HOME=str(tmp_path / "cache"), XDG_CONFIG_HOME=str(tmp_path / "config"))
    port, root = free_port(), f"s3://{s3_bucket.name}/team"
    process = subprocess.Popen(
        [sys.executable, "-m", "capture_agent.cli", "ui", "--port", str(port), "--data", root, "--no-automation"],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        lines, _ = _lines_until(process, "vectra ui: ready", timeout=240)
        frames = _graphql(port, '{ assetNodeOrError(assetKey: {path: ["frames"]}) { ... on AssetNode { partitionKeys } } }')
        assert frames["assetNodeOrError"]["partitionKeys"] == ["2026-11-01"]  # the bucket's landing day, listed
    finally:
        _ctrl_c(process)
    home = Path("".join(lines).split("DAGSTER_HOME=")[1].split(",")[0])
    assert home.is_relative_to(tmp_path / "cache") and (home / "dagster.yaml").is_file()
    assert f"VECTRA_DATA={root}," in "".join(lines)
    assert s3_bucket.keys() == [f"team/landing/date=2026-11-01/{day.segments[0].name}"]  # nothing of the UI's in the bucket
    assert not (REPO / "s3:").exists()
