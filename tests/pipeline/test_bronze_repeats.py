"""Bronze's repeated landing rows (the same (capture_id, seq) again: a segment imported twice, a conflicting copy)
are found in key order, without hashing the day's keys: on hostile landing tables — keys repeated any number of
times, in any order, with the same or different content, across captures — the index, its duplicate flags and its
counts are those of hashing every key (``unique`` keeping the first copy in landing order, then sorting)."""

from __future__ import annotations

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from vectra_pipeline.bronze.frames import DUPLICATE_WINDOW_NS, _cross_capture_duplicates, build_frames, landing_index
from vectra_pipeline.schema import conform

_CONTENT = ["record_type", "direction", "payload_kind", "payload_size", "content_hash", "detail"]


def _by_hashing(landing: pl.DataFrame) -> tuple[pl.DataFrame, int, int]:
    """The index, repeated and conflicting rows, the way bronze found them before (every key hashed)."""
    frame = landing_index(landing).with_row_index("_row")
    repeated = frame.select(pl.struct("capture_id", "seq").is_duplicated()).to_series()
    unique = frame.unique(subset=["capture_id", "seq"], keep="first", maintain_order=True)
    copies = frame.filter(repeated)
    conflicting = (
        copies.unique(subset=["capture_id", "seq", *_CONTENT]).height
        - copies.unique(subset=["capture_id", "seq"]).height
    )
    unique = unique.sort(["capture_id", "seq"])
    duplicate_of = _cross_capture_duplicates(unique, DUPLICATE_WINDOW_NS)
    index = conform(unique.join(duplicate_of, on="_row", how="left").drop("_row"), "frames")
    return index, frame.height - unique.height, conflicting


_ROWS = st.tuples(
    st.sampled_from(["cap-a", "cap-b", "c"]),  # capture
    st.integers(0, 6),  # seq: few values, so keys repeat
    st.integers(0, 3),  # time, in half-window steps
    st.sampled_from(['42["a",1]', '42["a",2]', '42["b",{}]', None]),  # text (None: a binary frame)
    st.sampled_from(["in", "out"]),
)


@settings(max_examples=150, deadline=None)
@given(rows=st.lists(_ROWS, min_size=1, max_size=40))
def test_repeats_found_in_key_order_are_those_found_by_hashing(rows):
    landing = pl.DataFrame(
        {"capture_id": [r[0] for r in rows], "seq": [r[1] for r in rows], "record_type": "frame", "source": "browser",
         "recv_wall_ns": [1_700_000_000_000_000_000 + r[2] * DUPLICATE_WINDOW_NS // 2 for r in rows],
         "recv_mono_ns": [r[2] for r in rows], "direction": [r[4] for r in rows], "transport": "websocket",
         "payload_text": [r[3] for r in rows], "payload_bytes": [b"\x01" if r[3] is None else None for r in rows]},
        schema_overrides={"recv_wall_ns": pl.Int64},
    )  # fmt: skip
    index, stats = build_frames(landing)
    expected, repeated, conflicting = _by_hashing(landing)
    assert index.equals(expected)
    assert (stats.repeated_rows, stats.conflicting_rows) == (repeated, conflicting)
