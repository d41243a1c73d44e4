"""A hostile Socket.IO server on loopback against ``vectra capture --source direct``: every frame it sends lands.

The server speaks just enough Engine.IO (open packet, the ``40`` namespace answer) and then sends a seeded mix of
what a broken or malicious server can put on the wire (see ``hostile_frames``): random bytes, text that is not
UTF-8, nesting up to 100,000 levels, integers and ack ids of every size past 64 bits, NaN and Infinity, unknown
packet types, and a 16 MB text and a 16 MB binary message. Its last frame is a ping with a unique payload: when
the agent's pong for it comes back, every frame before it has been landed (the agent lands a frame before it
answers it), and the test stops the agent as a user would (SIGTERM). Then ``vectra build`` runs on that data root:
it exits 0 and every frame it could not decode is a quarantine row with a reason.
"""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import orjson
from capture_kit import landed_rows
from hostile_frames import Hostile, seeded_frames
from websockets.sync.server import serve

REPO = Path(__file__).resolve().parents[2]
OPEN = '0{"sid":"hostile-sid","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":100000000}'
CONNECTED = '40{"sid":"hostile-socket"}'
SEED, COUNT = 20261127, 1000
INT64_END = 2**63


class HostileServer:
    """Sends ``frames`` on its first connection after the handshake, then a barrier ping; records what it gets."""

    def __init__(self, frames: list[Hostile]) -> None:
        self.frames = frames
        self.barrier = f"2barrier-{uuid.uuid4().hex}"
        self.received: list[str | bytes] = []
        self.connections = 0
        self.barrier_answered = threading.Event()
        self._server = serve(self._handle, "127.0.0.1", 0, compression=None, ping_interval=None, max_size=None)
        self.url = f"http://127.0.0.1:{self._server.socket.getsockname()[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> HostileServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._server.shutdown()
        self._thread.join(timeout=30)

    def _handle(self, websocket) -> None:
        self.connections += 1
        websocket.send(OPEN)
        self.received.append(websocket.recv())  # the agent's "40"
        websocket.send(CONNECTED)
        if self.connections == 1:
            for frame in self.frames:
                websocket.send(frame.payload, text=frame.text)
            websocket.send(self.barrier)
        for message in websocket:
            self.received.append(message)
            if message == "3" + self.barrier[1:]:
                self.barrier_answered.set()


def _capture(url: str, data: Path, log: Path, server: HostileServer) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "capture_agent.cli", "capture", "--source", "direct", "--url", url,
               "--data", str(data), "--no-status"]
    with log.open("w") as stderr:
        agent = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=stderr)
        try:
            deadline = time.monotonic() + 600
            while not server.barrier_answered.wait(timeout=0.2) and agent.poll() is None and time.monotonic() < deadline:
                if server.connections > 1:
                    break  # the agent lost the connection: frames after the loss never reached it (a failure)
            answered = server.barrier_answered.is_set()
            agent.send_signal(signal.SIGTERM)
            agent.wait(timeout=120)
        finally:
            if agent.poll() is None:
                agent.kill()
                agent.wait()
    assert answered, f"no answer to the barrier ping ({server.connections} connections):\n{log.read_text()}"
    return subprocess.CompletedProcess(command, agent.returncode, "", log.read_text())


def _payload(row: dict) -> str | bytes:
    return row["payload_text"] if row["payload_text"] is not None else row["payload_bytes"]


