"""crowd_observations, crowd_episodes and market_observations are built a run of games at a time (memory: one run's
grid of players × ticks, or of episode ticks, not the day's) and appended: their partitions are byte for byte the one
write of the whole day's tables — on every real capture day and the simulated session's crowd of bots, with runs of
one game, of a few hundred rows and the whole day. market_episodes reads the events a row group at a time: any cut
of the events into row groups gives the episodes of the whole day's frame statistics."""

from __future__ import annotations

import sys
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "pipeline"))

from pipeline_kit import assert_assets_write_one_write, chains_by_date, import_real  # noqa: E402

from vectra_pipeline import storage  # noqa: E402
from vectra_pipeline.defs.assets import gold as gold_assets  # noqa: E402
from vectra_pipeline.defs.resources import VectraPaths  # noqa: E402
from vectra_pipeline.gold.lookahead import SILVER_INPUTS, gold_tables  # noqa: E402
from vectra_pipeline.gold.market import EPISODE_TICK_COLUMNS, build_market_episodes, frame_stats, stats_timeline  # noqa: E402

BUILT = ("crowd_observations", "crowd_episodes")
INPUTS = ("game_ticks", "trades", "sidebets", "market_observations", "market_episodes", "leaderboard")


@pytest.fixture(scope="module")
def days(tmp_path_factory, simulated_session):
    data_dir = tmp_path_factory.mktemp("crowd-runs")
    chains = [*chains_by_date(data_dir, import_real(data_dir)).values(), simulated_session[0]]
    days = []
    for chain in chains:
        tables = {name: getattr(chain, name) for name in SILVER_INPUTS} | {"frames": chain.frames_with_text}
        days.append(tables | gold_tables(tables))
    assert sum(day["crowd_observations"].height for day in days) > 0
    return days


@pytest.mark.parametrize("run_rows", [1, 400, 10**9])
def test_crowd_runs_give_the_whole_days_partitions(tmp_path, days, monkeypatch, run_rows):
    monkeypatch.setattr(gold_assets, "CROWD_RUN_ROWS", run_rows)
    for index, tables in enumerate(days):  # the partition's name is any day
        assert_assets_write_one_write(tmp_path / str(index), "2025-12-20", {name: tables[name] for name in INPUTS},
                                      {name: tables[name] for name in BUILT})


@pytest.mark.parametrize("run_rows", [1, 150, 10**9])
def test_market_runs_give_the_whole_days_partition(tmp_path, days, monkeypatch, run_rows):
    monkeypatch.setattr(gold_assets, "MARKET_RUN_ROWS", run_rows)
    for index, tables in enumerate(days):  # the frame statistics of every run come from the whole day's events
        assert_assets_write_one_write(tmp_path / str(index), "2025-12-20", {name: tables[name] for name in ("game_ticks", "trades", "events", "market_episodes")},
                                      {"market_observations": tables["market_observations"]})


@pytest.mark.parametrize("run_rows", [1, 150, 10**9])
def test_market_episodes_runs_give_the_whole_days_partition(tmp_path, days, monkeypatch, run_rows):
    monkeypatch.setattr(gold_assets, "MARKET_RUN_ROWS", run_rows)
    for index, tables in enumerate(days):
        assert_assets_write_one_write(tmp_path / str(index), "2025-12-20", {name: tables[name] for name in ("games", "game_ticks", "trades", "events")},
                                      {"market_episodes": tables["market_episodes"]})


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(group_rows=st.one_of(st.integers(1, 40), st.integers(41, 5_000)), shuffled=st.booleans(), run_games=st.integers(1, 60))
def test_market_stages_of_events_cut_in_any_row_groups(tmp_path_factory, days, group_rows, shuffled, run_games):
    """The trade coverage's frames and the statistics timeline read the events a row group at a time: any cut gives
    the whole day's; events out of capture order (no such writer today) take the whole day's sort instead. Each run
    of games gets back exactly its games' rows of the whole day's timeline, in its order."""
    root = tmp_path_factory.mktemp("row-groups")
    paths = VectraPaths(data_dir=str(root))
    for tables in days:
        events = tables["events"].sample(fraction=1.0, shuffle=True, seed=group_rows) if shuffled else tables["events"]
        path = storage.write_table(root, "events", "2025-12-20", events)
        pq.write_table(pq.read_table(path), path, row_group_size=group_rows)  # the day's frames cut anywhere
        assert pq.ParquetFile(path).num_row_groups == -(-events.height // group_rows)
        ticks = tables["game_ticks"].select(EPISODE_TICK_COLUMNS)
        built = build_market_episodes(tables["games"], ticks, tables["trades"], gold_assets._coverage_bounds(paths, "2025-12-20"))
        assert built.equals(tables["market_episodes"])
        whole = stats_timeline(frame_stats(tables["events"]))
        games = whole["game_id"].unique().sort()
        runs = [games.slice(start, run_games) for start in range(0, games.len(), run_games)]
        kept = gold_assets.RunTimelines(runs)
        gold_assets._timeline(paths, "2025-12-20", kept)
        for index, run in enumerate(runs):
            assert kept.of_run(index).equals(whole.filter(pl.col("game_id").is_in(run.implode())))
