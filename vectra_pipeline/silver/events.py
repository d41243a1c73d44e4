"""Silver ``events``: every bronze frame decoded, one row per Engine.IO/Socket.IO packet. Pure.

Every frame goes through :func:`capture_agent.protocol.socketio.decode_frame`, except the hot one: a WebSocket
``42["gameStateUpdate",{…}]`` frame (most of the traffic, ~5 kB each) is decoded by a typed msgspec decoder
that reads only the fields the tables need. That decoder accepts exactly the frames the codec would decode
to one ``gameStateUpdate`` event packet whose payload types fit; anything else falls back to the codec
(``tests/pipeline/test_pipeline_events.py`` checks both paths agree on every real frame). Phase and frame
shape come from :mod:`capture_agent.protocol.game`, the one definition.

Decoding is total: a frame that cannot be decoded or stored (nested too deeply, an ack id or counter beyond its
column, lone UTF-16 surrogates, a text frame that is not UTF-8, a binary frame no packet announced) becomes a row
whose ``error`` says why — quarantined under ``decode`` — and the rest of the day decodes.

The stage (:func:`build_events`, one ``VERSION``) is decoding plus the contracts of :mod:`.contracts`: its outputs
are ``events`` and ``quarantine``.
"""

from __future__ import annotations

import contextlib
import functools
import gc
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from typing import Annotated, Any

import msgspec
import numpy as np
import orjson
import polars as pl
import pyarrow as pa
from msgspec import UNSET, UnsetType

from capture_agent.protocol.engineio import Packet
from capture_agent.protocol.game import frame_shape, phase
from capture_agent.protocol.jsjson import dumps
from capture_agent.protocol.rules import GAME_STATE_UPDATE
from capture_agent.protocol.socketio import Attachments
from vectra_pipeline.schema import EVENTS, empty
from vectra_pipeline.silver.contracts import ContractResult, apply_contracts
from vectra_pipeline.silver.frame_packets import failure_reason, frame_packets, too_wide_for

VERSION = 1  # bump when the output would change (tests/pipeline/test_stage_versions.py)

_GSU_PREFIX = f'42["{GAME_STATE_UPDATE}",'

# Typed fields of a gameStateUpdate payload: events column → (payload path, kind).
_GSU_FIELDS: dict[str, tuple[tuple[str, ...], str]] = {
    "tick_count": (("tickCount",), "int"),
    "price": (("price",), "float"),
    "cooldown_timer": (("cooldownTimer",), "int"),
    "allow_pre_round_buys": (("allowPreRoundBuys",), "bool"),
    "active": (("active",), "bool"),
    "rugged": (("rugged",), "bool"),
    "trade_count": (("tradeCount",), "int"),
    "connected_players": (("connectedPlayers",), "int"),
    "average_multiplier": (("averageMultiplier",), "float"),
    "count2x": (("count2x",), "int"),
    "count10x": (("count10x",), "int"),
    "count50x": (("count50x",), "int"),
    "count100x": (("count100x",), "int"),
    "rugpool_amount": (("rugpool", "rugpoolAmount"), "float"),
    "rugpool_threshold": (("rugpool", "threshold"), "float"),
    "instarug_count": (("rugpool", "instarugCount"), "int"),
    "highest_today": (("highestToday",), "float"),
    "game_version": (("gameVersion",), "str"),
    "server_seed_hash": (("provablyFair", "serverSeedHash"), "str"),
}

_BASE_COLUMNS = (
    "capture_id", "seq", "packet_index", "recv_wall_ns", "recv_mono_ns", "direction", "transport", "engine_type",
    "socket_type", "namespace", "event", "ack_id", "trace_id", "game_id", "payload_json", "frame_shape", "phase", "error",
)  # fmt: skip
_EXTRA_COLUMNS = ("partial_prices", "has_game_history", "has_prices", "type_errors")
DECODED_COLUMNS = (*_BASE_COLUMNS, *_GSU_FIELDS, *_EXTRA_COLUMNS)


_INT32_MAX = (1 << 31) - 1
# the typed columns are 32-bit: a counter beyond that leaves the fast path, and the codec path reports it
_Int32 = Annotated[int, msgspec.Meta(ge=-_INT32_MAX - 1, le=_INT32_MAX)]


class _Rugpool(msgspec.Struct):
    instarugCount: _Int32 | None = None
    threshold: float | None = None
    rugpoolAmount: float | None = None


class _ProvablyFair(msgspec.Struct):
    serverSeedHash: str | None = None


class _PartialPrices(msgspec.Struct):
    values: dict[str, float] | None = None


