"""Engine.IO client session (sans I/O) and reconnect backoff."""

from __future__ import annotations

import random

import pytest

from capture_agent.errors import VectraError
from capture_agent.protocol.client import Backoff, EngineIOSession
from capture_agent.protocol.socketio import decode_frame
from capture_agent.sources.direct import default_origin, websocket_url

OPEN = '0{"sid":"abc","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}'


def feed(session: EngineIOSession, frame: str, now: float = 0.0):
    return session.receive(decode_frame(frame), now)


def test_open_packet_joins_the_default_namespace_and_records_the_handshake():
    session = EngineIOSession()
    step = feed(session, OPEN)
    assert step.replies == ["40"]
    assert session.sid == "abc"
    assert [f.event for f in step.facts] == ["open"]
    assert step.facts[0].detail["sid"] == "abc"
    assert step.facts[0].detail["ping_interval_ms"] == 25000
    assert step.close_reason is None


def test_connect_ack_marks_connected_with_both_sids():
    session = EngineIOSession()
    feed(session, OPEN)
    step = feed(session, '40{"sid":"sock-1"}')
    assert step.replies == []
    assert session.connected
    assert step.facts[0].event == "connected"
    assert step.facts[0].detail == {"sid": "abc", "socket_sid": "sock-1"}


def test_pings_are_answered_with_pongs_and_probe_keeps_its_data():
    session = EngineIOSession()
    feed(session, OPEN)
    assert feed(session, "2").replies == ["3"]
    assert feed(session, "2probe").replies == ["3probe"]


def test_events_need_no_answer():
    session = EngineIOSession()
    feed(session, OPEN)
    step = feed(session, '42["gameStateUpdate",{"gameId":"x"}]')
    assert step.replies == [] and step.facts == [] and step.close_reason is None


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        ("1", "server sent an Engine.IO close packet"),
        ("41", "server disconnected the namespace"),
        ('44{"message":"not authorized"}', "server refused the namespace connect"),
    ],
)
def test_server_side_endings_close_the_connection(frame, reason):
    session = EngineIOSession()
    feed(session, OPEN)
    feed(session, "40")
    step = feed(session, frame)
    assert step.close_reason == reason


def test_connect_error_is_recorded_with_the_servers_message():
    session = EngineIOSession()
    feed(session, OPEN)
    step = feed(session, '44{"message":"not authorized"}')
    assert step.facts[0].event == "connect_error"
    assert step.facts[0].detail["error"] == {"message": "not authorized"}


def test_liveness_deadline_follows_ping_interval_plus_timeout():
    session = EngineIOSession()
    session.opened(100.0)
    assert session.seconds_left(100.0) is None  # rule unknown before the open packet
    feed(session, OPEN, now=100.0)
    assert session.seconds_left(110.0) == pytest.approx(35.0)  # 25 s + 20 s − 10 s
    feed(session, "2", now=130.0)  # a ping resets the clock
    assert session.seconds_left(130.0) == pytest.approx(45.0)
    assert session.seconds_left(180.0) < 0


def test_malformed_frames_do_not_break_the_session():
    session = EngineIOSession()
    feed(session, OPEN)
    for garbage in ("", "x", "42[", "4", "9abc"):
        step = feed(session, garbage)
        assert step.replies == [] and step.close_reason is None
    assert feed(session, "2").replies == ["3"]


def test_backoff_grows_exponentially_with_jitter_and_stays_bounded():
    backoff = Backoff(initial_s=0.5, maximum_s=8.0, factor=2.0, jitter=0.5, rng=random.Random(7))
    delays = [backoff.next_delay() for _ in range(10)]
    ceilings = [min(8.0, 0.5 * 2**n) for n in range(10)]
    for delay, ceiling in zip(delays, ceilings):
        assert ceiling * 0.5 <= delay <= ceiling
    assert max(delays) <= 8.0
    assert len(set(delays)) == len(delays)  # jittered, not lockstep
    assert backoff.attempt == 10
    backoff.reset()
    assert backoff.attempt == 0 and backoff.next_delay() <= 0.5


def test_backoff_rejects_nonsense():
    with pytest.raises(ValueError):
        Backoff(initial_s=0)
    with pytest.raises(ValueError):
        Backoff(initial_s=2, maximum_s=1)


def test_socket_io_url_and_origin():
    assert websocket_url("http://127.0.0.1:8000") == "ws://127.0.0.1:8000/socket.io/?EIO=4&transport=websocket&frontend-version=1.0"
    assert websocket_url("https://backend.rugs.fun", {"a": "b c"}) == "wss://backend.rugs.fun/socket.io/?EIO=4&transport=websocket&a=b+c"
    assert websocket_url("wss://x.example/socket.io/", {}) == "wss://x.example/socket.io/?EIO=4&transport=websocket"
    assert default_origin("https://backend.rugs.fun") == "https://rugs.fun"
    assert default_origin("http://127.0.0.1:8000") == "http://127.0.0.1:8000"
    assert default_origin("wss://evil-rugs.fun.example") == "https://evil-rugs.fun.example"
    for bad in ("ftp://x", "127.0.0.1:8000", "http://"):
        with pytest.raises(VectraError):
            websocket_url(bad)


