"""A file assembled from row groups written alone (``vectra_pipeline.parquet_assembly``) is, byte for byte, the file one
write of all the rows gives: every column type the tables use (text with nulls and stale views, lists of structs,
NaN and infinities, booleans, dates), one row group or many (more than 15: the footer's long list form), with and
without statistics; and a part it cannot place is refused, never assembled into a wrong file."""

from __future__ import annotations

import math

import polars as pl
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from vectra_pipeline.parquet_assembly import AssemblyError, assembled, footer, read_struct, write_struct
from vectra_pipeline.parquet_format import PARQUET, ParquetSettings, with_own_strings

_FLOATS = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.none())
_TEXTS = st.one_of(st.text(max_size=40), st.none())


@st.composite
def _frames(draw) -> pl.DataFrame:
    rows = draw(st.integers(1, 400))
    column = lambda strategy: draw(st.lists(strategy, min_size=rows, max_size=rows))  # noqa: E731
    pairs = st.one_of(st.none(), st.lists(st.fixed_dictionaries({"tick": st.integers(0, 5000), "price": _FLOATS}), max_size=4))
    frame = pl.DataFrame(
        {
            "id": column(st.integers(-(2**63), 2**63 - 1)),
            "small": column(st.one_of(st.integers(-(2**31), 2**31 - 1), st.none())),
            "price": column(_FLOATS),
            "flag": column(st.one_of(st.booleans(), st.none())),
            "text": column(_TEXTS),
            "repeated": column(st.sampled_from(["trade", "gameStateUpdate", None])),
            "pairs": column(pairs),
        },
        schema={"id": pl.Int64, "small": pl.Int32, "price": pl.Float64, "flag": pl.Boolean, "text": pl.String,
                "repeated": pl.String, "pairs": pl.List(pl.Struct({"tick": pl.Int32, "price": pl.Float64}))},
    )  # fmt: skip
    # nulls made by when/then over long text keep old bytes in their views (what without_stale_views is for)
    return frame.with_columns(pl.when(pl.col("id") % 3 == 0).then(pl.col("text") + "x" * 50).alias("stale"))


def _one_write(writer: ParquetSettings, frame: pl.DataFrame, path) -> bytes:
    writer.write(frame, path)
    return path.read_bytes()


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(frame=_frames(), group_rows=st.integers(1, 64), statistics=st.booleans())
@example(frame=pl.DataFrame({"id": list(range(40))}), group_rows=2, statistics=True)  # 20 row groups
def test_row_groups_written_alone_assemble_into_the_bytes_of_one_write(tmp_path, frame, group_rows, statistics):
    writer = ParquetSettings(compression_level=3, statistics=statistics, row_group_size=group_rows)
    whole = _one_write(writer, frame, tmp_path / "whole.parquet")
    parts = [
        _one_write(writer, frame.slice(start, group_rows).rechunk(), tmp_path / f"part-{start}.parquet")
        for start in range(0, frame.height, group_rows)
    ]
    assert b"".join(bytes(piece) for piece in assembled(parts)) == whole
    assert len(footer(whole)[3][2][2]) == math.ceil(frame.height / group_rows)  # the row groups are really many


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(frame=_frames(), cuts=st.lists(st.integers(1, 399), max_size=8), statistics=st.booleans())
def test_rows_held_in_chunks_of_their_own_write_the_bytes_of_one_rechunked_frame(tmp_path, frame, cuts, statistics):
    # what PartitionWriter writes for a row group: its appended batches, each with its own text, not rechunked
    writer = ParquetSettings(compression_level=3, statistics=statistics, row_group_size=PARQUET.row_group_size)
    bounds = sorted({0, frame.height, *(cut for cut in cuts if cut < frame.height)})
    held = pl.concat([with_own_strings(frame.slice(start, end - start)) for start, end in zip(bounds, bounds[1:])], rechunk=False)
    assert held.n_chunks("all") == [len(bounds) - 1] * held.width
    writer.write(held, tmp_path / "held.parquet", own_strings=True)
    assert (tmp_path / "held.parquet").read_bytes() == _one_write(writer, frame.rechunk(), tmp_path / "whole.parquet")


def test_the_footer_reads_back_to_its_bytes(tmp_path):
    data = _one_write(PARQUET, pl.DataFrame({"a": [1, None], "b": ["x", None]}), tmp_path / "f.parquet")
    length = int.from_bytes(data[-8:-4], "little")
    fields, end = read_struct(memoryview(data), len(data) - 8 - length)
    assert end == len(data) - 8 and bytes(write_struct(fields, bytearray())) == data[-8 - length : -8]


def test_a_part_it_cannot_place_is_refused(tmp_path):
    frame = pl.DataFrame({"a": list(range(10))})
    two_groups = _one_write(ParquetSettings(3, True, row_group_size=5), frame, tmp_path / "two.parquet")
    with pytest.raises(AssemblyError, match="2 row groups"):
        list(assembled([two_groups]))
    with pytest.raises(AssemblyError, match="not a Parquet file"):
        list(assembled([b"PAR1 garbage"]))
    with pytest.raises(AssemblyError, match="no part"):
        list(assembled([]))
