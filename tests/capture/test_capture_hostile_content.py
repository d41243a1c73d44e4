"""Capture lands first and never raises on content: the codec, the recorder, the live views and the writer
take every hostile frame (deep nesting, integers past 64 bits, NaN, unknown types, invalid UTF-8, lone
surrogates) as a flag, and the WAL brings every such row back after a crash exactly as a clean close lands it."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
from capture_kit import landed_rows
from hostile_frames import EDGE_INTEGERS, Hostile, hostile_frames
from hypothesis import given, settings
from hypothesis import strategies as st

from capture_agent.landing.recovery import recover
from capture_agent.landing.rows import frame_header
from capture_agent.landing.schema import Direction, FrameMeta, Source, Transport
from capture_agent.landing.writer import LandingWriter
from capture_agent.live.normalise import normalise
from capture_agent.live.state import LiveState
from capture_agent.protocol import socketio
from capture_agent.protocol.socketio import decode_frame, decode_packet
from capture_agent.redact import redact_payload
from capture_agent.sources.recorder import FrameFlags, Recorder, decode_message

INT64_END = 2**63
GUARD = "the decoder failed"  # the codec's last-resort flag: no input may need it (it would hide a bug)


@settings(max_examples=400, deadline=None)
@given(hostile_frames)
def test_the_codec_decodes_every_hostile_frame_into_packets(frame: Hostile) -> None:
    packets = decode_message(frame.payload, 1 if frame.text else 2)
    if isinstance(frame.payload, str):
        assert "\x1e".join(packet.raw for packet in packets) == frame.payload  # every packet keeps its text
        event, ack_id = frame_header(frame.payload)
        assert event is None or isinstance(event, str)
        assert ack_id is None or isinstance(ack_id, int)
    elif frame.text:  # a text message that is not UTF-8: one error packet holding the bytes
        [packet] = packets
        assert packet.raw == frame.payload and packet.error.startswith("not valid UTF-8 text")
    assert not any((packet.error or "").startswith(GUARD) for packet in packets)


def test_the_codec_flags_the_extremes_it_cannot_follow() -> None:
    [deep] = decode_frame("42[" + "[" * 100_000 + "]" * 100_000 + "]")
    assert deep.error == "event packet data nests deeper than the decoder follows"
    for n in EDGE_INTEGERS:
        [ack] = decode_frame(f"43{n}[1]")
        if len(str(n)) <= 20:
            assert (ack.ack_id, ack.error) == (n, None)  # up to 20 digits: the exact id, whatever its size
        else:
            assert (ack.ack_id, ack.error) == (None, f"ack id of {len(str(n))} digits: longer than any id a peer can hold")
    [long_ack] = decode_frame("43" + "9" * 5000 + "[1]")
    assert long_ack.ack_id is None and long_ack.error == "ack id of 5000 digits: longer than any id a peer can hold"
    [count] = decode_frame("45" + "9" * 5000 + '-["bin"]')
    assert count.error.startswith("binary packet without")
    [wide] = decode_frame('42["w",1' + "0" * 5000 + "," + "9" * 25 + "]")
    assert wide.error is None and wide.args == (float("inf"), 1e25)  # as JavaScript reads them
    for literal in ("NaN", "Infinity", "-Infinity"):
        assert decode_frame(f'42["w",{literal}]')[0].error == "event packet data is not JSON"
    assert frame_header("43" + "9" * 5000 + "[1]") == (None, None)


def test_a_decoder_bug_becomes_a_flag_not_an_exception(monkeypatch) -> None:
    def broken(text):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(socketio, "_decode_message", broken)
    packet = decode_packet('42["x",1]')
    assert packet.raw == '42["x",1]' and packet.error == f"{GUARD} on this packet (ZeroDivisionError: a bug)"


def _landed_payload(row: dict) -> str | bytes:
    return row["payload_text"] if row["payload_text"] is not None else row["payload_bytes"]


def _expected_payload(frame: Hostile) -> str | bytes:
    """What the row holds: the text; the bytes; a JS string with lone surrogates as its WTF-8 bytes."""
    if isinstance(frame.payload, bytes):
        return frame.payload
    try:
        frame.payload.encode("utf-8")
    except UnicodeEncodeError:
        return frame.payload.encode("utf-8", "surrogatepass")
    return frame.payload


class _Normalised:
    """Observer: runs the live feed's normalisation on every row (the feed itself needs a server)."""

    def __init__(self) -> None:
        self.events = 0

    def observe(self, captured) -> None:
        self.events += len(normalise(captured))


