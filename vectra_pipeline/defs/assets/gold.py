"""Gold per day: the market kind (market_episodes, market_observations), the player kind (episodes, observations)
and the crowd kind (leaderboard, crowd_observations, crowd_episodes); every kind's market features are the market
rows'.

Thin wrappers over ``vectra_pipeline.gold``: read the silver partition, call the pure stage, write the gold partition
atomically (``<data>/gold/<table>/date=YYYY-MM-DD/part.parquet``), report metadata.
"""

import io
from collections.abc import Iterable, Iterator
from functools import partial

import dagster as dg
import polars as pl

from vectra_pipeline import storage, warehouse
from vectra_pipeline.datasets.identity import asset_code_version
from vectra_pipeline.decode_workers import decode_workers
from vectra_pipeline.defs.metadata import counts, preview
from vectra_pipeline.defs.partitions import daily
from vectra_pipeline.defs.resources import VectraPaths
from vectra_pipeline.gold.crowd import (
    BOARD_COLUMNS,
    EPISODE_ROW_COLUMNS,
    SIDEBET_COLUMNS,
    TICK_COLUMNS,
    TRADE_COLUMNS,
    build_crowd_episodes,
    build_crowd_observations,
)
from vectra_pipeline.gold.episodes import build_episodes
from vectra_pipeline.gold.feature_spec import FEATURE_NAMES, FEATURE_SPEC_VERSION, MARKET_FEATURE_NAMES
from vectra_pipeline.gold.features import FLOW_TRADE_COLUMNS
from vectra_pipeline.gold.leaderboard import (
    PieceStore,
    SpilledBoards,
    board_candidates,
    board_frames,
    spill_leaderboard,
)
from vectra_pipeline.gold.lookahead import SILVER_INPUTS
from vectra_pipeline.gold.market import (
    EPISODE_TICK_COLUMNS,
    EVENT_COLUMNS,
    StatsTimeline,
    build_market_episodes,
    build_market_observations,
    coverage_bounds,
    frame_stats,
    stats_timeline,
)
from vectra_pipeline.gold.observations import build_observations
from vectra_pipeline.leaderboard_workers import PAYLOAD_INDEX, board_texts, map_in_workers, scratch_pieces
from vectra_pipeline.parquet_format import with_own_strings
from vectra_pipeline.schema import empty

OWNERS = ["team:vectra-pipeline"]
GROUP = "gold"
BOARD_SLICE_FRAMES = 5_000  # board frames (≈ 7 entries each) whose text and rows are held at a time (gold.leaderboard)
BOARD_RUN_FRAMES = 20_000  # board frames of the games whose rows are sorted and appended at a time (1M day: 25)
# slices from which a day's boards are read by worker processes: spawning them costs more than they save on a smaller
# day (200k-frame day, 20 slices: 8.9 s in one process, 17.7 s with two workers; 1M, 99 slices: 49.8 → 38.1 s)
BOARD_WORKER_SLICES = 40


def read_silver(paths: VectraPaths, date: str, names: Iterable[str] = SILVER_INPUTS,
                games: list[str] | None = None) -> dict[str, pl.DataFrame]:
    """Those silver tables gold reads (of ``events`` only the frame statistics' columns): an asset reads the ones it
    uses (a 1M-frame day's events columns alone are > 200 MB); with ``games``, only their rows, filtered as read."""
    tables = {}
    for name in names:
        table = storage.scan_table(paths.root, name, date)
        if name == "events":
            table = table.select(EVENT_COLUMNS)
        tables[name] = (table if games is None else table.filter(pl.col("game_id").is_in(games))).collect()
    return tables


def _frame_stats(paths: VectraPaths, date: str) -> pl.LazyFrame:
    """``frame_stats`` of a scan of the partition's events, to collect with the streaming engine: the day's events
    columns are never held whole (a 1M-frame day's: 160 MB, and 0.8 GB more for the eager filter, join and sort)."""
    return frame_stats(storage.scan_table(paths.root, "events", date).select(EVENT_COLUMNS))


def _row_group_frame_stats(paths: VectraPaths, date: str) -> Iterator[pl.LazyFrame]:
    """:func:`frame_stats` of each row group of the day's events, in file order (it reads each frame on its own, its
    sort aside), lazy: a slice of the scan, so polars reads that row group's rows only (pyarrow's row groups
    converted to polars kept their Arrow buffers: 130 MB more at 1M frames)."""
    for group in storage.scan_table_row_groups(paths.root, "events", date):
        yield frame_stats(group.select(EVENT_COLUMNS))


