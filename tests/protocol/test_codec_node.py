"""Cross-check with the real JavaScript parsers (engine.io-parser 5 + socket.io-parser 4 from
socket.io-client@4.8.1, installed by scripts/setup.sh): every frame of a corpus — real frames and a grid of
well- and ill-formed ones — must decode to the same packet, or be refused by both. The only frames the
codec refuses while the JS parser lets them through are its deliberate stricter checks, listed here."""

from __future__ import annotations

import itertools
import json
import shutil
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from realdata import REPO, event_records

from capture_agent.protocol.engineio import EngineType
from capture_agent.protocol.recordings import frame_from_record
from capture_agent.protocol.socketio import (
    RESERVED_EVENTS,
    SocketType,
    decode_packet,
    encode_ack,
    encode_connect,
    encode_event,
)

NODE = shutil.which("node")
MODULES = REPO / ".cache" / "npm" / "node_modules"

pytestmark = pytest.mark.skipif(
    NODE is None or not (MODULES / "socket.io-parser").is_dir(),
    reason="needs node and socket.io-client's parsers (run scripts/setup.sh)",
)

SCRIPT = r"""
const { decodePacket } = require("engine.io-parser");
const { Decoder } = require("socket.io-parser");
const frames = JSON.parse(require("fs").readFileSync(0, "utf8"));
const out = frames.map((frame) => {
  const engine = decodePacket(frame, "nodebuffer");
  if (engine.type === "error") return { engine: "error" };
  if (engine.type !== "message") return { engine: engine.type };
  if (Buffer.isBuffer(engine.data)) return { engine: "message", binary: true };
  const decoder = new Decoder();
  let packet = null;
  decoder.on("decoded", (p) => { packet = p; });
  try { decoder.add(engine.data); } catch (e) { return { engine: "message", error: e.message }; }
  if (!packet && decoder.reconstructor) packet = decoder.reconstructor.reconPack;  // waiting for attachments
  return { engine: "message", type: packet.type, nsp: packet.nsp, id: packet.id ?? null,
           attachments: packet.attachments ?? 0, data: packet.data === undefined ? null : packet.data };
});
process.stdout.write(JSON.stringify(out));
"""

# socket.io-parser's numeric packet types (binary ones are reported as EVENT/ACK while attachments are awaited).
JS_TYPES = {0: SocketType.CONNECT, 1: SocketType.DISCONNECT, 2: SocketType.EVENT, 3: SocketType.ACK,
            4: SocketType.CONNECT_ERROR}

# Refused by the codec, let through by the JS parsers: packets a peer could not act on.
STRICTER = ("event packet without data", "ack packet without data", "ack without an ack id",
            "connect_error packet without data",
            "event name is int", "event name is float", "unexpected data after", "open packet data",
            "binary packet is not valid base64")  # Node's base64 decoder skips invalid characters

PREFIXES = ["0", "1", "2", "3", "4", "5", "6", "7", "b", "40", "41", "42", "43", "44", "45", "46", "47", "451-",
            "450-", "45x-", "4612-", "42/", "42/ns", "42/ns,", "42/ns,12", "4212", "43/a,9", "4a", "40/admin,"]
BODIES = ["", '["a"]', '["a",1,{"b":[1,2]}]', "[1]", "[]", "{}", '{"sid":"x"}', '"str"', "null", "[", '["connect"]',
          '["disconnecting",1]', "[true]", '{"a":1.5e-7}', '["x"] ', '["a"]x', "probe", '12["a"]',
          '["é\\ud800",0.1,-0]', '[{"_placeholder":true,"num":0}]']


def _js_decode(frames: list[str]) -> list[dict]:
    result = subprocess.run([NODE, "-e", SCRIPT], input=json.dumps(frames), capture_output=True, text=True,
                            timeout=120, check=True, cwd=MODULES.parent)
    return json.loads(result.stdout)


REAL = [frame for _, record in event_records() if (frame := frame_from_record(record))]
GRID = [prefix + body for prefix, body in itertools.product(PREFIXES, BODIES)]