@settings(max_examples=40, deadline=None)
@given(st.lists(hostile_frames, min_size=1, max_size=25))
def test_every_hostile_frame_lands_verbatim_and_the_wal_gives_the_same_rows(frames: list[Hostile]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        data, crashed = Path(folder) / "data", Path(folder) / "crashed"
        writer = LandingWriter(data, Source.DIRECT)
        state, normalised = LiveState("direct"), _Normalised()
        recorder = Recorder(writer, [state, normalised])
        for frame in frames:
            recorder.frame(FrameMeta(Direction.IN, Transport.WEBSOCKET, opcode=1 if frame.text else 2), frame.payload)
        writer.flush()
        shutil.copytree(data, crashed)  # what kill -9 leaves now: every row only in the WAL
        writer.close()
        assert recorder.observer_errors == 0 and state.frames_in == len(frames)
        rows = [row for row in landed_rows(data)]
        assert [_landed_payload(row) for row in rows] == [_expected_payload(frame) for frame in frames]
        assert [row["opcode"] for row in rows] == [1 if frame.text else 2 for frame in frames]
        assert [row["seq"] for row in rows] == list(range(len(frames)))
        for frame, row in zip(frames, rows):
            _check_ack(frame, row)
        assert len(recover(crashed).published) == 1
        recovered = landed_rows(crashed)
        assert recovered[-1]["event"] == "gap"  # the crash is closed by its gap row, after every frame
        assert [_comparable(row) for row in recovered[:-1]] == [_comparable(row) for row in rows]


def _check_ack(frame: Hostile, row: dict) -> None:
    """An ack id the int64 column cannot hold stays in the row: flagged, its digits in ``detail``."""
    if not isinstance(frame.payload, str):
        return
    ack_id = frame_header(frame.payload)[1]
    if ack_id is not None and ack_id >= INT64_END:
        assert row["ack_id"] is None
        assert "ack_id_out_of_range" in row["detail"]["flags"] and row["detail"]["ack_id"] == str(ack_id)
    else:
        assert row["ack_id"] == ack_id


def _comparable(row: dict) -> dict:
    return {key: value for key, value in row.items() if key != "capture_id"}


@pytest.mark.parametrize("ack_id", [2**63 - 1, 2**63, 2**63 + 1, 2**64 - 1, 2**64, 10**20 - 1])
def test_an_ack_id_past_int64_is_flagged_and_kept(tmp_path: Path, ack_id: int) -> None:
    frame = f'43{ack_id}["x"]'
    with LandingWriter(tmp_path, Source.DIRECT) as writer:
        writer.frame(Direction.IN, Transport.WEBSOCKET, frame, detail={"codec_error": "kept"})
    [row] = landed_rows(tmp_path)
    assert row["payload_text"] == frame
    if ack_id < INT64_END:
        assert row["ack_id"] == ack_id and row["detail"] == {"codec_error": "kept"}
    else:
        assert row["ack_id"] is None
        assert row["detail"] == {"codec_error": "kept", "flags": ["ack_id_out_of_range"], "ack_id": str(ack_id)}


def test_a_detail_nested_deeper_than_any_encoder_follows_is_cut_and_the_row_lands(tmp_path: Path) -> None:
    deep: list = []
    for _ in range(5000):
        deep = [deep]
    with LandingWriter(tmp_path, Source.IMPORT) as writer:
        writer.frame(Direction.IN, Transport.WEBSOCKET, "2", detail={"import": {"line": 7, "meta_raw": deep, "big": 2**70}})
    [row] = landed_rows(tmp_path)
    assert row["payload_text"] == "2" and row["detail"]["import"]["line"] == 7 and row["detail"]["import"]["big"] == 2**70
    cut = row["detail"]["import"]["meta_raw"]
    for _ in range(62):
        (cut,) = cut
    assert cut == "(nested deeper than 64 levels: cut from the detail)"


malformed_heads = st.sampled_from(['42["ev",{bad]', '4212["ev",x]', '43x[1]', '42["ev"', "4", "40", "", '451-["b",{"_placeholder":true}]'])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(hostile_frames.map(lambda frame: frame.payload), malformed_heads), min_size=1, max_size=20))
def test_the_recorder_lands_the_same_rows_as_the_writer_parsing_alone(payloads: list) -> None:
    """The recorder hands the writer the header it decoded; the writer parses it itself otherwise. Both land the same
    row for every frame, malformed ones included (where only the head names the event)."""
    with tempfile.TemporaryDirectory() as folder:
        through_recorder, writer_alone = Path(folder) / "recorder", Path(folder) / "writer"
        with LandingWriter(through_recorder, Source.DIRECT) as writer:
            recorder = Recorder(writer)
            for n, payload in enumerate(payloads):
                recorder.frame(FrameMeta(Direction.IN, Transport.WEBSOCKET, recv_wall_ns=n, recv_mono_ns=n), payload)
        with LandingWriter(writer_alone, Source.DIRECT) as writer:
            flags = FrameFlags()  # the recorder's flags, computed the same way: only the header is left to the writer
            for n, payload in enumerate(payloads):
                detail = flags.check((None, Direction.IN), tuple(decode_message(redact_payload(payload), None)))
                writer.frame(Direction.IN, Transport.WEBSOCKET, payload, recv_wall_ns=n, recv_mono_ns=n, detail=detail)
        mine, theirs = landed_rows(through_recorder), landed_rows(writer_alone)
    assert [_comparable(row) for row in mine] == [_comparable(row) for row in theirs]
