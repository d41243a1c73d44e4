"""The schema registry: every table the pipeline writes — bronze, silver, gold, and the files and view of the
datasets — with its columns, dtypes and descriptions, declared once.

Stages build polars frames and the storage module passes every one through :func:`conform` before writing it,
which selects the declared columns in the declared order with the declared dtypes, so every Parquet file, DuckDB
view and document agrees with this module. Generated from it: ``docs/TABLES.md`` (``python -m vectra_pipeline.docs``)
and the warehouse's views (:mod:`vectra_pipeline.warehouse`). Where a table lives is the storage module's business.
The gold and dataset tables are declared in :mod:`vectra_pipeline.schema_gold`, the building blocks in
:mod:`vectra_pipeline.table_spec`.

Conventions: times are integer nanoseconds since the Unix epoch, UTC (``*_ns``); money is SOL as float;
prices and ``avg_cost`` are multipliers of the 1.0 start price; ticks are int32.
"""

from __future__ import annotations

import polars as pl

from vectra_pipeline.schema_gold import (
    CROWD_EPISODES,
    CROWD_OBSERVATIONS,
    DATASET_CROWD_EPISODES,
    DATASET_CROWD_OBSERVATIONS,
    DATASET_EPISODES,
    DATASET_MARKET_EPISODES,
    DATASET_MARKET_OBSERVATIONS,
    DATASET_OBSERVATIONS,
    DATASETS,
    EPISODES,
    LEADERBOARD,
    MARKET_EPISODES,
    MARKET_OBSERVATIONS,
    OBSERVATIONS,
    PLAYER_GAMES,
)
from vectra_pipeline.table_spec import BOOL, F64, I32, I64, LAYERS, PARTITION_DATE_DOC, STR, Column, Table
from vectra_pipeline.table_spec import table as _table

__all__ = ["DATASETS", "EVENTS", "LAYERS", "OBSERVATIONS", "PARTITION_DATE_DOC", "TABLES", "Column", "Table", "conform", "empty",
           "schema"]

PARTIAL_PRICE = pl.Struct({"tick": I32, "price": F64})

FRAMES = _table(
    "frames",
    "bronze",
    "An index of the partition's landing rows (no copy of the frame text: landing_file and landing_row say where "
    "it is), deduplicated: one row per (capture_id, seq); inbound frames that another capture received with "
    "identical text within the overlap window are kept but flagged.",
    ("capture_id", "seq"),
    ("capture_id", STR, "capture run (or import) the row comes from"),
    ("seq", I64, "gapless row number within the capture"),
    ("record_type", STR, "frame | connection | click"),
    ("source", STR, "browser | direct | simulator | import | synthetic"),
    ("recv_wall_ns", I64, "receipt wall time, ns since epoch UTC"),
    ("recv_mono_ns", I64, "monotonic clock at receipt (ordering within a capture)"),
    ("browser_ts", F64, "the source's own timestamp in seconds, when it has one"),
    ("direction", STR, "in (server→client) | out (client→server); null for connection rows"),
    ("transport", STR, "websocket | polling"),
    ("socket_id", STR, "Engine.IO sid or CDP request id"),
    ("url", STR, "socket URL"),
    ("opcode", pl.Int8, "WebSocket opcode (1 text, 2 binary); null for polling bodies"),
    ("event", STR, "Socket.IO event name of the first packet (landing convenience)"),
    ("ack_id", I64, "Socket.IO ack id of the first packet (landing convenience)"),
    ("detail", STR, "JSON: lifecycle reason, click target, import provenance"),
    ("payload_kind", STR, "text | binary: the landing column holding the frame (payload_text | payload_bytes)"),
    ("payload_size", I64, "the payload's size in bytes (UTF-8 for text)"),
    ("content_hash", pl.UInt64, "64-bit hash of the payload: duplicates match on it; silver checks what it reads"),
    ("landing_file", STR, "the landing segment holding the row (and the frame text), relative to the data root"),
    ("landing_row", I64, "the row's number inside landing_file, from 0"),
    ("duplicate_of", STR, "'<capture_id>:<seq>' of the identical inbound frame another capture received first; null when unique"),
)

