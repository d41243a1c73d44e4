"""A partition written a batch at a time (events, quarantine) has exactly the bytes of the whole frame written at
once, whatever the batches, across row-group boundaries and with text nulls that polars left holding old bytes;
nothing of it is visible before it is whole."""

from __future__ import annotations

import hashlib
import os

import polars as pl
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from vectra_pipeline import storage
from vectra_pipeline.parquet_format import PARQUET
from vectra_pipeline.schema import conform, empty

DATE = "2025-12-20"


def _quarantine_rows(n: int, seed: int) -> pl.DataFrame:
    """Quarantine-shaped rows whose text nulls come from ``when/then`` over long strings (stale views)."""
    long = pl.Series("raw", [f"{'x' * (seed % 7 + i % 300)}{i}" for i in range(n)])
    frame = pl.DataFrame({"capture_id": ["cap"] * n, "seq": list(range(n)), "packet_index": [0] * n, "raw": long})
    return conform(
        frame.with_columns(
            pl.when(pl.col("seq") % 5 == seed % 5).then(pl.col("raw")).alias("raw"),
            pl.when(pl.col("seq") % 3 == 0).then(pl.col("raw")).alias("detail"),
            pl.lit("decode").alias("rule"),
            pl.lit(False).alias("explained"),
        ),
        "quarantine",
    )


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(rows=st.integers(0, 140_000), cuts=st.lists(st.integers(1, 140_000), max_size=6), seed=st.integers(0, 99))
@example(rows=140_000, cuts=[19_999, 65_536, 70_000], seed=3)  # across two row-group boundaries
def test_appended_batches_give_the_bytes_of_one_write(tmp_path_factory, rows, cuts, seed):
    whole = _quarantine_rows(rows, seed)
    once, batched = tmp_path_factory.mktemp("once"), tmp_path_factory.mktemp("batched")
    storage.write_table(once, "quarantine", DATE, whole)
    appender = storage.PartitionAppender(batched, "quarantine", DATE)
    bounds = sorted({0, rows, *(c for c in cuts if c < rows)})
    for start, end in zip(bounds, bounds[1:]):
        appender.append(whole.slice(start, end - start))
    path = appender.close()
    assert appender.rows == rows
    assert _sha(path) == _sha(storage.table_path(once, "quarantine", DATE))
    assert sorted(p.name for p in path.parent.iterdir()) == ["part.parquet"], "no part file or temp left"


def test_nothing_appended_is_an_empty_partition(tmp_path):
    path = storage.PartitionAppender(tmp_path, "events", DATE).close()
    assert pl.read_parquet(path).equals(empty("events"))


def test_a_partition_is_absent_until_closed_and_a_dead_writers_parts_are_swept(tmp_path):
    appender = storage.PartitionAppender(tmp_path, "quarantine", DATE)
    appender.append(_quarantine_rows(PARQUET.row_group_size + 10, 1))  # a row group's part written, 10 rows held
    final = storage.table_path(tmp_path, "quarantine", DATE)
    assert not final.exists()
    (leftover,) = [p for p in final.parent.iterdir()]
    dead = leftover.with_name(leftover.name.replace(f".{os.getpid()}.", ".999999999."))
    leftover.rename(dead)  # as if its writer had been killed: a temp folder with a PID that is gone
    assert storage.sweep(final.parent) == [dead] and not dead.exists()


def _text_buffer_bytes(frame: pl.DataFrame) -> int:
    """Bytes of the buffers behind ``frame``'s text columns, as exported without a copy (views and their data)."""
    columns = (frame[name].to_arrow(compat_level=pl.CompatLevel.newest()) for name, t in frame.schema.items() if t == pl.String)
    return sum(buffer.size for column in columns for buffer in column.buffers() if buffer is not None)


def test_rows_held_for_their_row_group_do_not_keep_the_callers_text_alive(tmp_path):
    # a run's few rows, filtered out of a large table and held until a row group fills, kept the whole table's text
    # (crowd_episodes: 1.1 GB at the end of a 1M-frame day); the appender holds copies of their own
    large = _quarantine_rows(60_000, seed=1)
    few = large.filter(pl.col("seq") % 1000 == 0)
    texts = [name for name, t in few.schema.items() if t == pl.String]
    own = few.select(pl.col(texts).str.len_bytes().fill_null(0)).sum_horizontal().sum() + 16 * few.height * len(texts)
    assert _text_buffer_bytes(few) > 20 * own  # views into ``large``'s buffers
    appender = storage.PartitionAppender(tmp_path, "quarantine", DATE)
    for _ in range(3):
        appender.append(few)
    held = pl.concat(appender._held)  # private: what the appender keeps between appends is the point of this test
    assert _text_buffer_bytes(held) <= 2 * 3 * own
    path = appender.close()
    assert pl.read_parquet(path).equals(pl.concat([few] * 3))
