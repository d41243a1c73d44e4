"""The price, flow and player features, computed from silver with no look-ahead (the spec: :mod:`.feature_spec`).

Every feature at tick t uses only what the observer could know when tick t's frame arrived: the tick frames up to
t, and trades / player-state updates / acks placed on the frame clock by :mod:`vectra_pipeline.gold.timeline` (a
trade executed at tick t but received after t's frame is seen at t+1). The frame statistics and the episode rows
of every kind are :mod:`.market`'s; this module adds the price path and order flow it uses, and the recording
player's account and actions of the player kind.

Missing values never reach the vector: anything unknown is 0, and a quality flag says when a value is a fill or a
carry (``tick_observed``, ``stats_*``, ``player_state_known``, ``player_state_carried``).
"""

from __future__ import annotations

import numpy as np
import polars as pl

from capture_agent.protocol.rules import PHASE_RANK, PRE_GAME_PHASES, Phase
from vectra_pipeline.gold.feature_spec import F32, FEATURES, RETURN_HORIZONS, VOLATILITY_WINDOW
from vectra_pipeline.gold.rewards import equity, short_value
from vectra_pipeline.gold.timeline import frame_clock, last_event_at, with_visible_tick

STAKE_KINDS = ("buy", "sidebet", "short_open")
FLOW_FEATURES = ("flow_buy_volume", "flow_sell_volume", "flow_trade_count", "flow_distinct_traders")
FLOW_TRADE_COLUMNS = ("game_id", "tick", "recv_wall_ns", "type", "amount", "player_id")  # what flow_features reads

_STATE_COLUMNS = ("cash", "position_qty", "avg_cost", "cumulative_pnl", "total_invested", "sidebet_active",
                  "sidebet_end_tick", "sidebet_amount", "short_amount", "short_entry_price")


def price_features(ticks: pl.DataFrame) -> pl.DataFrame:
    """The price-path features of contiguous, sorted episode ticks (game_id, tick, price, price_source, phase)."""
    g = "game_id"
    price = pl.col("price")
    prev = price.shift(1).over(g)
    velocity = (price - prev).fill_null(0.0)
    log_return = (
        pl.when((prev > 0) & (price > 0)).then((price / prev).log()).otherwise(0.0).fill_null(0.0)
    )
    frame = ticks.sort(g, "tick").with_columns(
        pl.col("phase").replace_strict(PHASE_RANK, default=None, return_dtype=pl.Float64).fill_null(float(PHASE_RANK[Phase.ACTIVE.value])).alias("phase_code"),
        pl.col("tick").cast(pl.Float64).alias("game_tick"),
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
    ).select("game_id", "tick", "game_tick", "price", "phase_code", "price_velocity", "price_acceleration",
             *(f"return_{k}" for k in RETURN_HORIZONS), "volatility_20", "peak_price", "drawdown_from_peak",
             "ticks_since_peak", "tick_observed")


def flow_features(trades: pl.DataFrame, clock: pl.DataFrame) -> pl.DataFrame:
    """(game_id, tick, flow_*) for the ticks at which trades became visible."""
    visible = with_visible_tick(trades.select(FLOW_TRADE_COLUMNS), clock, "tick", "recv_wall_ns")
    amount = pl.col("amount").fill_null(0.0)
    return visible.group_by("game_id", pl.col("visible_tick").alias("tick")).agg(
        amount.filter(pl.col("type") == "buy").sum().alias("flow_buy_volume"),
        amount.filter(pl.col("type") == "sell").sum().alias("flow_sell_volume"),
        pl.len().cast(pl.Float64).alias("flow_trade_count"),
        pl.col("player_id").n_unique().cast(pl.Float64).alias("flow_distinct_traders"),
    )


