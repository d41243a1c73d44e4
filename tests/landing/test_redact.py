"""Secrets in frames of both directions, URLs, headers and details are redacted before anything is written;
public protocol data (real captures, the simulator's frames) comes out byte for byte the same."""

from __future__ import annotations

import base64
import itertools
from pathlib import Path

import orjson
import pytest
from realdata import event_records

from capture_agent.landing.schema import Direction, Source, Transport
from capture_agent.landing.segments import read_landing
from capture_agent.landing.wal import WAL_DIR
from capture_agent.landing.writer import LandingWriter
from capture_agent.protocol.recordings import frame_from_record
from capture_agent.protocol.socketio import decode_frame, encode_ack, encode_event, trace_arg
from capture_agent.redact import (
    MARKER,
    could_hold_secret,
    redact_bytes,
    redact_detail,
    redact_frame,
    redact_frame_fully,
    redact_headers,
    redact_text,
    redact_url,
)
from simulator.engine.lifecycle import SimulatorEngine
from simulator.engine.observer import wire_frames
from simulator.engine.wire import WireEncoder

JWT = "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCJ9.eyJzaWQiOiJjbTEyMyIsImlzcyI6InByaXZ5LmlvIn0.c2lnbmF0dXJlLWJ5dGVz_-xyz"
BASE58_SIG = "5" + "KtP9yq3Lm2Wb8Xo4Zr7Nc6Vd1Ue5Sf9Gh2Jk3Lm4Np5Qr6St7Uv8Wx9Yz1Ab2Cd3Ef4Gh5Jk6Lm7Np8Qr9St1Uv2Wx3Y"[:87]
HEX_SIG = "0x" + "ab" * 65
TRACE = '{"__trace":true,"traceparent":"00-55110064298fdee6dc04d093c003b5c9-2870159c41eb0cab-01"}'
KEYPAIR = list(range(200, 256)) + list(range(8))  # a Solana keypair as JSON: 64 ints
SECRETS = [JWT, BASE58_SIG, HEX_SIG, "hunter2-password", "privy-refresh-secret", "sessioncookie=abc123", orjson.dumps(KEYPAIR).decode()]


def _check_valid(original: str, redacted: str) -> None:
    """Same packets, types, namespaces, ack ids and event names; every packet still decodes."""
    before, after = decode_frame(original), decode_frame(redacted)
    assert len(before) == len(after)
    for old, new in zip(before, after):
        assert new.error is None, redacted
        assert (new.engine_type, new.socket_type, new.namespace, new.ack_id, new.event) == (
            old.engine_type, old.socket_type, old.namespace, old.ack_id, old.event
        )


@pytest.mark.parametrize(
    "frame",
    [
        f'4212["authenticate",{TRACE},{{"token":"{JWT}","address":"So11111111111111111111111111111111111111112"}}]',
        f'42["authenticate","{JWT}"]',
        f'40{{"token":"{JWT}"}}',
        f'42["verifySignature",{{"signature":"{BASE58_SIG}","message":"sign in"}}]',
        f'42["linkWallet",{{"sig":"{HEX_SIG}"}}]',
        '42["login",{"password":"hunter2-password"}]',
        '42["anything",{"nested":{"privyRefreshToken":"privy-refresh-secret","cookie":"sessioncookie=abc123"}}]',
        f'42["anything",{{"headers":{{"Authorization":"Bearer {JWT}"}}}}]',
        f'42["chat",{{"text":"my token is {JWT}"}}]',
        f'40{{"token":"{JWT}"}}\x1e42["authenticate",{{"accessToken":"{JWT}"}}]',
        # what the tester found: a keypair as an int array, and auth material the server sends
        f'42["wallet",{{"secretKey":{orjson.dumps(KEYPAIR).decode()}}}]',
        f'42["session",{{"token":"{JWT}","accessToken":"{JWT}","privateKey":"{BASE58_SIG}"}}]',
        '4317[{"success":true,"Privy-Token":"privy-refresh-secret","refresh_token":"hunter2-password"}]',
        '42/admin,9["x",{"Set-Cookie":"sessioncookie=abc123"}]',
        '0{"sid":"s","upgrades":[],"pingInterval":25000,"session":"privy-refresh-secret"}',
    ],
)
def test_secrets_are_replaced_and_the_frame_stays_valid(frame: str) -> None:
    redacted = redact_frame(frame)
    assert MARKER in redacted
    for secret in SECRETS:
        assert secret not in redacted
    _check_valid(frame, redacted)