class _GameState(msgspec.Struct):
    gameId: str | None = None
    tickCount: _Int32 | None = None
    price: float | None = None
    cooldownTimer: _Int32 | None = None
    allowPreRoundBuys: bool | None | UnsetType = UNSET
    active: bool | None | UnsetType = UNSET
    rugged: bool | None | UnsetType = UNSET
    tradeCount: _Int32 | None | UnsetType = UNSET
    connectedPlayers: _Int32 | None = None
    averageMultiplier: float | None = None
    count2x: _Int32 | None = None
    count10x: _Int32 | None = None
    count50x: _Int32 | None = None
    count100x: _Int32 | None = None
    rugpool: _Rugpool | None = None
    highestToday: float | None = None
    gameVersion: str | None = None
    provablyFair: _ProvablyFair | None = None
    partialPrices: _PartialPrices | None = None
    gameHistory: msgspec.Raw | UnsetType = UNSET
    prices: msgspec.Raw | UnsetType = UNSET


_gsu_decoder = msgspec.json.Decoder(tuple[str, _GameState])


def _fast_game_state(text: str | memoryview) -> tuple | None:
    """The typed values of a plain ``42["gameStateUpdate",{…}]`` frame, or None to use the codec.

    Returns (game_id, frame_shape, phase, the _GSU_FIELDS values…, has_game_history, has_prices,
    has partialPrices.values, its ticks, its prices); ``payload_json`` is the frame text minus the envelope (sliced in polars).
    """
    try:
        name, state = _gsu_decoder.decode(text[2:])
    except (msgspec.ValidationError, msgspec.DecodeError, RecursionError):
        return None
    if name != GAME_STATE_UPDATE:
        return None
    active, rugged, allow, trade_count = state.active, state.rugged, state.allowPreRoundBuys, state.tradeCount
    has_history, has_prices = state.gameHistory is not UNSET, state.prices is not UNSET
    if (has_history or has_prices) and not _orjson_reads(text[2:]):
        return None  # its text becomes payload_json, which every reader parses with orjson (1e400, lone surrogates…)
    shape, state_phase = _shape_and_phase(active, rugged, allow, trade_count is not UNSET, has_prices, has_history)
    rugpool, fair, partial = state.rugpool, state.provablyFair, state.partialPrices
    values = partial.values if partial is not None else None
    ticks = prices = None
    if values is not None:
        ticks = _plain_ticks(values)
        if ticks is None:
            return None  # a tick key that is not a plain number: the codec path reports it
        prices = list(values.values())
    return (
        state.gameId, shape, state_phase,
        state.tickCount, state.price, state.cooldownTimer,
        None if allow is UNSET else allow, None if active is UNSET else active,
        None if rugged is UNSET else rugged, None if trade_count is UNSET else trade_count,
        state.connectedPlayers, state.averageMultiplier, state.count2x, state.count10x, state.count50x, state.count100x,
        rugpool.rugpoolAmount if rugpool else None, rugpool.threshold if rugpool else None,
        rugpool.instarugCount if rugpool else None,
        state.highestToday, state.gameVersion, fair.serverSeedHash if fair else None,
        has_history, has_prices, values is not None, ticks, prices,
    )  # fmt: skip


def _orjson_reads(text: str | memoryview) -> bool:
    """Whether orjson parses the text: the rare full frames (gameHistory, prices) are kept as text, and msgspec
    skips those fields without reading them as orjson would."""
    try:
        orjson.loads(text)
    except orjson.JSONDecodeError:
        return False
    return True


@functools.lru_cache(maxsize=256)
def _shape_and_phase(active, rugged, allow, has_trade_count: bool, has_prices: bool, has_history: bool) -> tuple[str, str]:
    """frame_shape()/phase() of the one definition, memoised on exactly the keys and values they read."""
    view: dict[str, Any] = {key: value for key, value in (("active", active), ("rugged", rugged), ("allowPreRoundBuys", allow)) if value is not UNSET}
    if has_trade_count:
        view["tradeCount"] = 0
    if has_prices:
        view["prices"] = []
    if has_history:
        view["gameHistory"] = []
    return frame_shape(view).value, phase(view).value


def _plain_ticks(keys: Mapping[str, Any]) -> list[int] | None:
    """The ticks of partialPrices keys, or None when one is not a plain tick number (ASCII digits, below 10⁹:
    ``str.isdigit`` alone accepts "²", which ``int`` refuses, and a long key would not fit the 32-bit tick)."""
    joined = "".join(keys)
    if "" in keys or not (joined.isascii() and joined.isdigit()) or max(map(len, keys), default=0) > 9:
        return None
    return list(map(int, keys))