EVENTS = _table(
    "events",
    "silver",
    "Every frame decoded with the codec: one row per Engine.IO/Socket.IO packet (polling bodies split). "
    "Rows of cross-capture duplicate frames are not decoded again. Unknown event names are kept. "
    "gameStateUpdate rows carry the typed fields the tick and game tables need.",
    ("capture_id", "seq", "packet_index"),
    ("capture_id", STR, "capture run"),
    ("seq", I64, "landing seq of the frame"),
    ("packet_index", I32, "position of the packet inside the frame (polling bodies hold several)"),
    ("recv_wall_ns", I64, "receipt wall time, ns since epoch UTC"),
    ("recv_mono_ns", I64, "monotonic clock at receipt"),
    ("direction", STR, "in | out"),
    ("transport", STR, "websocket | polling"),
    ("engine_type", STR, "Engine.IO packet type (open, message, ping, …)"),
    ("socket_type", STR, "Socket.IO packet type (connect, event, ack, …) for messages"),
    ("namespace", STR, "Socket.IO namespace"),
    ("event", STR, "event name (events only)"),
    ("ack_id", I64, "Socket.IO ack id (emits expecting an ack, and acks)"),
    ("trace_id", STR, "32-hex W3C trace id from the trace argument"),
    ("game_id", STR, "gameId of the payload when it has one"),
    ("payload_json", STR, "the payload (last argument) as JSON; acks: the whole argument list; null for a "
     "gameStateUpdate without type errors, gameHistory or prices (typed columns carry it; the text stays in landing)"),
    ("frame_shape", STR, "gameStateUpdate only: capture_agent.protocol.game.frame_shape"),
    ("phase", STR, "gameStateUpdate only: capture_agent.protocol.game.phase"),
    ("error", STR, "codec error for a malformed packet"),
    ("contract", STR, "name of the contract the row was checked against; null when none applies (unknown event)"),
    ("contract_ok", BOOL, "false when the row broke its contract (details in quarantine)"),
    ("tick_count", I32, "gameStateUpdate.tickCount"),
    ("price", F64, "gameStateUpdate.price"),
    ("cooldown_timer", I32, "gameStateUpdate.cooldownTimer (ms)"),
    ("allow_pre_round_buys", BOOL, "gameStateUpdate.allowPreRoundBuys"),
    ("active", BOOL, "gameStateUpdate.active"),
    ("rugged", BOOL, "gameStateUpdate.rugged"),
    ("trade_count", I32, "gameStateUpdate.tradeCount"),
    ("connected_players", I32, "gameStateUpdate.connectedPlayers"),
    ("average_multiplier", F64, "gameStateUpdate.averageMultiplier"),
    ("count2x", I32, "gameStateUpdate.count2x"),
    ("count10x", I32, "gameStateUpdate.count10x"),
    ("count50x", I32, "gameStateUpdate.count50x"),
    ("count100x", I32, "gameStateUpdate.count100x"),
    ("rugpool_amount", F64, "gameStateUpdate.rugpool.rugpoolAmount"),
    ("rugpool_threshold", F64, "gameStateUpdate.rugpool.threshold"),
    ("instarug_count", I32, "gameStateUpdate.rugpool.instarugCount"),
    ("highest_today", F64, "gameStateUpdate.highestToday (full frames)"),
    ("game_version", STR, "gameStateUpdate.gameVersion"),
    ("server_seed_hash", STR, "gameStateUpdate.provablyFair.serverSeedHash (the announced hash)"),
    ("partial_prices", pl.List(PARTIAL_PRICE), "gameStateUpdate.partialPrices.values as (tick, price)"),
    ("has_game_history", BOOL, "gameStateUpdate carries gameHistory"),
    ("has_prices", BOOL, "gameStateUpdate carries the connect snapshot's top-level prices"),
)

QUARANTINE = _table(
    "quarantine",
    "silver",
    "Rows that broke a contract (or could not be decoded), with the rule and the raw frame. Nothing is dropped: "
    "the row stays in events with contract_ok=false. 'explained' rows come from sources known to be incomplete "
    "(hand transcriptions, payloads lost by the original capture tool), named in 'explanation'.",
    ("capture_id", "seq", "packet_index", "rule"),
    ("capture_id", STR, "capture run"),
    ("seq", I64, "landing seq"),
    ("packet_index", I32, "packet inside the frame"),
    ("recv_wall_ns", I64, "receipt wall time"),
    ("event", STR, "event name (null when undecodable)"),
    ("contract", STR, "contract checked"),
    ("rule", STR, "the rule broken: '<contract>.<column>.<check>' or 'decode'"),
    ("detail", STR, "what was wrong (failing value)"),
    ("explained", BOOL, "true when the landing row's provenance explains the violation"),
    ("explanation", STR, "why it is explained"),
    ("raw", STR, "the frame verbatim"),
)

