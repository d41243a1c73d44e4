"""The leaderboard read a slice of board frames at a time (memory: one slice's text and rows) is the table and the
counts read all at once: on every real capture day and a simulated session with a crowd of bots, with slices of one
frame, of a few frames and of the whole day — and a slice is given only its own frames' text."""

from __future__ import annotations

import sys
from pathlib import Path

import polars as pl
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "pipeline"))

from pipeline_kit import chains_by_date, import_real  # noqa: E402

from vectra_pipeline.gold.leaderboard import board_frames, build_leaderboard, build_leaderboard_in_slices  # noqa: E402
from vectra_pipeline.gold.market import frame_stats  # noqa: E402


@pytest.fixture(scope="module")
def days(tmp_path_factory, simulated_session):
    data_dir = tmp_path_factory.mktemp("boards")
    chains = [*chains_by_date(data_dir, import_real(data_dir)).values(), simulated_session[0]]
    return [(board_frames(frame_stats(chain.events)), chain.frames_with_text.select("capture_id", "seq", "payload_text")) for chain in chains]


@pytest.mark.parametrize("slice_frames", [1, 7, 10**9])
def test_a_leaderboard_read_in_slices_is_the_whole_read(days, slice_frames):
    total = 0
    for frames, texts in days:
        given = []

        def texts_of(board: pl.DataFrame, texts=texts, given=given) -> pl.DataFrame:
            given.append(board.height)
            assert board.height <= slice_frames
            return texts.join(board.select("capture_id", "seq"), on=["capture_id", "seq"], how="semi")

        table, counts = build_leaderboard_in_slices(frames, texts_of, slice_frames)
        whole, whole_counts = build_leaderboard(frames, texts)
        assert table.equals(whole) and counts == whole_counts
        assert sum(given) == frames.height
        total += whole.height
    assert total > 0
