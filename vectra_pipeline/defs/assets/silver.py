"""Silver: decoded events under contracts, then ticks, games, trades, sidebets, player state and actions.

Each asset reads its upstream partitions from Parquet, calls a pure stage in ``vectra_pipeline.silver`` and
writes its partition atomically; metadata carries row counts, quarantine counts, previews and price paths.
"""

from collections import Counter

import dagster as dg
import polars as pl

from capture_agent.protocol.rules import (
    CURRENT_SIDEBET,
    GAME_STATE_PLAYER_UPDATE,
    GAME_STATE_UPDATE,
    ORDER_EVENTS,
    PLAYER_UPDATE,
    SIDEBET_RESULT_EVENTS,
    TRADE_EVENTS,
)
from vectra_pipeline import storage, warehouse
from vectra_pipeline.datasets.identity import asset_code_version
from vectra_pipeline.decode_workers import decode_workers, decoded_slices
from vectra_pipeline.defs.metadata import counts, preview, price_paths
from vectra_pipeline.defs.partitions import daily
from vectra_pipeline.defs.resources import VectraPaths
from vectra_pipeline.parquet_format import with_own_strings
from vectra_pipeline.schema import TABLES
from vectra_pipeline.silver.actions import ORDERS, build_actions
from vectra_pipeline.silver.game_history import build_game_history_in_slices
from vectra_pipeline.silver.games import build_games
from vectra_pipeline.silver.player_state import OWN_UPDATES, build_player_state
from vectra_pipeline.silver.sidebets import build_sidebets
from vectra_pipeline.silver.ticks import COOLDOWN_SHAPES, HISTORY_COLUMNS, build_cooldowns, build_game_ticks
from vectra_pipeline.silver.trades import build_trades

OWNERS = ["team:vectra-pipeline"]
KINDS = {"python", "polars", "parquet"}
GROUP = "silver"


# The events columns each stage reads: only those are read from the partition (a 1M-frame day's events are > 1 GB
# in memory whole). A column left out fails the stage's tests loudly (polars: column not found).
_KEYS = ("capture_id", "seq", "packet_index", "recv_wall_ns", "event", "game_id")
_STATE = ("frame_shape", "phase", "tick_count", "price", "trade_count", "active", "rugged", "contract_ok")
EVENT_COLUMNS = {
    "game_history": (*_KEYS, "game_version", "server_seed_hash", "has_game_history", "has_prices", "contract_ok", "payload_json"),
    "ticks": (*_KEYS, *_STATE, "allow_pre_round_buys", "cooldown_timer", "connected_players",
              "average_multiplier", "count2x", "count10x", "count50x", "count100x", "rugpool_amount", "rugpool_threshold",
              "instarug_count", "highest_today", "partial_prices", "has_prices", "has_game_history", "payload_json"),
    "cooldowns": (*_KEYS, "frame_shape", "phase", "contract_ok", "cooldown_timer", "allow_pre_round_buys", "connected_players"),
    "games": (*_KEYS, *_STATE, "game_version", "server_seed_hash"),
    "trades": (*_KEYS, "contract_ok", "trace_id", "payload_json"),
    "sidebets": (*_KEYS, "contract_ok", "trace_id", "payload_json"),
    "player_state": (*_KEYS, *_STATE, "payload_json"),
    "actions": (*_KEYS, *_STATE, "direction", "socket_type", "ack_id", "trace_id", "error", "payload_json"),
}


# The events rows each stage reads (a superset of its own filters; filtering keeps receipt order): the rest never
# leaves the Parquet reader (on a 200k-frame day the trades' JSON alone is most of what a stage held).
_STATES = pl.col("event") == GAME_STATE_UPDATE
_OWNER = pl.col("event") == PLAYER_UPDATE  # the recording player's id (silver.trades.own_player_ids)
EVENT_ROWS = {
    "game_history": _STATES & pl.col("has_game_history"),
    "ticks": _STATES,
    "cooldowns": _STATES & pl.col("frame_shape").is_in(COOLDOWN_SHAPES),  # the day's ticks' columns held 1.1 GB at 1M
    "games": _STATES,
    "trades": pl.col("event").is_in(TRADE_EVENTS) | _OWNER,
    "sidebets": pl.col("event").is_in([CURRENT_SIDEBET, *SIDEBET_RESULT_EVENTS]) | _OWNER,
    "player_state": pl.col("event").is_in([PLAYER_UPDATE, GAME_STATE_PLAYER_UPDATE, GAME_STATE_UPDATE]),
    "actions": _STATES | pl.col("event").is_in([*ORDER_EVENTS, CURRENT_SIDEBET]) | (pl.col("socket_type") == "ack"),
}
# The gameStateUpdate frames whose JSON a stage reads with ``state_json``: game_history its entries, game_ticks the
# connect snapshot's ``prices`` (a full frame's text is most of its gameHistory, which game_ticks reads from silver).
STATE_JSON = {"game_history": pl.col("has_game_history"), "ticks": pl.col("has_prices")}


