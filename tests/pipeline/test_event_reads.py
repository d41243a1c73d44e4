"""A silver stage's events read from the partition in two parts (typed columns, then the text of only the row
groups holding a row whose JSON the stage reads) are exactly its projected events read whole: on every real capture
day and the simulated session (orders, acks, own state), with the partition cut into row groups of a few rows (a
text at a group's first and last row, groups with no wanted text) and of thousands."""

from __future__ import annotations

import polars as pl
import pytest
from pipeline_kit import chains_by_date, import_real

from vectra_pipeline import storage
from vectra_pipeline.defs.assets.silver import EVENT_COLUMNS, EVENT_ROWS, _events, _row_groups, stage_events
from vectra_pipeline.defs.resources import VectraPaths

READS = [(stage, False) for stage in EVENT_COLUMNS] + [("ticks", True), ("game_history", True)]


@pytest.fixture(scope="module")
def real_events(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("reads")
    return [chain.events for chain in chains_by_date(data_dir, import_real(data_dir)).values()]


def _assert_reads_equal(tmp_path, events: pl.DataFrame, row_group_size: int) -> None:
    date = "2025-12-20"
    path = storage.table_path(tmp_path, "events", date)
    path.parent.mkdir(parents=True, exist_ok=True)
    events.write_parquet(path, row_group_size=row_group_size)
    assert len(storage.parquet_row_group_rows(path)) == -(-events.height // row_group_size)
    paths = VectraPaths(data_dir=str(tmp_path))
    games = events["game_id"].unique().sort(nulls_last=False)
    # game_history's read: each row group's full frames, filtered as decoded, are the partition's in order
    groups = list(_row_groups(paths, date, EVENT_ROWS["game_history"], EVENT_COLUMNS["game_history"]))
    assert len(groups) == len(storage.parquet_row_group_rows(path))
    full = events.filter(EVENT_ROWS["game_history"].fill_null(False)).select(EVENT_COLUMNS["game_history"])
    assert pl.concat(groups).equals(full), row_group_size
    for stage, state_json in READS:
        whole = stage_events(events.lazy(), stage, state_json).collect()
        assert _events(paths, date, stage, state_json).equals(whole), (stage, state_json, row_group_size)
        for run in (games[::2], games[1::2]):  # every other game: rows and texts of a run are its own, at their places
            of_run = stage_events(events.lazy().filter(pl.col("game_id").is_in(run.implode(), nulls_equal=True)), stage, state_json)
            assert _events(paths, date, stage, state_json, games=run).equals(of_run.collect()), (stage, state_json, row_group_size)


@pytest.mark.parametrize("row_group_size", [3, 97, 5000])
def test_stage_reads_of_real_days_equal_whole_reads(tmp_path, real_events, row_group_size):
    assert sum(events["payload_json"].is_not_null().sum() for events in real_events) > 0
    for index, events in enumerate(real_events):
        _assert_reads_equal(tmp_path / str(index), events, row_group_size)


@pytest.mark.parametrize("row_group_size", [5, 1000])
def test_stage_reads_of_a_played_session_equal_whole_reads(tmp_path, simulated_session, row_group_size):
    chain, _ = simulated_session
    assert chain.actions.height > 0 and chain.player_state.height > 0
    _assert_reads_equal(tmp_path, chain.events, row_group_size)


def test_a_day_without_events_reads_as_empty_frames(tmp_path):
    paths = VectraPaths(data_dir=str(tmp_path))
    for stage, state_json in READS:
        frame = _events(paths, "2025-12-20", stage, state_json)
        assert frame.height == 0 and frame.columns == list(EVENT_COLUMNS[stage])