def _coverage_bounds(paths: VectraPaths, date: str) -> pl.DataFrame:
    """:func:`coverage_bounds` of the day's events, a row group at a time: each group's first and last counted frame
    of a game, all the trade coverage reads (the day's counted frames grew with it: 35 MB at 1M frames)."""
    bounds = [coverage_bounds(group).collect() for group in _row_group_frame_stats(paths, date)]
    return pl.concat(bounds) if bounds else coverage_bounds(frame_stats(empty("events").select(EVENT_COLUMNS)))


_FRAME_KEY = ("capture_id", "seq", "packet_index")


class RunTimelines:
    """The day's statistics timeline (:func:`stats_timeline`) cut by the runs of games market_observations builds,
    each run's rows kept as compressed Arrow IPC: a run reads back its own games' frames (all a run looks up), and the
    day's timeline is never held whole (0.1 GB at 1M frames, growing with the day)."""

    def __init__(self, runs: list[pl.Series]) -> None:
        self._runs = pl.concat([pl.DataFrame({"game_id": games, "_run": index}, schema_overrides={"_run": pl.Int32})
                                for index, games in enumerate(runs)]) if runs else pl.DataFrame(schema={"game_id": pl.String, "_run": pl.Int32})
        self._kept: list[list[bytes]] = [[] for _ in runs]

    def keep(self, timeline: pl.DataFrame) -> None:
        """Rows of the timeline, in its order (a run's rows stay in it)."""
        placed = timeline.join(self._runs, on="game_id", how="inner", maintain_order="left")
        for (index,), rows in placed.partition_by("_run", as_dict=True, maintain_order=True, include_key=False).items():
            packed = io.BytesIO()
            rows.write_ipc(packed, compression="lz4")
            self._kept[index].append(packed.getvalue())

    def clear(self) -> None:
        self._kept = [[] for _ in self._kept]

    def of_run(self, index: int) -> pl.DataFrame:
        parts = [pl.read_ipc(io.BytesIO(packed), memory_map=False) for packed in self._kept[index]]
        return pl.concat(parts) if parts else stats_timeline(frame_stats(empty("events").select(EVENT_COLUMNS)))


def _timeline(paths: VectraPaths, date: str, kept: RunTimelines) -> None:
    """:func:`stats_timeline` of the day's events into ``kept``, built a row group at a time when the events are in
    capture order (as bronze writes them: memory one group's frames); else of the whole day's frame statistics
    sorted (the 1M-frame day's held 0.4 GB more)."""
    timeline, last = StatsTimeline(), None
    for group in _row_group_frame_stats(paths, date):
        stats = group.collect()
        if stats.height:
            first = stats.select(_FRAME_KEY).row(0)
            if None in first or (last is not None and first <= last):
                kept.clear()
                kept.keep(stats_timeline(_frame_stats(paths, date)).collect(engine="streaming"))
                return
            last = stats.select(_FRAME_KEY).row(-1)
        kept.keep(timeline.add(stats))


def _gold(paths: VectraPaths, table: str, date: str) -> pl.DataFrame:
    return storage.read_parquet(storage.table_path(paths.root, table, date))  # built just before


