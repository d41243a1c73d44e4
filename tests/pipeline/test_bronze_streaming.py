"""Bronze built a landing segment at a time (``bronze_build``) is bronze built on the whole day at once.

Hypothesis lands hostile days — few texts repeated across three captures at times around the overlap window, keys
in order or shuffled, segments imported twice, cut into any number of segments and row groups — and builds them
with tiny batches, spans and write slices: the partition's bytes and the counts are those of
:func:`build_frames` on the whole day. And the cross-capture matcher fed a span of receipt time at a time, cut
anywhere, finds the duplicates it finds on the whole day.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path
from unittest import mock

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from capture_agent.landing.schema import LANDING_SCHEMA
from vectra_pipeline import bronze_build, landing_files, storage
from vectra_pipeline.bronze.frames import (
    INBOUND_TEXT,
    MATCH_COLUMNS,
    CrossCaptureMatcher,
    _cross_capture_duplicates,
    build_frames,
    landing_index,
)
from vectra_pipeline.landing_files import read_landing_day

DATE = "2025-12-20"
START_NS = 1_766_188_800_000_000_000  # 2025-12-20 00:00 UTC
WINDOW = 1_000

_ROW = st.tuples(
    st.sampled_from(["cap-a", "cap-b", "cap-c"]),
    st.integers(0, 30),  # seq
    st.integers(0, 12),  # time, in half-window steps
    st.sampled_from(["2", "3", '42["a",1]', '42["b",2]', None]),  # text (None: binary)
    st.sampled_from(["in", "in", "out"]),
)


def _landing(rows) -> pl.DataFrame:
    return pl.DataFrame(
        {"capture_id": [r[0] for r in rows], "seq": [r[1] for r in rows], "record_type": "frame", "source": "synthetic",
         "recv_wall_ns": [START_NS + r[2] * WINDOW // 2 for r in rows], "recv_mono_ns": [r[2] for r in rows],
         "direction": [r[4] for r in rows], "transport": "websocket", "payload_text": [r[3] for r in rows],
         "payload_bytes": [b"\x01" if r[3] is None else None for r in rows]},
        schema_overrides={"recv_wall_ns": pl.Int64},
    )  # fmt: skip


def _arrow(landing: pl.DataFrame) -> pa.Table:
    """Landing rows as a landing segment's table."""
    arrow = landing.to_arrow()
    columns = [arrow[f.name].cast(f.type) if f.name in arrow.column_names else pa.nulls(landing.height, f.type) for f in LANDING_SCHEMA]
    return pa.table(columns, schema=LANDING_SCHEMA)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(
    rows=st.lists(_ROW, max_size=120),
    order=st.sampled_from(["keys", "keys", "as drawn", "imported twice"]),
    cuts=st.lists(st.integers(0, 240), max_size=5),
    group_rows=st.integers(1, 40),
    batch_rows=st.integers(1, 50),
    span_rows=st.integers(1, 80),
    write_rows=st.integers(1, 70),
    sample_every=st.integers(1, 9),
)
def test_a_day_built_a_segment_at_a_time_is_the_day_built_at_once(
    tmp_path_factory, rows, order, cuts, group_rows, batch_rows, span_rows, write_rows, sample_every
):
    landing = _landing(rows)
    if order == "keys":  # the landing zone as the agent writes it: every key once, ascending
        landing = landing.unique(["capture_id", "seq"], keep="first", maintain_order=True).sort("capture_id", "seq")
    elif order == "imported twice":
        landing = pl.concat([landing, landing.head(landing.height // 2)])
    streamed, whole = tmp_path_factory.mktemp("streamed"), tmp_path_factory.mktemp("whole")
    table = _arrow(landing)
    bounds = sorted({0, landing.height, *(c for c in cuts if c < landing.height)})
    folder = storage.landing_folder(streamed, DATE)
    folder.mkdir(parents=True)
    for number, (start, end) in enumerate(zip(bounds, bounds[1:], strict=False)):
        pq.write_table(table.slice(start, end - start), folder / f"seg-{number:06d}.parquet", row_group_size=group_rows)
    with (
        mock.patch.object(landing_files, "BATCH_ROWS", batch_rows),
        mock.patch.object(bronze_build, "SPAN_ROWS", span_rows),
        mock.patch.object(bronze_build, "KEY_RANGE_ROWS", span_rows),
        mock.patch.object(bronze_build, "WRITE_ROWS", write_rows),
        mock.patch.object(bronze_build, "_SAMPLE_EVERY", sample_every),
    ):
        built = bronze_build.build_frames_partition(streamed, DATE, WINDOW)
        expected, stats = build_frames(read_landing_day(streamed, DATE, keep=landing_index).frame, WINDOW)
    storage.write_table(whole, "frames", DATE, expected)
    assert _sha(storage.table_path(streamed, "frames", DATE)) == _sha(storage.table_path(whole, "frames", DATE))
    assert (built.stats, built.rows, built.segments) == (stats, expected.height, len(bounds) - 1)
    assert built.record_types == ({"frame": expected.height} if expected.height else {})
    assert [p.name for p in storage.table_path(streamed, "frames", DATE).parent.iterdir()] == ["part.parquet"]  # no spill left


@settings(max_examples=200, deadline=None)
@given(rows=st.lists(_ROW, min_size=1, max_size=80), cuts=st.lists(st.integers(-2, 14), max_size=6))
def test_duplicates_matched_a_span_at_a_time_are_those_of_the_whole_day(rows, cuts):
    index = landing_index(_landing(rows)).unique(["capture_id", "seq"], keep="first").sort("capture_id", "seq").with_row_index("_row")
    whole = _cross_capture_duplicates(index, WINDOW).sort("_row")
    inbound = index.filter(INBOUND_TEXT).select(MATCH_COLUMNS)
    times = [START_NS + c * WINDOW // 2 for c in sorted(set(cuts))]
    bounds = [START_NS - WINDOW, *times, START_NS + 13 * WINDOW]
    matcher, found = CrossCaptureMatcher(WINDOW), []
    for start, end in zip(bounds, bounds[1:], strict=False):
        nearby = inbound.filter(pl.col("recv_wall_ns").is_between(start - WINDOW, end + WINDOW))
        found.append(matcher.match_span(nearby, start, end, last=end == bounds[-1]))
    assert pl.concat(found).sort("_row").equals(whole)


def test_a_killed_builds_spilled_index_is_swept_and_a_live_ones_kept(tmp_path):
    """The spill folder carries its builder's PID: a killed build's is removed by the next build of the partition,
    a build still running keeps its own (the same sweep as every temp of the data root)."""
    folder = storage.landing_folder(tmp_path, DATE)
    folder.mkdir(parents=True)
    pq.write_table(_arrow(_landing([("cap-a", 0, 0, "2", "in")])), folder / "cap-a-000000.parquet")
    partition = storage.table_path(tmp_path, "frames", DATE).parent
    partition.mkdir(parents=True)
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True)
    dead, live = partition / f".part.parquet.index.{int(done.stdout)}.tmp", partition / f".part.parquet.index.{os.getppid()}.tmp"
    for spill in (dead, live):
        spill.mkdir()
        (spill / "000000.parquet").write_bytes(b"PAR1")
    built = bronze_build.build_frames_partition(tmp_path, DATE, WINDOW)
    assert built.rows == 1 and not dead.exists() and live.exists()
    assert sorted(p.name for p in partition.iterdir()) == [live.name, "part.parquet"]
