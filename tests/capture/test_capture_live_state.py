"""Live status state, feed normaliser and frame flags — on the real captured frames."""

from __future__ import annotations

import io
import json

from realdata import event_records

from capture_agent.landing.schema import Direction, RecordType, Transport
from capture_agent.live.normalise import TICK_FIELDS, normalise
from capture_agent.live.state import LiveState, RateCounter
from capture_agent.live.status import health, status_line, status_table
from capture_agent.protocol.game import phase
from capture_agent.protocol.recordings import direction_of, frame_from_record
from capture_agent.protocol.socketio import UNANNOUNCED_BINARY, decode_frame
from capture_agent.sources.recorder import Captured, FrameFlags

NS = 1_000_000_000


def real_frames():
    """(direction, frame text, record) for every real record that rebuilds into a frame."""
    for _name, record in event_records():
        frame = frame_from_record(record)
        if frame is not None:
            yield (Direction.OUT if direction_of(record) == "out" else Direction.IN), frame, record


def captured_frame(seq: int, direction: Direction, frame: str | bytes, mono_ns: int = 0) -> Captured:
    return Captured(seq, RecordType.FRAME, 1_700_000_000 * NS + seq, mono_ns, direction, Transport.WEBSOCKET, "sid", tuple(decode_frame(frame)))


def test_state_follows_the_real_game_state_frames():
    state = LiveState("direct")
    last_state = last_cash = None
    for seq, (direction, frame, record) in enumerate(real_frames()):
        state.observe(captured_frame(seq, direction, frame))
        if direction is Direction.IN and record["event"] == "gameStateUpdate" and isinstance(record["data"], dict):
            last_state = record["data"]
        if direction is Direction.IN and record["event"] == "playerUpdate" and isinstance((record["data"] or {}).get("cash"), (int, float)):
            last_cash = record["data"]["cash"]
    snap = state.snapshot(0)
    assert snap.game_id == last_state["gameId"]
    assert snap.phase == str(phase(last_state))
    assert last_cash is not None and snap.cash == last_cash
    assert snap.frames_in > 500 and snap.frames_out > 0
    # records whose source hid the ack id rebuild into malformed acks (recordings.py): counted, not hidden
    assert snap.malformed == sum(1 for d, f, _ in real_frames() if d is Direction.IN and any(p.error for p in decode_frame(f)))


def test_cooldown_frames_leave_price_unknown_rather_than_made_up():
    state = LiveState("direct")
    tick = '42["gameStateUpdate",{"gameId":"20251217-aaaaaaaaaaaaaaaa","active":true,"rugged":false,"tickCount":7,"price":1.3,"cooldownTimer":0,"allowPreRoundBuys":false}]'
    cooldown = '42["gameStateUpdate",{"gameId":"20251217-bbbbbbbbbbbbbbbb","cooldownTimer":14900,"cooldownPaused":false,"allowPreRoundBuys":false,"leaderboard":[],"connectedPlayers":200,"provablyFair":{}}]'
    state.observe(captured_frame(0, Direction.IN, tick))
    assert (state.tick, state.price, state.phase) == (7, 1.3, "active")
    state.observe(captured_frame(1, Direction.IN, cooldown))
    snap = state.snapshot(0)
    assert snap.game_id == "20251217-bbbbbbbbbbbbbbbb"
    assert (snap.tick, snap.price, snap.phase, snap.cooldown_ms) == (None, None, "cooldown", 14900)


def test_connection_rows_drive_the_connected_flag():
    state = LiveState("direct")
    row = lambda seq, event, detail: Captured(seq, RecordType.CONNECTION, 0, 0, event=event, detail=detail)  # noqa: E731
    state.observe(row(0, "connected", {"sid": "abc"}))
    assert state.connected and "abc" in state.connection_note
    state.observe(row(1, "disconnected", {"reason": "connection closed"}))
    assert not state.connected
    state.observe(row(2, "reconnecting", {"attempt": 2, "delay_s": 1.5}))
    assert "attempt 2" in state.connection_note


def test_rates_count_whole_seconds_in_the_window():
    counter = RateCounter(window_s=5)
    for second in range(10):
        for i in range(second):  # second k holds k events
            counter.add(second * NS + i)
    # at t=10 s the window is seconds 5..9: 5+6+7+8+9 = 35 events over 5 s
    assert counter.rate(10 * NS) == 7.0
    assert counter.rate(20 * NS) == 0.0


