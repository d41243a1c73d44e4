"""Silver ``game_history``: the partition's distinct ``gameHistory`` entries, parsed once a day. Pure.

Every full gameStateUpdate frame repeats the last ten games' entries (0.8 % of frames, a quarter of the text);
``game_ticks``, ``games`` and ``sidebets`` all need them, so they are parsed here once and read from this table.
One row per game id, its first receipt, in receipt order.
"""

from __future__ import annotations

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
    """Distinct ``gameHistory`` entries of the partition's full frames (first receipt of each game id).

    The same ten entries repeat in every full frame: each entry is kept raw (a typed decode skips the rest of
    the frame), its id read, and only entries of unseen games are parsed in full.
    """
    frames = game_state_rows(events).filter(pl.col("has_game_history") == True)  # noqa: E712 - polars expression
    seen: dict[str, dict] = {}
    for payload_json, wall in frames.select("payload_json", "recv_wall_ns").iter_rows():
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
                seen[head.id] = _entry_row(head.id, orjson.loads(bytes(raw)), head.globalSidebets, wall)
    if not seen:
        return conform(pl.DataFrame(), "game_history")
    return conform(pl.DataFrame(list(seen.values()), schema=_ROW_SCHEMA, orient="row"), "game_history")


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
