"""game_ticks and games are built a run of games at a time (memory: one run, not the day) and appended: their
partitions are byte for byte the one write of the stage on the whole day — on every real capture day and the
simulated session, with runs of one game each, of a few hundred events rows, and the whole day in one run."""

from __future__ import annotations

import pytest
from pipeline_kit import assert_assets_write_one_write, chains_by_date, import_real

from vectra_pipeline import storage
from vectra_pipeline.defs.assets import silver as silver_assets
from vectra_pipeline.defs.resources import VectraPaths

TABLES = ("game_ticks", "games")


@pytest.fixture(scope="module")
def real_chains(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("runs")
    return chains_by_date(data_dir, import_real(data_dir))


def _assert_runs_give_the_whole_day(tmp_path, date, chain) -> None:
    assert all(getattr(chain, table).height > 0 for table in TABLES)
    inputs = {table: getattr(chain, table) for table in ("events", "game_history")}
    assert_assets_write_one_write(tmp_path, date, inputs, {table: getattr(chain, table) for table in TABLES})


@pytest.mark.parametrize("run_rows", [1, 300, 10**9])
def test_runs_of_games_give_the_whole_days_partitions(tmp_path, real_chains, monkeypatch, run_rows):
    monkeypatch.setattr(silver_assets, "GAME_RUN_ROWS", run_rows)
    for date, chain in real_chains.items():
        _assert_runs_give_the_whole_day(tmp_path / date, date, chain)


def test_runs_of_games_in_a_played_session(tmp_path, simulated_session, monkeypatch):
    chain, _ = simulated_session
    monkeypatch.setattr(silver_assets, "GAME_RUN_ROWS", 50)
    _assert_runs_give_the_whole_day(tmp_path, "2025-12-20", chain)  # the partition's name is any day


def test_runs_cover_every_game_once_in_order(tmp_path, real_chains, monkeypatch):
    monkeypatch.setattr(silver_assets, "GAME_RUN_ROWS", 40)
    date, chain = next(iter(real_chains.items()))
    for table in ("events", "game_history"):
        storage.write_table(tmp_path, table, date, getattr(chain, table))
    runs = silver_assets._game_runs(VectraPaths(data_dir=str(tmp_path)), date, "ticks")
    assert len(runs) > 1
    ids = [game for run in runs for game in run.to_list()]
    every = set(chain.game_history["game_id"]) | set(chain.events.filter(chain.events["event"] == "gameStateUpdate")["game_id"])
    assert len(ids) == len(set(ids)) and set(ids) == every
    assert ids == sorted(ids, key=lambda game: (game is not None, game))