def _drops_json(stage: str, state_json: bool) -> pl.Expr:
    """The rows of ``stage`` whose ``payload_json`` it never reads (null when ``event`` is)."""
    state = pl.col("event") == GAME_STATE_UPDATE
    return state & ~STATE_JSON[stage].fill_null(False) if state_json else state


def stage_events(events: pl.LazyFrame, stage: str, state_json: bool = False) -> pl.LazyFrame:
    """Events as ``stage`` reads them: its rows (EVENT_ROWS) and columns (EVENT_COLUMNS) only, and no
    gameStateUpdate JSON — their typed columns carry what the stages read — except, with ``state_json``, that of
    the frames the stage parses (STATE_JSON)."""
    events = events.filter(EVENT_ROWS[stage].fill_null(False)).select(EVENT_COLUMNS[stage])
    if "payload_json" not in EVENT_COLUMNS[stage]:
        return events
    return events.with_columns(pl.when(_drops_json(stage, state_json)).then(None).otherwise(pl.col("payload_json")).alias("payload_json"))


_ROW = "_events_row"  # a row's position in the events partition


def _events(
    paths: VectraPaths, date: str, stage: str, state_json: bool = False, games: pl.Series | None = None, captures: pl.Series | None = None
) -> pl.DataFrame:
    """:func:`stage_events` of the partition (of only the rows of ``games``, a run of :func:`_game_runs`, and of
    ``captures`` when given), read in two parts so memory stays flat in day size: the typed columns of the stage's
    rows, then ``payload_json`` of only the row groups holding a row whose text the stage reads, one group at a time.
    Decoding the whole column held the day's full-frame text (gameHistory repeated: 160 MB on a 200k-frame day, 340 MB
    to read) though stages read the text of a few rows (game_ticks: connect snapshots)."""
    columns = EVENT_COLUMNS[stage]
    scan = storage.scan_table(paths.root, "events", date).with_row_index(_ROW)  # numbered before any filter
    if games is not None:
        scan = scan.filter(pl.col("game_id").is_in(games.implode(), nulls_equal=True))
    if captures is not None:
        scan = scan.filter(pl.col("capture_id").is_in(captures.implode()))
    if "payload_json" not in columns:
        return stage_events(scan, stage).collect()
    typed = (
        scan.filter(EVENT_ROWS[stage].fill_null(False))
        .select(_ROW, *(name for name in columns if name != "payload_json"))
        .collect()
    )
    wanted = typed.filter(~_drops_json(stage, state_json).fill_null(False))[_ROW]
    texts = pl.concat(
        [*_texts(paths, date, wanted), pl.DataFrame(schema={_ROW: pl.UInt32, "payload_json": pl.String})], how="vertical_relaxed"
    )
    return typed.join(texts, on=_ROW, how="left", maintain_order="left").select(columns)


def _texts(paths: VectraPaths, date: str, rows: pl.Series) -> list[pl.DataFrame]:
    """``payload_json`` of those events rows (file positions, ascending), read a row group at a time and rebuilt
    without the rest of the group's text."""
    texts = storage.scan_table(paths.root, "events", date).select("payload_json")
    out, start = [], 0
    for size in storage.parquet_row_group_rows(storage.table_path(paths.root, "events", date)) if rows.len() else ():
        inside = rows.filter((rows >= start) & (rows < start + size))
        if inside.len():  # polars decodes the group's column once for a slice inside it (≈ 120 MB a group, not the day)
            group = texts.slice(start, size).collect().with_row_index(_ROW, start).filter(pl.col(_ROW).is_in(inside.implode()))
            # copied out: a filtered text column's views still hold the whole group's text (the trades step kept
            # every group's, 0.9 GB at 1M, for 36 MB of trade JSON)
            out.append(with_own_strings(group))
        start += size
    return out


