"""The feature spec (one definition) and its computation, per (game, tick), with no look-ahead.

Every feature at tick t uses only what the recording player could know when tick t's frame arrived: the tick
frames up to t, and trades / player-state updates / acks placed on the frame clock by
:mod:`vectra_pipeline.gold.timeline` (a trade executed at tick t but received after t's frame is seen at
t+1). ``docs/FEATURES.md`` is generated from :data:`FEATURES` (``python -m vectra_pipeline.gold.features
--write-docs``); a test checks the committed file is current.

Missing values never reach the vector: tick statistics are carried forward within the game (a backfilled tick has
no statistics of its own), anything still unknown is 0, and the quality flags ``tick_observed`` and
``player_state_known`` say when a value is a fill.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import polars as pl

from capture_agent.protocol.rules import PHASE_RANK, PRE_GAME_PHASES, Phase
from vectra_pipeline.gold.rewards import equity, short_value
from vectra_pipeline.gold.timeline import frame_clock, last_event_at, with_visible_tick

FEATURE_SPEC_VERSION = "1.0"
DOCS_PATH = Path(__file__).resolve().parents[2] / "docs" / "FEATURES.md"

RETURN_HORIZONS = (1, 5, 20)
VOLATILITY_WINDOW = 20
STAKE_KINDS = ("buy", "sidebet", "short_open")


@dataclass(frozen=True)
class Feature:
    name: str
    dtype: str  # "float32" | "float64" in observations; every export casts the vector to float32
    unit: str
    formula: str
    source: str
    group: str  # market | flow | player | action | quality
    seed: str  # kept | changed | new (relative to the seed's 36-feature observation space)
    why: str  # why kept / changed / new
    version: str = "1.0"


def _f(name, dtype, unit, formula, source, group, seed, why, version="1.0") -> Feature:
    return Feature(name, dtype, unit, formula, source, group, seed, why, version)


F32, F64 = "float32", "float64"

FEATURES: tuple[Feature, ...] = (
    # market: the tick frame itself and the price path up to t
    _f("game_tick", F32, "ticks", "tick index of the frame (0 = start)", "game_ticks.tick", "market", "kept",
       "the seed's tick (renamed: `tick` is the row key)"),
    _f("price", F64, "× start", "price of the tick", "game_ticks.price", "market", "kept",
       "float64: rug remainders are ~1e-3 and god-candle paths reach 1e4; returns need the precision"),
    _f("phase_code", F32, "code", "2 active, 3 rugged (rug frame); cooldown 0 / presale 1 never label a tick row",
       "game_ticks.phase", "market", "changed",
       "phase now comes from the one protocol definition (the seed called presale cooldown)"),
    _f("connected_players", F32, "players", "connectedPlayers, carried forward over backfilled ticks",
       "game_ticks.connected_players", "market", "kept", "crowd size"),
    _f("game_trade_count", F32, "trades", "tradeCount of the frame (trades in the game so far), carried forward",
       "game_ticks.trade_count", "market", "new", "cumulative activity"),
    _f("average_multiplier", F32, "×", "averageMultiplier, carried forward", "game_ticks.average_multiplier",
       "market", "kept", "server statistic"),
    _f("count_2x", F32, "games", "count2x, carried forward", "game_ticks.count2x", "market", "kept", "server statistic"),
    _f("count_10x", F32, "games", "count10x, carried forward", "game_ticks.count10x", "market", "kept", "server statistic"),
    _f("count_50x", F32, "games", "count50x, carried forward", "game_ticks.count50x", "market", "kept", "server statistic"),
    _f("count_100x", F32, "games", "count100x, carried forward", "game_ticks.count100x", "market", "kept", "server statistic"),
    _f("highest_today", F32, "×", "highestToday of the last full frame ≤ t, 0 before one", "game_ticks.highest_today",
       "market", "kept", "daily record"),
    _f("rugpool_amount", F32, "SOL", "rugpool.rugpoolAmount, carried forward", "game_ticks.rugpool_amount", "market",
       "kept", "rugpool state"),
    _f("rugpool_threshold", F32, "SOL", "rugpool.threshold, carried forward", "game_ticks.rugpool_threshold",
       "market", "kept", "rugpool state"),
    _f("instarug_count", F32, "count", "rugpool.instarugCount, carried forward", "game_ticks.instarug_count",
       "market", "kept", "rugpool state"),
    _f("rugpool_ratio", F32, "ratio", "rugpool_amount / rugpool_threshold (0 when the threshold is 0 or unknown)",
       "game_ticks", "market", "kept", "rugpool fill level"),
    _f("price_velocity", F32, "× / tick", "price_t − price_{t−1}; 0 on the first tick", "game_ticks.price", "market",
       "kept", "per tick, as in the seed"),
    _f("price_acceleration", F32, "× / tick²", "velocity_t − velocity_{t−1}; 0 on the first tick",
       "game_ticks.price", "market", "kept", "per tick, as in the seed"),
    *(
        _f(f"return_{k}", F32, "fraction", f"price_t / price_max(first, t−{k}) − 1 (0 when that price is 0)",
           "game_ticks.price", "market", "new", "momentum")
        for k in RETURN_HORIZONS
    ),
    _f("volatility_20", F32, "log-return std", "population std of the last ≤20 one-tick log returns (the first "
       "tick's return is 0; a return touching a 0 price is 0)", "game_ticks.price", "market", "new", "risk"),
    _f("peak_price", F32, "×", "max price over ticks ≤ t", "game_ticks.price", "market", "new", "running peak"),
    _f("drawdown_from_peak", F32, "fraction", "1 − price / peak_price (0 while the peak is 0)", "game_ticks.price",
       "market", "new", "risk"),
    _f("ticks_since_peak", F32, "ticks", "t − last tick where price = peak_price", "game_ticks.price", "market",
       "new", "momentum"),
    # flow: every player's trades that became visible at this tick
    _f("flow_buy_volume", F32, "SOL", "Σ amount of buy trades visible first at t", "trades", "flow", "new",
       "order flow"),
    _f("flow_sell_volume", F32, "SOL", "Σ amount of sell trades visible first at t", "trades", "flow", "new",
       "order flow"),
    _f("flow_trade_count", F32, "trades", "trades (all types) visible first at t", "trades", "flow", "new",
       "order flow"),
    _f("flow_distinct_traders", F32, "players", "distinct player_id among them", "trades", "flow", "new",
       "order flow breadth"),
    # player: the recording player's state visible at t (player_state, as-of the frame clock)
    _f("cash", F64, "SOL", "cash of the last visible state", "player_state.cash", "player", "kept",
       "float64: money feeds the equity a consumer may recompute"),
    _f("position_qty", F64, "tokens", "position_qty of the last visible state", "player_state.position_qty",
       "player", "kept", "float64 for exact equity"),
    _f("avg_cost", F32, "×", "average entry price (0 when flat)", "player_state.avg_cost", "player", "kept",
       "seed's avg entry"),
    _f("cumulative_pnl", F32, "SOL", "cumulative P&L", "player_state.cumulative_pnl", "player", "kept", "seed feature"),
    _f("total_invested", F32, "SOL", "SOL invested in the game", "player_state.total_invested", "player", "kept",
       "seed feature"),
    _f("unrealized_pnl", F32, "SOL", "position_qty · (price − avg_cost)", "player_state, game_ticks", "player",
       "kept", "seed feature"),
    _f("position_pnl_pct", F32, "percent", "(price / avg_cost − 1) · 100 while holding, else 0",
       "player_state, game_ticks", "player", "kept", "seed feature"),
    _f("balance_at_risk", F32, "fraction", "qty·price / (cash + qty·price); 0 when that is 0",
       "player_state, game_ticks", "player", "kept", "seed feature"),
    _f("ticks_in_position", F32, "ticks", "t − first tick of the current run of position_qty > 0; 0 when flat",
       "player_state", "player", "kept", "seed's time in position, from visible state"),
    _f("sidebet_active", F32, "flag", "1 while the player's sidebet is open", "player_state.sidebet_active",
       "player", "new", "sidebet window state"),
    _f("sidebet_amount", F32, "SOL", "stake of the open sidebet, else 0", "player_state.sidebet_amount", "player",
       "new", "sidebet window state"),
    _f("sidebet_ticks_left", F32, "ticks", "max(0, sidebet_end_tick − t) while open, else 0",
       "player_state.sidebet_end_tick", "player", "new", "sidebet window state"),
    _f("short_amount", F32, "SOL", "open short amount, else 0", "player_state.short_amount", "player", "new",
       "short state"),
    _f("short_unrealized_pnl", F32, "SOL", "amount · max(0, 2 − price/entry) − amount while short, else 0",
       "player_state, game_ticks", "player", "new", "short state"),
    _f("equity", F64, "SOL", "cash + qty·price + sidebet value + short value (the reward's equity, rewards.py)",
       "player_state, game_ticks", "player", "new", "float64: the reward is its difference"),
    # action history: the player's own earlier actions (strictly before t) and their acks/executions once visible
    _f("has_acted", F32, "flag", "1 when the player sent an action earlier in this game", "actions", "action",
       "new", "makes ticks_since_last_action unambiguous"),
    _f("ticks_since_last_action", F32, "ticks", "t − tick of the last action sent before t in this game (presale "
       "actions count as tick −1); 0 when none",
       "actions.tick", "action", "kept", "seed feature, per game"),
    _f("last_bet_amount", F32, "SOL", "amount of the last buy/sidebet/short sent before t in this game, else 0",
       "actions.amount", "action", "changed", "the seed read the UI bet input, which is not on the wire"),
    _f("last_slippage_ticks", F32, "ticks", "exec_tick − send tick of the last executed action, once its trade is "
       "visible", "actions.slippage_ticks", "action", "changed", "replaces the seed's absolute execution tick"),
    _f("last_exec_price_ratio", F32, "fraction", "exec_price / price at send − 1 of that action",
       "actions.exec_price", "action", "changed", "replaces the seed's absolute execution price"),
    _f("last_ack_latency_ms", F32, "ms", "ack latency of the last acked action, once the ack arrived",
       "actions.ack_latency_ms", "action", "changed", "the seed's latency, placed on the frame clock"),
    # data quality
    _f("tick_observed", F32, "flag", "1 when the tick's own frame was received (price_source = observed)",
       "game_ticks.price_source", "quality", "new", "backfilled ticks carry statistics forward"),
    _f("player_state_known", F32, "flag", "1 once a player state with cash (a playerUpdate) is visible in this game",
       "player_state", "quality", "new", "player features and rewards are 0 before it"),
)

DROPPED_SEED_FEATURES: tuple[tuple[str, str], ...] = (
    ("cooldown timer", "observations cover tick 0 → rug, where it is always 0; presale actions are counted per episode "
     "and their effect is in the tick-0 state"),
    ("execution tick / price (absolute)", "changed into last_slippage_ticks / last_exec_price_ratio: the absolute "
     "values duplicate tick/price and leak the future when taken from the action's own row"),
    ("game / player id hashes", "ids are not features: hashes of ids let a model memorise games"),
    ("epoch timestamps as float32", "float32 cannot hold epoch ns (or ms) — 2^24 resolution — and wall time "
     "is no market signal"),
)

FEATURE_NAMES: tuple[str, ...] = tuple(f.name for f in FEATURES)
FLOAT64_FEATURES: tuple[str, ...] = tuple(f.name for f in FEATURES if f.dtype == F64)
PLAYER_FEATURES: tuple[str, ...] = tuple(f.name for f in FEATURES if f.group in ("player", "action") or f.name == "player_state_known")


def spec_fingerprint() -> str:
    """Hash of the whole spec: any edit to a feature changes dataset ids even if the version was not bumped."""
    payload = json.dumps([asdict(f) for f in FEATURES] + [list(d) for d in DROPPED_SEED_FEATURES], sort_keys=True)
    return hashlib.sha256(f"{FEATURE_SPEC_VERSION}\n{payload}".encode()).hexdigest()[:16]


# -- computation ---------------------------------------------------------------------------------------------------

_TICK_STATS = {
    "connected_players": "connected_players",
    "game_trade_count": "trade_count",
    "average_multiplier": "average_multiplier",
    "count_2x": "count2x",
    "count_10x": "count10x",
    "count_50x": "count50x",
    "count_100x": "count100x",
    "highest_today": "highest_today",
    "rugpool_amount": "rugpool_amount",
    "rugpool_threshold": "rugpool_threshold",
    "instarug_count": "instarug_count",
}
_STATE_COLUMNS = ("cash", "position_qty", "avg_cost", "cumulative_pnl", "total_invested", "sidebet_active",
                  "sidebet_end_tick", "sidebet_amount", "short_amount", "short_entry_price")


def market_features(ticks: pl.DataFrame) -> pl.DataFrame:
    """Market features of contiguous, sorted episode ticks (game_id, tick, price, price_source, phase, stats…)."""
    g = "game_id"
    price = pl.col("price")
    prev = price.shift(1).over(g)
    velocity = (price - prev).fill_null(0.0)
    log_return = (
        pl.when((prev > 0) & (price > 0)).then((price / prev).log()).otherwise(0.0).fill_null(0.0)
    )
    frame = ticks.sort(g, "tick").with_columns(
        pl.col("phase").replace_strict(PHASE_RANK, default=None, return_dtype=pl.Float64).fill_null(float(PHASE_RANK[Phase.ACTIVE.value])).alias("phase_code"),
        *(pl.col(src).cast(pl.Float64).forward_fill().over(g).fill_null(0.0).alias(name) for name, src in _TICK_STATS.items()),
        velocity.alias("price_velocity"),
        log_return.alias("_log_return"),
        price.cum_max().over(g).alias("peak_price"),
        (pl.col("price_source") == "observed").cast(pl.Float64).alias("tick_observed"),
    )
    returns = []
    for k in RETURN_HORIZONS:
        base = price.shift(k).over(g).fill_null(price.first().over(g))
        returns.append(pl.when(base > 0).then(price / base - 1.0).otherwise(0.0).alias(f"return_{k}"))
    peak_tick = pl.when(price >= pl.col("peak_price")).then(pl.col("tick")).forward_fill().over(g)
    return frame.with_columns(
        (pl.col("price_velocity") - pl.col("price_velocity").shift(1).over(g)).fill_null(0.0).alias("price_acceleration"),
        *returns,
        pl.col("_log_return").rolling_std(VOLATILITY_WINDOW, min_samples=1, ddof=0).over(g).fill_null(0.0).alias("volatility_20"),
        pl.when(pl.col("peak_price") > 0).then(1.0 - price / pl.col("peak_price")).otherwise(0.0).alias("drawdown_from_peak"),
        (pl.col("tick") - peak_tick).cast(pl.Float64).alias("ticks_since_peak"),
        pl.when(pl.col("rugpool_threshold") > 0)
        .then(pl.col("rugpool_amount") / pl.col("rugpool_threshold"))
        .otherwise(0.0)
        .alias("rugpool_ratio"),
    ).drop("_log_return")


def flow_features(ticks: pl.DataFrame, trades: pl.DataFrame, clock: pl.DataFrame) -> pl.DataFrame:
    """(game_id, tick, flow_*) for the ticks at which trades became visible."""
    visible = with_visible_tick(trades.select("game_id", "tick", "recv_wall_ns", "type", "amount", "player_id"), clock, "tick", "recv_wall_ns")
    amount = pl.col("amount").fill_null(0.0)
    return visible.group_by("game_id", pl.col("visible_tick").alias("tick")).agg(
        amount.filter(pl.col("type") == "buy").sum().alias("flow_buy_volume"),
        amount.filter(pl.col("type") == "sell").sum().alias("flow_sell_volume"),
        pl.len().cast(pl.Float64).alias("flow_trade_count"),
        pl.col("player_id").n_unique().cast(pl.Float64).alias("flow_distinct_traders"),
    )


def player_features(price, tick, rug_tick, known, cash, position_qty, avg_cost, cumulative_pnl, total_invested,
                    sidebet_active, sidebet_end_tick, sidebet_amount, short_amount, short_entry_price) -> dict[str, np.ndarray]:
    """Features derived from one player state and the tick price — used by observations and the replay env alike.

    ``known`` = a state is visible; unknown states give zeros (``equity`` too; the reward rule then pays 0).
    """
    known = np.asarray(known, dtype=bool)

    def z(values):
        values = np.asarray(values, dtype=np.float64)
        return np.where(known & np.isfinite(values), values, 0.0)

    price = np.asarray(price, dtype=np.float64)
    tick = np.asarray(tick, dtype=np.float64)
    cash, qty, cost = z(cash), z(position_qty), z(avg_cost)
    holding = qty > 0
    cost = np.where(holding, cost, 0.0)
    held_value = qty * price
    active = z(sidebet_active) != 0
    end = np.where(active, z(sidebet_end_tick), 0.0)
    short_amt, short_entry = z(short_amount), z(short_entry_price)
    total = cash + held_value
    with np.errstate(divide="ignore", invalid="ignore"):
        pnl_pct = np.where(holding & (cost > 0), (price / np.where(cost > 0, cost, 1.0) - 1.0) * 100.0, 0.0)
        at_risk = np.where(total > 0, held_value / np.where(total > 0, total, 1.0), 0.0)
    return {
        "cash": cash,
        "position_qty": qty,
        "avg_cost": cost,
        "cumulative_pnl": z(cumulative_pnl),
        "total_invested": z(total_invested),
        "unrealized_pnl": qty * (price - cost),
        "position_pnl_pct": pnl_pct,
        "balance_at_risk": at_risk,
        "sidebet_active": active.astype(np.float64),
        "sidebet_amount": np.where(active, z(sidebet_amount), 0.0),
        "sidebet_ticks_left": np.where(active, np.maximum(0.0, end - tick), 0.0),
        "short_amount": short_amt,
        "short_unrealized_pnl": short_value(short_amt, short_entry, price) - np.where(short_amt > 0, short_amt, 0.0),
        "equity": np.where(
            known,
            equity(price, cash, qty, active, z(sidebet_amount), end, short_amt, short_entry, tick, rug_tick),
            0.0,
        ),
        "player_state_known": known.astype(np.float64),
    }


def visible_states(ticks: pl.DataFrame, player_state: pl.DataFrame, clock: pl.DataFrame) -> pl.DataFrame:
    """For each episode tick, the last player state visible at it (null columns when none yet)."""
    # A state observed before the game started (cooldown/presale, e.g. after a presale buy) has no tick in silver;
    # for this game it belongs before tick 0.
    pre_game = pl.col("phase").is_in(PRE_GAME_PHASES).fill_null(False)
    states = with_visible_tick(
        player_state.with_columns(pl.when(pre_game).then(0).otherwise(pl.col("tick")).fill_null(0).cast(pl.Int32).alias("tick"))
        .select("game_id", "tick", "recv_wall_ns", "seq", *_STATE_COLUMNS),
        clock, "tick", "recv_wall_ns",
    )
    ordered = states.sort("game_id", "visible_tick", "recv_wall_ns", "seq", nulls_last=False).with_columns(pl.lit(True).alias("_known"))
    return last_event_at(ticks, ordered, "visible_tick", [*_STATE_COLUMNS, "_known"])


def action_features(ticks: pl.DataFrame, actions: pl.DataFrame, trades: pl.DataFrame, clock: pl.DataFrame) -> pl.DataFrame:
    """(game_id, tick, has_acted, ticks_since_last_action, last_bet_amount, last_slippage_ticks,
    last_exec_price_ratio, last_ack_latency_ms) from the player's earlier actions."""
    placed = actions.filter(pl.col("placed_tick").is_not_null()).sort("send_wall_ns", "seq")
    acked = with_visible_tick(
        placed.filter(pl.col("ack_latency_ms").is_not_null()).with_columns(
            (pl.col("send_wall_ns") + (pl.col("ack_latency_ms") * 1e6).cast(pl.Int64)).alias("_ack_ns")
        ),
        clock, "placed_tick", "_ack_ns", out="_ack_tick",
    ).sort("_ack_tick", "_ack_ns")
    executed = placed.filter(pl.col("exec_tick").is_not_null()).join(
        trades.select("trade_id", pl.col("recv_wall_ns").alias("_trade_ns")), on="trade_id", how="left"
    )
    executed = with_visible_tick(executed, clock, "exec_tick", "_trade_ns", out="_exec_tick").with_columns(
        pl.when(pl.col("price") > 0).then(pl.col("exec_price") / pl.col("price") - 1.0).otherwise(0.0).fill_null(0.0).alias("_exec_ratio"),
        (pl.col("exec_tick") - pl.col("placed_tick")).cast(pl.Float64).alias("_slip"),
    ).sort("_exec_tick", "send_wall_ns")
    # sent and staked count strictly before t (lag 1); acks and executions once visible at t
    by_tick = placed.sort("placed_tick", "send_wall_ns", "seq").with_columns(pl.col("placed_tick").alias("_last_act"))
    staked = by_tick.filter(pl.col("kind").is_in(STAKE_KINDS)).rename({"amount": "_last_bet"})
    out = last_event_at(ticks, by_tick, "placed_tick", ["_last_act"], lag=1)
    out = out.join(last_event_at(ticks, staked, "placed_tick", ["_last_bet"], lag=1), on=["game_id", "tick"])
    out = out.join(last_event_at(ticks, acked, "_ack_tick", ["ack_latency_ms"]).rename({"ack_latency_ms": "_latency"}), on=["game_id", "tick"])
    out = out.join(last_event_at(ticks, executed, "_exec_tick", ["_slip", "_exec_ratio"]), on=["game_id", "tick"])
    return out.select(
        "game_id",
        "tick",
        pl.col("_last_act").is_not_null().cast(pl.Float64).alias("has_acted"),
        (pl.col("tick") - pl.col("_last_act")).cast(pl.Float64).fill_null(0.0).alias("ticks_since_last_action"),
        pl.col("_last_bet").fill_null(0.0).alias("last_bet_amount"),
        pl.col("_slip").fill_null(0.0).alias("last_slippage_ticks"),
        pl.col("_exec_ratio").fill_null(0.0).alias("last_exec_price_ratio"),
        pl.col("_latency").fill_null(0.0).alias("last_ack_latency_ms"),
    )


