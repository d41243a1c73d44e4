"""Secrets in outgoing frames, URLs and headers are redacted before anything is written."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from capture_agent.landing.schema import Direction, Source, Transport
from capture_agent.landing.wal import WAL_DIR
from capture_agent.landing.writer import LandingWriter, read_landing
from capture_agent.protocol.codec import decode_frame
from capture_agent.redact import MARKER, redact_bytes, redact_frame, redact_headers, redact_text, redact_url

JWT = "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCJ9.eyJzaWQiOiJjbTEyMyIsImlzcyI6InByaXZ5LmlvIn0.c2lnbmF0dXJlLWJ5dGVz_-xyz"
BASE58_SIG = "5" + "KtP9yq3Lm2Wb8Xo4Zr7Nc6Vd1Ue5Sf9Gh2Jk3Lm4Np5Qr6St7Uv8Wx9Yz1Ab2Cd3Ef4Gh5Jk6Lm7Np8Qr9St1Uv2Wx3Y"[:87]
HEX_SIG = "0x" + "ab" * 65
TRACE = '{"__trace":true,"traceparent":"00-55110064298fdee6dc04d093c003b5c9-2870159c41eb0cab-01"}'
SECRETS = [JWT, BASE58_SIG, HEX_SIG, "hunter2-password", "privy-refresh-secret", "sessioncookie=abc123"]


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
        f'42["login",{{"password":"hunter2-password"}}]',
        f'42["anything",{{"nested":{{"privyRefreshToken":"privy-refresh-secret","cookie":"sessioncookie=abc123"}}}}]',
        f'42["anything",{{"headers":{{"Authorization":"Bearer {JWT}"}}}}]',
        f'42["chat",{{"text":"my token is {JWT}"}}]',
        f'40{{"token":"{JWT}"}}\x1e42["authenticate",{{"accessToken":"{JWT}"}}]',
    ],
)
def test_secrets_are_replaced_and_the_frame_stays_valid(frame: str) -> None:
    redacted = redact_frame(frame)
    assert MARKER in redacted
    for secret in SECRETS:
        assert secret not in redacted
    _check_valid(frame, redacted)


def test_frames_without_secrets_are_returned_untouched() -> None:
    for frame in [
        f'4229["buyOrder",{TRACE},{{"amount":0.002}}]',
        '42["requestSidebet",{"amount":1e-7,"coinAddress":"So11111111111111111111111111111111111111112","xPayout":5}]',
        '4259["ping",{"lastPing":169.20000000298023}]',
        '42["getLeaderboard",{"period":"7d"}]',
        '42["sell",{"serverSeedHash":"' + "ab" * 32 + '"}]',
        "2",
        "3probe",
        "40",
    ]:
        assert redact_frame(frame) is frame  # the very same string: verbatim capture is kept


def test_numbers_under_fragment_keys_are_data_but_exact_secret_names_hide_them() -> None:
    frame = '42["x",{"tokenAmount":5,"otp":123456,"accessToken":"zzz","pin":1234,"signed":true}]'
    assert orjson.loads(redact_frame(frame)[2:])[1] == {
        "tokenAmount": 5, "otp": MARKER, "accessToken": MARKER, "pin": MARKER, "signed": True
    }


def test_redaction_changes_only_the_secret_and_keeps_js_number_layout() -> None:
    frame = f'4231["authenticate",{TRACE},{{"amount":0.002,"tiny":1e-7,"big":12345678901234567000,"token":"{JWT}"}}]'
    assert redact_frame(frame) == frame.replace(JWT, MARKER)


def test_malformed_frames_are_redacted_as_text() -> None:
    frame = f'42["authenticate",{{"token":"{JWT}","refreshToken":"abc'
    redacted = redact_frame(frame)
    assert JWT not in redacted and redacted.startswith('42["authenticate",{"token":"[redacted]"')
    assert redacted.endswith('"refreshToken":"[redacted]"')  # cut off by the end of the frame, still hidden
    assert redact_text(f'"password": "hunter2-password", "user": "bob"') == f'"password": "{MARKER}", "user": "bob"'


def test_binary_frames_are_redacted_when_they_are_text() -> None:
    assert JWT.encode() not in redact_bytes(f'42["authenticate","{JWT}"]'.encode())
    opaque = b"\x00\xff\xfe" + JWT.encode()
    assert redact_bytes(opaque) == opaque  # not UTF-8: an opaque attachment, kept


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


def test_secrets_never_reach_the_wal_or_the_segments(tmp_path: Path) -> None:
    writer = LandingWriter(tmp_path, Source.BROWSER, fsync_interval_s=60)
    url = f"wss://backend.rugs.fun/socket.io/?EIO=4&transport=websocket&token={JWT}"
    writer.connection("connected", url=url, detail={"headers": {"Cookie": "sessioncookie=abc123", "Authorization": JWT}})
    writer.frame(Direction.OUT, Transport.WEBSOCKET, f'4212["authenticate",{TRACE},{{"token":"{JWT}"}}]', url=url)
    writer.frame(Direction.OUT, Transport.POLLING, f'40{{"token":"{JWT}"}}\x1e42["login",{{"password":"hunter2-password"}}]', url=url)
    writer.frame(Direction.OUT, Transport.WEBSOCKET, f'42["verifySignature",{{"signature":"{BASE58_SIG}"}}]'.encode())
    writer.frame(Direction.OUT, Transport.WEBSOCKET, f'42["linkWallet",{{"sig":"{HEX_SIG}","privyRefreshToken":"privy-refresh-secret"}}]')
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
    assert [r["event"] for r in rows] == ["connected", "authenticate", None, None, "linkWallet", "click"]
    assert rows[1]["ack_id"] == 12