def test_values_of_every_type_under_secret_keys_are_masked_whole() -> None:
    frame = (
        '42["x",{"secretKey":[1,2,3],"private_key":{"d":"zz","n":7},"ACCESS-TOKEN":12345,"otp":123456,'
        '"pin":4.5,"cookie":null,"password":true,"tokenAmount":5,"signed":false}]'
    )
    assert orjson.loads(redact_frame(frame)[2:])[1] == {
        "secretKey": MARKER, "private_key": MARKER, "ACCESS-TOKEN": MARKER, "otp": MARKER, "pin": MARKER,
        "cookie": None, "password": True,  # one bit or nothing: no secret, kept
        "tokenAmount": 5, "signed": False,  # public coin data; a flag
    }


def test_frames_without_secrets_are_returned_untouched() -> None:
    for frame in [
        f'4229["buyOrder",{TRACE},{{"amount":0.002}}]',
        '42["requestSidebet",{"amount":1e-7,"coinAddress":"So11111111111111111111111111111111111111112","xPayout":5}]',
        '4259["ping",{"lastPing":169.20000000298023}]',
        '42["getLeaderboard",{"period":"7d"}]',
        '42["sell",{"serverSeedHash":"' + "ab" * 32 + '"}]',
        '42["battleEventUpdate",{"config":{"token":"0xPractice","startingBalance":1}}]',  # the practice coin's id
        '40{"sid":"xyz"}',  # the server's CONNECT: its socket id is public
        '451-["upload",{"_placeholder":true,"num":0}]',
        '42["wide",9' + "0" * 129 + "]",  # a number as wide as a hex signature is still a number
        '42["wide",-' + "7" * 87 + ".5]",  # … or a base58 one
        "2",
        "3probe",
        "40",
    ]:
        assert redact_frame(frame) is frame  # the very same string: verbatim capture is kept
        assert redact_frame_fully(frame) is frame


def test_real_captures_are_kept_byte_for_byte_in_both_directions() -> None:
    """Real frames hold no secret (provably-fair seeds and hashes, coin addresses, trace ids, did:privy ids are
    public): whichever direction they travel, redaction returns them as they are, the pre-filter or not."""
    frames = [frame for _, record in event_records() if (frame := frame_from_record(record)) is not None]
    assert len(frames) > 800
    for frame in frames:
        assert redact_frame(frame) is frame
        assert redact_frame_fully(frame) == frame
        assert redact_bytes(frame.encode()) == frame.encode()
    # the pre-filter spares nearly all of them the parse (a "token" key in event configs is read, "Practice
    # Token" in a value is not)
    parsed = sum(could_hold_secret(frame) for frame in frames)
    assert parsed <= len(frames) * 0.01, parsed


def test_the_simulators_frames_are_kept_byte_for_byte() -> None:
    observed = [frame for _, frame in itertools.islice(wire_frames("redaction", 1_767_225_600_000), 4000)]
    assert all(redact_frame(frame) is frame for frame in observed)
    assert sum(could_hold_secret(frame) for frame in observed) <= len(observed) * 0.01  # the CONNECT, mostly
    # an authenticated player's session: its orders, the server's answers and private updates
    engine, encoder, now = SimulatorEngine("redaction-player", 1_767_225_600_000, bots=4), WireEncoder(), 1_767_225_600_000
    frames = [encoder.encode(e.event, e.args) for e in engine.connect("me", now, account="alice") if e.target in (None, "me")]
    orders = [
        ("authenticate", (trace_arg("a" * 32, "b" * 16), {})),
        ("buyOrder", (trace_arg("c" * 32, "d" * 16), {"amount": 0.002})),
        ("requestSidebet", (trace_arg("e" * 32, "f" * 16), {"amount": 0.001, "coinAddress": "So11111111111111111111111111111111111111112", "xPayout": 5})),
        ("sellOrder", ({"percentage": 100},)),
        ("ping", ({"lastPing": 12.5},)),
    ]
    for ack_id, (event, args) in enumerate(itertools.islice(itertools.cycle(orders), 60)):
        now += 1500
        frames.append(encode_event(event, *args, ack_id=ack_id))
        reply = engine.request("me", event, args, now)
        frames += [encoder.encode(e.event, e.args) for e in reply.emissions if e.target in (None, "me")]
        frames.append(encode_ack(ack_id, *reply.ack))
    assert any('"playerUpdate"' in frame for frame in frames)
    assert all(redact_frame(frame) is frame for frame in frames)


