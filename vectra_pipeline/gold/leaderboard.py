"""The leaderboard every frame shows (PROTOCOL.md §3.1: ≤10 players, their position, cost, P&L, sidebet, short),
one row per (game, tick, player) — the state of every player the frames show, which the crowd kind is made of.

The board of tick t is the one of the **first frame that showed tick t** (the frame that defines the tick on the
frame clock: a later duplicate of the tick arrives after it). Tick ``PRESALE_TICK`` (−1) holds each game's last
pre-game board (cooldown/presale: the presale entrants, whose presale buys are never broadcast as trades),
visible from the game's first tick. The boards are read from the frames' text (silver keeps only the typed
statistics of a ``gameStateUpdate``); a malformed entry (not an object, no string id) is left out and counted, a
field of another type is null, and a frame that cannot be read gives no rows — the rest of the day is read.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from itertools import chain
from operator import attrgetter
from typing import Any, Protocol

import msgspec
import numpy as np
import polars as pl

from capture_agent.protocol.rules import GAME_STATE_UPDATE, PRE_GAME_PHASES
from capture_agent.protocol.socketio import decode_frame
from vectra_pipeline.schema import conform

VERSION = 1  # bump when the output would change (tests/pipeline/test_stage_versions.py)

PRESALE_TICK = -1
_FAST_PREFIX = f'42["{GAME_STATE_UPDATE}",'


class _Board(msgspec.Struct):
    leaderboard: Any = None


_fast_decoder = msgspec.json.Decoder(tuple[str, _Board])  # skips every other key of the ~5 kB frame


# The strict shape of a board: every field the table reads, with the one JSON type that maps to its column unchanged
# (a number as a double, as _number reads it). A board that does not decode to it is read entry by entry instead.
# A number left out is NaN, which no JSON number decodes to: its column gathers into a float array at once, NaN null.
# (A number written as null does not decode: such a board is read entry by entry.)
_ABSENT = math.nan


class _SideBet(msgspec.Struct, gc=False):
    startedAtTick: float = _ABSENT
    end: float = _ABSENT
    betAmount: float = _ABSENT


class _ShortPosition(msgspec.Struct, gc=False):
    amount: float = _ABSENT
    entryPrice: float = _ABSENT
    entryTick: float = _ABSENT


class _Entry(msgspec.Struct, gc=False):
    id: str
    username: str | None = None
    position: float = _ABSENT
    pnl: float = _ABSENT
    regularPnl: float = _ABSENT
    sidebetPnl: float = _ABSENT
    shortPnl: float = _ABSENT
    pnlPercent: float = _ABSENT
    positionQty: float = _ABSENT
    avgCost: float = _ABSENT
    totalInvested: float = _ABSENT
    sidebetActive: bool | None = None
    sideBet: _SideBet | None = None
    shortPosition: _ShortPosition | None = None


class _StrictBoard(msgspec.Struct, gc=False):
    leaderboard: list[_Entry]


_strict_decoder = msgspec.json.Decoder(tuple[str, _StrictBoard])
_NO_SIDE_BET, _NO_SHORT = _SideBet(), _ShortPosition()
_NUMBERS = {
    "pnl": "pnl",
    "regular_pnl": "regularPnl",
    "sidebet_pnl": "sidebetPnl",
    "short_pnl": "shortPnl",
    "pnl_percent": "pnlPercent",
    "position_qty": "positionQty",
    "avg_cost": "avgCost",
    "total_invested": "totalInvested",
}


def board_frames(stats: pl.DataFrame) -> pl.DataFrame:
    """(game_id, tick, capture_id, seq, packet_index, recv_wall_ns) of the frames whose boards make the table: the
    first frame showing each tick, and each game's last pre-game frame as tick −1. ``stats``: ``market.frame_stats``."""
    ticks, pre_game = _picked(stats)
    columns = ("game_id", "tick", "capture_id", "seq", "packet_index", "recv_wall_ns")
    pre_game = pre_game.with_columns(pl.lit(PRESALE_TICK, dtype=pl.Int32).alias("tick"))
    return pl.concat([ticks.select(columns), pre_game.select(columns)]).sort("game_id", "tick")


BOARD_STATS = ("game_id", "tick", "shows_tick", "phase", "capture_id", "seq", "packet_index", "recv_wall_ns")


def board_candidates(stats: pl.DataFrame) -> pl.DataFrame:
    """The frames of ``stats`` :func:`board_frames` would pick, with the columns it reads: the first of the firsts
    is the first, so :func:`board_frames` of the candidates of a day's parts, put together, is that of the day."""
    return pl.concat(_picked(stats)).select(BOARD_STATS)


