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

from collections import Counter
from collections.abc import Callable
from typing import Any

import msgspec
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


def board_frames(stats: pl.DataFrame) -> pl.DataFrame:
    """(game_id, tick, capture_id, seq, packet_index, recv_wall_ns) of the frames whose boards make the table: the
    first frame showing each tick, and each game's last pre-game frame as tick −1. ``stats``: ``market.frame_stats``."""
    ticks = (
        stats.filter(pl.col("shows_tick"))
        .sort("recv_wall_ns", "capture_id", "seq", "packet_index")
        .unique(["game_id", "tick"], keep="first", maintain_order=True)
    )
    pre_game = (
        stats.filter(pl.col("phase").is_in(PRE_GAME_PHASES))
        .sort("recv_wall_ns", "capture_id", "seq", "packet_index")
        .unique("game_id", keep="last", maintain_order=True)
        .with_columns(pl.lit(PRESALE_TICK, dtype=pl.Int32).alias("tick"))
    )
    columns = ("game_id", "tick", "capture_id", "seq", "packet_index", "recv_wall_ns")
    return pl.concat([ticks.select(columns), pre_game.select(columns)]).sort("game_id", "tick")


def _number(value) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


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


def build_leaderboard_in_slices(
    frames: pl.DataFrame, texts_of: Callable[[pl.DataFrame], pl.DataFrame], slice_frames: int
) -> tuple[pl.DataFrame, dict]:
    """:func:`build_leaderboard` of ``frames`` read ``slice_frames`` board frames at a time, in receipt order (a slice's
    text sits in a few landing row groups): ``texts_of(slice)`` gives the slice's texts. Memory: one slice's text
    and rows as Python values (a 1M-frame day's boards held at once as dicts and text took 12.8 GB), plus the table;
    its rows are unique by the sort key, so the sorted slices sorted again are the whole day's table."""
    in_receipt = frames.sort("recv_wall_ns", "capture_id", "seq", "packet_index")
    slices = [in_receipt.slice(start, slice_frames) for start in range(0, in_receipt.height, slice_frames)] or [frames]
    tables, counts = [], Counter()
    for frames_slice in slices:
        table, read = build_leaderboard(frames_slice, texts_of(frames_slice))
        tables.append(table)
        counts.update(read)
    return pl.concat(tables).sort(_ORDER, nulls_last=True), {name: counts[name] for name in read}


_ORDER = ("game_id", "tick", "rank", "player_id")


def build_leaderboard(frames: pl.DataFrame, texts: pl.DataFrame) -> tuple[pl.DataFrame, dict]:
    """(the leaderboard table, counts): ``frames`` is :func:`board_frames`, ``texts`` the frames' landing text
    (capture_id, seq, payload_text). Counts: boards read, unreadable frames, malformed entries left out."""
    located = frames.join(texts.select("capture_id", "seq", "payload_text"), on=["capture_id", "seq"], how="left")
    rows: list[dict] = []
    counts = {"boards": 0, "unreadable_frames": 0, "malformed_entries": 0}
    for game_id, tick, capture_id, seq, packet_index, recv, text in located.select(
        "game_id", "tick", "capture_id", "seq", "packet_index", "recv_wall_ns", "payload_text"
    ).iter_rows():
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
                rows.append({"game_id": game_id, "tick": tick, **row, "board_size": len(board), "capture_id": capture_id,
                             "seq": seq, "recv_wall_ns": recv})
    table = conform(pl.DataFrame(rows, infer_schema_length=None), "leaderboard") if rows else conform(pl.DataFrame(), "leaderboard")
    return table.sort(_ORDER, nulls_last=True), counts