def test_normaliser_maps_every_real_frame():
    kinds = {}
    for seq, (direction, frame, record) in enumerate(real_frames()):
        for event in normalise(captured_frame(seq, direction, frame)):
            kinds.setdefault(event["type"], event)
            assert event["seq"] == seq and isinstance(event["ts_ns"], int)
            if event["type"] == "game.tick":
                data = record["data"]
                assert set(event["data"]) - {"phase"} <= set(TICK_FIELDS)
                assert event["data"].get("price") == data.get("price")  # absent stays absent
                assert event["data"]["phase"] == str(phase(data))
                assert event["game_id"] == data["gameId"]
            if direction is Direction.OUT:
                assert event["type"].startswith("raw.")
                assert set(event["data"]) == {"ack_id"}  # outgoing arguments may hold tokens: never fanned out
    for expected in ("game.tick", "player.trade", "player.state", "sidebet.placed", "sidebet.result", "raw.ack", "raw.newChatMessage"):
        assert expected in kinds, expected
    trade = kinds["player.trade"]
    assert trade["data"]["type"] in ("buy", "sell", "short_open", "short_close")


def test_normaliser_connection_click_malformed_and_housekeeping():
    row = Captured(5, RecordType.CONNECTION, 11, 0, event="gap", detail={"gap_s": 2.5})
    assert normalise(row) == [{"type": "connection.gap", "ts_ns": 11, "seq": 5, "game_id": None, "direction": None, "data": {"gap_s": 2.5}}]
    click = Captured(6, RecordType.CLICK, 12, 0, event="click", detail={"selector": "#buy"})
    assert normalise(click)[0]["type"] == "ui.click"
    bad = normalise(captured_frame(7, Direction.IN, '42["gameStateUpdate",{'))
    assert bad[0]["type"] == "raw.malformed" and "not JSON" in bad[0]["data"]["error"]
    assert normalise(captured_frame(8, Direction.IN, "2")) == []
    assert normalise(captured_frame(9, Direction.OUT, "40")) == []
    assert normalise(captured_frame(10, Direction.IN, b"\x00\x01"))[0]["type"] == "raw.binary"


def test_frame_flags_codec_errors_and_unannounced_binary():
    flags = FrameFlags()
    stream = ("sid", Direction.IN)
    assert flags.check(stream, tuple(decode_frame('42["ok",{}]'))) is None
    assert flags.check(stream, tuple(decode_frame("42[")))["codec_error"] == "event packet data is not JSON"
    orphan = flags.check(stream, tuple(decode_frame(b"\xff\x00")))
    assert orphan["codec_error"] == UNANNOUNCED_BINARY and orphan["binary_bytes"] == 2
    # a binary event announcing one attachment: the next binary message is expected, not flagged
    assert flags.check(stream, tuple(decode_frame('451-["upload",{"_placeholder":true,"num":0}]'))) is None
    assert flags.check(stream, tuple(decode_frame(b"\x01\x02\x03"))) == {"binary_bytes": 3}
    assert "codec_error" in flags.check(stream, tuple(decode_frame(b"\x04")))


def test_status_is_loud_about_drops():
    state = LiveState("direct")
    quiet = health(state.snapshot(0), {"drops": 0, "segments_published": 1, "bytes_published": 10, "wal_lag_s": 0.01, "rows": 3})
    assert quiet["drops"] == 0 and "DROPS" not in status_line(quiet)
    loud = health(state.snapshot(0), {"drops": 0, "wal_lag_s": 0.0}, source_losses=2)
    assert loud["drops"] == 2 and "DROPS 2" in status_line(loud)
    from rich.console import Console

    console = Console(file=io.StringIO(), width=120)
    console.print(status_table(loud))
    assert "FRAMES LOST" in console.file.getvalue()


def test_the_feed_encodes_every_event_even_what_json_cannot_carry():
    from capture_agent.live.feed import encode_event

    deep = '42["newChatMessage",' + "[" * 300 + "]" * 300 + "]"  # decodes, but orjson writes at most 255 levels
    surrogate = '42["newChatMessage",{"message":"broken \\ud83d"}]'  # a lone surrogate: legal in JS strings
    for seq, frame in enumerate((deep, surrogate)):
        (event,) = normalise(captured_frame(seq, Direction.IN, frame))
        message = json.loads(encode_event(event))
        assert message["type"] == "raw.unencodable" and message["seq"] == seq
        assert message["data"]["original_type"] == "raw.newChatMessage" and "not encodable as JSON" in message["data"]["error"]
    (plain,) = normalise(captured_frame(2, Direction.IN, '42["newChatMessage",{"message":"hi"}]'))
    assert json.loads(encode_event(plain))["type"] == "raw.newChatMessage"