def captures_with(paths: VectraPaths, date: str, rows: pl.Expr) -> pl.Series:
    """The captures (sorted) with an events row matching ``rows``, read a row group at a time: a player-kind stage
    reads only those captures' rows. A day no player recorded (every synthetic day, every public socket) then costs a
    scan of a few columns: the 2M-frame day's actions read its events, trades and player state whole to find no
    order (alone 920 MB, 240 MB now)."""
    found = [group["capture_id"].unique() for group in _row_groups(paths, date, rows, ("capture_id",))]
    return pl.concat([pl.Series("capture_id", [], pl.String), *found]).unique().sort()


def _of_captures(paths: VectraPaths, table: str, date: str, captures: pl.Series, rows: pl.Expr | None = None) -> pl.DataFrame:
    """The rows (``rows`` of them, when given) of those captures in a partition, filtered as read."""
    in_captures = pl.col("capture_id").is_in(captures.implode())
    return storage.scan_table(paths.root, table, date).filter(in_captures if rows is None else in_captures & rows).collect()


GAME_RUN_ROWS = 200_000  # events rows a per-game stage holds at a time


def _game_runs(paths: VectraPaths, date: str, stage: str) -> list[pl.Series]:
    """The game ids of the stage's events rows and of game_history, sorted (a null first: the rows without one), cut
    into runs of about GAME_RUN_ROWS events rows. A stage whose every row is one game's, sorted by game id
    (game_ticks, games), built run by run and appended is its output on the whole day, with one run held at a time."""
    rows = (
        stage_events(storage.scan_table(paths.root, "events", date), stage)
        .group_by("game_id")
        .agg(pl.len().cast(pl.Int64).alias("rows"))
        .collect()
    )
    listed = storage.read_table(paths.root, "game_history", date, columns=["game_id"]).with_columns(pl.lit(0, pl.Int64).alias("rows"))
    games = pl.concat([rows, listed]).group_by("game_id").agg(pl.col("rows").sum()).sort("game_id", nulls_last=False)
    games = games.with_columns(((pl.col("rows").cum_sum() - pl.col("rows")) // GAME_RUN_ROWS).alias("run"))
    return [run["game_id"] for run in games.partition_by("run", maintain_order=True)]


def _write(paths: VectraPaths, table: str, date: str, frame: pl.DataFrame) -> None:
    storage.write_table(paths.root, table, date, frame)
    warehouse.refresh(paths.root, [table])


def _spec_kwargs(name: str, deps: list[str]) -> dict:
    return dict(
        group_name=GROUP,
        partitions_def=daily,
        owners=OWNERS,
        kinds=KINDS,
        deps=deps,
        code_version=asset_code_version(name),
        description=TABLES[name].doc,
        metadata={"storage": storage.table_pattern(name), "key": ", ".join(TABLES[name].key)},
    )


@dg.multi_asset(
    specs=[
        dg.AssetSpec("events", **_spec_kwargs("events", ["frames"])),
        dg.AssetSpec("quarantine", **_spec_kwargs("quarantine", ["frames"])),
    ],
    name="decode_events",
    can_subset=False,
)
def events_and_quarantine(context: dg.AssetExecutionContext, paths: VectraPaths):
    date = context.partition_key
    events_file = storage.PartitionAppender(paths.root, "events", date)
    quarantine_file = storage.PartitionAppender(paths.root, "quarantine", date)
    unknown: Counter = Counter()
    for result in decoded_slices(paths.root, date, decode_workers()):  # the frame text read back from landing
        events_file.append(result.events)  # each slice written as it is decoded: the day's events are never held
        quarantine_file.append(result.quarantine)
        unknown.update(result.unknown_events)
    for appender in (events_file, quarantine_file):
        appender.close()
        warehouse.refresh(paths.root, [appender.table])
    frames = storage.scan_table(paths.root, "frames", date).select("record_type", "duplicate_of").collect()
    events = storage.scan_table(paths.root, "events", date)
    quarantine = storage.read_table(paths.root, "quarantine", date)
    unexplained = quarantine.filter(~pl.col("explained"))
    yield dg.MaterializeResult(
        asset_key="events",
        metadata={
            "dagster/row_count": events_file.rows,
            "frames_decoded": frames.filter(pl.col("duplicate_of").is_null() & (pl.col("record_type") == "frame")).height,
            "events_by_name": counts(events.select("event").filter(pl.col("event").is_not_null()).collect(), "event"),
            "gameStateUpdate_shapes": counts(events.select("frame_shape").filter(pl.col("frame_shape").is_not_null()).collect(), "frame_shape"),
            "unknown_events": dg.MetadataValue.json(dict(sorted(unknown.items()))),
            "unknown_event_rows": sum(unknown.values()),
            "contract_violations": int(events.select((pl.col("contract_ok") == False).sum()).collect().item()),  # noqa: E712
            "preview": preview(events.drop("payload_json", "partial_prices").head(5).collect()),
        },
    )
    yield dg.MaterializeResult(
        asset_key="quarantine",
        metadata={
            "dagster/row_count": quarantine.height,
            "unexplained": unexplained.height,
            "explained": quarantine.height - unexplained.height,
            "rules": counts(quarantine, "rule"),
            "preview": preview(quarantine),
        },
    )


@dg.asset(**_spec_kwargs("game_history", ["events"]))
def game_history(context: dg.AssetExecutionContext, paths: VectraPaths) -> dg.MaterializeResult:
    date = context.partition_key
    entries = build_game_history_in_slices(_row_groups(paths, date, EVENT_ROWS["game_history"], EVENT_COLUMNS["game_history"]))
    _write(paths, "game_history", date, entries)
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": entries.height,
            "with_revealed_seed": int(entries["server_seed"].is_not_null().sum()),
            "preview": preview(entries.drop("server_seed", "global_sidebets")),
        }
    )


