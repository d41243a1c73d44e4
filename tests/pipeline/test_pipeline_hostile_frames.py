"""Hostile frames landed by the real writer, then ``vectra build``: exit 0, one quarantine row with a reason for each
bad frame, and the good frames of the same day still give their games and ticks.

The day is a simulated session (two complete games, orders, acks) with hostile frames landed among its frames by
the same :class:`LandingWriter`: nesting 600 / 5,000 / 100,000 levels, integers past 64 bits in typed fields, NaN
and Infinity literals, invalid UTF-8 as a binary frame, lone surrogates (a JSON escape, and a raw one the writer keeps
as WTF-8 bytes), unknown packet types, an 8 MB frame that is not JSON. Frames that are odd but valid must be decoded
and not quarantined: an 8 MB chat message, a number past 64 bits in an unmodelled payload, a binary attachment a
``451-`` packet announced. Ack ids past 63 bits are landed in a segment written directly with the landing schema
(this branch's writer refuses them: the capture slice fixes that); the pipeline reads ack ids from the frame text.
"""

from __future__ import annotations

import polars as pl
import pytest
from pipeline_kit import land_session, run_chain

from capture_agent.cli import main
from capture_agent.landing.schema import Direction, Source, Transport
from capture_agent.landing.segments import read_landing
from capture_agent.landing.writer import LandingWriter

START_MS = 1_766_448_000_000  # 2025-12-23 00:00 UTC
DATE = "2025-12-23"
OTHER_GAME = "20251223-ffffffffffffffff"


def _state(**fields) -> str:
    body = ",".join(f'"{key}":{value}' for key, value in {"gameId": f'"{OTHER_GAME}"', "active": "true", "rugged": "false",
                                                          "price": "1.5", "cooldownTimer": "0", "allowPreRoundBuys": "false",
                                                          "connectedPlayers": "3", **fields}.items())  # fmt: skip
    return f'42["gameStateUpdate",{{{body}}}]'


# (what, frame, reason its quarantine row must give)
HOSTILE = [
    ("nesting 600", '42["newChatMessage",' + "[" * 600 + "]" * 600 + "]", "nested too deeply"),
    ("nesting 5,000", '42["newChatMessage",' + "[" * 5_000 + "]" * 5_000 + "]", "nests deeper than the decoder follows"),
    ("nesting 100,000", '42["newChatMessage",' + '{"a":' * 100_000 + "1" + "}" * 100_000 + "]", "nests deeper than the decoder follows"),
    ("tickCount past 64 bits", _state(tickCount=str(2**70), tradeCount="1"), "tickCount: 1.18059e+21 does not fit its 32-bit integer column"),
    ("count2x at 2^64 - 1", _state(tickCount="5", tradeCount="1", count2x=str(2**64 - 1)), "count2x: an integer of 64 bits does not fit its 32-bit"),
    ("trade tick past 64 bits", '42["standard/newTrade",{"id":"t-hostile","gameId":"' + OTHER_GAME + '","playerId":"p","type":"buy",'
     '"tickIndex":' + str(2**64) + ',"price":1,"qty":1,"amount":1}]', "trade.tick: 1.84467e+19 does not fit"),
    ("NaN literal", _state(tickCount="5", price="NaN"), "packet data is not JSON"),
    ("Infinity literal", '42["newChatMessage",{"message":Infinity}]', "packet data is not JSON"),
    ("invalid UTF-8 as a binary frame", b"\xff\xfe\xfd not UTF-8 \xc3\x28", "binary message that no 45/46 packet announced"),
    ("lone surrogate escape", '42["newChatMessage",{"message":"broken \\ud83d"}]', "lone UTF-16 surrogates"),
    ("raw lone surrogate", '42["newChatMessage",{"message":"broken \ud83d"}]', "not valid UTF-8 text"),
    ("unknown Engine.IO type", "9hello", "unknown Engine.IO packet type '9'"),
    ("unknown Socket.IO type", '48["x",1]', "unknown Socket.IO packet type '8'"),
    ("8 MB of not JSON", '42["newChatMessage",' + "x" * 8_000_000 + "]", "packet data is not JSON"),
    ("ack id 2^64", "43" + str(2**64) + '[{"success":true}]', "ack id: an integer of 65 bits does not fit its 64-bit"),
    ("emit ack id 2^63", "42" + str(2**63) + '["buyOrder",{"amount":1}]', "ack id: an integer of 64 bits does not fit its 64-bit"),
]
KEPT = [
    ("8 MB chat message", '42["newChatMessage",{"message":"' + "a" * 8_000_000 + '"}]'),
    ("number past 64 bits, unmodelled", '42["newChatMessage",{"n":' + str(2**80) + "}]"),
    ("binary attachment", '451-["upload",{"_placeholder":true,"num":0}]'),
    ("its attachment", b"\xff\x00 binary \xc3\x28"),
]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile-frames")
    data_dir = root / "data"
    hostile: dict[int, tuple[str, str]] = {}
    kept: dict[int, str] = {}
    with LandingWriter(data_dir, Source.SIMULATOR, capture_id="session") as writer:
        land_session(writer, "hostile-frames", START_MS, games=2)
        wall = START_MS * 1_000_000 + 3_600 * 10**9  # after the session (it lasts minutes): the games are unaffected
        for number, (what, frame, reason) in enumerate(HOSTILE):
            hostile[writer.frame(Direction.IN, Transport.WEBSOCKET, frame, recv_wall_ns=wall + number)] = (what, reason)
        for number, (what, frame) in enumerate(KEPT, start=len(HOSTILE)):
            kept[writer.frame(Direction.IN, Transport.WEBSOCKET, frame, recv_wall_ns=wall + number)] = what
    home = root / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    return data_dir, home, hostile, kept