def compute_features(ticks: pl.DataFrame, trades: pl.DataFrame, player_state: pl.DataFrame,
                     actions: pl.DataFrame) -> pl.DataFrame:
    """The feature vector per (game_id, tick), in spec order with spec dtypes.

    ``ticks``: contiguous episode ticks with ``rug_tick`` (−1 when unknown) — game_ticks columns;
    ``trades``: all trades of those games; ``player_state``: the recording player's rows of those games;
    ``actions``: the player's actions with ``placed_tick`` (the observation tick they were sent at).
    """
    clock = frame_clock(ticks)
    market = market_features(ticks)
    flow = flow_features(ticks, trades, clock)
    states = visible_states(ticks, player_state, clock)
    acts = action_features(ticks, actions, trades, clock)
    frame = (
        market.join(flow, on=["game_id", "tick"], how="left")
        .join(states, on=["game_id", "tick"], how="left")
        .join(acts, on=["game_id", "tick"], how="left")
        .sort("game_id", "tick")
    )
    frame = frame.with_columns(pl.col(c).fill_null(0.0) for c in ("flow_buy_volume", "flow_sell_volume", "flow_trade_count", "flow_distinct_traders"))
    # cash comes from playerUpdate only: a state without it cannot value equity, so it does not count as known
    known = (frame["_known"].fill_null(False) & frame["cash"].is_not_null()).to_numpy()
    derived = player_features(
        frame["price"].to_numpy(), frame["tick"].to_numpy(), frame["rug_tick"].to_numpy(), known,
        *(frame[c].cast(pl.Float64).to_numpy() for c in ("cash", "position_qty", "avg_cost", "cumulative_pnl",
                                                          "total_invested", "sidebet_active", "sidebet_end_tick",
                                                          "sidebet_amount", "short_amount", "short_entry_price")),
    )
    frame = frame.drop(*(c for c in _STATE_COLUMNS if c in frame.columns), "_known").with_columns(
        pl.Series(name, values) for name, values in derived.items()
    )
    holding = pl.col("position_qty") > 0
    run_start = pl.when(holding & ~holding.shift(1).over("game_id").fill_null(False)).then(pl.col("tick"))
    frame = frame.with_columns(
        pl.when(holding)
        .then(pl.col("tick") - run_start.forward_fill().over("game_id"))
        .otherwise(0)
        .cast(pl.Float64)
        .alias("ticks_in_position"),
        pl.col("tick").cast(pl.Float64).alias("game_tick"),
    )
    return frame.select(
        "game_id",
        pl.col("tick").cast(pl.Int32),
        *(pl.col(f.name).cast(pl.Float32 if f.dtype == F32 else pl.Float64) for f in FEATURES),
    )