@dg.asset(
    group_name=GROUP,
    partitions_def=daily,
    owners=OWNERS,
    kinds={"python", "polars", "parquet"},
    deps=["games", "game_ticks", "trades", "events"],
    code_version=asset_code_version("market_episodes"),
    description="The market kind: one episode per game, live or history-only (tick 0 → rug tick, never stitched over "
    "a gap), with the trade feed's coverage (trades seen vs the game's tradeCount rise).",
    metadata={"storage": storage.table_pattern("market_episodes"), "key": "game_id"},
)
def market_episodes(context: dg.AssetExecutionContext, paths: VectraPaths) -> dg.MaterializeResult:
    date = context.partition_key
    bounds = _coverage_bounds(paths, date)
    trades = storage.read_table(paths.root, "trades", date, columns=["game_id", "recv_wall_ns"])
    ticks = storage.scan_table(paths.root, "game_ticks", date).group_by("game_id").agg(pl.len().cast(pl.Int64).alias("rows"))
    weights = storage.scan_table(paths.root, "games", date).select("game_id").join(ticks, on="game_id", how="left")
    appender = storage.PartitionAppender(paths.root, "market_episodes", date)
    for games in _game_runs(weights, MARKET_RUN_ROWS):  # an episode is its game's alone: sorted by game, appended
        # of game_ticks only the columns an episode reads (the day's whole: 19 columns of ≈ 0.5M rows at 1M frames)
        appender.append(build_market_episodes(_run_of(paths, "games", date, games), _run_of(paths, "game_ticks", date, games, EPISODE_TICK_COLUMNS),
                                              *_filtered(games, trades, bounds)))
    _close(paths, appender)
    table = storage.read_table(paths.root, "market_episodes", date)
    covered = table.filter(pl.col("trade_count_rise") > 0)
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": table.height,
            "history_only": int(table["history_only"].sum()),
            "in_training": int(table["in_training"].sum()),
            "excluded": counts(table.filter(~pl.col("in_training")), "exclusion_reason"),
            "trades_seen": int(covered["trades_seen"].sum()),
            "trade_count_rise": int(covered["trade_count_rise"].sum()),
            "preview": preview(table),
        }
    )


@dg.asset(
    group_name=GROUP,
    partitions_def=daily,
    owners=OWNERS,
    kinds={"python", "polars", "parquet"},
    deps=["market_episodes", "game_ticks", "trades", "events"],
    code_version=asset_code_version("market_observations"),
    description="The market kind: one row per (game, tick) of every market episode — market, flow and quality "
    "features with no player; the reward is the log return of holding through the transition.",
    metadata={"storage": storage.table_pattern("market_observations"), "key": "game_id, tick"},
)
def market_observations(context: dg.AssetExecutionContext, paths: VectraPaths) -> dg.MaterializeResult:
    date = context.partition_key
    weights = storage.scan_table(paths.root, "market_episodes", date).select("game_id", pl.col("ticks").cast(pl.Int64).alias("rows"))
    runs = _game_runs(weights, MARKET_RUN_ROWS)
    timelines = RunTimelines(runs)
    _timeline(paths, date, timelines)
    trades = storage.read_table(paths.root, "trades", date, columns=list(FLOW_TRADE_COLUMNS))  # the day's, all 19: 2× at 2M
    appender = storage.PartitionAppender(paths.root, "market_observations", date)
    for index, games in enumerate(runs):
        appender.append(build_market_observations(_run_of(paths, "game_ticks", date, games), *_filtered(games, trades),
                                                  timelines.of_run(index), _run_of(paths, "market_episodes", date, games)))
    _close(paths, appender)
    table = storage.read_table(paths.root, "market_observations", date, columns=["game_id", "stats_carried"])
    return dg.MaterializeResult(metadata={"dagster/row_count": table.height, "episodes": table["game_id"].n_unique(),
                                          "stats_carried_rows": int((table["stats_carried"] > 0).sum())})


def _write(paths: VectraPaths, table: str, date: str, frame: pl.DataFrame) -> None:
    storage.write_table(paths.root, table, date, frame)
    warehouse.refresh(paths.root, [table])


def _close(paths: VectraPaths, appender: storage.PartitionAppender) -> None:
    appender.close()
    warehouse.refresh(paths.root, [appender.table])


MARKET_RUN_ROWS = 100_000  # ticks of the games the market stages build at a time (a 1M-frame day has ≈ 0.5M)
# leaderboard rows of the games a crowd stage builds at a time (a 1M-frame day has ≈ 3.4M): a run's grid is the
# step's peak (crowd_observations alone at 1M: 300k rows 768 MB, 100k 512 MB, 50k 469 MB, the same CPU-s)
CROWD_RUN_ROWS = 100_000


