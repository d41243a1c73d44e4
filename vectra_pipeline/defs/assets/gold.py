"""Gold: episodes and observations per day.

Thin wrappers over ``vectra_pipeline.gold``: read the silver partition, call the pure stage, write the gold partition
atomically (``<data>/gold/<table>/date=YYYY-MM-DD/part.parquet``), report metadata.
"""

import dagster as dg
import polars as pl

from vectra_pipeline import storage, warehouse
from vectra_pipeline.datasets.identity import asset_code_version
from vectra_pipeline.defs.metadata import counts, preview
from vectra_pipeline.defs.partitions import daily
from vectra_pipeline.defs.resources import VectraPaths
from vectra_pipeline.gold.episodes import build_episodes
from vectra_pipeline.gold.feature_spec import FEATURE_NAMES, FEATURE_SPEC_VERSION
from vectra_pipeline.gold.lookahead import SILVER_INPUTS
from vectra_pipeline.gold.observations import build_observations

OWNERS = ["team:vectra-pipeline"]
GROUP = "gold"


def read_silver(paths: VectraPaths, date: str) -> dict[str, pl.DataFrame]:
    return {name: storage.read_table(paths.root, name, date) for name in SILVER_INPUTS}


def _write(paths: VectraPaths, table: str, date: str, frame: pl.DataFrame) -> None:
    storage.write_table(paths.root, table, date, frame)
    warehouse.refresh(paths.root, [table])


@dg.asset(
    group_name=GROUP,
    partitions_def=daily,
    owners=OWNERS,
    kinds={"python", "polars", "parquet"},
    deps=["games", "game_ticks", "trades", "sidebets", "player_state", "actions"],
    code_version=asset_code_version("episodes"),
    description="One episode per game (tick 0 → rug tick, never stitched over a gap) with the recording player's "
    "involvement, completeness and whether the default policy trains on it (exclusion_reason otherwise).",
    metadata={"storage": storage.table_pattern("episodes"), "key": "game_id"},
)
def episodes(context: dg.AssetExecutionContext, paths: VectraPaths) -> dg.MaterializeResult:
    date = context.partition_key
    silver = read_silver(paths, date)
    table = build_episodes(*(silver[name] for name in SILVER_INPUTS))
    _write(paths, "episodes", date, table)
    # actions that belong to no game of the partition are kept in silver; here they are counted, not lost silently
    orphan_actions = silver["actions"].join(table.select("game_id"), on="game_id", how="anti").height
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": table.height,
            "actions_without_episode": orphan_actions,
            "actions_unplaced": int(table["actions_unplaced"].sum()),
            "presale_actions": int(table["presale_actions"].sum()),
            "in_training": int(table["in_training"].sum()),
            "excluded": counts(table.filter(~pl.col("in_training")), "exclusion_reason"),
            "completeness": counts(table, "completeness"),
            "with_actions": int((table["actions"] > 0).sum()),
            "preview": preview(table),
        }
    )


@dg.asset(
    group_name=GROUP,
    partitions_def=daily,
    owners=OWNERS,
    kinds={"python", "polars", "parquet"},
    deps=["episodes", "game_ticks", "trades", "player_state", "actions"],
    code_version=asset_code_version("observations"),
    description="One row per (game, tick) of every episode: the feature vector of docs/FEATURES.md (spec "
    f"{FEATURE_SPEC_VERSION}), the action sent at the tick, the reward (change in mark-to-market equity) and "
    "terminated/truncated/is_final flags.",
    metadata={"storage": storage.table_pattern("observations"), "key": "game_id, tick", "features": len(FEATURE_NAMES)},
)
def observations(context: dg.AssetExecutionContext, paths: VectraPaths) -> dg.MaterializeResult:
    date = context.partition_key
    silver = read_silver(paths, date)
    episode_table = storage.read_parquet(storage.table_path(paths.root, "episodes", date))  # built just before
    table = build_observations(silver["game_ticks"], silver["trades"], silver["player_state"], silver["actions"], episode_table)
    _write(paths, "observations", date, table)
    transitions = table.filter(~pl.col("is_final"))
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": table.height,
            "episodes": table["game_id"].n_unique(),
            "transitions": transitions.height,
            "actions": counts(transitions, "action"),
            "reward_sum_sol": float(transitions["reward"].sum() or 0.0),
            "feature_spec": FEATURE_SPEC_VERSION,
            "preview": preview(table.select("game_id", "tick", "price", "cash", "position_qty", "equity", "action", "reward", "terminated", "truncated")),
        }
    )


assets = [episodes, observations]
