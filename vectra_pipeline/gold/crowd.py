"""The crowd kind: one trajectory per (game, player) for every player the frames show — their leaderboard state every
tick, their broadcast trades and side bets as actions with amounts, state and actions reconciled.

**Players.** Everyone on a board of the game (:mod:`.leaderboard`, the presale board included), in a
``standard/newTrade`` of it, or with a side bet placed in it (``gameHistory`` ``globalSidebets``, a board's
``sideBet``). A trajectory runs from the player's first evidence in the game (first board, first action; the presale
board counts as the game's first tick) to the end of the game's market episode, over the same ticks.

**State.** The board of tick t lists ≤10 players (ranked by P&L). On it (``on_board``), the state is that entry's;
off it, the last board's state is carried (``state_known`` stays 1, ``on_board`` 0); before the first board it is
unknown (zeros, ``state_known`` 0). Features are those of ``CROWD_FEATURES``: the market rows of the tick and the
player's state valued at the tick's price.

**Actions.** A trade labels the tick it executed at (``tickIndex``: the tick whose price it got), a side bet its
start tick; several at one tick: the first received labels it, ``actions_in_tick`` counts them. Kinds and amounts
follow the action space: a buy, short or side bet carries its SOL; a sell's bucket comes from the fraction of the
position it sold (``qty`` / the position before it, reconciled below); when that position is unknown the sell is
"sell 100 %" and ``sell_sized`` is false. Presale buys are never broadcast: they label no tick and show as
``presale_qty`` (the presale board's position). Action-history features count an action once it was received
(frame clock) and only after its own tick.

**Reconciliation.** Walking the player's boards and trades in receipt order, each board's position must equal the
previous board's plus the trades received in between (buys add their qty, sells remove it). A difference is
**flagged** on that tick (``unexplained_qty``) and counted per episode (``unexplained_changes``) — never filled with
an invented trade; the next board is compared from the observed position. The feed shows only part of the trades
(coverage per game: :mod:`.market`), so unexplained changes measure what it missed.

**Reward.** The change of the player's game P&L (the board's ``pnl``, SOL): pnl(t+1) − pnl(t) once the state is
known, carried values included, so the change made off the board is paid on the transition where the player is
seen again; an episode's rewards sum to its last known P&L minus its first (``start_pnl``, ``end_pnl``). Cash is
not broadcast, and P&L moves exactly as equity does.
"""

from __future__ import annotations

import polars as pl

from capture_agent.protocol.rules import TRADE_TYPES
from vectra_pipeline.gold.action_space import action_code_expr
from vectra_pipeline.gold.feature_spec import CROWD_PLAYER, F32, MARKET_FEATURE_NAMES
from vectra_pipeline.gold.features import STAKE_KINDS, ticks_in_position
from vectra_pipeline.gold.leaderboard import PRESALE_TICK
from vectra_pipeline.gold.market import episode_labels, episode_ticks
from vectra_pipeline.gold.policy import EpisodePolicy, apply_policy
from vectra_pipeline.gold.rewards import episode_return, short_value
from vectra_pipeline.gold.timeline import frame_clock, with_visible_tick
from vectra_pipeline.schema import conform, schema
from vectra_pipeline.silver.player_state import QTY_TOLERANCE

VERSION = 2  # bump when the output would change (tests/pipeline/test_stage_versions.py)

CROWD_POLICY = EpisodePolicy(require_player=False, require_board=True)
KEY = ("game_id", "player_id")
_STATE = ("position_qty", "avg_cost", "pnl", "total_invested", "sidebet_active", "sidebet_end_tick", "sidebet_amount",
          "short_amount", "short_entry_price", "rank")
