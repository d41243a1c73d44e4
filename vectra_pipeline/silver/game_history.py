"""Silver ``game_history``: the partition's distinct ``gameHistory`` entries, parsed once a day. Pure.

Every full gameStateUpdate frame repeats the last ten games' entries (0.8 % of frames, a quarter of the text);
``game_ticks``, ``games`` and ``sidebets`` all need them, so they are parsed here once and read from this table.
One row per game id, its first receipt, in receipt order.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import msgspec
import orjson
import polars as pl
from msgspec import UNSET, UnsetType

from vectra_pipeline.schema import conform
from vectra_pipeline.silver.frame_packets import too_wide_for
from vectra_pipeline.silver.ticks import game_state_rows

VERSION = 1  # bump when the output would change (tests/pipeline/test_stage_versions.py)


class _EntryId(msgspec.Struct):
    id: Any = None
    globalSidebets: msgspec.Raw | UnsetType = UNSET  # kept as its text: re-serialising a deep value would fail


class _HistoryEntries(msgspec.Struct):
    gameHistory: list[msgspec.Raw] | None = None


_entries_decoder = msgspec.json.Decoder(_HistoryEntries)
_id_decoder = msgspec.json.Decoder(_EntryId)


def build_game_history(events: pl.DataFrame) -> pl.DataFrame:
    """Distinct ``gameHistory`` entries of the partition's full frames (first receipt of each game id)."""
    return build_game_history_in_slices([events])


def build_game_history_in_slices(slices: Iterable[pl.DataFrame]) -> pl.DataFrame:
    """:func:`build_game_history` of the concatenated events ``slices``, one slice at a time (memory: one slice of
    full frames, not the day's quarter of the text): each slice's first receipts, then the first of those per game,
    in receipt order."""
    firsts = pl.concat([_first_receipts(events) for events in slices] or [_first_receipts(None)])
    if firsts.is_empty():
        return conform(pl.DataFrame(), "game_history")
    firsts = firsts.sort(_RECEIPT_ORDER, maintain_order=True).unique("game_id", keep="first", maintain_order=True)
    return conform(firsts.drop("capture_id", "seq", "packet_index"), "game_history")


_RECEIPT_ORDER = ["recv_wall_ns", "capture_id", "seq", "packet_index"]  # game_state_rows' order


def _first_receipts(events: pl.DataFrame | None) -> pl.DataFrame:
    """The first receipt of each game id in these events' full frames, with its receipt-order key.

    The same ten entries repeat in every full frame: each entry is kept raw (a typed decode skips the rest of
    the frame), its id read, and only entries of unseen games are parsed in full.
    """
    seen: dict[str, dict] = {}
    frames = game_state_rows(events).filter(pl.col("has_game_history") == True) if events is not None else None  # noqa: E712
    rows = frames.select("payload_json", *_RECEIPT_ORDER).iter_rows() if frames is not None else ()
    for payload_json, wall, capture_id, seq, packet_index in rows:
        try:
            raw_entries = _entries_decoder.decode(payload_json).gameHistory or []
        except (msgspec.ValidationError, RecursionError):  # gameHistory is not a list: the contract reports the frame
            continue
        for raw in raw_entries:
            try:
                head = _id_decoder.decode(raw)
            except (msgspec.ValidationError, RecursionError):  # an entry that is not an object
                continue
            if isinstance(head.id, str) and head.id not in seen:
                row = _entry_row(head.id, orjson.loads(bytes(raw)), head.globalSidebets, wall)
                seen[head.id] = row | {"capture_id": capture_id, "seq": seq, "packet_index": packet_index}
    schema = {**_ROW_SCHEMA, "capture_id": pl.String, "seq": pl.Int64, "packet_index": pl.Int32}
    return pl.DataFrame(list(seen.values()), schema=schema, orient="row")


_ROW_SCHEMA = {
    "game_id": pl.String, "prices": pl.List(pl.Float64), "peak_multiplier": pl.Float64, "timestamp_ms": pl.Int64,
    "game_version": pl.String, "server_seed": pl.String, "server_seed_hash": pl.String,
    "global_sidebets": pl.String, "recv_wall_ns": pl.Int64,
}  # fmt: skip


def _entry_row(game_id: str, entry: dict, sidebets: msgspec.Raw | UnsetType, wall: int) -> dict:
    """A gameHistory entry's columns; a field of another type (or beyond its column) is read as null."""
    fair = entry.get("provablyFair") if isinstance(entry.get("provablyFair"), dict) else {}
    prices = [_float(p) for p in entry["prices"]] if isinstance(entry.get("prices"), list) else None
    timestamp = entry.get("timestamp")
    return {
        "game_id": game_id,
        "prices": prices if prices and None not in prices else None,
        "peak_multiplier": _float(entry.get("peakMultiplier")),
        "timestamp_ms": timestamp if type(timestamp) is int and not too_wide_for(timestamp, 64) else None,
        "game_version": entry.get("gameVersion") if isinstance(entry.get("gameVersion"), str) else None,
        "server_seed": fair.get("serverSeed") if isinstance(fair.get("serverSeed"), str) else None,
        "server_seed_hash": fair.get("serverSeedHash") if isinstance(fair.get("serverSeedHash"), str) else None,
        "global_sidebets": bytes(sidebets).decode() if isinstance(entry.get("globalSidebets"), list) else "[]",
        "recv_wall_ns": wall,
    }


def _float(value) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