def _partial_list(values: Mapping[str, Any]) -> list[dict] | None:
    ticks = _plain_ticks(values)
    if ticks is None or not all(map(_is_number, values.values())):
        return None
    return sorted(({"tick": tick, "price": float(price)} for tick, price in zip(ticks, values.values())), key=lambda item: item["tick"])


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


_KIND_OK = {
    "int": lambda v: type(v) is int,
    "float": _is_number,
    "bool": lambda v: type(v) is bool,
    "str": lambda v: type(v) is str,
}


def _dict_game_state(payload: dict) -> tuple[tuple, list | None, list[str], list[str]]:
    """Same values as the fast path, read from a decoded payload dict; wrong types become null + a type error,
    integers beyond the 32-bit columns null + an unstorable value (a decode problem, not a contract one)."""
    values = []
    errors = []
    unstorable = []
    for path, kind in _GSU_FIELDS.values():
        value: Any = payload
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        too_wide = too_wide_for(value, 32) if kind == "int" else None
        if too_wide:
            unstorable.append(f"{'.'.join(path)}: {too_wide}")
            value = None
        elif value is not None and not _KIND_OK[kind](value):
            errors.append(f"{'.'.join(path)}:{type(value).__name__}")
            value = None
        values.append(float(value) if kind == "float" and value is not None else value)
    partial = payload.get("partialPrices")
    partial_prices = None
    if isinstance(partial, dict) and isinstance(partial.get("values"), dict):
        partial_prices = _partial_list(partial["values"])
        if partial_prices is None:
            errors.append("partialPrices.values:malformed")
    elif partial is not None:
        errors.append("partialPrices:malformed")
    return tuple(values), partial_prices, errors, unstorable


_N_GSU = len(_GSU_FIELDS)
_NO_GSU = (None,) * _N_GSU


def _packet_row(base: tuple, index: int, packet: Packet) -> tuple:
    """One events row (as a tuple in DECODED_COLUMNS order) from a codec packet.

    A value no column can hold (an ack id beyond 64 bits, a counter beyond 32) is left null and named in ``error``.
    """
    payload = packet.payload
    problems = [packet.error] if packet.error else []
    game_id = payload.get("gameId") if isinstance(payload, dict) else None
    if game_id is not None and not isinstance(game_id, str):
        game_id = None
    ack_id = packet.ack_id
    too_wide = too_wide_for(ack_id, 64)
    if too_wide:
        problems.append(f"ack id: {too_wide}")
        ack_id = None
    if packet.socket_type is not None and packet.socket_type.value in ("ack", "binary_ack"):
        payload_json = dumps(list(packet.args))
    elif isinstance(payload, (bytes, bytearray)):
        payload_json = None
    else:
        payload_json = None if payload is None and not packet.args else dumps(payload)
    shape = state_phase = None
    gsu, partial, has_history, has_prices, type_errors = _NO_GSU, None, None, None, None
    if packet.event == GAME_STATE_UPDATE and packet.error is None:
        if isinstance(payload, dict):
            shape, state_phase = frame_shape(payload).value, phase(payload).value
            gsu, partial, type_errors, unstorable = _dict_game_state(payload)
            problems.extend(unstorable)
            has_history, has_prices = "gameHistory" in payload, "prices" in payload
            type_errors = type_errors or None
            if type_errors is None and not (has_history or has_prices):
                payload_json = None  # as on the fast path: the typed columns carry it, bronze keeps the text
        else:
            type_errors = ["payload:not_object"]
    return (
        base[0], base[1], index, *base[2:],
        packet.engine_type.value if packet.engine_type else None,
        packet.socket_type.value if packet.socket_type else None,
        packet.namespace, packet.event, ack_id, packet.trace_id, game_id, payload_json, shape, state_phase,
        "; ".join(problems) or None, *gsu, partial, has_history, has_prices, type_errors,
    )  # fmt: skip


def _frame_rows(base: tuple, text: str | None, opcode: int | None, data: bytes | None, attachments: Attachments) -> list[tuple]:
    """The events rows of one frame. Never raises: a frame whose decoding fails becomes one row whose ``error`` says
    why (quarantined under ``decode``), so one frame never stops the day."""
    try:
        packets = frame_packets(text, data, opcode, transport=base[5], sender=(base[0], base[4]), attachments=attachments)
        return [_packet_row(base, index, packet) for index, packet in enumerate(packets)]
    except Exception as error:  # noqa: BLE001 - RecursionError of a deep payload, ValueError of a 5,000-digit id…
        return [_packet_row(base, 0, Packet(raw="", engine_type=None, error=failure_reason(error)))]


