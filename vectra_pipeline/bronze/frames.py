"""Bronze ``frames``: an index of a partition's landing rows, deduplicated. Pure: frames in, frames out.

Bronze holds no second copy of the frame text: each row keeps the landing row's keys, times and flags, the size
and a content hash of its payload, and where it lives (``landing_file``, ``landing_row``). The immutable landing
files stay the one copy of the text; silver, quarantine and debugging read it from there (:func:`with_payloads`).

Two kinds of duplicates:

* the same landing row twice — same ``(capture_id, seq)`` (a segment imported twice, a re-published file):
  the first copy is kept, the others dropped and counted;
* the same server broadcast received by two overlapping captures: identical inbound frame text from
  *different* captures within ``window_ns``. Every copy after the first is kept but flagged ``duplicate_of``
  so silver decodes the broadcast once. Matching is one-to-one per capture, so a capture that really got the
  same text twice keeps both.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import polars as pl

from capture_agent.landing.schema import LANDING_SCHEMA
from vectra_pipeline.schema import conform

VERSION = 2  # bump when the output would change (tests/pipeline/test_stage_versions.py)

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


PAYLOAD_COLUMNS = ("payload_text", "payload_bytes")
_TEXT, _BINARY = "text", "binary"


def content_hash(text: pl.Expr, data: pl.Expr) -> pl.Expr:
    """The payload's 64-bit content hash (polars' hash with fixed seeds: stable within the pinned polars version;
    bronze is rebuilt from landing, so a new version only rehashes); text and binary hash with different seeds."""
    return pl.when(text.is_not_null()).then(text.hash(seed=0)).otherwise(data.hash(seed=1))


def landing_index(landing, file: str | None = None, first_row: int = 0) -> pl.DataFrame:
    """Landing rows (a table :func:`landing_frame` accepts) as bronze index rows: the payload replaced by its kind,
    size and content hash, and the row's place — ``file`` (relative to the data root; None for rows held in memory)
    and its row number there, counted from ``first_row``."""
    frame = landing_frame(landing)
    text, data = pl.col("payload_text"), pl.col("payload_bytes")
    return frame.with_columns(
        pl.when(text.is_not_null()).then(pl.lit(_TEXT)).when(data.is_not_null()).then(pl.lit(_BINARY)).alias("payload_kind"),
        pl.coalesce(text.str.len_bytes(), data.bin.size()).cast(pl.Int64).alias("payload_size"),
        content_hash(text, data).alias("content_hash"),
        pl.lit(file, pl.String).alias("landing_file"),
        pl.int_range(first_row, first_row + pl.len(), dtype=pl.Int64).alias("landing_row"),
    ).drop(*PAYLOAD_COLUMNS)


def build_frames(landing, window_ns: int = DUPLICATE_WINDOW_NS) -> tuple[pl.DataFrame, BronzeStats]:
    """Landing rows, or their :func:`landing_index` (what the asset reads file by file), → bronze ``frames``."""
    frame = landing if isinstance(landing, pl.DataFrame) and "content_hash" in landing.columns else landing_index(landing)
    total = frame.height
    frame = frame.with_row_index("_row")
    # In key order, stable: a key's copies lie together, the first received first (hashing the day's keys to find
    # repeats held 270 MB more at 1M frames). Landing files read in name order are usually in key order already:
    # then the day's index is not copied by a sort.
    capture, seq = pl.col("capture_id"), pl.col("seq")
    ascending = (capture > capture.shift()) | ((capture == capture.shift()) & (seq > seq.shift()))
    in_order = frame.select(ascending.fill_null(True).all()).item()
    unique, conflicting = settle_repeats(frame if in_order else frame.sort(["capture_id", "seq"], maintain_order=True))
    duplicate_of = _cross_capture_duplicates(unique, window_ns)
    flags = unique.select("_row").join(duplicate_of, on="_row", how="left", maintain_order="left")["duplicate_of"]
    frames = unique.with_columns(flags).drop("_row")  # a column added: the day's index is not copied by a join
    frames = conform(frames, "frames")
    stats = BronzeStats(
        landing_rows=total,
        repeated_rows=total - unique.height,
        conflicting_rows=conflicting,
        cross_capture_duplicates=duplicate_of.height,
        captures=frames["capture_id"].n_unique(),
    )
    return frames, stats


_CONTENT = ["record_type", "direction", "payload_kind", "payload_size", "content_hash", "detail"]


def settle_repeats(rows: pl.DataFrame) -> tuple[pl.DataFrame, int]:
    """Index rows in key order, a key's copies in landing order → each key's first copy, and the number of
    conflicting rows (same key, other content: counted, the first copy kept). Only repeated keys are compared."""
    capture, seq = pl.col("capture_id"), pl.col("seq")
    again = rows.select((capture.eq(capture.shift()) & seq.eq(seq.shift())).fill_null(False)).to_series()
    if not again.any():
        return rows, 0
    copies = rows.filter(again | again.shift(-1, fill_value=False))
    conflicting = copies.unique(subset=["capture_id", "seq", *_CONTENT]).height - copies.unique(subset=["capture_id", "seq"]).height
    return rows.filter(~again), conflicting


INBOUND_TEXT = (pl.col("record_type") == "frame") & (pl.col("direction") == "in") & (pl.col("payload_kind") == _TEXT)
MATCH_COLUMNS = ("_row", "capture_id", "seq", "recv_wall_ns", "content_hash", "payload_size")
_SAME = ["content_hash", "payload_size"]  # identical text: same hash and size (a collision within the window is no concern)
_NO_DUPLICATES = pl.DataFrame(schema={"_row": pl.UInt32, "duplicate_of": pl.String})


def _cross_capture_duplicates(frame: pl.DataFrame, window_ns: int) -> pl.DataFrame:
    """``_row`` → ``duplicate_of`` for inbound frames another capture received first within the window."""
    if frame["capture_id"].n_unique() < 2:
        return _NO_DUPLICATES
    # only the columns used are filtered (an eager filter copied the day's index: 280 MB at 1M)
    inbound = frame.lazy().filter(INBOUND_TEXT).select(MATCH_COLUMNS).collect()
    return CrossCaptureMatcher(window_ns).match(_shared(inbound))


def _shared(inbound: pl.DataFrame) -> pl.DataFrame:
    """The rows whose text occurs in several captures among these: only they can match (an overlap)."""
    shared = inbound.group_by(_SAME).agg(pl.col("capture_id").n_unique().alias("_captures")).filter(pl.col("_captures") > 1)
    return inbound.join(shared.select(_SAME), on=_SAME)


class CrossCaptureMatcher:
    """Matches inbound frames to the identical one another capture received first within the window, one-to-one per
    capture, fed in receipt-time order: the whole day at once, or a span of time after another (:meth:`match_span`)
    with the same result — what a text's earlier frames left (each kept frame, the captures it absorbed) is carried
    while it can still match."""

    def __init__(self, window_ns: int = DUPLICATE_WINDOW_NS) -> None:
        self.window_ns = window_ns
        self._kept: dict[tuple[int, int], list[tuple[str, int, str, set[str]]]] = {}  # capture, time, "capture:seq", absorbed

    def match(self, rows: pl.DataFrame) -> pl.DataFrame:
        """``_row`` → ``duplicate_of`` of these rows (MATCH_COLUMNS), later than every row matched before."""
        found_rows: list[int] = []
        originals: list[str] = []
        ordered = rows.sort([*_SAME, "recv_wall_ns", "capture_id", "seq"])
        for row, capture, seq, when, content, size in ordered.select(MATCH_COLUMNS).iter_rows():
            kept = self._kept.setdefault((content, size), [])
            match = next((k for k in kept if k[0] != capture and capture not in k[3] and when - k[1] <= self.window_ns), None)
            if match is None:
                kept.append((capture, when, f"{capture}:{seq}", set()))
            else:
                match[3].add(capture)
                found_rows.append(row)
                originals.append(match[2])
        return pl.DataFrame({"_row": found_rows, "duplicate_of": originals}, schema=_NO_DUPLICATES.schema)

    def match_span(self, nearby: pl.DataFrame, start_ns: int, end_ns: int, last: bool = False) -> pl.DataFrame:
        """:meth:`match` of the rows received in [start_ns, end_ns) (the ``last`` span: [start_ns, end_ns]), given
        ``nearby``: the inbound text rows (MATCH_COLUMNS) received in [start_ns - window, end_ns + window] (or more),
        every capture's. Spans follow each other.

        A text seen by one capture only in ``nearby`` matches nothing in the span, and what its frames leave cannot
        match any later frame of another capture (that one would be within the window, hence in ``nearby``), so it is
        skipped; frames kept before ``end_ns - window`` can match nothing later and are forgotten."""
        inside = pl.col("recv_wall_ns").is_between(start_ns, end_ns, closed="both" if last else "left")
        found = self.match(_shared(nearby).filter(inside)) if nearby["capture_id"].n_unique() > 1 else _NO_DUPLICATES
        horizon = end_ns - self.window_ns
        for text in list(self._kept):
            alive = [k for k in self._kept[text] if k[1] >= horizon]
            if alive:
                self._kept[text] = alive
            else:
                del self._kept[text]
        return found


class LandingChanged(ValueError):
    """A landing row no longer holds the payload bronze indexed: the landing zone was changed under the pipeline."""


# (landing_file, its landing_row numbers) → those rows' PAYLOAD_COLUMNS, in that order
PayloadReader = Callable[[str | None, pl.Series], pl.DataFrame]


def with_payloads(frames: pl.DataFrame, read_rows: PayloadReader, decoded_only: bool = False) -> pl.DataFrame:
    """Bronze rows with ``payload_text``/``payload_bytes`` read back from landing, each checked against its content
    hash; ``decoded_only``: only for the frames silver decodes (the others get nulls: cross-capture duplicates' text
    is not read). Raises :class:`LandingChanged` saying what to do when a landing row's payload is not the one bronze
    indexed."""
    indexed = frames.with_row_index("_at")
    wanted = pl.col("payload_kind").is_not_null()
    if decoded_only:
        wanted &= (pl.col("record_type") == "frame") & pl.col("duplicate_of").is_null()
    wanted = indexed.filter(wanted).select("_at", "landing_file", "landing_row", "content_hash")
    schema = {"payload_text": pl.String, "payload_bytes": pl.Binary}
    parts = [pl.DataFrame(schema={"_at": pl.UInt32, "content_hash": pl.UInt64, **schema})]
    for (file,), rows in wanted.group_by("landing_file", maintain_order=True):
        payloads = read_rows(file, rows["landing_row"]).select(pl.col(name).cast(dtype) for name, dtype in schema.items())
        parts.append(rows.select("_at", "content_hash").hstack(payloads))
    read = pl.concat(parts)
    changed = read.filter(content_hash(pl.col("payload_text"), pl.col("payload_bytes")).ne_missing(pl.col("content_hash")))
    if changed.height:
        at = frames.row(changed["_at"][0], named=True)
        raise LandingChanged(
            f"landing file {at['landing_file']} row {at['landing_row']} is not the frame bronze indexed "
            f"({at['capture_id']}:{at['seq']}); landing files must never change: rebuild the day's bronze"
        )
    return indexed.join(read.select("_at", *schema), on="_at", how="left", maintain_order="left").drop("_at")


def payloads_in_memory(landing) -> PayloadReader:
    """The reader of :func:`with_payloads` for landing rows held in memory (``build_frames(landing)`` numbered them
    by position): tests and benchmarks that run the pure stages without files."""
    payloads = landing_frame(landing).select(*PAYLOAD_COLUMNS)

    def read_rows(file: str | None, rows: pl.Series) -> pl.DataFrame:
        return payloads.select(pl.all().gather(rows))

    return read_rows