def _row_groups(paths: VectraPaths, date: str, rows: pl.Expr, columns: tuple[str, ...]):
    """Those rows and columns of the events partition, a row group at a time, read by polars: the rows filtered as
    they are decoded. pyarrow's reader held each group's whole text column in its pool, which kept it (game_history
    at 1M frames: 702 → 472 MB)."""
    for group in storage.scan_table_row_groups(paths.root, "events", date):
        yield group.filter(rows.fill_null(False)).select(columns).collect()


def _history(paths: VectraPaths, date: str) -> pl.DataFrame:
    return storage.read_table(paths.root, "game_history", date)


@dg.asset(**_spec_kwargs("game_ticks", ["events", "game_history"]))
def game_ticks(context: dg.AssetExecutionContext, paths: VectraPaths) -> dg.MaterializeResult:
    date = context.partition_key
    # of the entries only the price paths (their side bets' text was most of the table: 13 of 18 MB at 1M frames)
    history = storage.read_table(paths.root, "game_history", date, columns=list(HISTORY_COLUMNS))
    appender = storage.PartitionAppender(paths.root, "game_ticks", date)
    for games in _game_runs(paths, date, "ticks"):
        run_history = history.filter(pl.col("game_id").is_in(games.implode()))
        appender.append(build_game_ticks(_events(paths, date, "ticks", state_json=True, games=games), run_history))
    appender.close()
    warehouse.refresh(paths.root, ["game_ticks"])
    # aggregated as read (the day's ticks held for the metadata grew with the day: 0.5M rows at 1M frames)
    ticks = storage.scan_table(paths.root, "game_ticks", date)
    rows, games_seen = ticks.select(pl.len(), pl.col("game_id").n_unique()).collect().row(0)
    sources = ticks.group_by("price_source").len().sort("price_source").collect()
    by_length = ticks.group_by("game_id").agg(pl.len().alias("n")).sort(["n", "game_id"], descending=[True, False])
    longest = by_length.head(5).collect()["game_id"]  # price_paths' games: its sparklines from their ticks alone
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": rows,
            "games": games_seen,
            "price_sources": dg.MetadataValue.json({str(k): v for k, v in sources.iter_rows()}),
            "price_paths": price_paths(ticks.filter(pl.col("game_id").is_in(longest.implode())).select("game_id", "tick", "price").collect()),
            "preview": preview(ticks.head(5).collect()),
        }
    )


@dg.asset(**_spec_kwargs("cooldowns", ["events"]))
def cooldowns(context: dg.AssetExecutionContext, paths: VectraPaths) -> dg.MaterializeResult:
    date = context.partition_key
    steps = build_cooldowns(_events(paths, date, "cooldowns"))
    _write(paths, "cooldowns", date, steps)
    return dg.MaterializeResult(metadata={"dagster/row_count": steps.height, "phases": counts(steps, "phase"), "preview": preview(steps)})


