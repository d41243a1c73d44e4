"""Silver ``trades``: every player's trade broadcasts. Pure.

The recording player is known per capture from ``playerUpdate.id`` (authenticated sessions only); a trade is
``is_own`` when its player id is the capture's. The same trade id received by several captures is one trade (first
receipt kept). :func:`own_player_ids` and :func:`payload_rows` serve ``silver.sidebets`` too.
"""

from __future__ import annotations

from operator import attrgetter
from typing import Annotated

import msgspec
import orjson
import polars as pl

from capture_agent.protocol.rules import PLAYER_UPDATE, TRADE_EVENTS
from vectra_pipeline.schema import conform
from vectra_pipeline.silver.player_state import _INT32, as_int32

VERSION = 1  # bump when the output would change (tests/pipeline/test_stage_versions.py)

OWN_IDS_SCHEMA = {"capture_id": pl.String, "player_id": pl.String}


def own_player_ids(events: pl.DataFrame) -> pl.DataFrame:
    """(capture_id, player_id) of every capture's recording player, from its playerUpdate frames."""
    rows = set()
    for capture_id, payload_json in events.filter(
        (pl.col("event") == PLAYER_UPDATE) & pl.col("contract_ok")
    ).select("capture_id", "payload_json").iter_rows():
        player_id = orjson.loads(payload_json).get("id")
        if isinstance(player_id, str):
            rows.add((capture_id, player_id))
    return pl.DataFrame(sorted(rows), schema=OWN_IDS_SCHEMA, orient="row")


def payload_rows(events: pl.DataFrame, condition: pl.Expr, fields: dict[str, tuple[str, pl.DataType]]) -> pl.DataFrame:
    """Event rows matching ``condition`` with payload fields as typed columns (plus the event's own columns)."""
    base = events.filter(condition & pl.col("contract_ok")).sort(["recv_wall_ns", "capture_id", "seq", "packet_index"])
    rows = _typed_payloads(base["payload_json"], fields)
    typed = pl.DataFrame({name: list(map(attrgetter(name), rows)) for name in fields},
                         schema={name: dtype for name, (_, dtype) in fields.items()})
    return base.select("capture_id", "seq", "recv_wall_ns", "trace_id", "event").hstack(typed)


def _typed_payloads(texts: pl.Series, fields: dict[str, tuple[str, pl.DataType]]) -> list:
    """Each payload's fields as a struct of typed values: decoded by msgspec straight into the typed struct (no dict,
    no value checked in Python: 120k trades took 1.8 CPU-s) when every field has its column's type, else read
    leniently (:func:`typed_value`: another type, or a number beyond the column, is null) — the same values."""
    row = msgspec.defstruct("PayloadFields", [(name, _strict_type(dtype), None) for name, (_, dtype) in fields.items()],
                            rename={name: key for name, (key, _) in fields.items()})
    decode, rows = msgspec.json.Decoder(row).decode, []
    for text in texts:
        try:
            rows.append(decode(text) if text else row())
        except (msgspec.ValidationError, msgspec.DecodeError):
            payload = orjson.loads(text)
            rows.append(row(**{name: typed_value(payload.get(key) if isinstance(payload, dict) else None, dtype)
                               for name, (key, dtype) in fields.items()}))
    return rows


def _strict_type(dtype: pl.DataType):
    """The type msgspec decodes a field of ``dtype`` to only when :func:`typed_value` keeps the value as it is."""
    if dtype == pl.String:
        return str | None
    if dtype == pl.Int32:
        return Annotated[int, msgspec.Meta(ge=-_INT32, lt=_INT32)] | None
    return float | None  # an integer too, as float() makes it; never a bool


def typed_value(value, dtype: pl.DataType):
    """A payload value as its column's type; another type, or a number beyond the column, is null."""
    if dtype == pl.String:
        return value if isinstance(value, str) else None
    if dtype == pl.Int32:
        return as_int32(value)
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


_TRADE_FIELDS = {
    "trade_id": ("id", pl.String),
    "game_id": ("gameId", pl.String),
    "player_id": ("playerId", pl.String),
    "username": ("username", pl.String),
    "level": ("level", pl.Int32),
    "type": ("type", pl.String),
    "tick": ("tickIndex", pl.Int32),
    "price": ("price", pl.Float64),
    "qty": ("qty", pl.Float64),
    "amount": ("amount", pl.Float64),
    "leverage": ("leverage", pl.Int32),
    "bonus_portion": ("bonusPortion", pl.Float64),
    "real_portion": ("realPortion", pl.Float64),
    "coin": ("coin", pl.String),
}


def build_trades(events: pl.DataFrame) -> pl.DataFrame:
    trades = payload_rows(events, pl.col("event").is_in(TRADE_EVENTS), _TRADE_FIELDS)
    trades = trades.unique("trade_id", keep="first", maintain_order=True)
    own = own_player_ids(events).with_columns(pl.lit(True).alias("is_own"))
    trades = trades.join(own, on=["capture_id", "player_id"], how="left").with_columns(pl.col("is_own").fill_null(False))
    return conform(trades.drop("event"), "trades")
