"""Gold: ``player_games`` per day — one row per (game, player) with entry, exit and P&L (``gold/player_games.py``).

Its own module (not ``gold.py``) so the episode and observation assets stay as they are; the same thin shape: read
silver, call the pure stage, write the gold partition, report metadata — with the charts of the day's last games
the recording player traded in (``vectra_pipeline.game_view``, as ``vectra game`` draws them).
"""

import dagster as dg
import polars as pl

from vectra_pipeline import storage
from vectra_pipeline.datasets.identity import asset_code_version
from vectra_pipeline.defs.assets.gold import GROUP, OWNERS, _close, _game_runs
from vectra_pipeline.defs.metadata import preview
from vectra_pipeline.defs.partitions import daily
from vectra_pipeline.defs.resources import VectraPaths
from vectra_pipeline.game_view import metadata_markdown, recent_games, view_of
from vectra_pipeline.gold.player_games import build_player_games

RUN_ROWS = 50_000  # trades and side bets rows of the games built at a time (a 1M-frame day has ≈ 140k)


@dg.asset(
    group_name=GROUP,
    partitions_def=daily,
    owners=OWNERS,
    kinds={"python", "polars", "parquet"},
    deps=["trades", "sidebets", "games", "game_ticks"],
    code_version=asset_code_version("player_games"),
    description="One row per (game, player) that traded or bet: entry and exit ticks and prices, SOL in and out, "
    "the P&L of trading, shorts and side bets. `vectra query \"SELECT * FROM player_games WHERE is_own\"`.",
    metadata={"storage": storage.table_pattern("player_games"), "key": "game_id, player_id"},
)
def player_games(context: dg.AssetExecutionContext, paths: VectraPaths) -> dg.MaterializeResult:
    date = context.partition_key
    trades, sidebets = (storage.scan_table(paths.root, name, date) for name in ("trades", "sidebets"))
    games = storage.read_table(paths.root, "games", date)
    # built a run of games at a time (every row is one game's, sorted by game first) and appended: the day's every
    # trade and its aggregates grew the step with the day (200k → 1M frames: 267 → 387 MB)
    weights = pl.concat([trades.select("game_id"), sidebets.select("game_id")]).group_by("game_id").agg(pl.len().alias("rows"))
    appender = storage.PartitionAppender(paths.root, "player_games", date)
    for run in _game_runs(weights, RUN_ROWS):
        in_run = pl.col("game_id").is_in(run.implode(), nulls_equal=True)
        appender.append(build_player_games(trades.filter(in_run).collect(), sidebets.filter(in_run).collect(), games.filter(in_run)))
    _close(paths, appender)
    table = storage.read_table(paths.root, "player_games", date)
    own = table.filter(pl.col("is_own"))
    # the last games the recording player traded in, drawn: look at a day without leaving the UI (`vectra game` too);
    # of the silver tables only those games' rows
    drawn = recent_games(games, trades.filter(pl.col("is_own").fill_null(False)).collect())
    silver = {name: storage.scan_table(paths.root, name, date).filter(pl.col("game_id").is_in(drawn)).collect()
              for name in ("trades", "sidebets", "game_ticks")}  # fmt: skip
    recent = [view_of(game_id, {**silver, "games": games, "player_games": table}) for game_id in drawn]
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": table.height,
            "players": table["player_id"].n_unique(),
            "own_games": own.height,
            "own_pnl_sol": float(own["pnl"].sum()) if own.height else 0.0,
            "pnl_unknown": int(table["pnl"].is_null().sum()),
            "preview": preview(table.sort("pnl", descending=True, nulls_last=True)),
            "recent_games": dg.MetadataValue.md(metadata_markdown([v for v in recent if v is not None])),
        }
    )


assets = [player_games]