def test_credential_exchanges_lose_every_value_but_trace_and_socket_ids() -> None:
    frame = f'4212["authenticate",{TRACE},"opaque-session-string",{{"wallet":"Ab3x","nonce":424242}}]'
    assert redact_frame(frame) == f'4212["authenticate",{TRACE},"{MARKER}",{{"wallet":"{MARKER}","nonce":"{MARKER}"}}]'
    assert redact_frame('40{"sid":"abc","pid":"recovery-secret"}') == f'40{{"sid":"abc","pid":"{MARKER}"}}'
    assert redact_frame('40{"account":"alice"}') == f'40{{"account":"{MARKER}"}}'  # the client's auth object


def test_escaped_and_oddly_spelt_keys_are_secret_keys_too() -> None:
    for key in ("\\u0074oken", "ACCESS_TOKEN", "x-privy-token", "Privy-Token", "SecretKey", "seed_phrase", "API-KEY", "sig"):
        frame = f'42["x",{{"{key}":"privy-refresh-secret"}}]'
        assert "privy-refresh-secret" not in redact_frame(frame), key
    for public in ("tokenAddress", "token_amount", "crateKeys", "authenticated", "serverSeedHash", "signup"):
        frame = f'42["x",{{"{public}":"kept-value"}}]'
        assert redact_frame(frame) is frame, public


def test_redaction_changes_only_the_secret_and_keeps_js_number_layout() -> None:
    frame = f'4231["buyOrder",{TRACE},{{"amount":0.002,"tiny":1e-7,"big":12345678901234567000,"token":"{JWT}"}}]'
    assert redact_frame(frame) == frame.replace(JWT, MARKER)


def test_malformed_frames_are_redacted_as_text_whatever_the_value_type() -> None:
    frame = f'42["x",{{"token":"{JWT}","refreshToken":"abc'
    redacted = redact_frame(frame)
    assert JWT not in redacted and redacted.startswith('42["x",{"token":"[redacted]"')
    assert redacted.endswith('"refreshToken":"[redacted]"')  # cut off by the end of the frame, still hidden
    keypair = orjson.dumps(KEYPAIR).decode()
    cut = f'42["wallet",{{"secretKey":{keypair},"privateKey":{{"d":[1,2,3],"e":"zz"}},"pin":1234,"x":[{keypair[:30]}'
    assert redact_frame(cut) == f'42["wallet",{{"secretKey":"{MARKER}","privateKey":"{MARKER}","pin":"{MARKER}","x":[{keypair[:30]}'
    assert redact_frame(f'42["x",{{"secretKey":{keypair[:40]}') == f'42["x",{{"secretKey":"{MARKER}"'
    auth = redact_frame('42["authenticate",{"__trace":true},"opaque-session-string",1234')
    assert "opaque-session-string" not in auth and "1234" not in auth and auth.startswith('42["authenticate"')
    assert redact_frame(f'42["chat","{BASE58_SIG} and') == f'42["chat","{MARKER} and'
    assert redact_text('"password": "hunter2-password", "user": "bob"') == f'"password": "{MARKER}", "user": "bob"'


