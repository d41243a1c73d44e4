"""The leaderboard built a run of games at a time (memory: one run's text and rows) is the table and the counts
read all at once: on every real capture day and a simulated session with a crowd of bots, with runs of one frame's
game, of a few frames and of the whole day — a run is given only its own frames' text; and the asset, reading the
text back from the landing files and appending run by run, writes byte for byte the one write of the whole table."""

from __future__ import annotations

import sys
from pathlib import Path

import polars as pl
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "pipeline"))

from pipeline_kit import assert_assets_write_one_write, chains_by_date, import_real  # noqa: E402

from vectra_pipeline.bronze.frames import build_frames, landing_index  # noqa: E402
from vectra_pipeline.defs.assets import gold as gold_assets  # noqa: E402
from vectra_pipeline.gold.leaderboard import board_frames, board_runs, build_leaderboard  # noqa: E402
from vectra_pipeline.gold.market import frame_stats  # noqa: E402
from vectra_pipeline.landing_files import read_landing_day  # noqa: E402


@pytest.fixture(scope="module")
def days(tmp_path_factory, simulated_session):
    data_dir = tmp_path_factory.mktemp("boards")
    chains = [*chains_by_date(data_dir, import_real(data_dir)).values(), simulated_session[0]]
    return [
        (board_frames(frame_stats(chain.events)), chain.frames_with_text.select("capture_id", "seq", "payload_text"))
        for chain in chains
    ]


@pytest.mark.parametrize("run_frames", [1, 7, 10**9])
def test_a_leaderboard_built_in_runs_of_games_is_the_whole_build(days, run_frames):
    total = 0
    for frames, texts in days:
        runs = board_runs(frames, run_frames)
        games = [set(run["game_id"].to_list()) for run in runs]
        assert all(not (a & b) for at, a in enumerate(games) for b in games[at + 1 :])  # a game is in one run
        assert sum(run.height for run in runs) == frames.height
        if run_frames == 1:
            assert len(runs) == max(frames["game_id"].n_unique(), 1)  # an empty day: one empty run
        tables, counts = [], {}
        for run in runs:
            table, read = build_leaderboard(
                run, texts.join(run.select("capture_id", "seq"), on=["capture_id", "seq"], how="semi")
            )
            tables.append(table)
            counts = {name: counts.get(name, 0) + value for name, value in read.items()}
        whole, whole_counts = build_leaderboard(frames, texts)
        assert pl.concat(tables).equals(whole) and counts == whole_counts
        total += whole.height
    assert total > 0


@pytest.fixture(scope="module")
def landed(tmp_path_factory):
    """The real captures landed under ``<folder>/built``, each day's bronze index (naming its landing rows, as the
    bronze asset writes it) and events, and each day's whole table."""
    folder = tmp_path_factory.mktemp("landed")
    chains = chains_by_date(folder / "built", import_real(folder / "built"))
    indexes = {
        date: build_frames(read_landing_day(folder / "built", date, keep=landing_index).frame)[0] for date in chains
    }
    expected = {
        date: build_leaderboard(
            board_frames(frame_stats(chain.events)), chain.frames_with_text.select("capture_id", "seq", "payload_text")
        )[0]
        for date, chain in chains.items()
    }
    assert sum(table.height for table in expected.values()) > 0
    return folder, {date: {"frames": indexes[date], "events": chain.events} for date, chain in chains.items()}, expected


@pytest.mark.parametrize("run_frames", [1, 7, 10**9])
def test_the_asset_appending_runs_writes_the_whole_tables_bytes(landed, monkeypatch, run_frames):
    folder, inputs, expected = landed
    monkeypatch.setattr(gold_assets, "BOARD_RUN_FRAMES", run_frames)
    for date, tables in inputs.items():
        assert_assets_write_one_write(folder, date, tables, {"leaderboard": expected[date]})