def _game_runs(weights: pl.LazyFrame, run_rows: int) -> list[pl.Series]:
    """(game_id, rows) → the game ids, sorted, cut into runs of about ``run_rows`` rows. The gold stages built by runs
    join every table on the game and sort by it first: built run by run and appended they give the whole day's
    partition, one run held at a time."""
    weights = weights.with_columns(pl.col("rows").fill_null(0)).sort("game_id").collect()
    weights = weights.with_columns(((pl.col("rows").cum_sum() - pl.col("rows")) // run_rows).alias("run"))
    return [run["game_id"] for run in weights.partition_by("run", maintain_order=True)]


def _crowd_runs(paths: VectraPaths, date: str) -> list[pl.Series]:
    """The market episodes' game ids in runs of about CROWD_RUN_ROWS leaderboard rows (the whole day's grid of
    players × ticks took 7 GB on a 1M-frame day)."""
    boards = storage.scan_table(paths.root, "leaderboard", date).group_by("game_id").agg(pl.len().cast(pl.Int64).alias("rows"))
    games = storage.scan_table(paths.root, "market_episodes", date).select("game_id").unique()
    return _game_runs(games.join(boards, on="game_id", how="left"), CROWD_RUN_ROWS)


def _run_of(paths: VectraPaths, table: str, date: str, games: pl.Series, columns: Iterable[str] | None = None) -> pl.DataFrame:
    rows = storage.scan_table(paths.root, table, date).filter(pl.col("game_id").is_in(games.implode()))
    return rows.select(columns).collect() if columns else rows.collect()


def _crowd_actions_of_day(paths: VectraPaths, date: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The day's trades and side bets, only the columns the crowd stages read (a run filters them)."""
    return (storage.read_table(paths.root, "trades", date, columns=list(TRADE_COLUMNS)),
            storage.read_table(paths.root, "sidebets", date, columns=list(SIDEBET_COLUMNS)))


def _filtered(games: pl.Series, *tables: pl.DataFrame) -> list[pl.DataFrame]:
    return [table.filter(pl.col("game_id").is_in(games.implode())) for table in tables]


@dg.asset(
    group_name=GROUP,
    partitions_def=daily,
    owners=OWNERS,
    kinds={"python", "polars", "parquet"},
    deps=["market_episodes", "trades", "sidebets", "player_state", "actions"],
    code_version=asset_code_version("episodes"),
    description="The player kind: one episode per game (its market episode) with the recording player's "
    "involvement and previous consecutive game, and whether the default policy trains on it (exclusion_reason "
    "otherwise: a game no account recorded is excluded).",
    metadata={"storage": storage.table_pattern("episodes"), "key": "game_id"},
)
def episodes(context: dg.AssetExecutionContext, paths: VectraPaths) -> dg.MaterializeResult:
    date = context.partition_key
    silver = read_silver(paths, date, ("player_state", "actions"))  # the recording player's only: none on a public day
    # of the trades and side bets only the recording player's (build_episodes counts no other): the day's every trade
    # grew the step with the day for a count of own ones
    own = {name: storage.scan_table(paths.root, name, date).filter(pl.col("is_own").fill_null(False)).collect() for name in ("trades", "sidebets")}
    table = build_episodes(_gold(paths, "market_episodes", date), own["trades"], own["sidebets"],
                           silver["player_state"], silver["actions"])
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
    deps=["episodes", "market_observations", "game_ticks", "trades", "player_state", "actions"],
    code_version=asset_code_version("observations"),
    description="The player kind: one row per (game, tick) of every episode with a recording player — the feature "
    f"vector of docs/FEATURES.md (spec {FEATURE_SPEC_VERSION}), the action sent at the tick, the reward (change in "
    "mark-to-market equity, the account carried from the previous consecutive game) and terminated/truncated/is_final.",
    metadata={"storage": storage.table_pattern("observations"), "key": "game_id, tick", "features": len(FEATURE_NAMES)},
)
def observations(context: dg.AssetExecutionContext, paths: VectraPaths) -> dg.MaterializeResult:
    date = context.partition_key
    episodes = _gold(paths, "episodes", date)
    # of the day's ticks, market rows, trades and actions only the recording player's games' (build_observations keeps
    # no other; the rug ticks for the carry): a day without a recording player read them whole for no row
    mine = pl.col("game_id").is_in(episodes.filter(pl.col("player_id").is_not_null())["game_id"].implode())
    market = storage.scan_table(paths.root, "market_observations", date)
    market_rows = market.select("game_id", "tick", *(c for c in market.collect_schema() if c in MARKET_FEATURE_NAMES))
    trades, actions = (storage.scan_table(paths.root, name, date).filter(mine).collect() for name in ("trades", "actions"))
    ticks = storage.scan_table(paths.root, "game_ticks", date).filter(mine | pl.col("is_rug_tick")).collect()  # rugs: the carry's
    table = build_observations(ticks, market_rows.filter(mine).collect(), trades,
                               storage.read_table(paths.root, "player_state", date), actions, episodes)
    _write(paths, "observations", date, table)
    transitions = table.filter(~pl.col("is_final"))
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": table.height,
            "episodes": table["game_id"].n_unique(),
            "transitions": transitions.height,
            "actions": counts(transitions, "action"),
            "reward_sum_sol": float(transitions["reward"].sum() or 0.0),
            "carried_rows": int((table["player_state_carried"] > 0).sum()),
            "feature_spec": FEATURE_SPEC_VERSION,
            "preview": preview(table.select("game_id", "tick", "price", "cash", "position_qty", "equity", "action", "reward", "terminated", "truncated")),
        }
    )