def test_redaction_is_idempotent() -> None:
    for frame in [
        f'42["x",{{"token":"{JWT}","refreshToken":"abc',
        f'42["wallet",{{"secretKey":{orjson.dumps(KEYPAIR).decode()}}}]',
        '42["authenticate","opaque",12',
        f'40{{"token":"{JWT}"}}\x1e42["authenticate",{{"accessToken":"{JWT}"}}]',
    ]:
        once = redact_frame_fully(frame)
        assert redact_frame_fully(once) == once


def test_binary_frames_and_base64_packets_are_redacted_when_they_are_text() -> None:
    assert JWT.encode() not in redact_bytes(f'42["authenticate","{JWT}"]'.encode())
    opaque = b"\x00\xff\xfe" + JWT.encode()
    assert redact_bytes(opaque) is opaque  # not UTF-8: an opaque attachment, kept
    inner = f'42["x",{{"accessToken":"{JWT}"}}]'.encode()
    body = "40\x1eb" + base64.b64encode(inner).decode()
    redacted = redact_frame(body)
    packet = base64.b64decode(redacted.split("\x1e")[1][1:])
    assert JWT.encode() not in packet and orjson.loads(packet[2:]) == ["x", {"accessToken": MARKER}]


def test_urls_lose_credentials_but_keep_their_shape() -> None:
    url = f"wss://user:pass@backend.rugs.fun/socket.io/?EIO=4&transport=websocket&frontend-version=1.0&token={JWT}&sig=abc"
    redacted = redact_url(url)
    assert JWT not in redacted and "pass" not in redacted and "sig=abc" not in redacted
    assert redacted.startswith("wss://[redacted]@backend.rugs.fun/socket.io/?EIO=4&transport=websocket&frontend-version=1.0")
    plain = "http://127.0.0.1:8000/socket.io/?EIO=4&transport=polling&t=PZ1x&sid=abc"
    assert redact_url(plain) is plain
    assert JWT not in redact_url(f"https://auth.privy.io/session/{JWT}")


def test_headers_lose_auth_and_cookies() -> None:
    headers = {
        "Cookie": "privy-token=abc; privy-session=def",
        "Authorization": f"Bearer {JWT}",
        "Set-Cookie": "sid=1",
        "x-privy-token": JWT,
        "Origin": "https://rugs.fun",
        "User-Agent": "Mozilla/5.0",
        "X-Debug": f"saw {JWT}",
    }
    redacted = redact_headers(headers)
    assert redacted["Cookie"] == redacted["Authorization"] == redacted["Set-Cookie"] == redacted["x-privy-token"] == MARKER
    assert redacted["Origin"] == "https://rugs.fun" and redacted["User-Agent"] == "Mozilla/5.0"
    assert JWT not in redacted["X-Debug"]
    assert headers["Cookie"].startswith("privy-token")  # the caller's dict is not modified


def test_details_lose_secrets_wherever_they_sit() -> None:
    class Failure(Exception):
        pass

    deep: dict = {"privateKey": "privy-refresh-secret"}
    for _ in range(100):
        deep = {"down": deep}
    detail = {
        "error": f"cannot reach wss://h.example/socket.io/?EIO=4&token=privy-refresh-secret: {JWT}",
        "headers": {"Cookie": "sessioncookie=abc123"},
        "clicks": [{"apiKey": 424242, "text": "Buy"}],
        "cause": Failure('{"password": "hunter2-password"}'),
        "deep": deep,
        "count": 3,
    }
    redacted = redact_detail(detail)
    text = orjson.dumps(redacted).decode()
    for secret in ("privy-refresh-secret", JWT, "sessioncookie=abc123", "424242", "hunter2-password"):
        assert secret not in text, secret
    assert redacted["count"] == 3 and redacted["clicks"][0]["text"] == "Buy"
    assert redacted["error"].startswith("cannot reach wss://h.example/socket.io/?EIO=4&token=")
    assert redact_detail(None) == {}