GAME_HISTORY = _table(
    "game_history", "silver",
    "One row per game of the day's gameHistory entries (first receipt), parsed once for game_ticks, games, sidebets.",
    ("game_id",),
    ("game_id", STR, "gameHistory[].id"),
    ("prices", pl.List(F64), "price path, tick 0 to the rug tick; null when absent or not all numbers"),
    ("peak_multiplier", F64, "peakMultiplier"),
    ("timestamp_ms", I64, "timestamp (rug moment, server ms)"),
    ("game_version", STR, "gameVersion"),
    ("server_seed", STR, "provablyFair.serverSeed (revealed)"),
    ("server_seed_hash", STR, "provablyFair.serverSeedHash"),
    ("global_sidebets", STR, "globalSidebets verbatim, JSON text ('[]' when not a list)"),
    ("recv_wall_ns", I64, "receipt time of the first frame carrying the entry"),
)  # fmt: skip

GAME_TICKS = _table(
    "game_ticks",
    "silver",
    "One row per (game_id, tick) from tick 0 to the rug tick: duplicate frames merged; ticks never received are "
    "filled from partialPrices, the connect snapshot's prices, or gameHistory; price_source says which.",
    ("game_id", "tick"),
    ("game_id", STR, "gameId"),
    ("tick", I32, "tick index (0 = start, price 1.0)"),
    ("price", F64, "price multiplier at the tick"),
    ("price_source", STR, "observed | partial_prices | snapshot | history"),
    ("phase", STR, "active, or rugged on the rug tick (capture_agent.protocol.game.phase)"),
    ("recv_wall_ns", I64, "receipt time of the first frame showing the tick; null when backfilled"),
    ("is_rug_tick", BOOL, "the tick the game rugged on (its price is the rug remainder)"),
    ("trade_count", I32, "tradeCount of the tick frame"),
    ("connected_players", I32, "connectedPlayers of the tick frame"),
    ("average_multiplier", F64, "averageMultiplier"),
    ("count2x", I32, "count2x"),
    ("count10x", I32, "count10x"),
    ("count50x", I32, "count50x"),
    ("count100x", I32, "count100x"),
    ("rugpool_amount", F64, "rugpool.rugpoolAmount"),
    ("rugpool_threshold", F64, "rugpool.threshold"),
    ("instarug_count", I32, "rugpool.instarugCount"),
    ("highest_today", F64, "highestToday, when a full frame showed the tick"),
    ("frames", I32, "frames received for this tick (duplicates merged)"),
)

COOLDOWNS = _table(
    "cooldowns",
    "silver",
    "One row per (game_id, cooldown_timer) step before tick 0 (cooldown and presale), duplicates merged.",
    ("game_id", "cooldown_timer"),
    ("game_id", STR, "gameId of the coming game"),
    ("cooldown_timer", I32, "ms left before tick 0"),
    ("allow_pre_round_buys", BOOL, "presale open"),
    ("phase", STR, "cooldown | presale"),
    ("recv_wall_ns", I64, "receipt time of the first frame of the step"),
    ("connected_players", I32, "connectedPlayers"),
    ("frames", I32, "frames received for this step"),
)

GAMES = _table(
    "games",
    "silver",
    "One row per game seen in the partition (ticks observed, or a gameHistory entry): rug, peak, completeness, "
    "revealed seed and the provably-fair replay.",
    ("game_id",),
    ("game_id", STR, "gameId"),
    ("first_seen_ns", I64, "first frame of the game (any phase); null when history-only"),
    ("last_seen_ns", I64, "last frame of the game; null when history-only"),
    ("rug_tick", I32, "tick of rug frame #1 (= len(prices)-1); null while unknown"),
    ("rug_price", F64, "rug remainder price at rug_tick"),
    ("peak", F64, "max price over the game's ticks (gameHistory.peakMultiplier when known)"),
    ("ticks_observed", I32, "ticks seen in a frame of their own"),
    ("ticks_expected", I32, "rug_tick + 1 when the rug is known, else last tick + 1"),
    ("completeness", STR, "complete | gapped | partial_start | partial_end | history_only"),
    ("history_only", BOOL, "known only from a gameHistory entry (played before the capture started)"),
    ("server_seed", STR, "revealed seed (gameHistory)"),
    ("server_seed_hash", STR, "hash announced before the game (or revealed with the seed)"),
    ("seed_hash_ok", BOOL, "sha256(server_seed) == server_seed_hash; null without a seed"),
    ("fair_verified", BOOL, "price path replayed from the seed equals the recorded one; null without a seed"),
    ("first_mismatch_tick", I32, "first tick where replay and record differ"),
    ("game_version", STR, "gameVersion"),
    ("history_timestamp_ms", I64, "gameHistory.timestamp (rug moment, server ms)"),
    ("frames", I32, "gameStateUpdate frames of the game"),
    ("trade_count", I32, "last tradeCount seen"),
)