CHUNK_ROWS = 50_000  # frames handed to Python at a time: keeps peak memory flat on big days


def _chunked_frames(texts: pl.Series, candidates: pl.Series):
    """(index, is fast-path candidate, frame) for every frame text, CHUNK_ROWS at a time.

    Candidates come as zero-copy memoryviews into polars' own string buffers (exported as an Arrow string_view
    array, read through its 16-byte views; msgspec decodes memoryviews directly, so no Python str and no copy of
    the text is made for the hot frames); every other frame as ``str`` (None when null).
    """
    for start in range(0, len(texts), CHUNK_ROWS):
        part = texts.slice(start, CHUNK_ROWS)
        nulls = part.is_null().to_list()
        flags = candidates.slice(start, CHUNK_ROWS).to_list()
        arrow = part.to_arrow(compat_level=pl.CompatLevel.newest())
        chunks = arrow.chunks if isinstance(arrow, pa.ChunkedArray) else [arrow]
        i = 0
        for chunk in chunks:
            for view in _string_views(chunk):
                null, flag = nulls[i], flags[i]
                yield start + i, flag and not null, None if null else view if flag else str(view, "utf-8")
                i += 1


def _string_views(array: pa.Array):
    """Each value of an Arrow string_view array as a memoryview of its bytes (nulls: an empty view)."""
    buffers = array.buffers()
    raw_views = memoryview(buffers[1]) if buffers[1] is not None else memoryview(b"")
    views = np.frombuffer(buffers[1], dtype=np.int32).reshape(-1, 4)[array.offset : array.offset + len(array)]
    data = [memoryview(buffer) if buffer is not None else memoryview(b"") for buffer in buffers[2:]]
    # a view: length, then the bytes inline when length <= 12, else (prefix, buffer index, offset)
    for row, (length, _, buffer_index, offset) in enumerate(views.tolist(), start=array.offset):
        if length <= 12:
            yield raw_views[row * 16 + 4 : row * 16 + 4 + length]
        else:
            yield data[buffer_index][offset : offset + length]


_FAST_COLUMNS = ("game_id", "frame_shape", "phase", *_GSU_FIELDS, "has_game_history", "has_prices", "_has_partial", "_ticks", "_prices")
_FRAME_COLUMNS = ("capture_id", "seq", "recv_wall_ns", "recv_mono_ns", "direction", "transport")


def build_events(frames: pl.DataFrame) -> ContractResult:
    """bronze frames with their payloads (:func:`vectra_pipeline.bronze.frames.with_payloads`) → silver ``events``
    and ``quarantine``: decoded, then checked against their contracts."""
    return apply_contracts(decode_events(frames), frames)


def build_events_in_slices(slices: Iterable[pl.DataFrame]) -> ContractResult:
    """:func:`build_events` of the concatenated bronze ``slices`` (consecutive, in bronze order), one slice at a
    time (:func:`events_of_slices`), the results concatenated."""
    events, quarantine, unknown = [], [], Counter()
    for result in events_of_slices(slices):
        events.append(result.events)
        quarantine.append(result.quarantine)
        unknown.update(result.unknown_events)
    if not events:
        no_frames = empty("frames").with_columns(pl.lit(None, pl.String).alias("payload_text"), pl.lit(None, pl.Binary).alias("payload_bytes"))
        return build_events(no_frames)
    return ContractResult(pl.concat(events).rechunk(), pl.concat(quarantine).rechunk(), dict(sorted(unknown.items())))


def events_of_slices(slices: Iterable[pl.DataFrame]) -> Iterator[ContractResult]:
    """:func:`build_events` of each bronze slice (consecutive, in bronze order), yielded one at a time: only one
    slice's frame text and events are held, never the day's. Decoding and the contracts are row-local; the one state
    that crosses frames, binary attachments awaited by an earlier frame, is carried from slice to slice."""
    attachments = Attachments()
    for frames in slices:
        yield apply_contracts(decode_events(frames, attachments), frames)