def _picked(stats: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(the first frame showing each game's tick, each game's last pre-game frame), in receipt order."""
    in_receipt = ("recv_wall_ns", "capture_id", "seq", "packet_index")
    ticks = (
        stats.filter(pl.col("shows_tick"))
        .sort(in_receipt)
        .unique(["game_id", "tick"], keep="first", maintain_order=True)
    )
    pre_game = (
        stats.filter(pl.col("phase").is_in(PRE_GAME_PHASES))
        .sort(in_receipt)
        .unique("game_id", keep="last", maintain_order=True)
    )
    return ticks, pre_game


def _number(value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        return float(value)
    except OverflowError:  # an integer beyond the doubles: ±Infinity, as JavaScript (and the codec) reads it
        return math.inf if value > 0 else -math.inf


def _integer(value) -> int | None:
    number = _number(value)
    return int(number) if number is not None and number.is_integer() and abs(number) < 2**31 else None


def _board_of(text: str | None, packet_index: int) -> list | None:
    """The ``leaderboard`` list of the frame's packet, or None when the frame has none that can be read."""
    if text is None:
        return None
    if packet_index == 0 and text.startswith(_FAST_PREFIX):
        try:
            return _listed(_fast_decoder.decode(text[2:])[1].leaderboard)
        except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
            pass  # anything unusual: the codec decides
    try:
        packets = decode_frame(text)
    except RecursionError:
        return None
    if packet_index >= len(packets) or not isinstance(packets[packet_index].payload, dict):
        return None
    return _listed(packets[packet_index].payload.get("leaderboard"))


def _listed(board) -> list | None:
    return board if isinstance(board, list) else None


def _strict_board(text: str | None, packet_index: int) -> list[_Entry] | None:
    """The frame's board in the strict shape, or None when it is not one (then it is read entry by entry)."""
    if packet_index != 0 or text is None or not text.startswith(_FAST_PREFIX):
        return None
    try:
        return _strict_decoder.decode(text[2:])[1].leaderboard
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
        return None


def _strict_table(located: pl.DataFrame, boards: list[tuple[int, list[_Entry]]]) -> pl.DataFrame:
    """The rows of strictly decoded boards (``located``'s row, its entries), each column gathered from the entries
    at once: a board's entries are all players, so only a player twice on a board is left out (the first counts)."""
    sizes = np.fromiter((len(board) for _, board in boards), dtype=np.int64, count=len(boards))
    frame_of_entry = np.repeat(np.arange(len(boards)), sizes)
    entries = list(chain.from_iterable(board for _, board in boards))
    sides = [entry.sideBet or _NO_SIDE_BET for entry in entries]  # a Struct is always true: `or` replaces only None
    shorts = [entry.shortPosition or _NO_SHORT for entry in entries]

    def floats(items: list, name: str) -> pl.Series:
        values = np.fromiter(map(attrgetter(name), items), dtype=np.float64, count=len(items))
        return pl.Series(values, nan_to_null=True)

    def integers(items: list, name: str) -> pl.Expr:  # _integer: a whole double inside the 32-bit range
        number = pl.lit(floats(items, name))
        return pl.when((number.abs() < 2**31) & (number.floor() == number)).then(number).cast(pl.Int32)

    side_shown = pl.Series([entry.sideBet is not None for entry in entries], dtype=pl.Boolean)
    said_active = pl.Series(list(map(attrgetter("sidebetActive"), entries)), dtype=pl.Boolean).eq_missing(True)
    key_columns = located.select("game_id", "tick", "capture_id", "seq", "recv_wall_ns")  # gathered without the text
    keys = key_columns[[at for at, _ in boards]]
    rows = keys.with_columns(pl.Series("board_size", sizes))[frame_of_entry].with_columns(
        pl.Series("_frame", frame_of_entry),
        pl.Series("player_id", list(map(attrgetter("id"), entries)), dtype=pl.String),
        pl.Series("username", list(map(attrgetter("username"), entries)), dtype=pl.String),
        integers(entries, "position").alias("rank"),
        *(floats(entries, key).alias(column) for column, key in _NUMBERS.items()),
        (side_shown | said_active).alias("sidebet_active"),
        integers(sides, "startedAtTick").alias("sidebet_start_tick"),
        integers(sides, "end").alias("sidebet_end_tick"),
        floats(sides, "betAmount").alias("sidebet_amount"),
        floats(shorts, "amount").alias("short_amount"),
        floats(shorts, "entryPrice").alias("short_entry_price"),
        integers(shorts, "entryTick").alias("short_entry_tick"),
    )
    return conform(
        rows.unique(["_frame", "player_id"], keep="first", maintain_order=True).drop("_frame"), "leaderboard"
    )


def _entry_row(raw) -> dict | None:
    """One entry's columns, or None for an entry that is no player (not an object, no string id)."""
    if not isinstance(raw, dict) or not isinstance(raw.get("id"), str):
        return None
    side = raw.get("sideBet") if isinstance(raw.get("sideBet"), dict) else None
    short = raw.get("shortPosition") if isinstance(raw.get("shortPosition"), dict) else None
    return {
        "player_id": raw["id"],
        "username": raw.get("username") if isinstance(raw.get("username"), str) else None,
        "rank": _integer(raw.get("position")),
        "pnl": _number(raw.get("pnl")),
        "regular_pnl": _number(raw.get("regularPnl")),
        "sidebet_pnl": _number(raw.get("sidebetPnl")),
        "short_pnl": _number(raw.get("shortPnl")),
        "pnl_percent": _number(raw.get("pnlPercent")),
        "position_qty": _number(raw.get("positionQty")),
        "avg_cost": _number(raw.get("avgCost")),
        "total_invested": _number(raw.get("totalInvested")),
        "sidebet_active": side is not None or raw.get("sidebetActive") is True,
        "sidebet_start_tick": _integer(side.get("startedAtTick")) if side else None,
        "sidebet_end_tick": _integer(side.get("end")) if side else None,
        "sidebet_amount": _number(side.get("betAmount")) if side else None,
        "short_amount": _number(short.get("amount")) if short else None,
        "short_entry_price": _number(short.get("entryPrice")) if short else None,
        "short_entry_tick": _integer(short.get("entryTick")) if short else None,
    }


_ORDER = ("game_id", "tick", "rank", "player_id")
COUNTS = ("boards", "unreadable_frames", "malformed_entries")


def spill_leaderboard(
    frames: pl.DataFrame,
    texts_of: Callable[[pl.DataFrame], pl.DataFrame],
    slice_frames: int,
    run_frames: int,
    map_slices: Callable[[Callable, Sequence], Iterable] = map,
    store: PieceStore | None = None,
) -> SpilledBoards:
    """:func:`build_leaderboard` of ``frames`` read ``slice_frames`` board frames at a time in receipt order (a slice's
    text lies in a few landing row groups; ``texts_of(slice)`` gives it), its rows kept compressed per run of games of
    about ``run_frames`` frames in the table's order (game ids do not follow time). ``map_slices(read, slices)`` gives
    each slice's result in order (``map``; the asset's reads them in worker processes: ``texts_of`` is then a
    picklable function of the slice). The compressed pieces go to ``store`` (held in memory by default; the asset's
    is a scratch file, so the day's rows do not stay in memory). Memory: a few slices' text and rows, then one run's
    rows; the day's table is never held."""
    per_game = frames.group_by("game_id").len().sort("game_id", nulls_last=True)
    runs = per_game.select(
        "game_id", ((pl.col("len").cum_sum() - pl.col("len")) // run_frames).cast(pl.Int64).alias("_run")
    )
    spilled = SpilledBoards(
        [[] for _ in range(runs.height and runs["_run"].max() + 1)],
        dict.fromkeys(COUNTS, 0),
        HeldPieces() if store is None else store,
    )
    # the run as one more column (the frames' columns shared, not copied) and the receipt order as row numbers: the
    # day's board frames are held once, a slice gathered when it is sent
    run_of_frame = frames.select("game_id").join(runs, on="game_id", how="left", nulls_equal=True, maintain_order="left")
    with_run = frames.with_columns(run_of_frame["_run"])
    in_receipt = with_run.select(pl.arg_sort_by("recv_wall_ns", "capture_id", "seq", "packet_index")).to_series()
    slices = _Slices(with_run, in_receipt, slice_frames)
    for pieces, counts in map_slices(partial(_slice_runs, texts_of), slices):
        spilled.counts = {name: spilled.counts[name] + counts[name] for name in COUNTS}
        for run, piece in pieces:
            spilled.runs[run].append(spilled.store.put(piece))
    return spilled


class _Slices(Sequence):
    """``frames`` ``size`` rows at a time in the order of the row numbers ``order``, each slice gathered when asked."""

    def __init__(self, frames: pl.DataFrame, order: pl.Series, size: int) -> None:
        self.frames, self.order, self.size = frames, order, size

    def __len__(self) -> int:
        return -(-len(self.order) // self.size)

    def __getitem__(self, at: int) -> pl.DataFrame:
        if not 0 <= at < len(self):
            raise IndexError(at)
        return self.frames[self.order.slice(at * self.size, self.size)]


def _slice_runs(
    texts_of: Callable[[pl.DataFrame], pl.DataFrame], board_slice: pl.DataFrame
) -> tuple[list[tuple[int, bytes]], dict]:
    """(a slice's rows per run of games its ``_run`` column names, as compressed Arrow IPC; its counts)."""
    table, counts = build_leaderboard(board_slice, texts_of(board_slice))
    with_run = table.join(board_slice.select("game_id", "_run").unique(), on="game_id", how="left", nulls_equal=True)
    pieces = with_run.partition_by("_run", as_dict=True, include_key=False).items()
    return [(run, rows.write_ipc(None, compression="zstd").getvalue()) for (run,), rows in pieces], counts


class PieceStore(Protocol):
    """Where compressed run pieces wait until their run is written: ``put`` gives what ``get`` finds the bytes by."""

    def put(self, piece: bytes) -> Any: ...

    def get(self, ref: Any) -> bytes: ...


class HeldPieces:
    """The pieces held in memory (a small day, the tests): a piece's ref is its place in the list."""

    def __init__(self) -> None:
        self.pieces: list[bytes] = []

    def put(self, piece: bytes) -> int:
        self.pieces.append(piece)
        return len(self.pieces) - 1

    def get(self, ref: int) -> bytes:
        return self.pieces[ref]


@dataclass
class SpilledBoards:
    """The day's leaderboard rows kept compressed in ``store``, per run of games, until they are written in order."""

    runs: list[list[Any]]  # per run of games, the store's refs of its rows from each slice (compressed Arrow IPC)
    counts: dict
    store: PieceStore = field(default_factory=HeldPieces)

    def pieces(self) -> Iterator[list[bytes]]:
        """Each run's pieces, in slice order, read back from the store."""
        for refs in self.runs:
            yield [self.store.get(ref) for ref in refs]

    def tables(self) -> Iterator[pl.DataFrame]:
        """The table a run at a time, in its order: one after another they are the whole day's table."""
        for pieces in self.pieces():
            if pieces:
                yield pl.concat([pl.read_ipc(piece) for piece in pieces]).sort(_ORDER, nulls_last=True)


def build_leaderboard(frames: pl.DataFrame, texts: pl.DataFrame) -> tuple[pl.DataFrame, dict]:
    """(the leaderboard table, counts): ``frames`` is :func:`board_frames`, ``texts`` the frames' landing text
    (capture_id, seq, payload_text). Counts: boards read, unreadable frames, malformed entries left out.

    A board whose every entry has the types the table takes is decoded strictly and its columns gathered at once;
    any other frame is read entry by entry (:func:`reference_leaderboard`'s way), so both give the same rows."""
    located = _located(frames, texts)
    strict, lenient = [], []
    for at, (packet_index, text) in enumerate(
        zip(located["packet_index"].to_list(), located["payload_text"].to_list())
    ):
        board = _strict_board(text, packet_index)
        if board is None:
            lenient.append(at)
        else:
            strict.append((at, board))
    table, counts = _lenient_table(located[lenient])
    counts["boards"] += len(strict)
    if strict:
        table = pl.concat([_strict_table(located, strict), table])
    return table.sort(_ORDER, nulls_last=True), counts


def reference_leaderboard(frames: pl.DataFrame, texts: pl.DataFrame) -> tuple[pl.DataFrame, dict]:
    """:func:`build_leaderboard` with every frame read entry by entry: the reference the strict path is held to."""
    table, counts = _lenient_table(_located(frames, texts))
    return table.sort(_ORDER, nulls_last=True), counts


def _located(frames: pl.DataFrame, texts: pl.DataFrame) -> pl.DataFrame:
    columns = ("game_id", "tick", "capture_id", "seq", "packet_index", "recv_wall_ns", "payload_text")
    return frames.join(texts.select("capture_id", "seq", "payload_text"), on=["capture_id", "seq"], how="left").select(
        columns
    )


def _lenient_table(located: pl.DataFrame) -> tuple[pl.DataFrame, dict]:
    """Every frame's board read entry by entry: a malformed entry left out and counted, a field of another type null."""
    rows: list[dict] = []
    counts = dict.fromkeys(COUNTS, 0)
    for game_id, tick, capture_id, seq, packet_index, recv, text in located.iter_rows():
        board = _board_of(text, packet_index)
        if board is None:
            counts["unreadable_frames"] += 1
            continue
        counts["boards"] += 1
        seen: set[str] = set()
        for raw in board:
            row = _entry_row(raw)
            if row is None:
                counts["malformed_entries"] += 1
            elif row["player_id"] not in seen:  # a player twice on one board: the first entry counts
                seen.add(row["player_id"])
                rows.append(
                    {
                        "game_id": game_id,
                        "tick": tick,
                        **row,
                        "board_size": len(board),
                        "capture_id": capture_id,
                        "seq": seq,
                        "recv_wall_ns": recv,
                    }
                )
    return conform(pl.DataFrame(rows, infer_schema_length=None) if rows else pl.DataFrame(), "leaderboard"), counts
