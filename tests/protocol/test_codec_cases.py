"""One case per frame kind of docs/PROTOCOL.md §1 and per kind of damage: what the codec reads from each."""

from __future__ import annotations

import pytest

from capture_agent.protocol.engineio import PING, PONG, EngineType, encode_open, encode_polling
from capture_agent.protocol.socketio import (
    SocketType,
    decode_frame,
    decode_packet,
    decode_text_bytes,
    encode_ack,
    encode_connect,
    encode_event,
    trace_arg,
)

E, S = EngineType, SocketType
HANDSHAKE = {"sid": "lv_VI97HAXpY6yYWAAAC", "upgrades": ["websocket"], "pingInterval": 25000, "pingTimeout": 20000,
             "maxPayload": 1000000}


@pytest.mark.parametrize(
    ("frame", "expected"),
    [
        (encode_open(HANDSHAKE), dict(engine_type=E.OPEN, payload=HANDSHAKE)),
        ("1", dict(engine_type=E.CLOSE)),
        (PING, dict(engine_type=E.PING)),
        (PONG, dict(engine_type=E.PONG)),
        ("2probe", dict(engine_type=E.PING, payload="probe")),
        ("3probe", dict(engine_type=E.PONG, payload="probe")),
        ("5", dict(engine_type=E.UPGRADE)),
        ("6", dict(engine_type=E.NOOP)),
        ("40", dict(engine_type=E.MESSAGE, socket_type=S.CONNECT)),
        ('40{"sid":"x"}', dict(socket_type=S.CONNECT, payload={"sid": "x"})),
        ('40/admin,{"token":"t"}', dict(socket_type=S.CONNECT, namespace="/admin", payload={"token": "t"})),
        ("41", dict(socket_type=S.DISCONNECT)),
        ("41/admin,", dict(socket_type=S.DISCONNECT, namespace="/admin")),
        ('44{"message":"Not authorized"}', dict(socket_type=S.CONNECT_ERROR, payload={"message": "Not authorized"})),
        ('44"bad"', dict(socket_type=S.CONNECT_ERROR, payload="bad")),
        ('42["chatHistory"]', dict(socket_type=S.EVENT, event="chatHistory", args=(), payload=None)),
        ('42/admin,7["x",1,2]', dict(namespace="/admin", ack_id=7, event="x", args=(1, 2), payload=2)),
        ('451-["upload",{"_placeholder":true,"num":0}]',
         dict(socket_type=S.BINARY_EVENT, attachments=1, event="upload", args=({"_placeholder": True, "num": 0},))),
        ('462-/admin,15[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]',
         dict(socket_type=S.BINARY_ACK, attachments=2, namespace="/admin", ack_id=15)),
        ("bAQID", dict(engine_type=E.MESSAGE, payload=b"\x01\x02\x03")),
        ('42["a",{"__trace":true,"traceparent":"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},{"v":1}]',
         dict(event="a", trace_id="0af7651916cd43dd8448eb211c80319c", payload={"v": 1})),
        ("43 7[1]", dict(error="ack packet data is not JSON")),  # an ack id is digits right after the type
    ],
)
def test_well_formed(frame, expected):
    [packet] = decode_frame(frame)
    assert packet.raw == frame
    if "error" not in expected:
        assert packet.error is None, packet.error
    for field, value in expected.items():
        assert getattr(packet, field) == value, field