_ORDER = ("recv_wall_ns", "seq")
BOARD_COLUMNS = (*KEY, "tick", *_ORDER, *_STATE, "sidebet_start_tick", "username")  # what the crowd stages read of a board
EPISODE_ROW_COLUMNS = (*KEY, "tick", "on_board", "unexplained_qty", "sell_sized", "pnl", "state_known", "reward")  # of a row
TICK_COLUMNS = ("game_id", "tick", "phase", "recv_wall_ns")  # what the crowd stages read of game_ticks
TRADE_COLUMNS = (*KEY, "tick", "type", "amount", "qty", *_ORDER, "username")  # of trades
SIDEBET_COLUMNS = (*KEY, "start_tick", "bet_amount", "recv_wall_ns")  # of sidebets
TRAJECTORY = "_trajectory"  # a number per (game, player) of rows sorted by it: windows over one integer, not two strings


def _numbered(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` (sorted by KEY first) with TRAJECTORY: a key's rows are contiguous, so a window over the number is
    the window over the key (the same values, without hashing two strings per row)."""
    changed = pl.col("game_id").ne_missing(pl.col("game_id").shift(1)) | pl.col("player_id").ne_missing(pl.col("player_id").shift(1))
    return frame.with_columns(changed.cum_sum().alias(TRAJECTORY))


def crowd_actions(trades: pl.DataFrame, sidebets: pl.DataFrame, leaderboard: pl.DataFrame) -> pl.DataFrame:
    """(game_id, player_id, tick, kind, amount, qty, recv_wall_ns, seq) of every trade and side bet seen.

    A side bet is known from ``sidebets`` (any status: a settled bet was placed) or from a board's ``sideBet``; one
    bet per (game, player, start tick), first receipt kept."""
    seen = trades.filter(pl.col("type").is_in(TRADE_TYPES) & pl.col("player_id").is_not_null() & pl.col("game_id").is_not_null())
    trade_rows = seen.select(
        *KEY, "tick", pl.col("type").alias("kind"),
        pl.when(pl.col("type").is_in(STAKE_KINDS)).then(pl.col("amount")).alias("amount"),
        pl.col("qty"), "recv_wall_ns", "seq",
    )
    placed = sidebets.select(*KEY, pl.col("start_tick").alias("tick"), pl.col("bet_amount").alias("amount"), "recv_wall_ns",
                             pl.lit(None, dtype=pl.Int64).alias("seq"))
    on_boards = leaderboard.filter(pl.col("sidebet_start_tick").is_not_null()).select(
        *KEY, pl.col("sidebet_start_tick").alias("tick"), pl.col("sidebet_amount").alias("amount"), "recv_wall_ns", "seq"
    )
    bets = (
        pl.concat([placed, on_boards], how="vertical_relaxed")
        .sort(*_ORDER, nulls_last=True)
        .unique([*KEY, "tick"], keep="first", maintain_order=True)
        .select(*KEY, "tick", pl.lit("sidebet").alias("kind"), "amount", pl.lit(None, dtype=pl.Float64).alias("qty"), *_ORDER)
    )
    return pl.concat([trade_rows, bets], how="vertical_relaxed").sort(*KEY, *_ORDER, nulls_last=True)


def reconcile(boards: pl.DataFrame, actions: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(boards with ``unexplained_qty``, actions with ``position_before``) — the module's reconciliation rule."""
    signed = pl.when(pl.col("kind") == "buy").then(pl.col("qty")).when(pl.col("kind") == "sell").then(-pl.col("qty")).otherwise(0.0)
    boards, actions = boards.with_row_index("_row"), actions.with_row_index("_row")  # results go back to their rows by it
    events = pl.concat([
        boards.filter(pl.col("position_qty").is_not_null()).select(
            *KEY, "tick", *_ORDER, "_row", pl.col("position_qty").alias("_observed"), pl.lit(0.0).alias("_delta"), pl.lit(True).alias("_board")),
        actions.select(*KEY, "tick", *_ORDER, "_row", pl.lit(None, dtype=pl.Float64).alias("_observed"),
                       signed.fill_null(0.0).alias("_delta"), pl.lit(False).alias("_board")),
    ], how="vertical_relaxed").sort(*KEY, *_ORDER, "_board", nulls_last=True).pipe(_numbered)
    walked = events.with_columns(pl.col("_delta").cum_sum().over(TRAJECTORY).alias("_cum")).with_columns(
        (pl.col("_observed") - pl.col("_cum")).alias("_anchor")
    ).with_columns(
        pl.col("_anchor").forward_fill().over(TRAJECTORY).alias("_after"),
        pl.col("_anchor").shift(1).forward_fill().over(TRAJECTORY).alias("_before"),
    )
    implied = pl.col("_before") + pl.col("_cum")
    difference = pl.col("_observed") - implied
    tolerance = QTY_TOLERANCE * pl.max_horizontal(pl.lit(1.0), pl.col("_observed").abs(), implied.abs())
    checked = walked.filter(pl.col("_board")).select("_row", pl.when(difference.abs() > tolerance).then(difference).alias("unexplained_qty"))
    positioned = walked.filter(~pl.col("_board")).select("_row", (pl.col("_after") + pl.col("_cum") - pl.col("_delta")).alias("position_before"))
    return boards.drop("_row").with_columns(_placed(checked, boards.height)), actions.drop("_row").with_columns(_placed(positioned, actions.height))


def _placed(values: pl.DataFrame, height: int) -> pl.Series:
    """(_row, value) as a column of ``height`` rows, each value at its row, null elsewhere (a join back by row
    number, without gathering the frame's other columns)."""
    _, name = values.columns
    return pl.repeat(None, height, dtype=values[name].dtype, eager=True).alias(name).scatter(values["_row"], values[name])


def _labels(actions: pl.DataFrame) -> pl.DataFrame:
    """(game_id, player_id, tick, action, action_amount, actions_in_tick, sell_sized): the first action of each tick."""
    fraction = pl.when(pl.col("position_before") > 0).then(pl.col("qty") / pl.col("position_before") * 100.0)
    return (
        actions.filter(pl.col("tick").is_not_null())
        .with_columns(action_code_expr(pl.col("kind"), fraction).alias("action"),
                      pl.when(pl.col("kind") == "sell").then(fraction.is_not_null()).alias("sell_sized"))
        .group_by(*KEY, "tick", maintain_order=True)
        .agg(pl.col("action").first(), pl.col("amount").first().alias("action_amount"),
             pl.len().cast(pl.Int16).alias("actions_in_tick"), pl.col("sell_sized").first())
    )


def _history(ticks: pl.DataFrame, actions: pl.DataFrame) -> pl.DataFrame:
    """(game_id, player_id, tick, _last_tick, _last_bet): the last action received and past its own tick, per row key."""
    visible = with_visible_tick(actions.filter(pl.col("tick").is_not_null()), frame_clock(ticks), "tick", "recv_wall_ns")
    known_at = pl.max_horizontal(pl.col("visible_tick"), pl.col("tick") + 1).cast(pl.Int32)
    return (
        visible.with_columns(known_at.alias("_at"))
        .sort("_at", "tick", *_ORDER, nulls_last=True)
        .group_by(*KEY, "_at", maintain_order=True)
        .agg(pl.col("tick").max().alias("_last_tick"),
             pl.col("amount").filter(pl.col("kind").is_in(STAKE_KINDS)).drop_nulls().last().alias("_last_bet"))
        .rename({"_at": "tick"})
    )


def _grid(ticks: pl.DataFrame, boards: pl.DataFrame, actions: pl.DataFrame) -> pl.DataFrame:
    """(game_id, player_id, tick, TRAJECTORY) of every trajectory, sorted: from the player's first evidence to the
    run's end (``ticks`` sorted by game and tick: each start takes its game's ticks in order)."""
    first = ticks.group_by("game_id").agg(pl.col("tick").min().alias("_first"))
    evidence = pl.concat([boards.select(*KEY, "tick"), actions.filter(pl.col("tick").is_not_null()).select(*KEY, "tick")])
    starts = (
        evidence.join(first, on="game_id", how="inner")
        .group_by(*KEY).agg(pl.max_horizontal(pl.col("tick").min(), pl.col("_first").first()).alias("_start"))
    )
    return (
        starts.sort(*KEY).join(ticks.select("game_id", "tick"), on="game_id", how="inner", maintain_order="left_right")
        .filter(pl.col("tick") >= pl.col("_start")).select(*KEY, "tick").pipe(_numbered)
    )


def _board_state(grid: pl.DataFrame, boards: pl.DataFrame) -> pl.DataFrame:
    """The grid with the state of the player's last board at each tick (the presale board lands on the first tick,
    where a board of that tick wins), ``on_board`` and ``state_known``."""
    first = grid.filter(pl.col(TRAJECTORY).is_first_distinct()).select(*KEY, TRAJECTORY, pl.col("tick").alias("_first"))
    last_at = (pl.col(TRAJECTORY) != pl.col(TRAJECTORY).shift(-1)) | (pl.col("_at") != pl.col("_at").shift(-1))
    keyed = (  # TRAJECTORY numbers the keys in their sorted order: sorting and matching by it is by the key
        boards.select(*KEY, "tick", "unexplained_qty", *_STATE).join(first, on=list(KEY), how="inner")
        .with_columns(pl.max_horizontal(pl.col("tick"), pl.col("_first")).alias("_at"), (pl.col("tick") >= 0).alias("_own"))
        .sort(TRAJECTORY, "_at", "_own")
        .filter(last_at.fill_null(True))  # the last board of each (trajectory, tick) once sorted: unique without hashing
        .with_row_index("_board")
    )
    located = (
        grid.join(keyed.select(TRAJECTORY, pl.col("_at").alias("tick"), "_board", "_own", "unexplained_qty"), on=[TRAJECTORY, "tick"],
                  how="left", maintain_order="left")
        .with_columns(pl.col("_own").fill_null(False).alias("_on_board"), pl.col("_board").forward_fill().over(TRAJECTORY))
    )
    state = keyed.select(pl.col(_STATE).gather(located["_board"]))  # _board is keyed's row number (null: no board yet)
    return located.hstack(state).with_columns(pl.col("_board").is_not_null().alias("_known")).drop("_own")


def build_crowd_observations(game_ticks: pl.DataFrame, market: pl.DataFrame, episodes: pl.DataFrame,
                             leaderboard: pl.DataFrame, trades: pl.DataFrame, sidebets: pl.DataFrame) -> pl.DataFrame:
    """The rows of every crowd trajectory (see the module docstring), sorted by (game_id, player_id, tick).

    ``market``/``episodes``: the market observation rows and episodes of the same games."""
    ticks = episode_ticks(game_ticks, episodes)
    games = ticks.select("game_id").unique()
    boards = leaderboard.join(games, on="game_id", how="inner")
    actions = crowd_actions(trades.join(games, on="game_id", how="inner"), sidebets.join(games, on="game_id", how="inner"), boards)
    boards, actions = reconcile(boards, actions)
    state = _board_state(_grid(ticks, boards, actions), boards)
    history = _history(ticks, actions)
    rows = (  # the grid's order, (game, player, tick), kept through the joins
        state.join(market.select("game_id", "tick", *MARKET_FEATURE_NAMES), on=["game_id", "tick"], how="left", maintain_order="left")
        .join(history, on=[*KEY, "tick"], how="left", maintain_order="left")
        .with_columns(pl.col("_last_tick").forward_fill().over(TRAJECTORY), pl.col("_last_bet").forward_fill().over(TRAJECTORY))
    )
    known = pl.col("_known")
    holding = known & (pl.col("position_qty") > 0)
    cost = pl.when(holding).then(pl.col("avg_cost").fill_null(0.0)).otherwise(0.0)
    active = known & pl.col("sidebet_active").fill_null(False)
    short = pl.when(known).then(pl.col("short_amount").fill_null(0.0)).otherwise(0.0)
    rows = rows.with_columns(
        pl.when(known).then(pl.col(c).fill_null(0.0)).otherwise(0.0).alias(c) for c in ("position_qty", "pnl", "total_invested")
    ).with_columns(
        cost.alias("avg_cost"),
        (pl.col("position_qty") * (pl.col("price") - cost)).alias("unrealized_pnl"),
        pl.when(holding & (cost > 0)).then((pl.col("price") / cost - 1.0) * 100.0).otherwise(0.0).alias("position_pnl_pct"),
        ticks_in_position(holding, TRAJECTORY).alias("ticks_in_position"),
        active.cast(pl.Float64).alias("sidebet_active"),
        pl.when(active).then(pl.col("sidebet_amount").fill_null(0.0)).otherwise(0.0).alias("sidebet_amount"),
        pl.when(active).then((pl.col("sidebet_end_tick") - pl.col("tick")).clip(lower_bound=0)).otherwise(0).fill_null(0).cast(pl.Float64).alias("sidebet_ticks_left"),
        short.alias("short_amount"),
        pl.when(pl.col("_on_board")).then(pl.col("rank")).otherwise(0).fill_null(0).cast(pl.Float64).alias("board_rank"),
        pl.col("_last_tick").is_not_null().cast(pl.Float64).alias("has_acted"),
        (pl.col("tick") - pl.col("_last_tick")).fill_null(0).cast(pl.Float64).alias("ticks_since_last_action"),
        pl.col("_last_bet").fill_null(0.0).alias("last_bet_amount"),
        pl.col("_on_board").cast(pl.Float64).alias("on_board"),
        known.cast(pl.Float64).alias("state_known"),
    )
    entry = pl.when(known & (short > 0)).then(pl.col("short_entry_price")).otherwise(1.0).fill_null(1.0)
    rows = rows.with_columns(
        pl.Series("short_unrealized_pnl", short_value(rows["short_amount"].to_numpy(), rows.select(entry).to_series().to_numpy(),
                                                      rows["price"].to_numpy()) - rows["short_amount"].to_numpy()),
    )
    return _labelled(rows, actions, episodes)


def _labelled(rows: pl.DataFrame, actions: pl.DataFrame, episodes: pl.DataFrame) -> pl.DataFrame:
    """The rows with their action labels, reward and end flags, conformed to ``crowd_observations``."""
    keys = rows.select(*KEY, "tick")  # rows are sorted by (game, player, tick): labels made on the keys alone line up
    labels = episode_labels(keys.join(_labels(actions), on=[*KEY, "tick"], how="left"), episodes).sort(*KEY, "tick")
    labelled = rows.hstack(labels.drop(*KEY, "tick"))
    transition = ~pl.col("is_final")
    next_pnl, next_known = pl.col("pnl").shift(-1).over(TRAJECTORY), pl.col("state_known").shift(-1).over(TRAJECTORY)
    return labelled.with_columns(
        pl.when(transition).then(pl.col("action").fill_null(0)).cast(pl.Int8).alias("action"),
        pl.when(transition).then(pl.col("actions_in_tick").fill_null(0)).cast(pl.Int16).alias("actions_in_tick"),
        pl.when(transition).then(pl.when((pl.col("state_known") > 0) & (next_known > 0)).then(next_pnl - pl.col("pnl")).otherwise(0.0))
        .cast(pl.Float64).alias("reward"),
        *(pl.col(f.name).cast(pl.Float32 if f.dtype == F32 else pl.Float64) for f in CROWD_PLAYER),
    ).select(list(schema("crowd_observations"))).pipe(conform, "crowd_observations")


def build_crowd_episodes(rows: pl.DataFrame, market_episodes: pl.DataFrame, leaderboard: pl.DataFrame,
                         trades: pl.DataFrame, sidebets: pl.DataFrame, policy: EpisodePolicy = CROWD_POLICY) -> pl.DataFrame:
    """One row per (game, player) the frames show (see the module docstring), from its observation rows."""
    games = market_episodes.select("game_id")
    actions = crowd_actions(trades.join(games, on="game_id", how="inner"), sidebets.join(games, on="game_id", how="inner"),
                            leaderboard.join(games, on="game_id", how="inner"))
    ends = market_episodes.select("game_id", "last_tick")
    per_player = (
        actions.join(ends, on="game_id", how="left")
        .join(rows.group_by(*KEY).agg(pl.col("tick").min().alias("_from")), on=list(KEY), how="left")
        .group_by(*KEY).agg(
            pl.len().cast(pl.Int32).alias("actions"),
            (pl.col("kind") != "sidebet").sum().cast(pl.Int32).alias("trades"),
            (pl.col("kind") == "sidebet").sum().cast(pl.Int32).alias("sidebets"),
            (pl.col("tick").is_null() | pl.col("_from").is_null() | (pl.col("tick") < pl.col("_from"))
             | (pl.col("tick") >= pl.col("last_tick"))).fill_null(True).sum().cast(pl.Int32).alias("actions_unplaced"),
        )
    )
    names = (
        pl.concat([leaderboard.select(*KEY, "username", "recv_wall_ns"), trades.select(*KEY, "username", "recv_wall_ns")], how="vertical_relaxed")
        .filter(pl.col("username").is_not_null()).sort("recv_wall_ns").group_by(*KEY).agg(pl.col("username").last())
    )
    presale = leaderboard.filter(pl.col("tick") == PRESALE_TICK).select(*KEY, pl.col("position_qty").alias("presale_qty"))
    known = pl.col("state_known") > 0
    summary = rows.group_by(*KEY).agg(
        pl.col("tick").min().alias("first_tick"), pl.col("tick").max().alias("_last"), pl.len().cast(pl.Int32).alias("ticks"),
        (pl.col("on_board") > 0).sum().cast(pl.Int32).alias("board_ticks"),
        pl.col("unexplained_qty").is_not_null().sum().cast(pl.Int32).alias("unexplained_changes"),
        (pl.col("sell_sized") == False).sum().cast(pl.Int32).alias("sells_unsized"),  # noqa: E712 - polars expression
        pl.col("pnl").filter(known).first().alias("start_pnl"),
        pl.col("pnl").filter(known).last().alias("end_pnl"),
        episode_return(pl.col("reward")).alias("episode_return"),
    )
    players = pl.concat([summary.select(KEY), per_player.select(KEY), leaderboard.join(games, on="game_id").select(KEY)]).unique()
    game = market_episodes.select("game_id", "completeness", "history_only", "first_gap_tick", "terminated", "trades_seen",
                                  "trade_count_rise", "trade_coverage", pl.col("last_tick").alias("_game_last"))
    episodes = (
        players.join(game, on="game_id", how="inner")
        .join(summary, on=list(KEY), how="left").join(per_player, on=list(KEY), how="left")
        .join(names, on=list(KEY), how="left").join(presale, on=list(KEY), how="left")
        .with_columns(
            pl.col(c).fill_null(0) for c in ("ticks", "board_ticks", "unexplained_changes", "sells_unsized", "actions",
                                             "trades", "sidebets", "actions_unplaced")
        )
        .with_columns(
            pl.col("_last").alias("last_tick"),
            (pl.col("ticks") - 1).clip(lower_bound=0).cast(pl.Int32).alias("transitions"),
            (pl.col("terminated") & (pl.col("ticks") > 0)).alias("terminated"),
            (~pl.col("terminated") & (pl.col("ticks") > 0)).alias("truncated"),
        )
    )
    return conform(apply_policy(episodes, policy).drop("_last", "_game_last"), "crowd_episodes").sort(*KEY)