@pytest.fixture(scope="module")
def build_run(built):
    data_dir, home, _, _ = built
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DAGSTER_HOME", str(home))
        import contextlib
        import io

        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(["build", "--data", str(data_dir)])
    return code, out.getvalue(), err.getvalue()


def _table(data_dir, stage: str, name: str) -> pl.DataFrame:
    return pl.read_parquet(data_dir / stage / name / f"date={DATE}" / "part.parquet")


def test_build_exits_0_and_says_so_in_one_line_per_problem(build_run):
    code, out, err = build_run
    assert code == 0, out
    assert "Traceback" not in out + err and err == ""
    warnings = [line for line in out.splitlines() if "undecodable_frames" in line]
    assert len(warnings) == 1 and warnings[0].strip().startswith("WARN undecodable_frames 2025-12-23 (quarantine: undecodable=")
    assert not [line for line in out.splitlines() if line.startswith("failed")]


def test_each_hostile_frame_is_one_decode_row_with_its_reason(built, build_run):
    data_dir, _, hostile, kept = built
    quarantine = _table(data_dir, "silver", "quarantine")
    decode = quarantine.filter(pl.col("rule") == "decode")
    assert decode.height == len(hostile) == quarantine.height
    for seq, (what, reason) in hostile.items():
        (row,) = decode.filter((pl.col("capture_id") == "session") & (pl.col("seq") == seq)).iter_rows(named=True)
        assert reason in row["detail"], (what, row["detail"])
        assert row["raw"], what
    events = _table(data_dir, "silver", "events").filter(pl.col("capture_id") == "session")
    for seq, what in kept.items():
        assert events.filter((pl.col("seq") == seq) & pl.col("error").is_null()).height == 1, what
    huge = events.filter(pl.col("seq") == min(kept))["payload_json"][0]
    assert len(huge) > 8_000_000


def test_the_good_frames_still_give_their_games_and_ticks(built, build_run):
    data_dir, _, hostile, kept = built
    landing = read_landing(data_dir, [DATE])
    good_only = pl.from_arrow(landing).filter((pl.col("capture_id") == "session") & ~pl.col("seq").is_in([*hostile, *kept]))
    expected = run_chain(good_only.to_arrow())
    games = _table(data_dir, "silver", "games").filter(pl.col("game_id") != OTHER_GAME)
    assert games.sort("game_id").equals(expected.games.sort("game_id"))
    assert expected.games.filter(pl.col("completeness") == "complete").height >= 2
    ticks = _table(data_dir, "silver", "game_ticks").filter(pl.col("game_id") != OTHER_GAME)
    assert ticks.sort("game_id", "tick").equals(expected.game_ticks.sort("game_id", "tick"))
    episodes = pl.read_parquet(data_dir / "gold" / "episodes" / f"date={DATE}" / "part.parquet")
    assert episodes.filter(pl.col("in_training")).height >= 2