def test_codec_agrees_with_the_javascript_parsers():
    frames = REAL + GRID
    stricter: list[str] = []
    for frame, js in zip(frames, _js_decode(frames), strict=True):
        mine = decode_packet(frame)
        context = (frame[:80], js, mine.error)
        if js["engine"] == "error":
            assert mine.engine_type is None and mine.error, context
            continue
        assert mine.engine_type == EngineType(js["engine"]), context
        if js.get("error") == "too many attachments":  # the JS decoder's configurable limit (default 10)
            assert mine.attachments > 10, context
            continue
        if "error" in js:
            assert mine.error, context  # JS refuses it: so must we
            continue
        if mine.error:
            assert mine.error.startswith(STRICTER), context
            stricter.append(frame)
            continue
        if mine.engine_type is not EngineType.MESSAGE or mine.socket_type is None:
            continue  # Engine.IO-level packet, or a base64 binary one
        assert JS_TYPES[js["type"]] == {SocketType.BINARY_EVENT: SocketType.EVENT,
                                        SocketType.BINARY_ACK: SocketType.ACK}.get(mine.socket_type, mine.socket_type)
        assert (mine.namespace, mine.ack_id, mine.attachments) == (js["nsp"], js["id"], js["attachments"]), context
        if mine.socket_type in (SocketType.EVENT, SocketType.BINARY_EVENT):
            assert [mine.event, *mine.args] == js["data"], context
        elif mine.socket_type in (SocketType.ACK, SocketType.BINARY_ACK):
            assert list(mine.args) == js["data"], context
        else:
            assert mine.payload == js["data"], context
    assert len(frames) > 1300
    # among the real frames only acks whose id the source hid ("XXXX") are refused by the codec alone
    real = set(REAL)
    assert all(frame.startswith("43[") for frame in stricter if frame in real)


ENCODE_SCRIPT = r"""
const { encodePacket } = require("engine.io-parser");
const { Encoder } = require("socket.io-parser");
const packets = JSON.parse(require("fs").readFileSync(0, "utf8"));
const encoder = new Encoder();
const out = packets.map((p) => {
  const [text] = encoder.encode(p);
  let frame;
  encodePacket({ type: "message", data: text }, false, (encoded) => { frame = encoded; });
  return frame;
});
process.stdout.write(JSON.stringify(out));
"""

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(alphabet=st.characters(exclude_categories=()), max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=12,
)
namespaces = st.just("/") | st.text(alphabet="abcXYZ_-/.0123456789", min_size=1, max_size=6).map(lambda n: "/" + n)
ack_ids = st.none() | st.integers(0, 2**31)
events = st.text(max_size=12).filter(lambda name: name not in RESERVED_EVENTS)
packet_specs = st.one_of(
    st.tuples(st.just("event"), namespaces, ack_ids, events, st.lists(json_values, max_size=3)),
    st.tuples(st.just("ack"), namespaces, st.integers(0, 2**31), st.none(), st.lists(json_values, max_size=3)),
    st.tuples(st.just("connect"), namespaces, st.none(), st.none(),
              st.none() | st.dictionaries(st.text(max_size=6), json_values, max_size=3)),
)


def _mine(spec) -> str:
    kind, namespace, ack_id, event, data = spec
    if kind == "event":
        return encode_event(event, *data, ack_id=ack_id, namespace=namespace)
    if kind == "ack":
        return encode_ack(ack_id, *data, namespace=namespace)
    return encode_connect(data, namespace)


def _js_packet(spec) -> dict:
    kind, namespace, ack_id, event, data = spec
    body = [event, *data] if kind == "event" else data
    return {"type": {"event": 2, "ack": 3, "connect": 0}[kind], "nsp": namespace, "id": ack_id, "data": body}


@settings(max_examples=10, deadline=None)
@given(st.lists(packet_specs, min_size=1, max_size=30))
def test_encoders_write_what_socket_io_client_writes(specs):
    """The same packets through socket.io-parser's Encoder + engine.io-parser: byte-identical frames, and
    both parsers read the codec's frames back to the same packets."""
    payload = json.dumps([_js_packet(spec) for spec in specs])  # Python → JSON → JS keeps every double
    result = subprocess.run([NODE, "-e", ENCODE_SCRIPT], input=payload, capture_output=True, text=True,
                            timeout=120, check=True, cwd=MODULES.parent)
    mine = [_mine(spec) for spec in specs]
    assert mine == json.loads(result.stdout)
    for frame, js in zip(mine, _js_decode(mine), strict=True):
        packet = decode_packet(frame)
        assert packet.error is None and "error" not in js, (frame, js)
        assert (packet.namespace, packet.ack_id) == (js["nsp"], js["id"])