@dg.asset(
    group_name=GROUP,
    partitions_def=daily,
    owners=OWNERS,
    kinds={"python", "polars", "parquet"},
    deps=["frames", "events"],
    code_version=asset_code_version("leaderboard"),
    description="Every player the boards show (≤10 per frame): one row per (game, tick, player) from the first frame "
    "that showed each tick, tick −1 the presale board; read from the frames' text. A malformed entry is left out "
    "and counted, an unreadable frame counted, the rest read.",
    metadata={"storage": storage.table_pattern("leaderboard"), "key": "game_id, tick, player_id"},
)
def leaderboard(context: dg.AssetExecutionContext, paths: VectraPaths) -> dg.MaterializeResult:
    date = context.partition_key
    with scratch_pieces(paths.root, date) as store:  # the day's compressed rows wait on disk, not in memory
        spilled = _spilled_boards(paths, date, store)  # what read them is gone before the writing
        appender = storage.PartitionAppender(paths.root, "leaderboard", date)
        for table in spilled.tables():  # a run of games at a time: the partition sorts by game first
            appender.append(table)
    _close(paths, appender)
    players = (
        storage.scan_table(paths.root, "leaderboard", date).select(pl.col("player_id").n_unique()).collect().item()
    )
    return dg.MaterializeResult(metadata={"dagster/row_count": appender.rows, "players": players, **spilled.counts})


def _spilled_boards(paths: VectraPaths, date: str, store: PieceStore | None = None) -> SpilledBoards:
    # only the board frames' text is read, back from the landing rows bronze indexed (checked against their hashes),
    # by worker processes on a large day
    texts_of = partial(board_texts, str(paths.root))
    frames = _indexed_board_frames(paths, date)
    workers = decode_workers() if frames.height >= BOARD_WORKER_SLICES * BOARD_SLICE_FRAMES else 1
    return spill_leaderboard(frames, texts_of, BOARD_SLICE_FRAMES, BOARD_RUN_FRAMES, map_in_workers(workers), store)


def _indexed_board_frames(paths: VectraPaths, date: str) -> pl.DataFrame:
    """:func:`_board_frames` with the landing rows bronze indexed for them (one per key), the day's index read a row
    group at a time (collected whole, 1M frames' index columns held 100 MB more; streamed whole, 100 MB more still,
    growing with the day)."""
    frames = _board_frames(paths, date)
    keys = ["capture_id", "seq"]
    wanted = frames.select(keys).unique().lazy()
    groups = storage.scan_table_row_groups(paths.root, "frames", date)
    few_names = pl.col("landing_file").cast(pl.Categorical)  # a day has few landing files: 1M frames' names, 33 MB
    index = [
        group.select(*keys, *PAYLOAD_INDEX).join(wanted, on=keys, how="semi").with_columns(few_names).collect()
        for group in groups
    ]
    no_index = storage.scan_table(paths.root, "frames", date).select(*keys, *PAYLOAD_INDEX).clear().collect()
    no_index = no_index.with_columns(few_names)
    return frames.join(pl.concat(index) if index else no_index, on=keys, how="left", maintain_order="left")


def _board_frames(paths: VectraPaths, date: str) -> pl.DataFrame:
    """:func:`board_frames` of the day's events read a row group at a time (frame_stats reads each frame on its own,
    its sort aside): the whole day's frame statistics at once took 0.85 GB on a 1M-frame day; each group read by
    polars, not pyarrow (whose pool kept 43 MB more at 1M, growing with the day)."""
    groups = (scan.select(EVENT_COLUMNS).collect() for scan in storage.scan_table_row_groups(paths.root, "events", date))
    candidates = [with_own_strings(board_candidates(frame_stats(group))) for group in groups]
    return board_frames(
        pl.concat(candidates) if candidates else board_candidates(frame_stats(empty("events").select(EVENT_COLUMNS)))
    )


