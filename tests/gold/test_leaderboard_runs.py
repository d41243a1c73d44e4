"""The leaderboard read a slice of board frames at a time in receipt order and written a run of games at a time
(memory: one slice's text and rows, one run's rows) is the table and the counts read all at once: on every real
capture day and a simulated session with a crowd of bots, with slices of one frame, a few frames and the whole day,
and runs of one game, a few frames' games and the whole day — a slice is given only its own frames' text; and the
asset, reading the text back from the landing files and appending run by run, writes byte for byte the one write
of the whole table."""

from __future__ import annotations

import os
import subprocess
import sys
from functools import partial
from itertools import chain
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "pipeline"))

from pipeline_kit import assert_assets_write_one_write, chains_by_date, import_real  # noqa: E402
from realdata import REPO  # noqa: E402
from waits import kill_and_wait_for_workers, running  # noqa: E402

from vectra_pipeline import storage  # noqa: E402
from vectra_pipeline.bronze.frames import build_frames, landing_index  # noqa: E402
from vectra_pipeline.defs.assets import gold as gold_assets  # noqa: E402
from vectra_pipeline.defs.resources import VectraPaths  # noqa: E402
from vectra_pipeline.gold.leaderboard import board_frames, build_leaderboard, spill_leaderboard  # noqa: E402
from vectra_pipeline.gold.market import frame_stats  # noqa: E402
from vectra_pipeline.landing_files import read_landing_day  # noqa: E402
from vectra_pipeline.leaderboard_workers import PAYLOAD_INDEX, map_in_workers, scratch_pieces  # noqa: E402

DATE = "2025-12-20"


@pytest.fixture(scope="module")
def days(tmp_path_factory, simulated_session):
    """(events, board frames, texts) of every real capture day and the simulated session."""
    data_dir = tmp_path_factory.mktemp("boards")
    chains = [*chains_by_date(data_dir, import_real(data_dir)).values(), simulated_session[0]]
    texts = [chain.frames_with_text.select("capture_id", "seq", "payload_text") for chain in chains]
    return [(chain.events, board_frames(frame_stats(chain.events)), text) for chain, text in zip(chains, texts)]


