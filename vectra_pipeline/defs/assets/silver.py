"""Silver: decoded events under contracts, then ticks, games, trades, sidebets, player state and actions.

Each asset reads its upstream partitions from Parquet, calls a pure stage in ``vectra_pipeline.silver`` and
writes its partition atomically; metadata carries row counts, quarantine counts, previews and price paths.
"""

import dagster as dg
import polars as pl

from capture_agent.protocol.rules import GAME_STATE_UPDATE
from vectra_pipeline import storage, warehouse
from vectra_pipeline.bronze.frames import with_payloads
from vectra_pipeline.datasets.identity import asset_code_version
from vectra_pipeline.defs.metadata import counts, preview, price_paths
from vectra_pipeline.defs.partitions import daily
from vectra_pipeline.defs.resources import VectraPaths
from vectra_pipeline.landing_files import LandingPayloads
from vectra_pipeline.schema import TABLES
from vectra_pipeline.silver.actions import build_actions
from vectra_pipeline.silver.events import build_events_in_slices
from vectra_pipeline.silver.game_history import build_game_history
from vectra_pipeline.silver.games import build_games
from vectra_pipeline.silver.player_state import build_player_state
from vectra_pipeline.silver.sidebets import build_sidebets
from vectra_pipeline.silver.ticks import build_cooldowns, build_game_ticks
from vectra_pipeline.silver.trades import build_trades

OWNERS = ["team:vectra-pipeline"]
KINDS = {"python", "polars", "parquet"}
GROUP = "silver"
BRONZE_SLICE_ROWS = 20_000  # bronze frames decoded at a time: the day's text is never held (200k-frame day: peak 1.4 → 0.87 GB vs 100k)


def _events(paths: VectraPaths, date: str) -> pl.DataFrame:
    """The partition's events for the stages after decoding: the JSON of ordinary gameStateUpdate frames (most of
    the bytes) is dropped — those stages read their typed columns; full frames keep it for gameHistory/prices."""
    plain_state = (pl.col("event") == GAME_STATE_UPDATE) & ~pl.col("has_game_history").fill_null(False) & ~pl.col("has_prices").fill_null(False)
    return (
        storage.scan_table(paths.root, "events", date)
        .with_columns(pl.when(plain_state).then(None).otherwise(pl.col("payload_json")).alias("payload_json"))
        .collect()
    )


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
    read_rows = LandingPayloads(paths.root)  # the frame text, from the landing files bronze indexed
    slices = storage.iter_table_slices(paths.root, "frames", date, BRONZE_SLICE_ROWS)
    result = build_events_in_slices(with_payloads(frames, read_rows, decoded_only=True) for frames in slices)
    frames = storage.scan_table(paths.root, "frames", date).select("record_type", "duplicate_of").collect()
    _write(paths, "events", date, result.events)
    _write(paths, "quarantine", date, result.quarantine)
    quarantine = result.quarantine
    unexplained = quarantine.filter(~pl.col("explained"))
    yield dg.MaterializeResult(
        asset_key="events",
        metadata={
            "dagster/row_count": result.events.height,
            "frames_decoded": frames.filter(pl.col("duplicate_of").is_null() & (pl.col("record_type") == "frame")).height,
            "events_by_name": counts(result.events.filter(pl.col("event").is_not_null()), "event"),
            "gameStateUpdate_shapes": counts(result.events.filter(pl.col("frame_shape").is_not_null()), "frame_shape"),
            "unknown_events": dg.MetadataValue.json(result.unknown_events),
            "unknown_event_rows": sum(result.unknown_events.values()),
            "contract_violations": int((result.events["contract_ok"] == False).sum()),  # noqa: E712
            "preview": preview(result.events.drop("payload_json", "partial_prices")),
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
    full_frames = storage.scan_table(paths.root, "events", date).filter(pl.col("has_game_history") == True).collect()  # noqa: E712
    entries = build_game_history(full_frames)
    _write(paths, "game_history", date, entries)
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": entries.height,
            "with_revealed_seed": int(entries["server_seed"].is_not_null().sum()),
            "preview": preview(entries.drop("server_seed", "global_sidebets")),
        }
    )


def _history(paths: VectraPaths, date: str) -> pl.DataFrame:
    return storage.read_table(paths.root, "game_history", date)


@dg.asset(**_spec_kwargs("game_ticks", ["events", "game_history"]))
def game_ticks(context: dg.AssetExecutionContext, paths: VectraPaths) -> dg.MaterializeResult:
    date = context.partition_key
    ticks = build_game_ticks(_events(paths, date), _history(paths, date))
    _write(paths, "game_ticks", date, ticks)
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": ticks.height,
            "games": ticks["game_id"].n_unique(),
            "price_sources": counts(ticks, "price_source"),
            "price_paths": price_paths(ticks),
            "preview": preview(ticks),
        }
    )


@dg.asset(**_spec_kwargs("cooldowns", ["events"]))
def cooldowns(context: dg.AssetExecutionContext, paths: VectraPaths) -> dg.MaterializeResult:
    date = context.partition_key
    steps = build_cooldowns(_events(paths, date))
    _write(paths, "cooldowns", date, steps)
    return dg.MaterializeResult(metadata={"dagster/row_count": steps.height, "phases": counts(steps, "phase"), "preview": preview(steps)})


@dg.asset(**_spec_kwargs("games", ["events", "game_ticks", "game_history"]))
def games(context: dg.AssetExecutionContext, paths: VectraPaths) -> dg.MaterializeResult:
    date = context.partition_key
    table = build_games(_events(paths, date), storage.read_table(paths.root, "game_ticks", date), _history(paths, date))
    _write(paths, "games", date, table)
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
    table = build_trades(_events(paths, date))
    _write(paths, "trades", date, table)
    return dg.MaterializeResult(
        metadata={"dagster/row_count": table.height, "types": counts(table, "type"), "own": int(table["is_own"].sum()), "preview": preview(table)}
    )


@dg.asset(**_spec_kwargs("sidebets", ["events", "games", "game_history"]))
def sidebets(context: dg.AssetExecutionContext, paths: VectraPaths) -> dg.MaterializeResult:
    date = context.partition_key
    table = build_sidebets(_events(paths, date), storage.read_table(paths.root, "games", date), _history(paths, date))
    _write(paths, "sidebets", date, table)
    return dg.MaterializeResult(metadata={"dagster/row_count": table.height, "status": counts(table, "status"), "preview": preview(table)})


@dg.asset(**_spec_kwargs("player_state", ["events", "trades"]))
def player_state(context: dg.AssetExecutionContext, paths: VectraPaths) -> dg.MaterializeResult:
    date = context.partition_key
    table = build_player_state(_events(paths, date), storage.read_table(paths.root, "trades", date))
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
    clicks = storage.scan_table(paths.root, "frames", date).filter(pl.col("record_type") == "click").collect()
    read = lambda name: storage.read_table(paths.root, name, date)  # noqa: E731
    table = build_actions(clicks, _events(paths, date), read("trades"), read("player_state"))
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