@dg.asset(**_spec_kwargs("games", ["events", "game_ticks", "game_history"]))
def games(context: dg.AssetExecutionContext, paths: VectraPaths) -> dg.MaterializeResult:
    date = context.partition_key
    history, ticks = _history(paths, date), storage.scan_table(paths.root, "game_ticks", date)
    appender = storage.PartitionAppender(paths.root, "games", date)
    for games in _game_runs(paths, date, "games"):
        in_run = pl.col("game_id").is_in(games.implode())
        appender.append(build_games(_events(paths, date, "games", games=games), ticks.filter(in_run).collect(), history.filter(in_run)))
    appender.close()
    warehouse.refresh(paths.root, ["games"])
    table = storage.read_table(paths.root, "games", date)
    seeded = table.filter(pl.col("server_seed").is_not_null())
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": table.height,
            "completeness": counts(table, "completeness"),
            "with_revealed_seed": seeded.height,
            "fair_verified": int(seeded["fair_verified"].fill_null(False).sum()),
            "preview": preview(table.drop("server_seed", "server_seed_hash")),
        }
    )


@dg.asset(**_spec_kwargs("trades", ["events"]))
def trades(context: dg.AssetExecutionContext, paths: VectraPaths) -> dg.MaterializeResult:
    date = context.partition_key
    table = build_trades(_events(paths, date, "trades"))
    _write(paths, "trades", date, table)
    return dg.MaterializeResult(
        metadata={"dagster/row_count": table.height, "types": counts(table, "type"), "own": int(table["is_own"].sum()), "preview": preview(table)}
    )


@dg.asset(**_spec_kwargs("sidebets", ["events", "games", "game_history"]))
def sidebets(context: dg.AssetExecutionContext, paths: VectraPaths) -> dg.MaterializeResult:
    date = context.partition_key
    table = build_sidebets(_events(paths, date, "sidebets"), storage.read_table(paths.root, "games", date), _history(paths, date))
    _write(paths, "sidebets", date, table)
    return dg.MaterializeResult(metadata={"dagster/row_count": table.height, "status": counts(table, "status"), "preview": preview(table)})


def player_state_of_day(paths: VectraPaths, date: str) -> pl.DataFrame:
    """``build_player_state`` of the day, read for only the captures with an own playerUpdate (the rest have no row)
    and of their trades only the own ones (the only ones it reads)."""
    captures = captures_with(paths, date, OWN_UPDATES)
    return build_player_state(_events(paths, date, "player_state", captures=captures), _of_captures(paths, "trades", date, captures, pl.col("is_own")))


def actions_of_day(paths: VectraPaths, date: str) -> pl.DataFrame:
    """``build_actions`` of the day, read for only the captures that sent an order (the rest have no action): their
    clicks, events, own trades (the executions) and player state."""
    captures = captures_with(paths, date, ORDERS)
    clicks = _of_captures(paths, "frames", date, captures, pl.col("record_type") == "click")
    trades = _of_captures(paths, "trades", date, captures, pl.col("is_own"))
    return build_actions(clicks, _events(paths, date, "actions", captures=captures), trades, _of_captures(paths, "player_state", date, captures))


@dg.asset(**_spec_kwargs("player_state", ["events", "trades"]))
def player_state(context: dg.AssetExecutionContext, paths: VectraPaths) -> dg.MaterializeResult:
    date = context.partition_key
    table = player_state_of_day(paths, date)
    _write(paths, "player_state", date, table)
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": table.height,
            "sources": counts(table, "source"),
            "disagreements": int(table["disagreement"].is_not_null().sum()),
            "preview": preview(table),
        }
    )


@dg.asset(**_spec_kwargs("actions", ["frames", "events", "trades", "player_state"]))
def actions(context: dg.AssetExecutionContext, paths: VectraPaths) -> dg.MaterializeResult:
    date = context.partition_key
    table = actions_of_day(paths, date)
    _write(paths, "actions", date, table)
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": table.height,
            "kinds": counts(table, "kind"),
            "acked": int(table["ack_ok"].is_not_null().sum()),
            "executed": int(table["exec_tick"].is_not_null().sum()),
            "preview": preview(table),
        }
    )


assets = [events_and_quarantine, game_history, game_ticks, cooldowns, games, trades, sidebets, player_state, actions]
