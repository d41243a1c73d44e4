"""The feature spec: every feature of the observation vectors — order, dtype, unit, formula, source and why it is
there — defined once, per dataset kind. Data only: :mod:`vectra_pipeline.gold.features` and :mod:`.market`
compute them, the schema registry types the gold tables from them, and ``docs/FEATURES.md`` is generated
from it (``python -m vectra_pipeline.docs``).

- ``FEATURES`` — the **player** kind (the recording player's account): market, flow, player, action and quality
  features;
- ``MARKET_FEATURES`` — the **market** kind: the market, flow and market-quality features only (no player);
- ``CROWD_FEATURES`` — the **crowd** kind: the market features and one leaderboard player's state and actions.

A value that is carried (from an earlier frame, an earlier game or an earlier board) or unknown (0) is always
flagged by a quality feature beside it.

``FEATURE_SPEC_VERSION`` names the spec for people and manifests (part of every dataset id); a change to the
computed values is guarded by the ``gold.observations`` stage version (tests/pipeline/test_stage_versions.py).
"""

from __future__ import annotations

from dataclasses import dataclass

FEATURE_SPEC_VERSION = "2.0"

RETURN_HORIZONS = (1, 5, 20)
VOLATILITY_WINDOW = 20


@dataclass(frozen=True)
class Feature:
    name: str
    dtype: str  # "float32" | "float64" in observations; every export casts the vector to float32
    unit: str
    formula: str
    source: str
    group: str  # market | flow | player | action | quality | crowd
    seed: str  # kept | changed | new (relative to the seed's 36-feature observation space)
    why: str  # why kept / changed / new
    version: str = "1.0"


def _f(name, dtype, unit, formula, source, group, seed, why, version="1.0") -> Feature:
    return Feature(name, dtype, unit, formula, source, group, seed, why, version)


F32, F64 = "float32", "float64"

# The statistics rule: a frame statistic at tick t is the value in the last frame of the same capture received at or
# before tick t's frame (an earlier tick, the presale-opening or genesis frame, or an earlier game of the capture).
MARKET_QUALITY: tuple[Feature, ...] = (
    _f("tick_observed", F32, "flag", "1 when the tick's own frame was received (price_source = observed)",
       "game_ticks.price_source", "quality", "new", "backfilled ticks carry statistics forward"),
    _f("stats_known", F32, "flag", "1 once a frame of the capture carried the frame statistics (averageMultiplier, "
       "count*, rugpool, connectedPlayers); they are 0 before", "events", "quality", "new",
       "unknown statistics are 0, never silently", "2.0"),
    _f("stats_carried", F32, "flag", "1 when the frame statistics come from an earlier frame than tick t's own "
       "(a backfilled tick, the 14-key tick-0 frame, or an earlier game)", "events", "quality", "new",
       "carried values are flagged", "2.0"),
    _f("highest_today_known", F32, "flag", "1 once a full frame of the capture showed highestToday", "events",
       "quality", "new", "highest_today is 0 before", "2.0"),
    _f("highest_today_carried", F32, "flag", "1 when highest_today comes from an earlier game's frame", "events",
       "quality", "new", "carried across games within a capture", "2.0"),
    _f("game_trade_count_known", F32, "flag", "1 once a frame of this game showed tradeCount", "events", "quality",
       "new", "game_trade_count is 0 before", "2.0"),
)