# -- docs ----------------------------------------------------------------------------------------------------------

def markdown() -> str:
    """docs/FEATURES.md."""
    lines = [
        "# Gold features",
        "",
        "Generated from `vectra_pipeline/gold/features.py` "
        "(`python -m vectra_pipeline.gold.features --write-docs`); do not edit.",
        "",
        f"Feature spec version **{FEATURE_SPEC_VERSION}**, fingerprint `{spec_fingerprint()}` (part of every dataset id).",
        "",
        "## No look-ahead",
        "",
        "A feature at tick t uses only data the player had when tick t's frame arrived. Trades, player-state "
        "updates, acks and executions are placed on the frame clock: an event received at wall time r with game "
        "tick k is visible at max(k, first tick whose frame arrived at or after r); without a usable receipt time "
        "it is visible from k+1. So a trade executed at tick t and broadcast after t's frame counts at t+1. The "
        "player's own actions count from the tick after they were sent (the action at t is the label, not a "
        "feature). The asset check `observations_no_look_ahead` perturbs everything after a cut tick and checks the earlier "
        "rows are unchanged.",
        "",
        "## Types",
        "",
        "Observation rows keep each feature's dtype below: float32 except "
        + ", ".join(f"`{n}`" for n in FLOAT64_FEATURES)
        + " (float64: exact prices and money). Exports (Minari, the replay env, the numpy loader) cast the "
        "vector to float32 in this order. Unknown values are 0 (never NaN/inf), flagged by `tick_observed` and "
        "`player_state_known`.",
        "",
        "## Features (vector order)",
        "",
        "| # | name | dtype | unit | formula | source | group | seed | why | version |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for i, f in enumerate(FEATURES):
        lines.append(f"| {i} | `{f.name}` | {f.dtype} | {f.unit} | {f.formula} | {f.source} | {f.group} | {f.seed} | {f.why} | {f.version} |")
    lines += ["", "## Seed features dropped", "", "| seed feature | why |", "|---|---|"]
    lines += [f"| {name} | {why} |" for name, why in DROPPED_SEED_FEATURES]
    from vectra_pipeline.datasets import publish as datasets
    from vectra_pipeline.envs import replay as env
    from vectra_pipeline.exports import minari as minari_export
    from vectra_pipeline.exports import numpy as loader
    from vectra_pipeline.gold import action_space as actions
    from vectra_pipeline.gold import episodes, observations, rewards

    def body(module) -> str:
        """A module docstring without its first line (the title)."""
        return module.__doc__.strip().split("\n", 1)[1].strip()

    sections = (("Actions", actions), ("Reward", rewards), ("Observation rows", observations), ("Episodes", episodes),
                ("Training datasets", datasets), ("Numpy batches", loader), ("Replay environment", env),
                ("Minari", minari_export))
    for title, module in sections:
        lines += ["", f"## {title}", "", f"(`{module.__name__}`)", "", body(module)]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Render docs/FEATURES.md from the feature spec.")
    parser.add_argument("--write-docs", action="store_true", help=f"write {DOCS_PATH}")
    parser.add_argument("--check-docs", action="store_true", help="exit 1 when the committed file is stale")
    args = parser.parse_args(argv)
    text = markdown()
    if args.write_docs:
        DOCS_PATH.write_text(text, encoding="utf-8")
    elif args.check_docs:
        current = DOCS_PATH.read_text(encoding="utf-8") if DOCS_PATH.exists() else ""
        if current != text:
            print(f"{DOCS_PATH} is stale: run python -m vectra_pipeline.gold.features --write-docs", file=sys.stderr)
            return 1
    else:
        print(text, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