def test_every_frame_of_a_hostile_server_lands_verbatim_and_the_root_stays_usable(tmp_path: Path) -> None:
    data = tmp_path / "data"
    frames = seeded_frames(SEED, COUNT)
    with HostileServer(frames) as server:
        result = _capture(server.url, data, tmp_path / "first.log", server)
    assert result.returncode == 0, result.stderr
    assert "internal error" not in result.stderr and "drops 0" in result.stderr
    assert server.connections == 1  # no frame made the agent drop the connection

    rows = landed_rows(data)
    [capture_id] = {row["capture_id"] for row in rows}
    assert [row["seq"] for row in rows] == list(range(len(rows)))  # gapless, nothing duplicated
    incoming = [row for row in rows if row["record_type"] == "frame" and row["direction"] == "in"]
    sent = [(1, OPEN), (1, CONNECTED), *((1 if f.text else 2, f.payload) for f in frames), (1, server.barrier)]
    landed = [(row["opcode"], _payload(row)) for row in incoming]
    assert len(landed) == len(sent)
    mismatches = [index for index, (got, want) in enumerate(zip(landed, sent)) if got != want]
    assert not mismatches, f"{len(mismatches)} frames differ, first at {mismatches[0]}: {frames[mismatches[0] - 2].kind}"
    outgoing = [_payload(row) for row in rows if row["record_type"] == "frame" and row["direction"] == "out"]
    assert outgoing == server.received  # the agent's own frames, as the server got them

    for frame, row in zip(frames, incoming[2:]):
        _check_flags(frame, row)
    kinds = collections.Counter(frame.kind for frame in frames)
    sent_bytes = sum(len(frame.wire) for frame in frames)
    landed_bytes = sum(len(_payload(row).encode() if isinstance(_payload(row), str) else _payload(row)) for row in incoming[2:-1])
    assert landed_bytes == sent_bytes
    print(f"hostile server: {len(frames)} frames ({sent_bytes:,} bytes; {dict(sorted(kinds.items()))}) "
          f"landed verbatim in order, {len(outgoing)} agent frames, 0 bytes lost")

    # the data root stays usable: a second capture starts, recovers nothing, lands and publishes
    tame = [Hostile("tame", '42["gameStateUpdate",{"gameId":"g","tickCount":1,"price":1.0}]', True)]
    with HostileServer(tame) as server:
        second = _capture(server.url, data, tmp_path / "second.log", server)
    assert second.returncode == 0, second.stderr
    assert "recovered" not in second.stderr and "set aside" not in second.stderr
    after = landed_rows(data)
    assert [row for row in after if row["capture_id"] == capture_id] == rows  # the first capture untouched
    new = [row for row in after if row["capture_id"] != capture_id]
    assert [_payload(row) for row in new if row["direction"] == "in"] == [OPEN, CONNECTED, tame[0].payload, server.barrier]
    assert not list(data.glob("landing/_wal/*")) and not list(data.glob("landing/date=*/.*"))

    _build_quarantines_every_undecodable_frame(data, tmp_path, capture_id, incoming)


def _build_quarantines_every_undecodable_frame(data: Path, tmp_path: Path, capture_id: str, incoming: list[dict]) -> None:
    from vectra_pipeline.commands.query import query

    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    env = {key: value for key, value in os.environ.items() if key != "VECTRA_DEBUG"} | {"DAGSTER_HOME": str(home)}
    build = subprocess.run([sys.executable, "-m", "capture_agent.cli", "build", "--data", str(data)], cwd=REPO,
                           capture_output=True, text=True, env=env, timeout=1200)
    assert build.returncode == 0, build.stdout + build.stderr
    assert "Traceback" not in build.stdout + build.stderr and not [line for line in build.stdout.splitlines() if line.startswith("failed")]

    def seqs(sql: str) -> set[int]:
        return {row[0] for row in query(data, sql.format(capture=capture_id))[1]}

    decoded = seqs("SELECT DISTINCT seq FROM events WHERE capture_id = '{capture}'")
    errors = seqs("SELECT DISTINCT seq FROM events WHERE capture_id = '{capture}' AND error IS NOT NULL")
    quarantined = seqs("SELECT DISTINCT seq FROM quarantine WHERE capture_id = '{capture}' AND rule = 'decode' "
                       "AND detail IS NOT NULL AND detail <> '' AND raw IS NOT NULL")
    assert {row["seq"] for row in incoming} <= decoded  # every frame received has its events row(s): none dropped
    flagged = {row["seq"] for row in incoming if row["detail"] and "codec_error" in row["detail"]}
    assert flagged <= quarantined  # what the capture flagged, the build quarantines, with a reason
    assert errors <= quarantined  # and so every packet the codec could not read
    unreasoned = query(data, f"SELECT count(*) FROM quarantine WHERE capture_id = '{capture_id}' AND (coalesce(rule, '') = '' "
                             "OR (rule = 'decode' AND coalesce(detail, '') = ''))")  # a contract rule names its reason
    assert unreasoned[1] == [(0,)]
    print(f"build: exit 0, {len(quarantined)} undecodable frames quarantined with a reason, {len(decoded)} frames decoded")


def _check_flags(frame: Hostile, row: dict) -> None:
    """What is wrong with a frame is in its row's detail, as a flag; the payload is verbatim either way."""
    detail = row["detail"] or {}
    if frame.kind == "invalid_utf8":
        assert row["payload_text"] is None and detail["codec_error"].startswith("not valid UTF-8 text")
    elif frame.kind == "deep":
        depth = max(frame.payload.count("[") - 1, frame.payload.count("{"))
        if "codec_error" not in detail:
            orjson.loads(frame.payload[2:])  # unflagged: the JSON is whole and within the parsers' reach
        assert "codec_error" in detail or depth <= 1024  # deeper is always flagged (nests too deep, or left open)
    elif frame.kind == "ack":
        digits = frame.payload[2 : frame.payload.index("[")]
        if len(digits) > 20:
            assert "longer than any id a peer can hold" in str(detail["codec_error"]) and row["ack_id"] is None
        elif int(digits) >= INT64_END:
            assert row["ack_id"] is None and detail["ack_id"] == str(int(digits)) and "ack_id_out_of_range" in detail["flags"]
        else:
            assert row["ack_id"] == int(digits)
    elif frame.kind in ("unknown_engine", "unknown_socket"):
        assert detail["codec_error"]