def player_features(price, tick, rug_tick, known, cash, position_qty, avg_cost, cumulative_pnl, total_invested,
                    sidebet_active, sidebet_end_tick, sidebet_amount, short_amount, short_entry_price,
                    carried=False) -> dict[str, np.ndarray]:
    """Features derived from one player state and the tick price — used by observations and the replay env alike.

    ``known`` = a state is visible; unknown states give zeros (``equity`` too; the reward rule then pays 0).
    ``carried`` = that state is the previous game's, carried (:mod:`.carry`).
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
        "player_state_carried": (known & np.asarray(carried, dtype=bool)).astype(np.float64),
    }


def visible_states(ticks: pl.DataFrame, player_state: pl.DataFrame, clock: pl.DataFrame) -> pl.DataFrame:
    """For each episode tick, the last player state visible at it (null columns when none yet), and ``_carried``.

    ``player_state`` may hold carried rows (``carried`` true, :func:`.carry.carried_states`): keyed at tick −1 with
    no receipt time, they are visible from the game's first tick and give way to any state of the game itself.
    """
    # A state observed before the game started (cooldown/presale, e.g. after a presale buy) has no tick in silver;
    # for this game it belongs before tick 0.
    pre_game = pl.col("phase").is_in(PRE_GAME_PHASES).fill_null(False)
    # cash comes from playerUpdate only: a state without it cannot value equity, so it never hides a known account
    player_state = player_state.filter(pl.col("cash").is_not_null())
    if "carried" not in player_state.columns:
        player_state = player_state.with_columns(pl.lit(False).alias("carried"))
    tick = pl.when(pl.col("carried")).then(-1).when(pre_game).then(0).otherwise(pl.col("tick")).fill_null(0).cast(pl.Int32)
    states = with_visible_tick(
        player_state.with_columns(tick.alias("tick")).select("game_id", "tick", "recv_wall_ns", "seq", "carried", *_STATE_COLUMNS),
        clock, "tick", "recv_wall_ns",
    )
    ordered = states.sort("game_id", "visible_tick", "recv_wall_ns", "seq", nulls_last=False).with_columns(pl.lit(True).alias("_known"))
    return last_event_at(ticks, ordered, "visible_tick", [*_STATE_COLUMNS, "_known", "carried"]).rename({"carried": "_carried"})


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


def compute_features(market: pl.DataFrame, ticks: pl.DataFrame, trades: pl.DataFrame, player_state: pl.DataFrame,
                     actions: pl.DataFrame) -> pl.DataFrame:
    """The player kind's feature vector per (game_id, tick), in spec order with spec dtypes.

    ``market``: the market rows of those ticks (:func:`.market.market_rows`); ``ticks``: contiguous episode ticks
    with ``rug_tick`` (−1 when unknown) — game_ticks columns; ``trades``: all trades of those games;
    ``player_state``: the recording player's rows of those games (carried rows included); ``actions``: the player's
    actions with ``placed_tick`` (the observation tick they were sent at).
    """
    clock = frame_clock(ticks)
    states = visible_states(ticks, player_state, clock)
    acts = action_features(ticks, actions, trades, clock)
    frame = (
        market.join(ticks.select("game_id", "tick", "rug_tick"), on=["game_id", "tick"], how="left")
        .join(states, on=["game_id", "tick"], how="left")
        .join(acts, on=["game_id", "tick"], how="left")
        .sort("game_id", "tick")
    )
    # cash comes from playerUpdate only: a state without it cannot value equity, so it does not count as known
    known = (frame["_known"].fill_null(False) & frame["cash"].is_not_null()).to_numpy()
    derived = player_features(
        frame["price"].to_numpy(), frame["tick"].to_numpy(), frame["rug_tick"].to_numpy(), known,
        *(frame[c].cast(pl.Float64).to_numpy() for c in ("cash", "position_qty", "avg_cost", "cumulative_pnl",
                                                          "total_invested", "sidebet_active", "sidebet_end_tick",
                                                          "sidebet_amount", "short_amount", "short_entry_price")),
        carried=frame["_carried"].fill_null(False).to_numpy(),
    )
    frame = frame.drop(*(c for c in _STATE_COLUMNS if c in frame.columns), "_known", "_carried").with_columns(
        pl.Series(name, values) for name, values in derived.items()
    )
    frame = frame.with_columns(ticks_in_position(pl.col("position_qty") > 0).alias("ticks_in_position"))
    return frame.select(
        "game_id",
        pl.col("tick").cast(pl.Int32),
        *(pl.col(f.name).cast(pl.Float32 if f.dtype == F32 else pl.Float64) for f in FEATURES),
    )


def ticks_in_position(holding: pl.Expr, by: str | list[str] = "game_id") -> pl.Expr:
    """t − first tick of the current run of ``holding`` rows (0 when not holding), per ``by``, on sorted rows."""
    run_start = pl.when(holding & ~holding.shift(1).over(by).fill_null(False)).then(pl.col("tick"))
    return pl.when(holding).then(pl.col("tick") - run_start.forward_fill().over(by)).otherwise(0).cast(pl.Float64)
