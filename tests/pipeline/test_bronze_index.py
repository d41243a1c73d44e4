"""Bronze as an index: no copy of the frame text; the text read back from the landing files, row group by row group,
is exactly the landing row's, and a landing file changed or gone under the pipeline stops silver with one line."""

from __future__ import annotations

import shutil
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pipeline_kit import import_real

from capture_agent.landing.segments import segment_paths
from vectra_pipeline import storage
from vectra_pipeline.bronze.frames import PAYLOAD_COLUMNS, LandingChanged, build_frames, landing_index, with_payloads
from vectra_pipeline.landing_files import LandingPayloads, read_landing_day

KEY = ["capture_id", "seq"]


@pytest.fixture(scope="module")
def real_day(tmp_path_factory) -> tuple[Path, str]:
    """The real captures' busiest landing date, each segment rewritten in row groups of 13 rows (same rows), so a
    read-back crosses row groups and files."""
    data_dir = tmp_path_factory.mktemp("bronze-index")
    dates = import_real(data_dir)
    date = max(dates, key=lambda d: sum(pq.ParquetFile(p).metadata.num_rows for p in segment_paths(data_dir, d)))
    for path in segment_paths(data_dir, date):
        pq.write_table(pq.read_table(path), path, row_group_size=13)
    return data_dir, date


def _index(data_dir: Path, date: str) -> pl.DataFrame:
    return build_frames(read_landing_day(data_dir, date, keep=landing_index).frame)[0]


def test_bronze_holds_no_text_and_says_where_each_row_is(real_day):
    data_dir, date = real_day
    index = _index(data_dir, date)
    assert not set(PAYLOAD_COLUMNS) & set(index.columns)
    assert index["landing_file"].str.starts_with(f"landing/date={date}/").all()
    landing = read_landing_day(data_dir, date).frame
    with_text = landing.filter(pl.col("payload_text").is_not_null() | pl.col("payload_bytes").is_not_null())
    assert index["payload_kind"].is_not_null().sum() == with_text.height > 500
    sizes = with_text.select(*KEY, pl.coalesce(pl.col("payload_text").str.len_bytes(), pl.col("payload_bytes").bin.size()).alias("size"))
    assert index.join(sizes, on=KEY).select((pl.col("payload_size") == pl.col("size")).all()).item()


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_rows_in_any_order_read_back_the_landing_text(real_day, data):
    data_dir, date = real_day
    index = _index(data_dir, date)
    picked = data.draw(st.lists(st.integers(0, index.height - 1), min_size=1, max_size=300, unique=True))
    rows = index[picked]
    read = with_payloads(rows, LandingPayloads(data_dir))
    landing = read_landing_day(data_dir, date).frame.unique(subset=KEY, keep="first", maintain_order=True)
    expected = rows.select(KEY).join(landing.select(*KEY, *PAYLOAD_COLUMNS), on=KEY, how="left", maintain_order="left")
    assert read.select(*KEY, *PAYLOAD_COLUMNS).equals(expected)


def _one_text_row(index: pl.DataFrame) -> dict:
    return index.filter(pl.col("payload_kind") == "text").row(0, named=True)


def test_a_landing_row_changed_after_bronze_is_named_not_decoded(real_day, tmp_path):
    data_dir, date = real_day
    shutil.copytree(data_dir / "landing", tmp_path / "landing")
    index = _index(tmp_path, date)
    row = _one_text_row(index)
    path = storage.location(tmp_path, row["landing_file"])
    table = pq.read_table(path)
    texts = table["payload_text"].to_pylist()
    texts[row["landing_row"]] = texts[row["landing_row"]] + " "
    pq.write_table(table.set_column(table.schema.get_field_index("payload_text"), "payload_text", pa.array(texts, pa.string())), path)
    with pytest.raises(LandingChanged) as raised:
        with_payloads(index, LandingPayloads(tmp_path), decoded_only=True)
    message = str(raised.value)
    assert "\n" not in message and row["landing_file"] in message and f"row {row['landing_row']}" in message
    assert "rebuild the day's bronze" in message


def test_a_landing_file_gone_after_bronze_is_named(real_day, tmp_path):
    data_dir, date = real_day
    shutil.copytree(data_dir / "landing", tmp_path / "landing")
    index = _index(tmp_path, date)
    row = _one_text_row(index)
    storage.location(tmp_path, row["landing_file"]).unlink()
    with pytest.raises(LandingChanged) as raised:
        with_payloads(index, LandingPayloads(tmp_path))
    assert "\n" not in str(raised.value) and row["landing_file"] in str(raised.value)