TRADES = _table(
    "trades",
    "silver",
    "Every standard/newTrade (and the older newTrade) broadcast, all players; is_own marks the recording player's.",
    ("trade_id",),
    ("trade_id", STR, "trade id"),
    ("game_id", STR, "gameId"),
    ("player_id", STR, "playerId"),
    ("username", STR, "username"),
    ("level", I32, "player level"),
    ("type", STR, "buy | sell | short_open | short_close"),
    ("tick", I32, "tickIndex"),
    ("price", F64, "price (null on old-format buys)"),
    ("qty", F64, "token units (0 on shorts)"),
    ("amount", F64, "SOL"),
    ("leverage", I32, "buys only"),
    ("bonus_portion", F64, "bonusPortion"),
    ("real_portion", F64, "realPortion"),
    ("coin", STR, "coin"),
    ("trace_id", STR, "trace id (links to the client emit)"),
    ("recv_wall_ns", I64, "receipt time"),
    ("capture_id", STR, "capture that received it first"),
    ("seq", I64, "landing seq"),
    ("is_own", BOOL, "player_id is the recording player's (playerUpdate.id of the capture)"),
)

SIDEBETS = _table(
    "sidebets",
    "silver",
    "Sidebets placed and settled, one row per (game, player, start tick) with its latest status: the player's own "
    "currentSidebet/currentSidebetResult and every player's gameHistory.globalSidebets records; status placed | won | lost "
    "(a win is rug tick ≤ end tick, docs/PROTOCOL.md §3.1).",
    ("game_id", "player_id", "start_tick"),
    ("game_id", STR, "gameId"),
    ("player_id", STR, "playerId"),
    ("username", STR, "username"),
    ("start_tick", I32, "startTick / startedAtTick"),
    ("end_tick", I32, "endTick (= start + 40)"),
    ("bet_amount", F64, "SOL"),
    ("x_payout", F64, "payout multiple (5)"),
    ("status", STR, "placed | won | lost"),
    ("payout", F64, "SOL paid (0 on a loss); null while placed"),
    ("profit", F64, "payout − bet; null while placed"),
    ("rug_tick", I32, "rug tick of the game when settled"),
    ("recv_wall_ns", I64, "receipt time of the first frame that showed the bet's latest status"),
    ("source", STR, "currentSidebet | currentSidebetResult | gameHistory"),
    ("is_own", BOOL, "the recording player's"),
)

PLAYER_STATE = _table(
    "player_state",
    "silver",
    "The recording player's state per observation (see docs/PLAYER_STATE.md): playerUpdate is authoritative, "
    "gameStatePlayerUpdate fills between, own trades must agree; disagreements are recorded, not averaged.",
    ("capture_id", "seq", "source"),
    ("capture_id", STR, "capture run"),
    ("seq", I64, "landing seq of the frame (or of the tick frame for 'carried')"),
    ("player_id", STR, "the recording player's id"),
    ("game_id", STR, "game in progress"),
    ("tick", I32, "the game's last tick frame received before it (rug tick once rugged); null in cooldown/presale"),
    ("phase", STR, "phase of the game when observed"),
    ("cash", F64, "SOL balance (playerUpdate only; carried otherwise)"),
    ("position_qty", F64, "token units held"),
    ("avg_cost", F64, "average entry price"),
    ("cumulative_pnl", F64, "cumulativePnL / pnl"),
    ("total_invested", F64, "SOL invested in the game"),
    ("pnl_percent", F64, "percent"),
    ("sidebet_active", BOOL, "a sidebet is open"),
    ("sidebet_start_tick", I32, "its start tick"),
    ("sidebet_end_tick", I32, "its end tick"),
    ("sidebet_amount", F64, "its bet"),
    ("short_amount", F64, "open short amount (SOL)"),
    ("short_entry_price", F64, "short entry price"),
    ("source", STR, "playerUpdate | gameStatePlayerUpdate | carried"),
    ("recv_wall_ns", I64, "receipt time"),
    ("disagreement", STR, "what disagreed with the authoritative state (null when consistent)"),
)

