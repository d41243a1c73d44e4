"""The leaderboard's strict path (a board decoded straight into typed columns) gives the table and the counts the
lenient entry-by-entry reading gives, on hostile boards: fields of other types (bools for numbers, numbers as
text, objects, lists), missing or non-string ids, integers beyond 64 bits and beyond the doubles, a key written
twice, a player twice, entries that are no objects, boards that are no lists, truncated frames, another packet
of the frame, frames whose text is missing — and on every real capture day and the simulated crowd of bots."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "pipeline"))

from pipeline_kit import chains_by_date, import_real  # noqa: E402

from capture_agent.protocol.rules import GAME_STATE_UPDATE  # noqa: E402
from vectra_pipeline.gold import leaderboard  # noqa: E402
from vectra_pipeline.gold.market import frame_stats  # noqa: E402

NUMBER_KEYS = ("position", "pnl", "regularPnl", "sidebetPnl", "shortPnl", "pnlPercent", "positionQty", "avgCost",
               "totalInvested")  # fmt: skip
SIDE_KEYS, SHORT_KEYS = ("startedAtTick", "end", "betAmount"), ("amount", "entryPrice", "entryTick")

numbers = st.one_of(
    st.integers(-(2**31) - 2, 2**31 + 2),
    st.integers(-(10**30), 10**30),  # beyond 64 bits: the nearest double
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0.0, -0.0, 3.0, 2.5, 2147483647.0, -2147483648.0, 1e308, 9007199254740993]),
)
hostile = st.one_of(
    st.none(),
    st.booleans(),
    st.sampled_from([10**400, -(10**400), "NaN", "Infinity", "1", "", [], {}, [1], {"a": 1}]),
    st.text(max_size=4),
)


def _pairs(draw, keys, clean: bool) -> list[tuple[str, object]]:
    """Some of ``keys`` with numbers (a clean object) or, when not clean, sometimes a hostile value or a key twice."""
    pairs = [(key, draw(numbers if clean or draw(st.booleans()) else hostile)) for key in keys if draw(st.booleans())]
    if pairs and not clean and draw(st.booleans()):
        pairs.append((pairs[0][0], draw(st.one_of(numbers, hostile))))  # a key written twice: the last one counts
    return pairs


class Raw(str):
    """JSON text written as it is (an object with a key twice cannot be a dict)."""


def _object(pairs) -> Raw:
    return Raw("{" + ",".join(f"{json.dumps(key)}:{_json(value)}" for key, value in pairs) + "}")


def _json(value) -> str:
    return value if isinstance(value, Raw) else json.dumps(value)


@st.composite
def entries(draw, players: list[str], clean: bool) -> Raw:
    pairs = _pairs(draw, NUMBER_KEYS, clean)
    if clean or draw(st.integers(0, 5)):
        pairs.insert(draw(st.integers(0, len(pairs))), ("id", draw(st.sampled_from(players))))
    elif draw(st.booleans()):
        pairs.append(("id", draw(hostile)))
    if draw(st.booleans()):
        pairs.append(
            (
                "username",
                draw(st.one_of(st.text(max_size=6), st.none()) if clean else st.one_of(st.text(max_size=6), hostile)),
            )
        )
    if draw(st.booleans()):
        pairs.append(
            ("sidebetActive", draw(st.one_of(st.booleans(), st.none()) if clean else st.one_of(st.booleans(), hostile)))
        )
    for key, sub_keys in (("sideBet", SIDE_KEYS), ("shortPosition", SHORT_KEYS)):
        if draw(st.booleans()):
            inner = _object(_pairs(draw, sub_keys, clean))
            pairs.append(
                (key, draw(st.sampled_from([inner, None]) if clean else st.sampled_from([inner, None]) | hostile))
            )
    if not clean and not draw(st.integers(0, 6)):
        return Raw(
            json.dumps(draw(st.one_of(hostile, st.lists(st.integers(), max_size=2))))
        )  # an entry that is no object
    return _object(pairs)


@st.composite
def frames(draw, clean: bool) -> tuple[str | None, int]:
    """(the frame's text, its packet index): a gameStateUpdate with a board, clean (every field of its type) or not."""
    players = draw(st.lists(st.text(min_size=1, max_size=3), min_size=1, max_size=4))
    board = "[" + ",".join(draw(st.lists(entries(players, clean), max_size=6))) + "]"
    if not clean and not draw(st.integers(0, 8)):
        board = json.dumps(draw(hostile))  # a board that is no list
    payload = f'{{"gameId":"g","leaderboard":{board},"price":1.5}}'
    if not clean and not draw(st.integers(0, 12)):
        payload = '{"gameId":"g","price":1.5}'  # no board at all
    text = f'42["{GAME_STATE_UPDATE}",{payload}]'
    packet_index = 0
    if not clean:
        damage = draw(st.integers(0, 20))
        if damage == 0:
            text = text[: draw(st.integers(0, len(text) - 1))]  # truncated
        elif damage == 1:
            text = None  # its landing text is missing
        elif damage == 2:
            text, packet_index = f"2\x1e{text}", 1  # the board in the frame's second packet
    return text, packet_index


def _day(boards: list[tuple[str | None, int]]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """board_frames-like frames (unique (game, tick)) and their texts, in a shuffled receipt order."""
    count = len(boards)
    frames = pl.DataFrame({
        "game_id": [f"g{at % 3}" for at in range(count)], "tick": [at // 3 - 1 for at in range(count)],
        "capture_id": ["c"] * count, "seq": [count - at for at in range(count)],
        "packet_index": [packet for _, packet in boards], "recv_wall_ns": [10**18 + at for at in range(count)],
    }, schema_overrides={"tick": pl.Int32, "packet_index": pl.Int32})  # fmt: skip
    texts = pl.DataFrame({"capture_id": ["c"] * count, "seq": [count - at for at in range(count)],
                          "payload_text": [text for text, _ in boards]}, schema_overrides={"payload_text": pl.String})  # fmt: skip
    return frames, texts.filter(pl.col("payload_text").is_not_null())


@settings(max_examples=250, deadline=None)
@given(
    clean=st.lists(frames(clean=True), max_size=6),
    damaged=st.lists(frames(clean=False), max_size=6),
    order=st.randoms(),
)
def test_hostile_boards_give_the_lenient_tables_and_counts(clean, damaged, order):
    for (
        text,
        packet_index,
    ) in clean:  # the strict path is taken (else this test would compare the lenient path with itself)
        assert leaderboard._strict_board(text, packet_index) is not None, text
    boards = clean + damaged
    order.shuffle(boards)
    frames, texts = _day(boards)
    table, counts = leaderboard.build_leaderboard(frames, texts)
    reference, reference_counts = leaderboard.reference_leaderboard(frames, texts)
    assert table.equals(reference), (table, reference)
    assert counts == reference_counts
    assert counts["boards"] + counts["unreadable_frames"] == len(boards)


@pytest.fixture(scope="module")
def days(tmp_path_factory, simulated_session):
    data_dir = tmp_path_factory.mktemp("boards")
    chains = [*chains_by_date(data_dir, import_real(data_dir)).values(), simulated_session[0]]
    return [(leaderboard.board_frames(frame_stats(chain.events)), chain.frames_with_text.select("capture_id", "seq", "payload_text"))
            for chain in chains]  # fmt: skip


def test_real_and_simulated_boards_take_the_strict_path_and_give_the_lenient_tables(days):
    strict = 0
    for frames, texts in days:
        table, counts = leaderboard.build_leaderboard(frames, texts)
        reference, reference_counts = leaderboard.reference_leaderboard(frames, texts)
        assert table.equals(reference) and counts == reference_counts
        located = frames.join(texts, on=["capture_id", "seq"], how="left")
        strict += sum(leaderboard._strict_board(text, packet) is not None
                      for text, packet in zip(located["payload_text"], located["packet_index"]))  # fmt: skip
    assert strict > 300  # the real boards (385 frames) and the bots' are clean: they take the strict path