FEATURES: tuple[Feature, ...] = (
    # market: the tick frame itself and the price path up to t
    _f("game_tick", F32, "ticks", "tick index of the frame (0 = start)", "game_ticks.tick", "market", "kept",
       "the seed's tick (renamed: `tick` is the row key)"),
    _f("price", F64, "× start", "price of the tick", "game_ticks.price", "market", "kept",
       "float64: rug remainders are ~1e-3 and god-candle paths reach 1e4; returns need the precision"),
    _f("phase_code", F32, "code", "2 active, 3 rugged (rug frame); cooldown 0 / presale 1 never label a tick row",
       "game_ticks.phase", "market", "changed",
       "phase now comes from the one protocol definition (the seed called presale cooldown)"),
    _f("connected_players", F32, "players", "connectedPlayers of the capture's last frame ≤ t (statistics rule)",
       "events.connected_players", "market", "kept", "crowd size"),
    _f("game_trade_count", F32, "trades", "tradeCount of the capture's last frame of this game ≤ t; 0 before one "
       "(game_trade_count_known)", "events.trade_count", "market", "new", "cumulative activity"),
    _f("average_multiplier", F32, "×", "averageMultiplier (statistics rule)", "events.average_multiplier",
       "market", "kept", "server statistic"),
    _f("count_2x", F32, "games", "count2x (statistics rule)", "events.count2x", "market", "kept", "server statistic"),
    _f("count_10x", F32, "games", "count10x (statistics rule)", "events.count10x", "market", "kept", "server statistic"),
    _f("count_50x", F32, "games", "count50x (statistics rule)", "events.count50x", "market", "kept", "server statistic"),
    _f("count_100x", F32, "games", "count100x (statistics rule)", "events.count100x", "market", "kept", "server statistic"),
    _f("highest_today", F32, "×", "highestToday of the capture's last full frame ≤ t, from any earlier game of the "
       "capture too; 0 before one (highest_today_known)", "events.highest_today", "market", "kept", "daily record",
       "2.0"),
    _f("rugpool_amount", F32, "SOL", "rugpool.rugpoolAmount (statistics rule)", "events.rugpool_amount", "market",
       "kept", "rugpool state"),
    _f("rugpool_threshold", F32, "SOL", "rugpool.threshold (statistics rule)", "events.rugpool_threshold",
       "market", "kept", "rugpool state"),
    _f("instarug_count", F32, "count", "rugpool.instarugCount (statistics rule)", "events.instarug_count",
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
    # data quality: every carried or unknown value is flagged
    *MARKET_QUALITY,
    _f("player_state_known", F32, "flag", "1 once a player state with cash (a playerUpdate) is visible in this game, "
       "or carried from the previous consecutive game", "player_state", "quality", "new",
       "player features and rewards are 0 before it"),
    _f("player_state_carried", F32, "flag", "1 while the visible state is the previous consecutive game's final "
       "account of the same capture, settled at its rug (no state of this game visible yet)", "player_state",
       "quality", "new", "the tick-0 account is known from the game before: rewards stay exact", "2.0"),
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

MARKET_FEATURES: tuple[Feature, ...] = tuple(f for f in FEATURES if f.group in ("market", "flow")) + MARKET_QUALITY


# The crowd kind: one leaderboard player's state (PROTOCOL.md §3.1 leaderboard entries) and their broadcast actions.
CROWD_PLAYER: tuple[Feature, ...] = (
    _f("position_qty", F64, "tokens", "positionQty of the player's last board ≤ t", "leaderboard.position_qty", "crowd",
       "new", "the crowd's holdings", "2.0"),
    _f("avg_cost", F32, "×", "avgCost (0 when flat)", "leaderboard.avg_cost", "crowd", "new", "entry price", "2.0"),
    _f("pnl", F64, "SOL", "the game's P&L of the board (realised + marked + sidebet + short)", "leaderboard.pnl",
       "crowd", "new", "the crowd reward is its change", "2.0"),
    _f("total_invested", F32, "SOL", "totalInvested in the game", "leaderboard.total_invested", "crowd", "new",
       "commitment", "2.0"),
    _f("unrealized_pnl", F32, "SOL", "position_qty · (price − avg_cost)", "leaderboard, game_ticks", "crowd", "new",
       "open exposure", "2.0"),
    _f("position_pnl_pct", F32, "percent", "(price / avg_cost − 1) · 100 while holding, else 0",
       "leaderboard, game_ticks", "crowd", "new", "open exposure", "2.0"),
    _f("ticks_in_position", F32, "ticks", "t − first tick of the current run of position_qty > 0; 0 when flat",
       "leaderboard", "crowd", "new", "holding time", "2.0"),
    _f("sidebet_active", F32, "flag", "1 while the board shows an open sideBet", "leaderboard.sidebet_active", "crowd",
       "new", "sidebet window state", "2.0"),
    _f("sidebet_amount", F32, "SOL", "its betAmount, else 0", "leaderboard.sidebet_amount", "crowd", "new",
       "sidebet window state", "2.0"),
    _f("sidebet_ticks_left", F32, "ticks", "max(0, end − t) while open, else 0", "leaderboard.sidebet_end_tick",
       "crowd", "new", "sidebet window state", "2.0"),
    _f("short_amount", F32, "SOL", "shortPosition.amount, else 0", "leaderboard.short_amount", "crowd", "new",
       "short state", "2.0"),
    _f("short_unrealized_pnl", F32, "SOL", "amount · max(0, 2 − price/entry) − amount while short, else 0",
       "leaderboard, game_ticks", "crowd", "new", "short state", "2.0"),
    _f("board_rank", F32, "rank", "position on tick t's board (1 = best P&L), 0 when off it", "leaderboard.rank",
       "crowd", "new", "standing among the players", "2.0"),
    _f("has_acted", F32, "flag", "1 when a trade or sidebet of the player was seen before t in this game",
       "trades, sidebets", "crowd", "new", "makes ticks_since_last_action unambiguous", "2.0"),
    _f("ticks_since_last_action", F32, "ticks", "t − tick of the player's last seen action before t; 0 when none",
       "trades, sidebets", "crowd", "new", "activity", "2.0"),
    _f("last_bet_amount", F32, "SOL", "amount of the last buy/sidebet/short_open seen before t, else 0",
       "trades, sidebets", "crowd", "new", "bet size", "2.0"),
    _f("on_board", F32, "flag", "1 when tick t's board lists the player (the state is that board's)", "leaderboard",
       "crowd", "new", "the board shows ≤10 players: off it, the state is carried", "2.0"),
    _f("state_known", F32, "flag", "1 once a board of this game (presale board included) listed the player; the "
       "state is carried from the last one while off the board, 0 before", "leaderboard", "crowd", "new",
       "carried and unknown states are flagged", "2.0"),
)
CROWD_FEATURES: tuple[Feature, ...] = MARKET_FEATURES + CROWD_PLAYER

KIND_FEATURES: dict[str, tuple[Feature, ...]] = {"player": FEATURES, "crowd": CROWD_FEATURES, "market": MARKET_FEATURES}
FEATURE_NAMES: tuple[str, ...] = tuple(f.name for f in FEATURES)
FLOAT64_FEATURES: tuple[str, ...] = tuple(f.name for f in FEATURES if f.dtype == F64)
MARKET_FEATURE_NAMES: tuple[str, ...] = tuple(f.name for f in MARKET_FEATURES)
PLAYER_FEATURES: tuple[str, ...] = tuple(
    f.name for f in FEATURES if f.group in ("player", "action") or f.name in ("player_state_known", "player_state_carried")
)


def feature_names(kind: str) -> tuple[str, ...]:
    return tuple(f.name for f in KIND_FEATURES[kind])


def float64_features(kind: str) -> tuple[str, ...]:
    return tuple(f.name for f in KIND_FEATURES[kind] if f.dtype == F64)