ACTIONS = _table(
    "actions",
    "silver",
    "Every client→server trade frame (buyOrder, sellOrder, requestSidebet, short orders) with the game context at "
    "send time, the player state just before, the click that caused it, the ack and the matched execution.",
    ("action_id",),
    ("action_id", STR, "'<capture_id>:<seq>:<packet_index>'"),
    ("capture_id", STR, "capture run"),
    ("seq", I64, "landing seq of the emit"),
    ("event", STR, "client event name"),
    ("send_wall_ns", I64, "send time (capture receipt of the outgoing frame)"),
    ("kind", STR, "buy | sell | sidebet | short_open | short_close"),
    ("amount", F64, "SOL amount of a buy/sidebet/short"),
    ("percentage", F64, "sell percentage"),
    ("ack_id", I64, "Socket.IO ack id of the emit"),
    ("trace_id", STR, "trace id of the emit"),
    ("game_id", STR, "game at send time (cooldown/presale: the upcoming game)"),
    ("phase", STR, "phase at send time"),
    ("tick", I32, "last tick received before sending (rug tick once rugged); null in cooldown/presale"),
    ("price", F64, "price of that tick (rug price once rugged)"),
    ("cash_before", F64, "player_state just before"),
    ("position_qty_before", F64, "player_state just before"),
    ("ticks_since_last_action", I32, "ticks since the previous action of the capture in the same game"),
    ("ticks_in_position", I32, "ticks since the position was opened (null when flat)"),
    ("click_seq", I64, "seq of the click that caused it (last trade-control click before the emit)"),
    ("click_wall_ns", I64, "its time"),
    ("bet_adjust_clicks", STR, "JSON list of the bet-adjust clicks since the previous action"),
    ("ack_ok", BOOL, "ack success"),
    ("ack_reason", STR, "ack message/reason"),
    ("ack_latency_ms", F64, "ack receipt − send, ms"),
    ("trade_id", STR, "the order's own standard/newTrade (null when refused, unmatched, or a sidebet)"),
    ("exec_tick", I32, "its tickIndex; a sidebet's startTick (docs/PLAYER_STATE.md)"),
    ("exec_price", F64, "its price; a sidebet's price"),
    ("slippage_ticks", I32, "exec_tick − tick"),
)


TABLES: dict[str, Table] = {
    t.name: t
    for t in (FRAMES, EVENTS, QUARANTINE, GAME_HISTORY, GAME_TICKS, COOLDOWNS, GAMES, TRADES, SIDEBETS, PLAYER_STATE, ACTIONS,
              MARKET_EPISODES, MARKET_OBSERVATIONS, EPISODES, PLAYER_GAMES, OBSERVATIONS, LEADERBOARD, CROWD_EPISODES, CROWD_OBSERVATIONS,
              DATASET_EPISODES, DATASET_OBSERVATIONS, DATASET_MARKET_EPISODES, DATASET_MARKET_OBSERVATIONS,
              DATASET_CROWD_EPISODES, DATASET_CROWD_OBSERVATIONS, DATASETS)
}


def schema(name: str) -> pl.Schema:
    return TABLES[name].schema


def empty(name: str) -> pl.DataFrame:
    return pl.DataFrame(schema=schema(name))


def conform(frame: pl.DataFrame, name: str) -> pl.DataFrame:
    """The declared columns, in order, with the declared dtypes; missing ones null; undeclared ones raise (a bug)."""
    target = schema(name)
    if not frame.columns:
        return empty(name)
    extra = [c for c in frame.columns if c not in target]
    if extra:
        raise ValueError(f"table {name!r} does not declare columns {extra}; add them to vectra_pipeline/schema.py")
    columns = [(pl.col(c) if c in frame.columns else pl.lit(None)).cast(dtype, strict=True).alias(c) for c, dtype in target.items()]
    return frame.select(columns)