def decode_events(frames: pl.DataFrame, attachments: Attachments | None = None) -> pl.DataFrame:
    """bronze frames → decoded events (DECODED_COLUMNS; contracts are applied by :mod:`.contracts`).

    ``attachments``: binary attachments still awaited from earlier frames (:func:`build_events_in_slices`)."""
    wanted = frames.filter((pl.col("record_type") == "frame") & pl.col("duplicate_of").is_null()).with_row_index("_frame")
    schema = _decoded_schema()
    fast_index: list[int] = []
    fast_rows: list[tuple] = []
    slow_rows: list[tuple] = []
    is_candidate = wanted["payload_text"].str.starts_with(_GSU_PREFIX).fill_null(False)
    # the fast rows' partialPrices as one flat (tick, price) list with per-row offsets (an Arrow list column)
    partial_offsets: list[int] = [0]
    partial_tick: list[int] = []
    partial_price: list[float] = []
    slow: list[tuple[int, str | None]] = []  # frames for the codec: their other columns are gathered in bulk below
    with _gc_paused():  # the loop builds ~1M acyclic rows
        for index, candidate, text in _chunked_frames(wanted["payload_text"], is_candidate):
            if candidate:
                fast = _fast_game_state(text)
                if fast is not None:
                    fast_index.append(index)
                    fast_rows.append(fast[:-2])
                    ticks, prices = fast[-2], fast[-1]
                    if ticks is not None:
                        if ticks != sorted(ticks):  # the server sends them in order; be sure
                            ticks, prices = map(list, zip(*sorted(zip(ticks, prices))))
                        partial_tick.extend(ticks)
                        partial_price.extend(prices)
                    partial_offsets.append(len(partial_tick))
                    continue
                text = str(text, "utf-8")
            slow.append((index, text))
    if slow:
        sources = wanted.select(*_FRAME_COLUMNS, "opcode", "payload_bytes")[[index for index, _ in slow]]
        attachments = Attachments() if attachments is None else attachments
        for (index, text), source in zip(slow, sources.iter_rows()):
            for row in _frame_rows(source[:-2], text, source[-2], source[-1], attachments):
                slow_rows.append((index, *row))
    parts = []
    if fast_rows:
        has_partial = [row[-1] for row in fast_rows]
        pairs = pa.StructArray.from_arrays(
            [pa.array(partial_tick, pa.int32()), pa.array(partial_price, pa.float64())], names=["tick", "price"]
        )
        partial = pa.ListArray.from_arrays(
            pa.array(partial_offsets, pa.int32()), pairs, mask=pa.array([not present for present in has_partial])
        )
        parts.append(_fast_frame(wanted, fast_index, fast_rows, pl.Series("partial_prices", partial), schema))
    if slow_rows:
        parts.append(pl.DataFrame(slow_rows, schema={"_frame": pl.UInt32, **schema}, orient="row"))
    if not parts:
        return pl.DataFrame(schema=schema)
    decoded = pl.concat(parts, how="diagonal").sort(["_frame", "packet_index"])
    return decoded.select(
        [pl.col(name) if name in decoded.columns else pl.lit(None, dtype).alias(name) for name, dtype in schema.items()]
    )


@contextlib.contextmanager
def _gc_paused():
    """Cyclic GC off while a loop builds ~1M rows of acyclic tuples and lists: collections triggered by those
    allocations would scan them again and again (~18% of decode CPU, measured); the previous state is restored."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _fast_frame(wanted: pl.DataFrame, index: list[int], rows: list[tuple], partial: pl.Series, schema: pl.Schema) -> pl.DataFrame:
    """The fast-path rows as a frame: typed columns from the decoder, the rest vectorised in polars."""
    names = _FAST_COLUMNS[:-3]
    columns = dict(zip(names, zip(*rows)))
    decoded = pl.DataFrame({name: columns[name] for name in names}, schema={name: schema[name] for name in names}, strict=False)
    mask = np.zeros(wanted.height, dtype=bool)
    mask[index] = True
    source = wanted.select("_frame", *_FRAME_COLUMNS, "payload_text").filter(pl.Series(mask))
    text = pl.col("payload_text")
    return (
        source.hstack(decoded)
        .with_columns(
            pl.lit(0, pl.Int32).alias("packet_index"),
            pl.lit("message").alias("engine_type"),
            pl.lit("event").alias("socket_type"),
            pl.lit("/").alias("namespace"),
            pl.lit(GAME_STATE_UPDATE).alias("event"),
            # a plain state frame's typed columns carry what silver reads and bronze keeps its text: not stored twice
            pl.when(pl.col("has_game_history") | pl.col("has_prices"))
            .then(text.str.strip_prefix(_GSU_PREFIX).str.strip_suffix("]"))
            .alias("payload_json"),
            partial.cast(schema["partial_prices"]),
        )
        .drop("payload_text")
    )


def _decoded_schema() -> pl.Schema:
    declared = EVENTS.schema
    schema = {name: declared[name] for name in DECODED_COLUMNS if name in declared}
    schema["type_errors"] = pl.List(pl.String)
    return pl.Schema({name: schema[name] for name in DECODED_COLUMNS})
