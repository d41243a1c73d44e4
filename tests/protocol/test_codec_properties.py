"""Property tests: encode → decode is the identity, decoding never raises, polling bodies split right."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from capture_agent.protocol.engineio import EngineType, Packet, encode_polling
from capture_agent.protocol.jsjson import _dumps_slow, dumps, loads
from capture_agent.protocol.socketio import (
    RESERVED_EVENTS,
    SocketType,
    decode_frame,
    decode_packet,
    decode_text_bytes,
    encode_ack,
    encode_connect,
    encode_event,
    trace_arg,
)

BOUNDED = settings(max_examples=200, deadline=None)

# JSON values as JavaScript holds them, so that decode(encode(x)) == x holds as values: numbers within
# ±2**53 (a double beyond that is integral and JS writes it as an integer literal, which reads back as a
# Python int — text identity for those is tested in test_wide_floats_keep_their_text), no NaN/Infinity.
SAFE_INT = 2**53
scalars = (
    st.none()
    | st.booleans()
    | st.integers(-SAFE_INT, SAFE_INT)
    | st.floats(-SAFE_INT, SAFE_INT, allow_nan=False)
    | st.text(alphabet=st.characters(exclude_categories=()), max_size=12)  # includes lone surrogates
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)
event_names = st.text(max_size=20).filter(lambda name: name not in RESERVED_EVENTS)
ack_ids = st.none() | st.integers(0, 2**31)
# A namespace ends at the first comma and is written verbatim (no escaping): no commas, no control characters.
namespaces = st.just("/") | st.text(
    alphabet=st.characters(exclude_characters=",", exclude_categories=("Cc", "Cs")), min_size=1, max_size=10
).map(lambda name: "/" + name)
hex_ids = st.integers(0, 2**128 - 1).map(lambda n: f"{n:032x}")
span_ids = st.integers(0, 2**64 - 1).map(lambda n: f"{n:016x}")


@BOUNDED
@given(event_names, st.lists(json_values, max_size=4), ack_ids, namespaces)
def test_event_encode_decode_identity(event, args, ack_id, namespace):
    frame = encode_event(event, *args, ack_id=ack_id, namespace=namespace)
    [packet] = decode_frame(frame)
    assert packet.error is None
    assert (packet.engine_type, packet.socket_type) == (EngineType.MESSAGE, SocketType.EVENT)
    assert (packet.event, packet.ack_id, packet.namespace) == (event, ack_id, namespace)
    assert packet.args == tuple(args)
    assert packet.payload == (args[-1] if args else None)
    assert encode_event(packet.event, *packet.args, ack_id=packet.ack_id, namespace=packet.namespace) == frame


@BOUNDED
@given(st.integers(0, 2**31), st.lists(json_values, max_size=4), namespaces)
def test_ack_encode_decode_identity(ack_id, args, namespace):
    frame = encode_ack(ack_id, *args, namespace=namespace)
    [packet] = decode_frame(frame)
    assert packet.error is None and packet.socket_type is SocketType.ACK
    assert (packet.ack_id, packet.namespace, packet.args) == (ack_id, namespace, tuple(args))
    assert encode_ack(packet.ack_id, *packet.args, namespace=packet.namespace) == frame


@BOUNDED
@given(hex_ids, span_ids, event_names, json_values)
def test_trace_id_read_from_first_argument(trace_id, span_id, event, payload):
    [packet] = decode_frame(encode_event(event, trace_arg(trace_id, span_id), payload))
    assert packet.trace_id == trace_id
    assert packet.payload == payload


@BOUNDED
@given(st.none() | st.dictionaries(st.text(max_size=8), json_values, max_size=4), namespaces)
def test_connect_encode_decode_identity(data, namespace):
    [packet] = decode_frame(encode_connect(data, namespace))
    assert packet.error is None and packet.socket_type is SocketType.CONNECT
    assert (packet.payload, packet.namespace) == (data, namespace)


@BOUNDED
@given(json_values)
def test_dumps_loads_identity(value):
    assert loads(dumps(value)) == value
    assert dumps(loads(dumps(value))) == dumps(value)


@BOUNDED
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_wide_floats_keep_their_text(value):
    text = dumps(value)
    assert dumps(loads(text)) == text
    assert float(loads(text)) == value


any_json = st.recursive(
    scalars | st.floats(allow_nan=False) | st.integers(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@BOUNDED
@given(any_json)
def test_fast_dumps_equals_the_reference_encoder(value):
    """orjson's output is only kept when it has no float layout JS writes differently: checked against the
    pure encoder that lays out every number with js_number (itself checked against node in test_dumps)."""
    assert dumps(value) == _dumps_slow(value)


def _assert_packets(packets: list[Packet], raw_type: type) -> None:
    assert packets and all(isinstance(packet, Packet) for packet in packets)
    for packet in packets:
        assert isinstance(packet.raw, raw_type)
        assert packet.error is None or isinstance(packet.error, str)


@BOUNDED
@given(st.text(alphabet=st.characters(exclude_categories=())))
def test_decode_never_raises_on_text(text):
    packets = decode_frame(text)
    _assert_packets(packets, str)
    assert "\x1e".join(packet.raw for packet in packets) == text  # nothing is lost


# Text that starts like a real packet reaches the deeper parsing branches far more often than random text.
PREFIXES = ["0", "1", "2", "3", "4", "5", "6", "b", "40", "41", "42", "43", "44", "45", "46", "451-", "4612-",
            "42/", "42/ns,", "4212", "43/a,9", "2probe"]


@BOUNDED
@given(st.sampled_from(PREFIXES), st.text(max_size=30) | json_values.map(dumps))
def test_decode_never_raises_on_packet_like_text(prefix, rest):
    packet = decode_packet(prefix + rest)
    assert packet.raw == prefix + rest
    if packet.error is None and packet.socket_type in (SocketType.EVENT, SocketType.BINARY_EVENT):
        assert isinstance(packet.event, str)


@BOUNDED
@given(st.binary())
def test_decode_never_raises_on_bytes(data):
    [attachment] = decode_frame(data)
    assert attachment.raw == data and attachment.payload == data and attachment.error is None
    _assert_packets(decode_text_bytes(data), (str, bytes))


@BOUNDED
@given(st.lists(st.tuples(event_names, st.lists(json_values, max_size=3), ack_ids), min_size=1, max_size=6))
def test_polling_body_splits_into_its_packets(emits):
    frames = [encode_event(event, *args, ack_id=ack_id) for event, args, ack_id in emits]
    packets = decode_frame(encode_polling(["2", *frames, "6"]))
    assert [packet.engine_type for packet in packets] == [EngineType.PING, *[EngineType.MESSAGE] * len(frames),
                                                          EngineType.NOOP]
    assert [packet.raw for packet in packets[1:-1]] == frames
    assert [(p.event, p.args, p.ack_id) for p in packets[1:-1]] == [(e, tuple(a), i) for e, a, i in emits]
