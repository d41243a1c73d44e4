"""Silver ``game_history``: the day's gameHistory entries parsed once, and the only place ticks, games and sidebets
read them from (issue 13)."""

from __future__ import annotations

import orjson
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pipeline_kit import chains_by_date, import_real

from vectra_pipeline.silver.game_history import build_game_history, build_game_history_in_slices
from vectra_pipeline.silver.games import build_games
from vectra_pipeline.silver.sidebets import build_sidebets
from vectra_pipeline.silver.ticks import build_game_ticks


@pytest.fixture(scope="module")
def chains(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("real")
    return chains_by_date(data_dir, import_real(data_dir))


def _first_receipts(events: pl.DataFrame) -> dict[str, tuple[int, dict]]:
    """The oracle: every full frame parsed whole with orjson, in receipt order; the first entry of each id wins."""
    first: dict[str, tuple[int, dict]] = {}
    full = events.filter(pl.col("has_game_history") & pl.col("contract_ok")).sort(["recv_wall_ns", "capture_id", "seq", "packet_index"])
    for payload_json, wall in full.select("payload_json", "recv_wall_ns").iter_rows():
        entries = orjson.loads(payload_json).get("gameHistory")
        for entry in entries if isinstance(entries, list) else []:
            if isinstance(entry, dict) and isinstance(entry.get("id"), str):
                first.setdefault(entry["id"], (wall, entry))
    return first


def test_one_row_per_game_the_first_receipt_of_its_entry(chains):
    checked = 0
    for chain in chains.values():
        expected = _first_receipts(chain.events)
        table = chain.game_history
        assert table["game_id"].to_list() == list(expected)  # every id once, in order of first receipt
        for row in table.iter_rows(named=True):
            wall, entry = expected[row["game_id"]]
            fair = entry.get("provablyFair") or {}
            assert row["recv_wall_ns"] == wall
            assert row["server_seed"] == fair.get("serverSeed") and row["server_seed_hash"] == fair.get("serverSeedHash")
            assert row["prices"] == ([float(p) for p in entry["prices"]] if entry.get("prices") else None)
            assert orjson.loads(row["global_sidebets"]) == entry.get("globalSidebets", [])
            checked += 1
    assert checked >= 10  # the real captures carry gameHistory entries on several days


def _without_history_text(events: pl.DataFrame) -> pl.DataFrame:
    """The events with every gameHistory list emptied in the frames' text: only the table still holds the entries."""
    def emptied(text: str | None) -> str | None:
        if text is None:
            return None
        payload = orjson.loads(text)
        return orjson.dumps({**payload, "gameHistory": []}).decode() if isinstance(payload, dict) and "gameHistory" in payload else text

    return events.with_columns(pl.col("payload_json").map_elements(emptied, return_dtype=pl.String))


def test_ticks_games_and_sidebets_read_game_history_only_from_the_table(chains):
    with_history = 0
    for chain in chains.values():
        events = _without_history_text(chain.events)
        assert build_game_history(events).height == 0  # the text no longer holds any entry
        ticks = build_game_ticks(events, chain.game_history)
        games = build_games(events, ticks, chain.game_history)
        assert ticks.equals(chain.game_ticks)
        assert games.equals(chain.games)
        assert build_sidebets(events, games, chain.game_history).equals(chain.sidebets)
        with_history += chain.game_history.height > 0
    assert with_history >= 2


def test_without_the_table_history_only_games_and_their_ticks_disappear(chains):
    chain = next(c for c in chains.values() if c.games["history_only"].any())
    empty = build_game_history(chain.events.clear())
    assert empty.height == 0 and empty.schema == chain.game_history.schema
    ticks = build_game_ticks(chain.events, empty)
    games = build_games(chain.events, ticks, empty)
    assert not games["history_only"].any()
    assert ticks.filter(pl.col("price_source") == "history").height == 0
    assert build_sidebets(chain.events, games, empty).filter(pl.col("source") == "gameHistory").height == 0


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(size=st.integers(1, 400), shuffle_seed=st.integers(0, 9))
def test_any_slicing_of_the_events_gives_the_whole_day_table(chains, size, shuffle_seed):
    """The asset reads events a row group at a time: slices in any order give the whole day's table (the first
    receipt of a game is settled across slices)."""
    for chain in chains.values():
        slices = list(chain.events.iter_slices(size))
        order = pl.Series(range(len(slices))).shuffle(seed=shuffle_seed).to_list()
        assert build_game_history_in_slices(slices[i] for i in order).equals(chain.game_history)
