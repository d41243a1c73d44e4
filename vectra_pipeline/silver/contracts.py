"""Data contracts per event kind (pandera[polars]), derived from docs/PROTOCOL.md. Pure.

Every decoded row gets a contract name (``gameStateUpdate.<frame shape>``, ``trade``, ``playerUpdate``, …) or
none (unknown events, Engine.IO control packets). Each contract is a pandera schema over the row's typed
fields; a violation becomes a ``quarantine`` row with the rule (``<contract>.<column>.<check>``), the failing
value and the raw frame, and the event row is kept with ``contract_ok = false``. Frames that could not be decoded
or stored (codec errors, nesting too deep, values beyond their column) are quarantined under ``decode``: bad input,
reported apart from contract violations, and a row with a decode problem has no other rule. Violations are *explained* when the landing row's
provenance says the source is incomplete (hand transcriptions with elided fields, payloads lost by the original tool).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Annotated

import msgspec
import orjson
import pandera.polars as pa
import polars as pl

from capture_agent.protocol.game import FrameShape
from capture_agent.protocol.rules import (
    COOLDOWN_MS,
    CURRENT_SIDEBET,
    GAME_STATE_PLAYER_UPDATE,
    GAME_STATE_UPDATE,
    KNOWN_EVENTS,
    ORDER_EVENTS,
    PLAYER_UPDATE,
    PRESALE_FROM_MS,
    RUG_REMAINDER_CAP,
    SIDEBET_RESULT_EVENTS,
    TRADE_EVENTS,
    TRADE_TYPES,
    sidebet_end_tick,
)
from vectra_pipeline.schema import conform
from vectra_pipeline.silver.contract_screen import passes
from vectra_pipeline.silver.frame_packets import too_wide_for

DECODE = "decode"

GAME_ID = r"^\d{8}-[0-9a-f]{16}$"
SEED_HASH = r"^[0-9a-f]{64}$"


def _col(dtype, *checks, nullable: bool = True) -> pa.Column:
    return pa.Column(dtype, checks=list(checks), nullable=nullable)


def _req(dtype, *checks) -> pa.Column:
    return _col(dtype, *checks, nullable=False)


def _frame_check(name: str, expr: pl.Expr) -> pa.Check:
    """A row-wise check; rows where ``expr`` is null (a field absent) pass — presence is checked per column."""
    return pa.Check(lambda data: data.lazyframe.select(expr.fill_null(True)), name=name)


# --- gameStateUpdate, by frame shape ----------------------------------------------------------------------

_GSU_COMMON = {
    "game_id": _req(pl.String, pa.Check.str_matches(GAME_ID)),
    "cooldown_timer": _req(pl.Int32, pa.Check.in_range(0, COOLDOWN_MS)),
    "allow_pre_round_buys": _req(pl.Boolean),
    "connected_players": _req(pl.Int32, pa.Check.ge(0)),
    "server_seed_hash": _req(pl.String, pa.Check.str_matches(SEED_HASH)),
}
_TICK_FIELDS = {
    "active": _req(pl.Boolean),
    "rugged": _req(pl.Boolean),
    "tick_count": _req(pl.Int32, pa.Check.ge(0)),
    "price": _req(pl.Float64, pa.Check.ge(0)),
}
_STATS = {
    "trade_count": _req(pl.Int32, pa.Check.ge(0)),
    "average_multiplier": _req(pl.Float64, pa.Check.ge(0)),
    "count2x": _req(pl.Int32, pa.Check.ge(0)),
    "count10x": _req(pl.Int32, pa.Check.ge(0)),
    "count50x": _req(pl.Int32, pa.Check.ge(0)),
    "count100x": _req(pl.Int32, pa.Check.ge(0)),
    "rugpool_amount": _req(pl.Float64, pa.Check.ge(0)),
    "instarug_count": _req(pl.Int32, pa.Check.ge(0)),
}
_PRICE_IS_PARTIAL = _frame_check("price_equals_partial_prices_at_tick", pl.col("price") == pl.col("partial_price_at_tick"))
_NOT_IN_GAME = {"active": _req(pl.Boolean, pa.Check.eq(False)), "rugged": _req(pl.Boolean, pa.Check.eq(False))}
_AT_START = {"tick_count": _req(pl.Int32, pa.Check.eq(0)), "price": _req(pl.Float64, pa.Check.eq(1.0))}


def _gsu(columns: dict, checks: list | None = None) -> pa.DataFrameSchema:
    return pa.DataFrameSchema({**_GSU_COMMON, **columns}, checks=checks or [], strict=False)


GSU_CONTRACTS: dict[str, pa.DataFrameSchema] = {
    FrameShape.COOLDOWN: _gsu(
        {"cooldown_timer": _req(pl.Int32, pa.Check.in_range(0, COOLDOWN_MS)), "allow_pre_round_buys": _req(pl.Boolean, pa.Check.eq(False))}
    ),
    FrameShape.PRESALE: _gsu(
        {"cooldown_timer": _req(pl.Int32, pa.Check.in_range(0, PRESALE_FROM_MS)), "allow_pre_round_buys": _req(pl.Boolean, pa.Check.eq(True))}
    ),
    FrameShape.PRESALE_OPENING: _gsu({**_TICK_FIELDS, **_NOT_IN_GAME, "tick_count": _req(pl.Int32, pa.Check.eq(0))}),
    FrameShape.GENESIS: _gsu({**_TICK_FIELDS, **_NOT_IN_GAME, **_AT_START, "has_game_history": _req(pl.Boolean, pa.Check.eq(True))}),
    FrameShape.TICK0: _gsu({**_TICK_FIELDS, **_AT_START, "active": _req(pl.Boolean, pa.Check.eq(True))}),
    FrameShape.ACTIVE: _gsu(
        {**_TICK_FIELDS, **_STATS, "active": _req(pl.Boolean, pa.Check.eq(True)), "rugged": _req(pl.Boolean, pa.Check.eq(False)),
         "price": _req(pl.Float64, pa.Check.gt(0)), "partial_prices": _req(pl.List(pl.Struct({"tick": pl.Int32, "price": pl.Float64})))},
        [_PRICE_IS_PARTIAL],
    ),  # fmt: skip
    FrameShape.RUG: _gsu(
        {**_TICK_FIELDS, "rugged": _req(pl.Boolean, pa.Check.eq(True)), "tick_count": _req(pl.Int32, pa.Check.ge(1)),
         "price": _req(pl.Float64, pa.Check.in_range(0, RUG_REMAINDER_CAP * (1 + 1e-9)))},
        [_PRICE_IS_PARTIAL],
    ),  # fmt: skip
    FrameShape.RUG_HISTORY: _gsu(
        {**_TICK_FIELDS, "rugged": _req(pl.Boolean, pa.Check.eq(True)), "has_game_history": _req(pl.Boolean, pa.Check.eq(True))}
    ),
    FrameShape.SNAPSHOT: _gsu({**_TICK_FIELDS, "has_prices": _req(pl.Boolean, pa.Check.eq(True))}),
    FrameShape.FULL: _gsu({**_TICK_FIELDS, "has_game_history": _req(pl.Boolean, pa.Check.eq(True))}),
}

# --- other events: flattened from payload_json -------------------------------------------------------------


@dataclass(frozen=True)
class Flat:
    """A contract over fields read from the payload: column → (payload path, polars dtype)."""

    fields: dict[str, tuple[tuple[str, ...], pl.DataType]]
    schema: pa.DataFrameSchema


_TRADE = Flat(
    {
        "id": (("id",), pl.String),
        "game_id": (("gameId",), pl.String),
        "player_id": (("playerId",), pl.String),
        "type": (("type",), pl.String),
        "tick": (("tickIndex",), pl.Int32),
        "price": (("price",), pl.Float64),
        "qty": (("qty",), pl.Float64),
        "amount": (("amount",), pl.Float64),
    },
    pa.DataFrameSchema(
        {
            "id": _req(pl.String),
            "game_id": _req(pl.String, pa.Check.str_matches(GAME_ID)),
            "player_id": _req(pl.String),
            "type": _req(pl.String, pa.Check.isin(list(TRADE_TYPES))),
            "tick": _req(pl.Int32, pa.Check.ge(0)),
            "price": _col(pl.Float64, pa.Check.gt(0)),  # absent on Aug 2025 buys (docs/PROTOCOL.md §3.2)
            "qty": _req(pl.Float64, pa.Check.ge(0)),
            "amount": _req(pl.Float64, pa.Check.ge(0)),
        },
        checks=[
            # buy qty = amount/price (also with leverage), sell amount = qty·price (docs/PROTOCOL.md §3.2); the server
            # rounds to 1e-9 SOL and sells land a few 1e-9 low, so the check allows a few units of 1e-9.
            _frame_check(
                "qty_times_price_equals_amount",
                pl.when(pl.col("type").is_in(["buy", "sell"]))
                .then((pl.col("qty") * pl.col("price") - pl.col("amount")).abs() <= 1e-8 * (1 + pl.col("price")) + 1e-6 * pl.col("amount").abs())
                .otherwise(True),
            ),
            _frame_check("short_qty_is_zero", pl.when(pl.col("type").str.starts_with("short")).then(pl.col("qty") == 0).otherwise(True)),
        ],
        strict=False,
    ),
)
_PLAYER_UPDATE = Flat(
    {
        "id": (("id",), pl.String),
        "cash": (("cash",), pl.Float64),
        "position_qty": (("positionQty",), pl.Float64),
        "avg_cost": (("avgCost",), pl.Float64),
        "total_invested": (("totalInvested",), pl.Float64),
    },
    pa.DataFrameSchema(
        {
            "id": _req(pl.String),
            "cash": _req(pl.Float64, pa.Check.ge(0)),
            "position_qty": _req(pl.Float64, pa.Check.ge(0)),
            "avg_cost": _req(pl.Float64, pa.Check.ge(0)),
            "total_invested": _req(pl.Float64, pa.Check.ge(0)),
        },
        strict=False,
    ),
)
_GAME_STATE_PLAYER_UPDATE = Flat(
    {
        "game_id": (("gameId",), pl.String),
        "entry_id": (("leaderboardEntry", "id"), pl.String),
        "position_qty": (("leaderboardEntry", "positionQty"), pl.Float64),
    },
    pa.DataFrameSchema(
        {
            "game_id": _req(pl.String, pa.Check.str_matches(GAME_ID)),
            "entry_id": _col(pl.String),
            "position_qty": _col(pl.Float64, pa.Check.ge(0)),
        },
        strict=False,
    ),
)
_SIDEBET_FIELDS = {
    "player_id": (("playerId",), pl.String),
    "game_id": (("gameId",), pl.String),
    "bet_amount": (("betAmount",), pl.Float64),
    "start_tick": (("startTick",), pl.Int32),
    "end_tick": (("endTick",), pl.Int32),
    "type": (("type",), pl.String),
}
_SIDEBET_COLUMNS = {
    "player_id": _req(pl.String),
    "game_id": _req(pl.String, pa.Check.str_matches(GAME_ID)),
    "bet_amount": _req(pl.Float64, pa.Check.gt(0)),
    "start_tick": _req(pl.Int32, pa.Check.ge(0)),
    "end_tick": _req(pl.Int32),
}
_WINDOW = _frame_check("end_tick_is_start_plus_40", pl.col("end_tick") == sidebet_end_tick(pl.col("start_tick")))
_CURRENT_SIDEBET = Flat(
    _SIDEBET_FIELDS,
    pa.DataFrameSchema({**_SIDEBET_COLUMNS, "type": _req(pl.String, pa.Check.eq("placed"))}, checks=[_WINDOW], strict=False),
)
_CURRENT_SIDEBET_RESULT = Flat(
    {**_SIDEBET_FIELDS, "payout": (("payout",), pl.Float64), "profit": (("profit",), pl.Float64)},
    pa.DataFrameSchema(
        {**_SIDEBET_COLUMNS, "type": _req(pl.String, pa.Check.eq("payout")), "payout": _req(pl.Float64, pa.Check.ge(0)),
         "profit": _req(pl.Float64)},
        checks=[_WINDOW, _frame_check("profit_is_payout_minus_bet", (pl.col("profit") - (pl.col("payout") - pl.col("bet_amount"))).abs() <= 1e-9)],
        strict=False,
    ),
)  # fmt: skip
_AMOUNT_ORDER = Flat(
    {"amount": (("amount",), pl.Float64)},
    # no ack id required: Socket.IO allows emits without one, and captures that kept only decoded arguments lose it
    pa.DataFrameSchema({"amount": _req(pl.Float64, pa.Check.gt(0))}, strict=False),
)
_SELL_ORDER = Flat(
    {"percentage": (("percentage",), pl.Float64)},
    pa.DataFrameSchema({"percentage": _req(pl.Float64, pa.Check.in_range(0, 100, include_min=False))}, strict=False),
)
_ACK = Flat({}, pa.DataFrameSchema({"ack_id": _req(pl.Int64, pa.Check.ge(0))}, strict=False))

FLAT_CONTRACTS: dict[str, Flat] = {
    "trade": _TRADE,
    "playerUpdate": _PLAYER_UPDATE,
    "gameStatePlayerUpdate": _GAME_STATE_PLAYER_UPDATE,
    "currentSidebet": _CURRENT_SIDEBET,
    "currentSidebetResult": _CURRENT_SIDEBET_RESULT,
    "order.buyOrder": _AMOUNT_ORDER,
    "order.requestSidebet": _AMOUNT_ORDER,
    "order.sellOrder": _SELL_ORDER,
    "order.shortOrder": _AMOUNT_ORDER,
    "ack": _ACK,
}


def contract_expr() -> pl.Expr:
    """The contract each decoded row answers to (null: none applies)."""
    event = pl.col("event")
    return (
        pl.when(pl.col("error").is_not_null())
        .then(pl.lit(DECODE))
        .when(pl.col("socket_type").is_in(["ack", "binary_ack"]))
        .then(pl.lit("ack"))
        .when((event == GAME_STATE_UPDATE) & pl.col("frame_shape").is_not_null())
        .then(pl.lit("gameStateUpdate.") + pl.col("frame_shape"))
        .when(event.is_in(TRADE_EVENTS))
        .then(pl.lit("trade"))
        .when(event.is_in([PLAYER_UPDATE, GAME_STATE_PLAYER_UPDATE, CURRENT_SIDEBET]))
        .then(event)
        .when(event.is_in(SIDEBET_RESULT_EVENTS))
        .then(pl.lit("currentSidebetResult"))
        .when((pl.col("direction") == "out") & event.is_in(ORDER_EVENTS))
        .then(pl.lit("order.") + event)
        .otherwise(pl.lit(None, pl.String))
    )


_INT_BITS = {pl.Int32: 32, pl.Int64: 64}
# integers out of a column's range fail the typed decode, then the slow path reports them
_PYTHON_TYPES = {
    pl.String: str,
    pl.Float64: float,
    pl.Boolean: bool,
    **{dtype: Annotated[int, msgspec.Meta(ge=-(1 << (bits - 1)), le=(1 << (bits - 1)) - 1)] for dtype, bits in _INT_BITS.items()},
}


@functools.cache
def _typed_decoder(flat_name: str) -> msgspec.json.Decoder:
    """A msgspec decoder reading exactly ``flat.fields`` (typed, everything else skipped) for the fast path."""
    tree: dict = {}
    for path, dtype in FLAT_CONTRACTS[flat_name].fields.values():
        node = tree
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = dtype

    def struct(node: dict, label: str):
        fields = [
            (key, (struct(child, f"{label}_{key}") if isinstance(child, dict) else _PYTHON_TYPES[child]) | None, None)
            for key, child in node.items()
        ]
        return msgspec.defstruct(label, fields)

    return msgspec.json.Decoder(struct(tree, "Flat"))


def _flatten(rows: pl.DataFrame, flat_name: str) -> tuple[pl.DataFrame, list[tuple[int, str, str]], list[tuple[int, str, str]]]:
    """Typed fields of each row's payload; type mismatches become nulls plus (row, field, type) errors, integers
    beyond their column nulls plus (row, field, why) unstorable values.

    A typed msgspec decode reads the fields; a payload it rejects (a wrong type somewhere, not an object) is
    read again field by field so that every mismatch is reported. ``payload_json`` is always JSON orjson reads
    (events writes it with :func:`capture_agent.protocol.jsjson.dumps`, lone surrogates replaced).
    """
    flat = FLAT_CONTRACTS[flat_name]
    decoder = _typed_decoder(flat_name)
    columns: dict[str, list] = {name: [] for name in flat.fields}
    errors: list[tuple[int, str, str]] = []
    unstorable: list[tuple[int, str, str]] = []
    for row, text in rows.select("_row", "payload_json").iter_rows():
        try:
            typed = decoder.decode(text) if text else None
        except (msgspec.ValidationError, msgspec.DecodeError, RecursionError):
            _flatten_slowly(row, orjson.loads(text), flat, columns, errors, unstorable)
            continue
        for name, (path, _) in flat.fields.items():
            value = typed
            for key in path:
                value = getattr(value, key) if value is not None else None
            columns[name].append(value)
    frame = pl.DataFrame(columns, schema={name: dtype for name, (_, dtype) in flat.fields.items()})
    return rows.select("_row", "ack_id").hstack(frame), errors, unstorable


def _flatten_slowly(row: int, payload, flat: Flat, columns: dict[str, list], errors: list, unstorable: list) -> None:
    for name, (path, dtype) in flat.fields.items():
        value = payload
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        too_wide = too_wide_for(value, _INT_BITS[dtype]) if dtype in _INT_BITS else None
        if too_wide:
            unstorable.append((row, name, too_wide))
            value = None
        elif value is not None and not _fits(value, dtype):
            errors.append((row, name, type(value).__name__))
            value = None
        columns[name].append(value)


def _fits(value, dtype: pl.DataType) -> bool:
    if dtype == pl.String:
        return isinstance(value, str)
    if dtype == pl.Boolean:
        return isinstance(value, bool)
    if dtype in _INT_BITS:
        return type(value) is int
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _failures(schema: pa.DataFrameSchema, frame: pl.DataFrame, contract: str) -> pl.DataFrame:
    if passes(schema, frame):  # most slices: one query instead of pandera's collect per check
        return pl.DataFrame(schema=_FAILURE_SCHEMA)
    try:
        schema.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as errors:
        cases = errors.failure_cases
        rows = frame["_row"]
        return pl.DataFrame(
            {
                "_row": [rows[i] if i is not None else None for i in cases["index"].to_list()],
                "rule": [f"{contract}.{col or 'row'}.{check}" for col, check in zip(cases["column"], cases["check"])],
                "detail": cases["failure_case"].cast(pl.String).to_list(),
            },
            schema=_FAILURE_SCHEMA,
        )
    return pl.DataFrame(schema=_FAILURE_SCHEMA)


_FAILURE_SCHEMA = {"_row": pl.UInt32, "rule": pl.String, "detail": pl.String}


def _gsu_frame(rows: pl.DataFrame) -> pl.DataFrame:
    """gameStateUpdate rows with ``partial_price_at_tick`` = partialPrices.values[tickCount]."""
    at_tick = (
        rows.select("_row", "tick_count", "partial_prices")
        .explode("partial_prices", empty_as_null=True)
        .unnest("partial_prices")
        .filter(pl.col("tick") == pl.col("tick_count"))
        .group_by("_row")
        .agg(pl.col("price").first().alias("partial_price_at_tick"))
    )
    return rows.join(at_tick, on="_row", how="left")


@dataclass(frozen=True)
class ContractResult:
    events: pl.DataFrame  # conformed silver events
    quarantine: pl.DataFrame  # conformed silver quarantine
    unknown_events: dict[str, int]  # event name → count of rows no contract covers


def apply_contracts(decoded: pl.DataFrame, frames: pl.DataFrame) -> ContractResult:
    """Check every decoded row against its contract; returns events (with contract_ok) and quarantine rows."""
    rows = decoded.with_row_index("_row").with_columns(contract_expr().alias("contract"))
    failures: list[pl.DataFrame] = []
    decode_errors = rows.filter(pl.col("contract") == DECODE).select(
        "_row", pl.lit(DECODE).alias("rule"), pl.col("error").alias("detail")
    )
    failures.append(decode_errors.cast(_FAILURE_SCHEMA))
    typed = rows.filter(pl.col("type_errors").is_not_null()).select("_row", "contract", "type_errors").explode("type_errors", empty_as_null=True)
    failures.append(
        typed.select(
            "_row",
            (pl.col("contract").fill_null("gameStateUpdate") + pl.lit(".type")).alias("rule"),
            pl.col("type_errors").alias("detail"),
        ).cast(_FAILURE_SCHEMA)
    )
    # the typed columns are checked; the payload text (most of the bytes) is not copied into the per-shape subsets
    gsu = rows.filter(pl.col("contract").str.starts_with("gameStateUpdate.")).drop("payload_json")
    if gsu.height:
        gsu = _gsu_frame(gsu)
        for shape, schema in GSU_CONTRACTS.items():
            subset = gsu.filter(pl.col("frame_shape") == shape.value)
            if subset.height:
                failures.append(_failures(schema, subset, f"gameStateUpdate.{shape.value}"))
    for name, flat in FLAT_CONTRACTS.items():
        subset = rows.filter(pl.col("contract") == name)
        if subset.height:
            frame, type_errors, unstorable = _flatten(subset, name)
            failures.append(_failures(flat.schema, frame, name))
            failures.append(
                pl.DataFrame(
                    {
                        "_row": [r for r, _, _ in type_errors] + [r for r, _, _ in unstorable],
                        "rule": [f"{name}.{field}.type" for _, field, _ in type_errors] + [DECODE] * len(unstorable),
                        "detail": [kind for _, _, kind in type_errors] + [f"{name}.{field}: {why}" for _, field, why in unstorable],
                    },
                    schema=_FAILURE_SCHEMA,
                )
            )
    failed = pl.concat(failures).unique(maintain_order=True)
    # a row that could not be decoded or stored is reported as that only: the nulls it was left with break no contract
    undecodable = failed.filter(pl.col("rule") == DECODE)["_row"].implode()
    failed = failed.filter((pl.col("rule") == DECODE) | ~pl.col("_row").is_in(undecodable)).sort(["_row", "rule"])
    bad_rows = failed["_row"].unique()
    events = rows.with_columns(
        pl.when(pl.col("contract").is_null()).then(None).otherwise(~pl.col("_row").is_in(bad_rows.implode())).alias("contract_ok")
    )
    quarantine = _quarantine_rows(failed, events, frames)
    unknown = events.filter(pl.col("event").is_not_null() & ~pl.col("event").is_in(list(KNOWN_EVENTS)))
    counts = dict(unknown.group_by("event").len().sort("event").iter_rows())
    return ContractResult(conform(events.drop("_row", "type_errors"), "events"), quarantine, counts)


def _quarantine_rows(failed: pl.DataFrame, events: pl.DataFrame, frames: pl.DataFrame) -> pl.DataFrame:
    if failed.height == 0:
        return conform(pl.DataFrame(), "quarantine")
    located = failed.join(
        events.select("_row", "capture_id", "seq", "packet_index", "recv_wall_ns", "event", "contract"), on="_row"
    )
    source = frames.select(
        "capture_id",
        "seq",
        pl.coalesce(pl.col("payload_text"), pl.col("payload_bytes").bin.encode("base64")).alias("raw"),
        pl.col("detail").alias("_provenance"),
    )
    located = located.join(source, on=["capture_id", "seq"], how="left")
    explanation = pl.col("_provenance").map_elements(explain, return_dtype=pl.String)
    located = located.with_columns(explanation.alias("explanation")).with_columns(
        pl.col("explanation").is_not_null().alias("explained")
    )
    return conform(located.drop("_row", "_provenance"), "quarantine")


def explain(provenance: str | None) -> str | None:
    """Why a violation is expected from this landing row's provenance (``detail`` JSON), or None."""
    if not provenance:
        return None
    try:
        detail = orjson.loads(provenance)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(detail, dict):
        return None
    provenance_detail = detail.get("import") if isinstance(detail.get("import"), dict) else detail  # importer: detail.import
    meta = provenance_detail.get("meta") if isinstance(provenance_detail.get("meta"), dict) else provenance_detail
    if meta.get("payload_lost"):
        return "payload lost by the original capture tool (only the trace argument was kept)"
    if meta.get("elided_fields"):
        return f"hand transcription with elided fields: {meta['elided_fields']}"
    if meta.get("transcribed"):
        return "hand transcription of a DevTools frame or document example"
    return None
