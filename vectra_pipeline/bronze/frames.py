"""Bronze ``frames``: a partition's landing rows, deduplicated. Pure: frames in, frames out.

Two kinds of duplicates:

* the same landing row twice — same ``(capture_id, seq)`` (a segment imported twice, a re-published file):
  the first copy is kept, the others dropped and counted;
* the same server broadcast received by two overlapping captures: identical inbound frame text from
  *different* captures within ``window_ns``. Every copy after the first is kept but flagged ``duplicate_of``
  so silver decodes the broadcast once. Matching is one-to-one per capture, so a capture that really got the
  same text twice keeps both.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from capture_agent.landing.schema import LANDING_SCHEMA
from vectra_pipeline.schema import conform

VERSION = 1  # bump when the output would change (tests/pipeline/test_stage_versions.py)

DUPLICATE_WINDOW_NS = 2_000_000_000


@dataclass(frozen=True)
class BronzeStats:
    landing_rows: int
    repeated_rows: int  # same (capture_id, seq) seen again
    conflicting_rows: int  # same (capture_id, seq) but different content: kept first, counted here
    cross_capture_duplicates: int
    captures: int


# The landing columns as polars holds them for bronze: recv_wall_ns as integer ns since the epoch.
LANDING_DTYPES = {**pl.from_arrow(LANDING_SCHEMA.empty_table()).schema, "recv_wall_ns": pl.Int64}
_REQUIRED = [field.name for field in LANDING_SCHEMA if not field.nullable]


def landing_frame(landing) -> pl.DataFrame:
    """A landing table (Arrow or polars, e.g. one landing file) as the bronze landing frame: the landing columns in
    order, ``recv_wall_ns`` as integer ns.

    Benign drift is cast: other integer widths, integers for floats, categorical text, timestamps of any unit or
    time zone (or integer ns); optional columns a hand-made table leaves out become null, columns the schema does not
    know are left out. Raises ``ValueError`` saying why for a table that is not landing data: a required column
    missing, a column of another kind, a value its column cannot hold, a null where the schema allows none.
    """
    frame = landing if isinstance(landing, pl.DataFrame) else pl.from_arrow(landing)
    missing = [name for name in _REQUIRED if name not in frame.columns]
    if missing:
        raise ValueError(f"not landing data: no {', '.join(missing)} column{'s' if len(missing) > 1 else ''}")
    columns = [
        _landing_column(frame[name], dtype) if name in frame.columns else pl.Series(name, [None] * frame.height, dtype)
        for name, dtype in LANDING_DTYPES.items()
    ]
    for name in _REQUIRED:
        nulls = frame[name].null_count()
        if nulls:
            raise ValueError(f"column {name} has {nulls} null{'s' if nulls > 1 else ''}; the landing schema allows none")
    return pl.DataFrame(columns)


def _landing_column(column: pl.Series, dtype: pl.DataType) -> pl.Series:
    source = column.dtype
    if column.name == "recv_wall_ns" and isinstance(source, pl.Datetime):
        return column.dt.epoch("ns")
    compatible = (
        source == pl.Null
        or (dtype == pl.String and (source == pl.String or isinstance(source, (pl.Categorical, pl.Enum))))
        or (dtype.is_integer() and source.is_integer())
        or (dtype.is_float() and source.is_numeric())
        or dtype == source
    )
    if not compatible:
        raise ValueError(f"column {column.name} is {source}, not {dtype}")
    try:
        return column.cast(dtype, strict=True)
    except pl.exceptions.InvalidOperationError:
        raise ValueError(f"column {column.name} holds values that do not fit {dtype}") from None


def build_frames(landing, window_ns: int = DUPLICATE_WINDOW_NS) -> tuple[pl.DataFrame, BronzeStats]:
    frame = landing_frame(landing)
    total = frame.height
    frame = frame.with_row_index("_row")
    content = ["record_type", "direction", "payload_text", "payload_bytes", "detail"]
    repeated = frame.select(pl.struct("capture_id", "seq").is_duplicated()).to_series()
    unique = frame.unique(subset=["capture_id", "seq"], keep="first", maintain_order=True) if repeated.any() else frame
    # Same key, different content = conflicting: counted (the first copy is kept). Only repeated keys are compared.
    conflicting = 0
    if repeated.any():
        copies = frame.filter(repeated)
        conflicting = copies.unique(subset=["capture_id", "seq", *content]).height - copies.unique(subset=["capture_id", "seq"]).height
    unique = unique.sort(["capture_id", "seq"])
    duplicate_of = _cross_capture_duplicates(unique, window_ns)
    frames = unique.join(duplicate_of, on="_row", how="left").drop("_row")
    frames = conform(frames, "frames")
    stats = BronzeStats(
        landing_rows=total,
        repeated_rows=total - unique.height,
        conflicting_rows=conflicting,
        cross_capture_duplicates=duplicate_of.height,
        captures=frames["capture_id"].n_unique(),
    )
    return frames, stats


def _cross_capture_duplicates(frame: pl.DataFrame, window_ns: int) -> pl.DataFrame:
    """``_row`` → ``duplicate_of`` for inbound frames another capture received first within the window."""
    none = pl.DataFrame(schema={"_row": pl.UInt32, "duplicate_of": pl.String})
    if frame["capture_id"].n_unique() < 2:
        return none
    inbound = frame.filter(
        (pl.col("record_type") == "frame") & (pl.col("direction") == "in") & pl.col("payload_text").is_not_null()
    ).select("_row", "capture_id", "seq", "recv_wall_ns", "payload_text", pl.col("payload_text").hash().alias("_hash"))
    shared = inbound.group_by("_hash").agg(pl.col("capture_id").n_unique().alias("_captures")).filter(pl.col("_captures") > 1)
    candidates = inbound.join(shared.select("_hash"), on="_hash").sort(["_hash", "recv_wall_ns", "capture_id", "seq"])
    rows: list[int] = []
    originals: list[str] = []
    # Only frames whose text occurs in several captures get here (overlap), so a loop is cheap.
    for group in candidates.partition_by("_hash", maintain_order=True):
        kept: list[tuple[str, int, str, str, set[str]]] = []  # capture, time, text, "capture:seq", absorbed captures
        for row, capture, seq, when, text in group.select("_row", "capture_id", "seq", "recv_wall_ns", "payload_text").iter_rows():
            match = next(
                (
                    k
                    for k in kept
                    if k[0] != capture and capture not in k[4] and when - k[1] <= window_ns and k[2] == text
                ),
                None,
            )
            if match is None:
                kept.append((capture, when, text, f"{capture}:{seq}", set()))
            else:
                match[4].add(capture)
                rows.append(row)
                originals.append(match[3])
    if not rows:
        return none
    return pl.DataFrame({"_row": rows, "duplicate_of": originals}, schema=none.schema)
