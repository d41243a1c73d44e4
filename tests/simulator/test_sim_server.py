"""The simulator over real sockets: python-socketio clients (websocket and polling), a raw WebSocket client
checked frame by frame against the wire log, the admin drop, speed, and the ``vectra simulate`` command."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import engineio.payload
import pytest
import socketio
import websockets
from simdrive import seed_whose_next_games
from waits import wait_for, wait_until

from capture_agent.errors import VectraError
from capture_agent.protocol.game import FrameShape, frame_shape
from capture_agent.protocol.socketio import decode_frame, encode_event, trace_arg
from simulator import server as server_module
from simulator.server import start_simulator

REPO = Path(__file__).resolve().parents[2]
SOL = "So11111111111111111111111111111111111111112"


@pytest.fixture()
def simulator(tmp_path):
    handle = start_simulator(speed=20, seed="server-tests", wire_log=tmp_path / "wire.jsonl", admin=True)
    yield handle
    handle.stop()


def _trace() -> dict:
    return trace_arg(os.urandom(16).hex(), os.urandom(8).hex())


async def _play(url: str, transport: str, games: int = 2, min_ticks: int = 40) -> dict:
    """Connect, then in the presale of ``games`` games buy and side-bet; go on until ``min_ticks`` active
    ticks have arrived (game lengths depend on the date, which is in the game ids); then sell."""
    client = socketio.AsyncClient(reconnection=False)
    frames: list[tuple[float, str, object]] = []

    @client.on("*")
    async def anything(event, *args):
        frames.append((time.monotonic(), event, args[-1] if args else None))

    await client.connect(url, transports=[transport])
    acks = []
    deadline = time.monotonic() + 60
    seen_games: set[str] = set()
    while time.monotonic() < deadline:
        seen = len(frames)
        await wait_for(lambda seen=seen: len(frames) > seen, 30, what="a frame from the simulator")
        states = [f for _, e, f in frames if e == "gameStateUpdate"]
        ticks = sum(1 for f in states if frame_shape(f) is FrameShape.ACTIVE)
        if len(seen_games) >= games and ticks >= min_ticks and states[-1].get("cooldownTimer"):
            break
        if not states:
            continue
        last = states[-1]
        game_id = last["gameId"]
        if game_id in seen_games:
            continue
        if last.get("allowPreRoundBuys") is True:
            acks.append(("buyOrder", await client.call("buyOrder", (_trace(), {"amount": 0.01}), timeout=5)))
            acks.append(("requestSidebet", await client.call(
                "requestSidebet", (_trace(), {"amount": 0.01, "coinAddress": SOL, "xPayout": 5}), timeout=5)))
            seen_games.add(game_id)
    acks.append(("sellOrder", await client.call("sellOrder", {"percentage": 100}, timeout=5)))
    await client.disconnect()
    return {"frames": frames, "acks": acks, "games": seen_games}


@pytest.fixture(scope="module")
def played() -> dict[str, dict]:
    """Three games played by a python-socketio client over each transport, on one speed-20 simulator."""
    # python-engineio's client refuses polling bodies of more than 16 packets (the JS client has no such
    # limit); at speed 20 a long-poll response easily holds more.
    limit = engineio.payload.Payload.max_decode_packets
    engineio.payload.Payload.max_decode_packets = 4096
    seed = seed_whose_next_games(lambda ticks: all(30 <= t <= 200 for t in ticks), count=3, prefix="play")
    handle = start_simulator(speed=20, seed=seed)
    try:
        return {transport: asyncio.run(_play(handle.url, transport)) for transport in ("websocket", "polling")}
    finally:
        handle.stop()
        engineio.payload.Payload.max_decode_packets = limit


@pytest.mark.parametrize("transport", ["websocket", "polling"])
def test_python_socketio_client_plays_games_and_gets_acks(played, transport):
    result = played[transport]
    frames = result["frames"]
    first_state = next(f for _, e, f in frames if e == "gameStateUpdate")
    assert frame_shape(first_state) is FrameShape.SNAPSHOT and "prices" in first_state
    assert len(result["games"]) >= 2
    presale_acks = [ack for name, ack in result["acks"] if name != "sellOrder"]
    assert all(ack["success"] is True for ack in presale_acks)
    assert any(ack.get("message") == "Side bet placed" for ack in presale_acks)
    sell = dict(result["acks"])["sellOrder"]
    assert set(sell) <= {"success", "reason"}  # ok, or refused with a reason (e.g. wrong phase)
    events = {e for _, e, _ in frames}
    assert {"gameStateUpdate", "playerUpdate", "gameStatePlayerUpdate", "standard/newTrade", "currentSidebet"} <= events
    shapes = {frame_shape(f) for _, e, f in frames if e == "gameStateUpdate"}
    assert {FrameShape.GENESIS, FrameShape.RUG, FrameShape.RUG_HISTORY, FrameShape.TICK0, FrameShape.ACTIVE} <= shapes


def test_speed_20_runs_ticks_at_12_5_ms(played):
    result = played["websocket"]
    ticks = [(t, f["tickCount"]) for t, e, f in result["frames"]
             if e == "gameStateUpdate" and frame_shape(f) is FrameShape.ACTIVE]
    runs = [(a, b) for a, b in zip(ticks, ticks[1:]) if b[1] > a[1]]
    elapsed = sum(b[0] - a[0] for a, b in runs)
    count = sum(b[1] - a[1] for a, b in runs)
    assert count > 20
    assert 0.006 < elapsed / count < 0.025  # 250 ms / 20, with scheduling jitter


async def _raw_session(url: str) -> tuple[str, list[str], list[str]]:
    """A bare Engine.IO WebSocket client: returns its sid, every frame received and every frame sent."""
    received: list[str] = []
    sent: list[str] = []
    ws_url = url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
    async with websockets.connect(ws_url) as ws:
        async def send(text: str) -> None:
            sent.append(text)
            await ws.send(text)

        opening = await ws.recv()
        received.append(opening)
        sid = decode_frame(opening)[0].payload["sid"]
        await send("40")
        buy_sent = False
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline:
            try:
                frame = await asyncio.wait_for(ws.recv(), 0.5)
            except TimeoutError:
                continue
            received.append(frame)
            packet = decode_frame(frame)[0]
            if packet.engine_type == "ping":
                await send("3")
            if packet.event == "gameStateUpdate" and packet.payload.get("active") and not buy_sent:
                await send(encode_event("buyOrder", _trace(), {"amount": 0.02}, ack_id=7))
                buy_sent = True
            if packet.socket_type == "ack" and packet.ack_id == 7:
                break
    return sid, received, sent


def _logged(wire_log: Path, sid: str, received: list[str], sent: list[str]) -> list[dict]:
    """The wire log's records of one client once it holds every frame that client received and sent (the
    server logs a frame as it goes, so the last ones may still be on their way to the file)."""

    def complete() -> list[dict] | None:
        lines = wire_log.read_text().split("\n")[:-1]  # complete lines only
        mine = [r for r in map(json.loads, lines) if r["sid"] == sid]
        out = sum(1 for r in mine if r["direction"] == "out")
        return mine if out >= len(received) and len(mine) - out >= len(sent) else None

    return wait_until(complete, 30, f"the wire log holding {sid}'s frames")


def test_wire_log_holds_exactly_the_frames_on_the_socket(simulator):
    sid, received, sent = asyncio.run(_raw_session(simulator.url))
    mine = _logged(simulator.wire_log, sid, received, sent)
    outgoing = [r["frame"] for r in mine if r["direction"] == "out"]
    incoming = [r["frame"] for r in mine if r["direction"] == "in"]
    assert outgoing[: len(received)] == received  # same frames, same order, same bytes
    assert incoming == sent
    assert received[-1].startswith("437[{") and json.loads(received[-1][3:])[0]["success"] is True
    buy = next(r for r in mine if r["event"] == "buyOrder")
    assert (buy["direction"], buy["ack_id"]) == ("in", 7)
    assert all(r["t_ns"] > 0 for r in mine) and [r["t_ns"] for r in mine] == sorted(r["t_ns"] for r in mine)
    trade = next(decode_frame(f)[0] for f in received if '"standard/newTrade"' in f and sent[1].split("-")[1] in f)
    assert trade.trace_id == decode_frame(sent[1])[0].trace_id  # the broadcast carries the request's trace


def test_admin_drop_disconnects_and_clients_reconnect_to_their_account(simulator):
    async def scenario() -> tuple[int, int, list[dict]]:
        client = socketio.AsyncClient(reconnection=True, reconnection_delay=0.1, reconnection_delay_max=0.2)
        connects = 0
        updates: list[dict] = []

        @client.event
        async def connect():
            nonlocal connects
            connects += 1

        @client.on("playerUpdate")
        async def player_update(update):
            updates.append(update)

        await client.connect(simulator.url, transports=["websocket"], auth={"account": "alice"})
        await client.call("authenticate", (_trace(), {}), timeout=5)
        request = urllib.request.Request(simulator.url + "/admin/drop", method="POST")
        body = await asyncio.to_thread(lambda: json.loads(urllib.request.urlopen(request, timeout=5).read()))
        await wait_for(lambda: connects >= 2, 30, what="the reconnect")
        await client.call("authenticate", (_trace(), {}), timeout=5)
        await client.disconnect()
        return body["dropped"], connects, updates

    dropped, connects, updates = asyncio.run(scenario())
    assert dropped >= 1 and connects == 2
    assert len(updates) == 2 and updates[0]["id"] == updates[1]["id"]  # the same practice account


def test_admin_endpoint_off_without_flag_and_refuses_other_peers(simulator):
    handle = start_simulator(speed=20, seed="no-admin")
    try:
        request = urllib.request.Request(handle.url + "/admin/drop", method="POST")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=5)
        assert refused.value.code == 404
    finally:
        handle.stop()
    sent: list[dict] = []

    async def capture(message):
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/admin/drop", "client": ("192.0.2.7", 5555)}
    app = simulator._app
    asyncio.run_coroutine_threadsafe(app._http(scope, None, capture), simulator._loop).result(timeout=5)
    assert sent[0]["status"] == 403


def test_play_page_and_bundle_are_served(simulator):
    page = urllib.request.urlopen(simulator.url + "/", timeout=5).read().decode()
    assert 'id="buy"' in page and "/socket.io.min.js" in page
    bundle = urllib.request.urlopen(simulator.url + "/socket.io.min.js", timeout=5).read()
    assert bundle == server_module.SOCKET_IO_BUNDLE.read_bytes()
    assert b"drawChart" in urllib.request.urlopen(simulator.url + "/static/play.js", timeout=5).read()


def test_missing_bundle_is_one_clear_error(monkeypatch, tmp_path):
    monkeypatch.setattr(server_module, "SOCKET_IO_BUNDLE", tmp_path / "missing.js")
    with pytest.raises(VectraError, match="scripts/setup.sh"):
        start_simulator()


def test_busy_port_is_one_clear_error(simulator):
    port = int(simulator.url.rsplit(":", 1)[1])
    with pytest.raises(VectraError, match="choose another --port"):
        start_simulator(port=port)


def test_vectra_simulate_prints_urls_serves_and_stops_on_ctrl_c(tmp_path):
    process = subprocess.Popen(
        [sys.executable, "-m", "capture_agent.cli", "simulate", "--port", "0", "--speed", "10", "--admin",
         "--wire-log", str(tmp_path / "cli.jsonl")],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        lines = [process.stdout.readline() for _ in range(5)]
        page_url = next(line.split()[-1] for line in lines if "play page" in line)
        assert any("/socket.io/" in line for line in lines) and any("/admin/drop" in line for line in lines)
        assert 'id="sell-100"' in urllib.request.urlopen(page_url, timeout=5).read().decode()
    finally:
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=20)
    assert process.returncode == 0, err


def test_wire_log_matches_long_polling_bodies(simulator):
    """Over HTTP long-polling each response body is packets joined by \\x1e; the log has one line per packet."""
    base = simulator.url + "/socket.io/?EIO=4&transport=polling"

    def get(url: str) -> str:
        return urllib.request.urlopen(url, timeout=10).read().decode()

    def post(url: str, body: str) -> None:
        urllib.request.urlopen(urllib.request.Request(url, data=body.encode(), method="POST"), timeout=10).read()

    received = get(base).split("\x1e")
    sid = decode_frame(received[0])[0].payload["sid"]
    session = f"{base}&sid={sid}"
    sent = ["40", encode_event("buyOrder", _trace(), {"amount": 0.01}, ack_id=3)]
    post(session, sent[0])
    for _ in range(6):
        received += get(session).split("\x1e")
    post(session, sent[1])
    while not any(packet.startswith("433[") for packet in received):
        received += get(session).split("\x1e")
    post(session, "1")  # Engine.IO CLOSE
    mine = _logged(simulator.wire_log, sid, received, sent + ["1"])
    outgoing = [r["frame"] for r in mine if r["direction"] == "out"]
    assert outgoing[: len(received)] == received
    assert [r["frame"] for r in mine if r["direction"] == "in"] == sent + ["1"]