def test_secrets_never_reach_the_wal_or_the_segments(tmp_path: Path) -> None:
    writer = LandingWriter(tmp_path, Source.BROWSER, fsync_interval_s=60)
    url = f"wss://backend.rugs.fun/socket.io/?EIO=4&transport=websocket&token={JWT}"
    writer.connection("connected", url=url, detail={"headers": {"Cookie": "sessioncookie=abc123", "Authorization": JWT}})
    writer.frame(Direction.OUT, Transport.WEBSOCKET, f'4212["authenticate",{TRACE},{{"token":"{JWT}"}}]', url=url)
    writer.frame(Direction.OUT, Transport.POLLING, f'40{{"token":"{JWT}"}}\x1e42["login",{{"password":"hunter2-password"}}]', url=url)
    writer.frame(Direction.OUT, Transport.WEBSOCKET, f'42["verifySignature",{{"signature":"{BASE58_SIG}"}}]'.encode())
    writer.frame(Direction.OUT, Transport.WEBSOCKET, f'42["linkWallet",{{"sig":"{HEX_SIG}","privyRefreshToken":"privy-refresh-secret"}}]')
    writer.frame(Direction.IN, Transport.WEBSOCKET, f'42["wallet",{{"secretKey":{orjson.dumps(KEYPAIR).decode()}}}]')
    writer.frame(Direction.IN, Transport.WEBSOCKET, f'4312[{{"accessToken":"{JWT}"}}]')
    writer.click({"target": "#buy", "note": f"Bearer {JWT}"})
    writer.flush()
    wal_bytes = b"".join(p.read_bytes() for p in (tmp_path / "landing" / WAL_DIR).iterdir())
    assert wal_bytes and MARKER.encode() in wal_bytes
    for secret in SECRETS:
        assert secret.encode() not in wal_bytes
    writer.close()
    landed = orjson.dumps(read_landing(tmp_path).drop_columns(["recv_wall_ns"]).to_pylist(), default=lambda b: b.decode("utf-8", "replace"))
    raw_files = b"".join(p.read_bytes() for p in (tmp_path / "landing").rglob("*") if p.is_file())
    for secret in SECRETS:
        assert secret.encode() not in landed and secret.encode() not in raw_files
    rows = read_landing(tmp_path).drop_columns(["recv_wall_ns"]).to_pylist()
    assert [r["event"] for r in rows] == ["connected", "authenticate", None, None, "linkWallet", "wallet", None, "click"]
    assert rows[1]["ack_id"] == 12 and rows[6]["ack_id"] == 12


def test_a_repeated_key_cannot_hide_a_secret_from_the_parse() -> None:
    """JSON allows a key twice and parsing keeps the last value: the text is checked too when it is not exactly
    what was parsed."""
    assert redact_frame('42["x",{"token":"zq-secret","token":null}]') == f'42["x",{{"token":"{MARKER}","token":null}}]'
    assert JWT not in redact_frame(f'42["x",{{"note":"{JWT}","note":"x"}}]')
    assert "zq-opaque" not in redact_frame('42["login",{"a":"zq-opaque","a":{}}]')
    spaced = '42["x", {"config": {"token": "0xPractice"}}]'  # parsed (a "token" key), not canonical, nothing hidden
    assert could_hold_secret(spaced) and redact_frame(spaced) is spaced


def test_a_namespace_shaped_like_a_credential_is_masked_too() -> None:
    assert redact_frame(f'42/{JWT},7["x",{{"a":1}}]') == f'42/{MARKER},7["x",{{"a":1}}]'


@pytest.mark.parametrize("depth", [50, 400, 5000])
def test_secrets_nested_deeper_than_any_parser_goes_are_still_found(depth: int) -> None:
    """Deep nesting makes orjson, the stdlib parser or the walk give up (RecursionError): the text rules take
    over, and redaction never raises."""
    for frame in (
        '42["x",' + "[" * depth + '{"token":"zq-deep"}' + "]" * depth + "]",
        '42["x",' + '{"a":' * depth + '{"Privy-Token":[1,2,3]}' + "}" * depth + "]",
        '42["login",' + "[" * depth + '"zq-deep"' + "]" * depth + "]",
    ):
        redacted = redact_frame(frame)
        assert "zq-deep" not in redacted and "[1,2,3]" not in redacted and MARKER in redacted
