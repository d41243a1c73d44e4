"""Asset checks on the silver partitions: contracts, provably-fair replay, table keys, player-state agreement."""

import dagster as dg
import polars as pl

from capture_agent.protocol.rules import KNOWN_EVENTS
from vectra_pipeline import storage
from vectra_pipeline.defs.metadata import preview
from vectra_pipeline.defs.resources import VectraPaths
from vectra_pipeline.schema import TABLES
from vectra_pipeline.silver.contracts import DECODE

# A contract violation nothing in the row's provenance explains is a bug, a protocol change or a hostile server. It
# warns (loudly, with the rules and examples) rather than fails: the row is kept in quarantine and stays out of every
# table built from events, so one bad frame never holds back the rest of its day.
UNEXPLAINED_QUARANTINE_LIMIT = 0


@dg.asset_check(
    asset="quarantine",
    description=f"Warns when unexplained contract violations exceed {UNEXPLAINED_QUARANTINE_LIMIT}: a bug, a protocol "
    "change or a hostile server; the rows stay in quarantine and out of the tables built from events (frames that "
    "could not be decoded are counted by undecodable_frames).",
)
def unexplained_quarantine(context: dg.AssetCheckExecutionContext, paths: VectraPaths) -> dg.AssetCheckResult:
    quarantine = storage.read_table(paths.root, "quarantine", context.partition_key)
    violations = quarantine.filter(pl.col("rule") != DECODE)
    unexplained = violations.filter(~pl.col("explained"))
    return dg.AssetCheckResult(
        passed=unexplained.height <= UNEXPLAINED_QUARANTINE_LIMIT,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "unexplained": unexplained.height,
            "explained": violations.height - unexplained.height,
            "rules": dg.MetadataValue.json({r: n for r, n in unexplained.group_by("rule").len().sort("rule").iter_rows()}),
            "examples": preview(unexplained.drop("raw")),
        },
    )


@dg.asset_check(
    asset="quarantine",
    description="Frames that could not be decoded or stored (malformed, nested too deeply, values beyond their column): "
    "kept in quarantine with the reason and the raw frame; warns when any appear.",
)
def undecodable_frames(context: dg.AssetCheckExecutionContext, paths: VectraPaths) -> dg.AssetCheckResult:
    undecodable = storage.read_table(paths.root, "quarantine", context.partition_key).filter(pl.col("rule") == DECODE)
    reasons = undecodable.group_by(pl.col("detail").str.slice(0, 80)).len().sort("len", "detail", descending=[True, False])
    return dg.AssetCheckResult(
        passed=undecodable.height == 0,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "undecodable": undecodable.height,
            "reasons": dg.MetadataValue.json(dict(reasons.head(20).iter_rows())),
            "examples": preview(undecodable.drop("raw")),
        },
    )


@dg.asset_check(asset="games", description="Every game with a revealed seed replays to its recorded price path (fair_verified).")
def seeds_verify(context: dg.AssetCheckExecutionContext, paths: VectraPaths) -> dg.AssetCheckResult:
    games = storage.read_table(paths.root, "games", context.partition_key)
    seeded = games.filter(pl.col("server_seed").is_not_null())
    failed = seeded.filter(~pl.col("fair_verified").fill_null(False) | ~pl.col("seed_hash_ok").fill_null(True))
    return dg.AssetCheckResult(
        passed=failed.height == 0,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "seeded_games": seeded.height,
            "failed": failed.height,
            "mismatches": dg.MetadataValue.json(
                {g: {"first_mismatch_tick": t, "seed_hash_ok": h} for g, t, h in failed.select("game_id", "first_mismatch_tick", "seed_hash_ok").iter_rows()}
            ),
        },
    )


def _unique_key(table: str):
    key = list(TABLES[table].key)

    @dg.asset_check(asset=table, name=f"{table}_key_unique", description=f"One row per ({', '.join(key)}), key never null.")
    def check(context: dg.AssetCheckExecutionContext, paths: VectraPaths) -> dg.AssetCheckResult:
        frame = storage.read_table(paths.root, table, context.partition_key, columns=key)
        duplicates = frame.height - frame.unique().height
        nulls = frame.filter(pl.any_horizontal(pl.col(key).is_null())).height
        return dg.AssetCheckResult(passed=duplicates == 0 and nulls == 0, metadata={"duplicate_keys": duplicates, "null_keys": nulls})

    return check


@dg.asset_check(asset="player_state", description="playerUpdate, gameStatePlayerUpdate and own trades agree (warns: lag is possible).")
def player_state_agrees(context: dg.AssetCheckExecutionContext, paths: VectraPaths) -> dg.AssetCheckResult:
    state = storage.read_table(paths.root, "player_state", context.partition_key)
    disagreements = state.filter(pl.col("disagreement").is_not_null())
    return dg.AssetCheckResult(
        passed=disagreements.height == 0,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"rows": state.height, "disagreements": disagreements.height, "examples": preview(disagreements.select("seq", "source", "tick", "disagreement"))},
    )


@dg.asset_check(asset="events", description="Unknown event names are kept and counted (warns when any appear).")
def unknown_events(context: dg.AssetCheckExecutionContext, paths: VectraPaths) -> dg.AssetCheckResult:
    events = storage.read_table(paths.root, "events", context.partition_key, columns=["event"])
    unknown = events.filter(pl.col("event").is_not_null() & ~pl.col("event").is_in(list(KNOWN_EVENTS)))
    return dg.AssetCheckResult(
        passed=unknown.height == 0,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"unknown_rows": unknown.height, "names": dg.MetadataValue.json({n: c for n, c in unknown.group_by("event").len().sort("event").iter_rows()})},
    )


checks = [
    unexplained_quarantine,
    undecodable_frames,
    seeds_verify,
    player_state_agrees,
    unknown_events,
    *[_unique_key(t) for t in ("game_history", "game_ticks", "games", "trades", "sidebets", "actions", "cooldowns")],
]
