"""`vectra ui` starts the Dagster UI on loopback with every Vectra definition loaded, and stops on Ctrl-C (guard and
Dagster behind it; tests/demo/test_ui_guard.py attacks the guard)."""

import json
import os
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

from waits import wait_until

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _asset_keys(port: int) -> list[str]:
    query = json.dumps({"query": "{ assetNodes { assetKey { path } } }"}).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}/graphql", data=query, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as response:
        nodes = json.load(response)["data"]["assetNodes"]
    return sorted("/".join(node["assetKey"]["path"]) for node in nodes)


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


def test_ui_serves_the_definitions_on_loopback_and_stops_on_ctrl_c(tmp_path):
    port = _free_port()
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path / "home")}
    (tmp_path / "home").mkdir()
    process = subprocess.Popen(
        [sys.executable, "-m", "capture_agent.cli", "ui", "--port", str(port), "--data", str(tmp_path / "data")],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        def asset_keys() -> list[str]:
            assert process.poll() is None, "vectra ui exited"
            try:
                return _asset_keys(port)
            except OSError:
                return []  # not answering yet

        keys = wait_until(asset_keys, 120, "the UI answering", interval=1)
        assert {"frames", "events", "games", "player_state", "observations", "training_dataset"} <= set(keys), keys
        assert _listening_addresses(port) == {"0100007F"}  # 127.0.0.1 only, no wildcard or public bind
    finally:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            raise
    output = process.stdout.read().decode()
    assert f"http://127.0.0.1:{port}/" in output
    private = int(output.split("Dagster starts behind it on 127.0.0.1:")[1].split()[0])
    assert not _listening_addresses(private)  # Ctrl-C reached Dagster behind the guard too


def test_ui_refuses_a_public_host_without_opt_in():
    result = subprocess.run(
        [sys.executable, "-m", "capture_agent.cli", "ui", "--host", "0.0.0.0"], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "--public" in result.stderr