@dg.asset(
    group_name=GROUP,
    partitions_def=daily,
    owners=OWNERS,
    kinds={"python", "polars", "parquet"},
    deps=["leaderboard", "market_observations", "market_episodes", "game_ticks", "trades", "sidebets"],
    code_version=asset_code_version("crowd_observations"),
    description="The crowd kind: one row per (game, player, tick) of every player the frames show — market features, "
    "their board state, their broadcast trades and side bets as actions with amounts, the change of their P&L as "
    "reward; a position change no trade seen explains is flagged (unexplained_qty).",
    metadata={"storage": storage.table_pattern("crowd_observations"), "key": "game_id, player_id, tick"},
)
def crowd_observations(context: dg.AssetExecutionContext, paths: VectraPaths) -> dg.MaterializeResult:
    date = context.partition_key
    trades, sidebets = _crowd_actions_of_day(paths, date)
    appender = storage.PartitionAppender(paths.root, "crowd_observations", date)
    for games in _crowd_runs(paths, date):
        appender.append(build_crowd_observations(
            _run_of(paths, "game_ticks", date, games, TICK_COLUMNS),
            _run_of(paths, "market_observations", date, games, ("game_id", "tick", *MARKET_FEATURE_NAMES)),
            _run_of(paths, "market_episodes", date, games), _run_of(paths, "leaderboard", date, games, BOARD_COLUMNS),
            *_filtered(games, trades, sidebets),
        ))
    _close(paths, appender)
    # counted by streaming scans: the day's keys held whole (3.4M rows at 1M frames) were this step's peak
    rows = storage.scan_table(paths.root, "crowd_observations", date)
    height, unexplained = rows.select(pl.len(), pl.col("unexplained_qty").is_not_null().sum()).collect(engine="streaming").row(0)
    trajectories = rows.group_by("game_id", "player_id").len().select(pl.len()).collect(engine="streaming").item()
    transitions = rows.filter(~pl.col("is_final")).select("action").collect(engine="streaming")
    return dg.MaterializeResult(metadata={
        "dagster/row_count": height, "trajectories": trajectories, "actions": counts(transitions, "action"), "unexplained_changes": unexplained,
    })


@dg.asset(
    group_name=GROUP,
    partitions_def=daily,
    owners=OWNERS,
    kinds={"python", "polars", "parquet"},
    deps=["crowd_observations", "market_episodes", "leaderboard", "trades", "sidebets"],
    code_version=asset_code_version("crowd_episodes"),
    description="The crowd kind: one trajectory per (game, player) the frames show, with its actions, board ticks, "
    "unexplained position changes, P&L start and end, the game's trade-feed coverage and the default policy.",
    metadata={"storage": storage.table_pattern("crowd_episodes"), "key": "game_id, player_id"},
)
def crowd_episodes(context: dg.AssetExecutionContext, paths: VectraPaths) -> dg.MaterializeResult:
    date = context.partition_key
    trades, sidebets = _crowd_actions_of_day(paths, date)
    appender = storage.PartitionAppender(paths.root, "crowd_episodes", date)
    for games in _crowd_runs(paths, date):
        appender.append(build_crowd_episodes(_run_of(paths, "crowd_observations", date, games, EPISODE_ROW_COLUMNS),
                                             _run_of(paths, "market_episodes", date, games), _run_of(paths, "leaderboard", date, games, BOARD_COLUMNS),
                                             *_filtered(games, trades, sidebets)))
    _close(paths, appender)
    table = storage.read_table(paths.root, "crowd_episodes", date)
    return dg.MaterializeResult(metadata={
        "dagster/row_count": table.height, "in_training": int(table["in_training"].sum()),
        "excluded": counts(table.filter(~pl.col("in_training")), "exclusion_reason"),
        "unexplained_changes": int(table["unexplained_changes"].sum()),
    })


assets = [market_episodes, market_observations, episodes, observations, leaderboard, crowd_observations, crowd_episodes]