@pytest.mark.parametrize(
    ("frame", "engine_type", "error"),
    [
        ("", None, "empty packet"),
        ("9", None, "unknown Engine.IO packet type '9'"),
        ("x42[]", None, "unknown Engine.IO packet type 'x'"),
        ("0not json", E.OPEN, "open packet data is not JSON"),
        ("0[1]", E.OPEN, "open packet data is not an object"),
        ("1x", E.CLOSE, "unexpected data after close packet"),
        ("4", E.MESSAGE, "empty message packet (no Socket.IO type)"),
        ("47[]", E.MESSAGE, "unknown Socket.IO packet type '7'"),
        ("42", E.MESSAGE, "event packet without data"),
        ("42[", E.MESSAGE, "event packet data is not JSON"),
        ("42{\"a\":1}", E.MESSAGE, "event data is not an array"),
        ("42[]", E.MESSAGE, "event array is empty (no event name)"),
        ("42[1,2]", E.MESSAGE, "event name is int, not a string"),
        ('42["connect"]', E.MESSAGE, "reserved event name 'connect'"),
        ("42[NaN]", E.MESSAGE, "event packet data is not JSON"),
        ("43", E.MESSAGE, "ack packet without data"),
        ("43[1]", E.MESSAGE, "ack without an ack id"),
        ('431{"a":1}', E.MESSAGE, "ack data is not an array"),
        ("40[1]", E.MESSAGE, "connect data is not an object"),
        ("41{}", E.MESSAGE, "disconnect packet carries data"),
        ("44", E.MESSAGE, "connect_error packet without data"),
        ("44[1]", E.MESSAGE, "connect_error data is neither an object nor a string"),
        ("4412", E.MESSAGE, "connect_error packet without data"),  # "12" is read as an id, as socket.io does
        ('45["a"]', E.MESSAGE, "binary packet without '<n>-' attachment count (n ≥ 1)"),
        ('450-["a"]', E.MESSAGE, "binary packet without '<n>-' attachment count (n ≥ 1)"),
        ("b!!", E.MESSAGE, "binary packet is not valid base64"),
    ],
)
def test_malformed_keeps_raw_and_says_why(frame, engine_type, error):
    [packet] = decode_frame(frame)
    assert (packet.raw, packet.engine_type, packet.error) == (frame, engine_type, error)


def test_bad_payload_data_is_kept():
    [packet] = decode_frame('42{"a":1}')
    assert packet.payload == {"a": 1}  # what could be read stays readable
    [packet] = decode_frame("42[1,2]")
    assert (packet.event, packet.args) == (None, (2,))


def test_binary_websocket_message_is_an_attachment():
    [packet] = decode_frame(b"\x00\xff\x10")
    assert (packet.engine_type, packet.socket_type, packet.payload, packet.error) == (
        E.MESSAGE, None, b"\x00\xff\x10", None)


def test_undecodable_text_bytes_are_reported():
    [packet] = decode_text_bytes(b'42["a\xff"]')
    assert packet.raw == b'42["a\xff"]' and packet.engine_type is None and "UTF-8" in packet.error
    assert decode_text_bytes('42["é"]'.encode())[0].event == "é"


def test_not_a_frame_at_all():
    [packet] = decode_frame(12)  # type: ignore[arg-type]
    assert packet.error == "frame is int, not text or bytes"


def test_polling_body_with_binary_and_empty_parts():
    body = encode_polling(["0" + '{"sid":"s"}', "40", "bAQID", encode_event("a", 1), ""])
    packets = decode_frame(body)
    assert [p.engine_type for p in packets] == [E.OPEN, E.MESSAGE, E.MESSAGE, E.MESSAGE, None]
    assert packets[2].payload == b"\x01\x02\x03" and packets[3].event == "a"
    assert packets[4].error == "empty packet"  # a trailing separator is damage, kept and reported


def test_encoders_write_the_documented_frames():
    trace = trace_arg("55110064298fdee6dc04d093c003b5c9", "2870159c41eb0cab")
    assert encode_event("buyOrder", trace, {"amount": 0.002}, ack_id=29) == (
        '4229["buyOrder",{"__trace":true,"traceparent":"00-55110064298fdee6dc04d093c003b5c9-2870159c41eb0cab-01"},'
        '{"amount":0.002}]')
    assert encode_event("x", namespace="/ns", ack_id=7) == '42/ns,7["x"]'
    assert encode_ack(29, {"success": True}) == '4329[{"success":true}]'
    assert encode_ack(58) == "4358[]"
    assert encode_connect() == "40"
    assert encode_connect({"sid": "abc"}) == '40{"sid":"abc"}'
    assert encode_connect(namespace="/admin") == "40/admin,"
    assert encode_open({"sid": "abc", "pingInterval": 25000}) == '0{"sid":"abc","pingInterval":25000}'
    assert encode_event("gameStateUpdate", {"price": 1.0, "tickCount": 0}) == (
        '42["gameStateUpdate",{"price":1,"tickCount":0}]')
    assert (PING, PONG) == ("2", "3")


def test_decode_packet_does_not_split():
    packet = decode_packet('42["a\\u001e"]')
    assert packet.event == "a\x1e"
