"""``vectra decode`` and ``vectra prices`` as a user runs them: subprocesses, JSON out, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from realdata import event_records, seeded_games

from capture_agent.protocol.recordings import ack_id_of, frame_from_record

DECODE_FIELDS = {"line", "engine_type", "socket_type", "namespace", "ack_id", "event", "args", "payload", "trace_id",
                 "attachments", "error"}


def vectra(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "capture_agent.cli", *args], input=stdin, capture_output=True,
                          timeout=60)


def _records(stdout: bytes) -> list[dict]:
    return [json.loads(line) for line in stdout.decode().splitlines()]


def _assert_one_line_error(result: subprocess.CompletedProcess, needle: str) -> None:
    assert result.returncode != 0
    stderr = result.stderr.decode()
    assert "Traceback" not in stderr
    assert stderr.count("\n") == 1 and stderr.endswith("\n"), stderr
    assert needle in stderr
    assert result.stdout == b""


def _assert_usage_error(result: subprocess.CompletedProcess, needle: str) -> None:
    """argparse's own errors: exit 2, one line that points at --help, no traceback."""
    _assert_one_line_error(result, needle)
    assert result.returncode == 2
    assert "--help" in result.stderr.decode()


def test_decode_stdin_one_record_per_packet():
    frames = [
        '4229["buyOrder",{"__trace":true,"traceparent":"00-55110064298fdee6dc04d093c003b5c9-2870159c41eb0cab-01"},'
        '{"amount":0.002}]',
        "4358[]",
        '2\x1e42["a",1]\x1e6',
        "not a frame",
        '↓ 42["standard/newTrade",{"qty":1}]\t2350\t21:02:55.825',  # a row copied from DevTools' Messages table
    ]
    result = vectra("decode", stdin=("\n".join(frames) + "\n").encode())
    assert result.returncode == 0, result.stderr
    records = _records(result.stdout)
    assert all(DECODE_FIELDS <= set(record) for record in records)
    assert [r["line"] for r in records] == [1, 2, 3, 3, 3, 4, 5]
    buy, ack, ping, event, noop, garbage, pasted = records
    assert (buy["event"], buy["ack_id"], buy["payload"], buy["trace_id"]) == (
        "buyOrder", 29, {"amount": 0.002}, "55110064298fdee6dc04d093c003b5c9")
    assert (ack["socket_type"], ack["ack_id"], ack["args"], ack["error"]) == ("ack", 58, [], None)
    assert [ping["engine_type"], event["event"], event["args"], noop["engine_type"]] == ["ping", "a", [1], "noop"]
    assert garbage["error"] and garbage["raw"] == "not a frame" and garbage["event"] is None
    assert (pasted["event"], pasted["payload"], pasted["cleaned"], pasted["error"]) == (
        "standard/newTrade", {"qty": 1}, True, None)


def test_decode_pasted_forms():
    lines = [
        '"42[\\"a\\",1]"',  # a frame quoted as a JSON string
        '{"type":"receive","time":1.5,"opcode":1,"data":"4329[{\\"success\\":true}]"}',  # HAR message entry
        '{"payloadData":"42[\\"b\\"]"}',  # CDP webSocketFrameReceived response
        '  ⬆ 4259["ping",{"lastPing":169.20000000298023}]  ',
        '{"x":1}',  # not a frame in any form: reported as it is
    ]
    records = _records(vectra("decode", stdin=("\n".join(lines) + "\n").encode()).stdout)
    assert [(r["event"], r["ack_id"], r.get("cleaned")) for r in records[:4]] == [
        ("a", None, True), (None, 29, True), ("b", None, True), ("ping", 59, True)]
    assert records[4]["error"] and records[4]["raw"] == '{"x":1}' and "cleaned" not in records[4]


def test_decode_real_frames_from_a_file(tmp_path):
    records = [record for _, record in event_records() if frame_from_record(record)]
    frames = [frame_from_record(record) for record in records]
    hidden_ack_ids = sum(record["event"] == "ack" and ack_id_of(record) is None for record in records)
    path = tmp_path / "frames.txt"
    path.write_text("\n".join(frames) + "\n", encoding="utf-8")
    for source in (str(path), "-"):
        result = vectra("decode", source, stdin=path.read_bytes() if source == "-" else None)
        assert result.returncode == 0, result.stderr
        records = _records(result.stdout)
        assert len(records) == len(frames) > 800
        events = [r["event"] for r in records if r["socket_type"] == "event"]
        assert events.count("gameStateUpdate") > 600
        assert sum(r["error"] is not None for r in records) == hidden_ack_ids  # acks whose id the source hid


def test_decode_invalid_utf8_is_reported_not_fatal():
    result = vectra("decode", stdin=b'42["a"]\n\xff\xfe\n')
    assert result.returncode == 0
    good, bad = _records(result.stdout)
    assert good["event"] == "a" and "UTF-8" in bad["error"] and bad["line"] == 2


def test_decode_missing_file(tmp_path):
    _assert_one_line_error(vectra("decode", str(tmp_path / "nope.txt")), "no such file")


def test_decode_directory(tmp_path):
    _assert_one_line_error(vectra("decode", str(tmp_path)), "is a directory")


def test_prices_of_a_real_game():
    game = next(g for g in seeded_games() if g["gameId"] == "20251217-cc4486eb5e354cd5")
    result = vectra("prices", "--seed", game["serverSeed"], "--game-id", game["gameId"])
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert set(out) == {"game_id", "version", "server_seed_hash", "prices", "rug_tick", "peak"}
    assert out["prices"] == game["prices"][:-1]
    assert out["rug_tick"] == len(out["prices"]) == game["rug_tick"]
    assert out["server_seed_hash"] == game["serverSeedHash"]
    assert (out["game_id"], out["version"], out["peak"]) == (game["gameId"], "v3", game["peakMultiplier"])


def test_prices_bad_game_id():
    _assert_one_line_error(vectra("prices", "--seed", "abc", "--game-id", "not-a-game"), "--game-id")


def test_prices_empty_seed():
    _assert_one_line_error(vectra("prices", "--seed", "", "--game-id", "20251217-cc4486eb5e354cd5"), "--seed")


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("prices", "--seed", "abc", "--game-id", "20251217-cc4486eb5e354cd5", "--version", "v4"), "--version"),
        (("prices", "--game-id", "20251217-cc4486eb5e354cd5"), "--seed"),
        (("decode", "a", "b"), "unrecognized arguments"),
    ],
)
def test_usage_errors(args, needle):
    _assert_usage_error(vectra(*args), needle)
