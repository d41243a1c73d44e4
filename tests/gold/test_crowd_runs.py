"""crowd_observations, crowd_episodes and market_observations are built a run of games at a time (memory: one run's
grid of players × ticks, or of episode ticks, not the day's) and appended: their partitions are byte for byte the one
write of the whole day's tables — on every real capture day and the simulated session's crowd of bots, with runs of
one game, of a few hundred rows and the whole day."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "pipeline"))

from pipeline_kit import assert_assets_write_one_write, chains_by_date, import_real  # noqa: E402

from vectra_pipeline.defs.assets import gold as gold_assets  # noqa: E402
from vectra_pipeline.gold.lookahead import SILVER_INPUTS, gold_tables  # noqa: E402

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