@pytest.mark.parametrize("row_group_size", [7, 500])
def test_board_frames_of_events_read_a_row_group_at_a_time_are_the_whole_days(tmp_path, days, row_group_size):
    for index, (events, frames, _) in enumerate(days):
        root = tmp_path / str(index)
        path = storage.table_path(root, "events", DATE)
        path.parent.mkdir(parents=True)
        events.write_parquet(path, row_group_size=row_group_size)
        assert len(storage.parquet_row_group_rows(path)) == max(1, -(-events.height // row_group_size))
        assert gold_assets._board_frames(VectraPaths(data_dir=str(root)), DATE).equals(frames)


@pytest.mark.parametrize(("slice_frames", "run_frames"), [(1, 1), (7, 3), (1, 10**9), (10**9, 1), (10**9, 10**9)])
def test_a_leaderboard_read_in_slices_and_written_in_runs_of_games_is_the_whole_build(days, slice_frames, run_frames):
    total = 0
    for _, frames, texts in days:
        given = []

        def texts_of(board: pl.DataFrame, texts=texts, given=given) -> pl.DataFrame:
            given.append(board.height)
            assert board.height <= slice_frames
            return texts.join(board.select("capture_id", "seq"), on=["capture_id", "seq"], how="semi")

        spilled = spill_leaderboard(frames, texts_of, slice_frames, run_frames)
        tables = list(spilled.tables())
        games = [set(table["game_id"].unique().to_list()) for table in tables]
        assert all(not (a & b) for at, a in enumerate(games) for b in games[at + 1 :])  # a game is in one run
        whole, whole_counts = build_leaderboard(frames, texts)
        if run_frames == 1:
            assert len(tables) == whole["game_id"].n_unique()  # a run of each game that has rows
        assert pl.concat([whole.clear(), *tables]).equals(whole) and spilled.counts == whole_counts
        assert sum(given) == frames.height
        total += whole.height
    assert total > 0


@settings(max_examples=12, deadline=None)
@given(slice_frames=st.integers(5, 400), run_frames=st.integers(1, 2_000))
def test_any_cut_into_slices_and_runs_gives_the_whole_build(days, slice_frames, run_frames):
    for _, frames, texts in days:
        texts_of = partial(pl.DataFrame.join, texts, on=["capture_id", "seq"], how="semi")
        spilled = spill_leaderboard(frames, texts_of, slice_frames, run_frames)
        whole, whole_counts = build_leaderboard(frames, texts)
        assert pl.concat([whole.clear(), *spilled.tables()]).equals(whole) and spilled.counts == whole_counts


@pytest.mark.parametrize(("workers", "slice_frames", "run_frames"), [(2, 7, 3), (3, 50, 10**9)])
def test_slices_read_by_worker_processes_give_the_rows_and_counts_read_here(days, workers, slice_frames, run_frames):
    pieces = 0
    for _, frames, texts in days:
        texts_of = partial(pl.DataFrame.join, texts, on=["capture_id", "seq"], how="semi")  # picklable: sent to workers
        here = spill_leaderboard(frames, texts_of, slice_frames, run_frames)
        there = spill_leaderboard(frames, texts_of, slice_frames, run_frames, map_in_workers(workers))
        assert there.counts == here.counts and list(map(len, there.runs)) == list(map(len, here.runs))
        for piece, expected in zip(chain.from_iterable(there.pieces()), chain.from_iterable(here.pieces())):
            assert pl.read_ipc(piece).equals(pl.read_ipc(expected))  # each run's slices
        pieces += sum(map(len, here.runs))
    assert pieces > 5


@settings(max_examples=12, deadline=None)
@given(slice_frames=st.integers(5, 400), run_frames=st.integers(1, 2_000))
def test_pieces_spilled_to_a_scratch_file_read_back_as_the_bytes_held_in_memory(
    days, tmp_path_factory, slice_frames, run_frames
):
    for _, frames, texts in days:
        texts_of = partial(pl.DataFrame.join, texts, on=["capture_id", "seq"], how="semi")
        held = spill_leaderboard(frames, texts_of, slice_frames, run_frames)
        with scratch_pieces(tmp_path_factory.mktemp("root"), DATE) as store:
            filed = spill_leaderboard(frames, texts_of, slice_frames, run_frames, map, store)
            assert filed.counts == held.counts and list(filed.pieces()) == list(held.pieces())
            assert store.end == sum(map(len, chain.from_iterable(held.pieces())))  # every piece on disk, none kept
            assert all(isinstance(ref, tuple) for ref in chain.from_iterable(filed.runs))
            tables, expected = list(filed.tables()), list(held.tables())
            assert len(tables) == len(expected) and all(map(pl.DataFrame.equals, tables, expected))


@pytest.mark.skipif(not Path("/proc/self/fd").exists(), reason="reads open files from /proc (Linux)")
def test_a_scratch_file_is_gone_when_a_build_fails_and_names_nothing_while_it_lives(tmp_path):
    folder = storage.table_path(tmp_path, "leaderboard", DATE).parent
    with pytest.raises(RuntimeError, match="a slice failed"), scratch_pieces(tmp_path, DATE) as store:
        assert store.get(store.put(b"rows")) == b"rows" and store.get(store.put(b"")) == b""
        assert store.get((0, 4)) == b"rows" and list(folder.iterdir()) == []  # no name a dead build could leave
        opened = f"/proc/self/fd/{store.descriptor}"
        scratch = os.readlink(opened)
        assert scratch.startswith(str(folder))  # on the partition's filesystem, not in memory
        raise RuntimeError("a slice failed")
    assert list(folder.iterdir()) == []
    assert not os.path.lexists(opened) or os.readlink(opened) != scratch  # closed with the block: its space freed


def test_a_scratch_piece_read_past_the_files_end_is_an_error_not_short_rows(tmp_path):
    with scratch_pieces(tmp_path, DATE) as store:
        at, length = store.put(b"rows")
        with pytest.raises(OSError, match="gave 4 of 5 bytes"):
            store.get((at, length + 1))


_MAP_THEN_HANG = """
import multiprocessing, sys, time
from vectra_pipeline.leaderboard_workers import map_in_workers
results = map_in_workers(2)(time.sleep, [0, 3600, 3600, 3600])
assert next(results) is None  # the pool is up, each worker in a task of an hour
print(*(child.pid for child in multiprocessing.active_children()), flush=True)
sys.stdin.read()  # until killed
"""


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads processes' states from /proc (Linux)")
def test_a_killed_build_leaves_no_leaderboard_worker_behind():
    build = subprocess.Popen([sys.executable, "-c", _MAP_THEN_HANG], cwd=REPO, stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        workers = [int(pid) for pid in build.stdout.readline().split()]
        assert len(workers) == 2 and all(map(running, workers))
        kill_and_wait_for_workers(build, workers)
    finally:
        build.kill()
        build.wait(timeout=60)


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


@pytest.mark.parametrize(("slice_frames", "run_frames"), [(1, 1), (7, 3), (10**9, 10**9)])
def test_the_asset_appending_runs_writes_the_whole_tables_bytes(landed, monkeypatch, slice_frames, run_frames):
    folder, inputs, expected = landed
    monkeypatch.setattr(gold_assets, "BOARD_SLICE_FRAMES", slice_frames)
    monkeypatch.setattr(gold_assets, "BOARD_RUN_FRAMES", run_frames)
    for date, tables in inputs.items():
        assert_assets_write_one_write(folder, date, tables, {"leaderboard": expected[date]})


def test_the_asset_with_worker_processes_writes_the_whole_tables_bytes(landed, monkeypatch):
    folder, inputs, expected = landed  # the slices, their landing names categorical, pickled to two spawned workers
    monkeypatch.setattr(gold_assets, "BOARD_SLICE_FRAMES", 50)
    monkeypatch.setattr(gold_assets, "BOARD_WORKER_SLICES", 1)
    monkeypatch.setattr(gold_assets, "decode_workers", lambda: 2)
    sent = []

    def in_workers(workers):
        def mapped(function, tasks):
            sent.append((workers, len(tasks)))
            return map_in_workers(workers)(function, tasks)

        return mapped

    monkeypatch.setattr(gold_assets, "map_in_workers", in_workers)
    date = max(expected, key=lambda day: expected[day].height)
    assert_assets_write_one_write(folder, date, inputs[date], {"leaderboard": expected[date]})
    assert sent and all(workers == 2 and tasks > 1 for workers, tasks in sent)


@pytest.mark.parametrize("row_group_size", [7, 500, 10**9])
def test_the_bronze_index_read_a_row_group_at_a_time_is_the_whole_days(tmp_path, landed, row_group_size):
    _, inputs, _ = landed
    keys, indexed_frames = ["capture_id", "seq"], 0
    for date, tables in inputs.items():
        root = tmp_path / date
        for name, table in (("frames", tables["frames"]), ("events", tables["events"])):
            path = storage.table_path(root, name, date)
            path.parent.mkdir(parents=True)
            table.write_parquet(path, row_group_size=row_group_size)
        frames = board_frames(frame_stats(tables["events"]))
        expected = frames.join(tables["frames"].select(*keys, *PAYLOAD_INDEX), on=keys, how="left", maintain_order="left")
        indexed = gold_assets._indexed_board_frames(VectraPaths(data_dir=str(root)), date)
        assert indexed.schema["landing_file"] == pl.Categorical  # held as few names, read back as the same text
        assert indexed.with_columns(pl.col("landing_file").cast(pl.String)).equals(expected)
        indexed_frames += indexed.height - indexed["landing_file"].null_count()
    assert indexed_frames > 0
    empty_root = tmp_path / "no-bronze"  # no frames partition: every board frame without an index, the columns kept
    path = storage.table_path(empty_root, "events", DATE)
    path.parent.mkdir(parents=True)
    max((tables["events"] for tables in inputs.values()), key=lambda events: board_frames(frame_stats(events)).height).write_parquet(path)
    indexed = gold_assets._indexed_board_frames(VectraPaths(data_dir=str(empty_root)), DATE)
    assert set(PAYLOAD_INDEX) <= set(indexed.columns) and indexed["landing_file"].null_count() == indexed.height > 0
