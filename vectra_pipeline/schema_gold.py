"""The gold and dataset tables of the schema registry (:mod:`vectra_pipeline.schema`, which lists every table):
the market and player kinds' episodes and observations, and the files of a dataset version."""

from __future__ import annotations

import polars as pl

from vectra_pipeline.gold.feature_spec import CROWD_FEATURES, F32, FEATURES, MARKET_FEATURES
from vectra_pipeline.table_spec import BOOL, F64, I8, I16, I32, I64, STR
from vectra_pipeline.table_spec import table as _table

# -- gold ----------------------------------------------------------------------------------------------------------

_RUN_COLUMNS = (
    ("completeness", STR, "games.completeness"),
    ("history_only", BOOL, "games.history_only: a gameHistory price path, never seen live"),
    ("fair_verified", BOOL, "games.fair_verified"),
    ("rug_tick", I32, "games.rug_tick"),
    ("peak", F64, "games.peak"),
    ("first_tick", I32, "first recorded tick"),
    ("last_tick", I32, "last tick of the contiguous run from first_tick (the rug tick at most)"),
    ("first_gap_tick", I32, "first missing tick after first_tick; null when the run has no gap"),
    ("ticks", I32, "ticks in the run (observation rows)"),
    ("transitions", I32, "ticks − 1: rows that are transitions"),
    ("terminated", BOOL, "the run reaches the rug tick"),
    ("truncated", BOOL, "the run stops before the rug (recording started late or ended early, or a gap)"),
)
_POLICY_COLUMNS = (
    ("in_training", BOOL, "the kind's default episode policy trains on it"),
    ("exclusion_reason", STR, "why not: no ticks | no recording player | completeness <c> | gap at tick <t> | too short; "
     "null in training"),
)

MARKET_EPISODES = _table(
    "market_episodes",
    "gold",
    "The market kind: one episode per game of silver games, live or history-only — the contiguous run of ticks "
    "from its first recorded tick to the rug (never stitched over a gap) — with the trade feed's coverage.",
    ("game_id",),
    ("game_id", STR, "gameId"),
    *_RUN_COLUMNS,
    ("ticks_observed", I32, "ticks of the run whose own frame was received (the rest are backfilled)"),
    ("trades_seen", I32, "standard/newTrade broadcasts received between the game's first and last frames with a "
     "tradeCount"),
    ("trade_count_rise", I32, "the rise of tradeCount between those frames; null when the game showed none"),
    ("trade_coverage", F64, "trades_seen / trade_count_rise: the share of the game's trades the feed showed; null "
     "when the count did not rise"),
    *_POLICY_COLUMNS,
)

EPISODES = _table(
    "episodes",
    "gold",
    "The player kind: one episode per game of silver games (its market episode), with the recording player's "
    "involvement; a game no account recorded is excluded (no recording player).",
    ("game_id",),
    ("game_id", STR, "gameId"),
    ("player_id", STR, "the recording player (most player_state rows in the game); null when none recorded it"),
    ("recording_players", I32, "accounts whose player_state rows fall in the game"),
    ("capture_id", STR, "the capture with most of the recording player's state rows in the game"),
    ("previous_game_id", STR, "the game just before in that capture when none was missed between them: its final "
     "account is carried into this game's first ticks"),
    *_RUN_COLUMNS,
    ("traded", BOOL, "the recording player traded in the game"),
    ("own_trades", I32, "the recording player's trades (silver trades.is_own)"),
    ("placed_sidebet", BOOL, "the recording player placed a sidebet"),
    ("own_sidebets", I32, "the recording player's sidebets"),
    ("actions", I32, "the recording player's actions in the game (silver actions)"),
    ("presale_actions", I32, "actions sent in cooldown/presale: no tick's label, their effect is in the tick-0 state"),
    ("actions_unplaced", I32, "actions on the rug tick or outside the recorded ticks: no transition to label"),
    *_POLICY_COLUMNS,
)

_LABELS = (
    ("action", I8, "the action sent while looking at this tick (0 hold; docs/FEATURES.md); null on the final row"),
    ("action_amount", F64, "SOL of that buy/sidebet/short"),
    ("action_ack_ok", BOOL, "whether the server accepted it"),
    ("actions_in_tick", I16, "actions sent at this tick (the first one is the label)"),
    ("reward", F64, "equity(t+1) − equity(t) in SOL (0 while the state is unknown); null on the final row"),
    ("terminated", BOOL, "t+1 is the rug tick"),
    ("truncated", BOOL, "t+1 is the last recorded tick of an episode that did not reach the rug"),
    ("is_final", BOOL, "the episode's final observation: not a transition"),
)
_OBSERVATION_COLUMNS = (
    ("game_id", STR, "gameId"),
    ("tick", I32, "tick of the observation"),
    *((f.name, pl.Float32 if f.dtype == F32 else F64, f"feature ({f.unit}): {f.formula}") for f in FEATURES),
    *_LABELS,
)

OBSERVATIONS = _table(
    "observations",
    "gold",
    "One row per (game, tick) of every episode: the feature vector (docs/FEATURES.md), the action sent at the tick, "
    "the reward of the transition to the next tick and the episode-end flags.",
    ("game_id", "tick"),
    *_OBSERVATION_COLUMNS,
)

MARKET_OBSERVATIONS = _table(
    "market_observations",
    "gold",
    "The market kind: one row per (game, tick) of every market episode — the market, flow and quality features "
    "(docs/FEATURES.md), no player; the reward is the log return of holding through the transition.",
    ("game_id", "tick"),
    ("game_id", STR, "gameId"),
    ("tick", I32, "tick of the observation"),
    *((f.name, pl.Float32 if f.dtype == F32 else F64, f"feature ({f.unit}): {f.formula}") for f in MARKET_FEATURES),
    ("action", I8, "always 0 (hold: no player); null on the final row"),
    ("action_amount", F64, "always null (no player)"),
    ("reward", F64, "ln(price(t+1) / price(t)), 0 when a price is 0; null on the final row"),
    ("terminated", BOOL, "t+1 is the rug tick"),
    ("truncated", BOOL, "t+1 is the last recorded tick of an episode that did not reach the rug"),
    ("is_final", BOOL, "the episode's final observation: not a transition"),
)

LEADERBOARD = _table(
    "leaderboard",
    "gold",
    "Every player the boards show (PROTOCOL.md §3.1, ≤10 per frame): one row per (game, tick, player) from the first "
    "frame that showed each tick; tick −1 is the game's last pre-game (presale) board.",
    ("game_id", "tick", "player_id"),
    ("game_id", STR, "gameId"),
    ("tick", I32, "tick of the board (−1: the presale board)"),
    ("player_id", STR, "the entry's id"),
    ("username", STR, "username"),
    ("rank", I32, "position on the board (1 = best P&L)"),
    ("pnl", F64, "pnl: the game's P&L in SOL"),
    ("regular_pnl", F64, "regularPnl"),
    ("sidebet_pnl", F64, "sidebetPnl"),
    ("short_pnl", F64, "shortPnl"),
    ("pnl_percent", F64, "pnlPercent"),
    ("position_qty", F64, "positionQty (tokens)"),
    ("avg_cost", F64, "avgCost"),
    ("total_invested", F64, "totalInvested (SOL)"),
    ("sidebet_active", BOOL, "the entry shows an open sideBet"),
    ("sidebet_start_tick", I32, "sideBet.startedAtTick"),
    ("sidebet_end_tick", I32, "sideBet.end"),
    ("sidebet_amount", F64, "sideBet.betAmount (SOL)"),
    ("short_amount", F64, "shortPosition.amount (SOL)"),
    ("short_entry_price", F64, "shortPosition.entryPrice"),
    ("short_entry_tick", I32, "shortPosition.entryTick"),
    ("board_size", I32, "entries on that board"),
    ("capture_id", STR, "the frame's capture"),
    ("seq", I64, "the frame's row in the capture"),
    ("recv_wall_ns", I64, "the frame's receipt time"),
)

CROWD_EPISODES = _table(
    "crowd_episodes",
    "gold",
    "The crowd kind: one trajectory per (game, player) the frames show — boards, trades, side bets — with its "
    "reconciliation (unexplained position changes) and the game's trade-feed coverage.",
    ("game_id", "player_id"),
    ("game_id", STR, "gameId"),
    ("player_id", STR, "the player"),
    ("username", STR, "last username seen"),
    ("completeness", STR, "games.completeness"),
    ("history_only", BOOL, "games.history_only"),
    ("first_tick", I32, "first tick of the trajectory (the player's first evidence in the game)"),
    ("last_tick", I32, "last tick (the market episode's)"),
    ("first_gap_tick", I32, "the market episode's first missing tick; null without a gap"),
    ("ticks", I32, "observation rows"),
    ("transitions", I32, "ticks − 1"),
    ("terminated", BOOL, "the run reaches the rug tick"),
    ("truncated", BOOL, "the run stops before the rug"),
    ("board_ticks", I32, "ticks whose board lists the player"),
    ("presale_qty", F64, "the presale board's position (presale buys are never broadcast)"),
    ("actions", I32, "trades and side bets seen"),
    ("trades", I32, "standard/newTrade broadcasts of the player"),
    ("sidebets", I32, "side bets seen (globalSidebets, currentSidebet, a board's sideBet)"),
    ("actions_unplaced", I32, "actions with no transition to label (no tick, before the trajectory or at its end)"),
    ("sells_unsized", I32, "sells whose position before was unknown (labelled sell 100 %)"),
    ("unexplained_changes", I32, "boards whose position the trades seen since the last board do not explain (flagged, "
     "never filled)"),
    ("start_pnl", F64, "first known P&L"),
    ("end_pnl", F64, "last known P&L"),
    ("episode_return", F64, "sum of the rewards (= end_pnl − start_pnl)"),
    ("trades_seen", I32, "the game's trade feed coverage: trades seen"),
    ("trade_count_rise", I32, "… against the rise of tradeCount"),
    ("trade_coverage", F64, "trades_seen / trade_count_rise"),
    *_POLICY_COLUMNS,
)

CROWD_OBSERVATIONS = _table(
    "crowd_observations",
    "gold",
    "The crowd kind: one row per (game, player, tick) of every trajectory — the market features of the tick and the "
    "player's board state; the action is their trade or side bet at the tick, the reward the change of their P&L.",
    ("game_id", "player_id", "tick"),
    ("game_id", STR, "gameId"),
    ("player_id", STR, "the player"),
    ("tick", I32, "tick of the observation"),
    *((f.name, pl.Float32 if f.dtype == F32 else F64, f"feature ({f.unit}): {f.formula}") for f in CROWD_FEATURES),
    ("action", I8, "the player's first trade or side bet at this tick (0 hold); null on the final row"),
    ("action_amount", F64, "SOL of that buy/sidebet/short"),
    ("actions_in_tick", I16, "actions of the player at this tick (the first one is the label)"),
    ("sell_sized", BOOL, "a sell whose bucket comes from the known position before it; false: labelled sell 100 %"),
    ("unexplained_qty", F64, "the board's position minus what the previous board and the trades seen explain; null "
     "when explained"),
    ("reward", F64, "pnl(t+1) − pnl(t) in SOL once the state is known (0 before); null on the final row"),
    ("terminated", BOOL, "t+1 is the rug tick"),
    ("truncated", BOOL, "t+1 is the last recorded tick of a run that did not reach the rug"),
    ("is_final", BOOL, "the trajectory's final observation: not a transition"),
)

# -- datasets ------------------------------------------------------------------------------------------------------

_VERSION_COLUMNS = (
    ("partition", STR, "the landing date the rows come from (a game seen on two dates keeps the one with more ticks)"),
)

DATASET_EPISODES = _table(
    "dataset_episodes",
    "datasets",
    "A dataset version's episodes: every episode of its partitions, each game once, with the split it went to.",
    ("game_id",),
    *((c.name, c.dtype, c.doc) for c in EPISODES.columns),
    *_VERSION_COLUMNS,
    ("split", STR, "train | val | test (by game, seeded), or excluded by the episode policy"),
    file="episodes.parquet",
)

DATASET_OBSERVATIONS = _table(
    "dataset_observations",
    "datasets",
    "A dataset version's observation rows: those of its train, val and test episodes, sorted by (partition, "
    "game_id, tick).",
    ("game_id", "tick"),
    *_OBSERVATION_COLUMNS,
    *_VERSION_COLUMNS,
    ("split", STR, "train | val | test"),
    file="observations.parquet",
)

DATASET_MARKET_EPISODES = _table(
    "dataset_market_episodes",
    "datasets",
    "A market dataset version's episodes: every market episode of its partitions, each game once, with its split.",
    ("game_id",),
    *((c.name, c.dtype, c.doc) for c in MARKET_EPISODES.columns),
    *_VERSION_COLUMNS,
    ("split", STR, "train | val | test (by game, seeded), or excluded by the episode policy"),
    file="episodes.parquet",
)

DATASET_MARKET_OBSERVATIONS = _table(
    "dataset_market_observations",
    "datasets",
    "A market dataset version's observation rows: those of its train, val and test episodes, sorted by (partition, "
    "game_id, tick).",
    ("game_id", "tick"),
    *((c.name, c.dtype, c.doc) for c in MARKET_OBSERVATIONS.columns),
    *_VERSION_COLUMNS,
    ("split", STR, "train | val | test"),
    file="observations.parquet",
)

DATASET_CROWD_EPISODES = _table(
    "dataset_crowd_episodes",
    "datasets",
    "A crowd dataset version's trajectories: every (game, player) of its partitions, with the split of its game.",
    ("game_id", "player_id"),
    *((c.name, c.dtype, c.doc) for c in CROWD_EPISODES.columns),
    *_VERSION_COLUMNS,
    ("split", STR, "train | val | test (by game, seeded), or excluded by the episode policy"),
    file="episodes.parquet",
)

DATASET_CROWD_OBSERVATIONS = _table(
    "dataset_crowd_observations",
    "datasets",
    "A crowd dataset version's observation rows: those of its train, val and test trajectories, sorted by "
    "(partition, game_id, player_id, tick).",
    ("game_id", "player_id", "tick"),
    *((c.name, c.dtype, c.doc) for c in CROWD_OBSERVATIONS.columns),
    *_VERSION_COLUMNS,
    ("split", STR, "train | val | test"),
    file="observations.parquet",
)

DATASETS = _table(
    "datasets",
    "datasets",
    "The warehouse view of every published dataset version, one row each, read from the versions' manifest.json.",
    ("name", "id"),
    ("name", STR, "dataset kind: player | crowd | market (the folder datasets/<kind>/)"),
    ("id", STR, "version id (content address of its inputs, stage versions and parameters)"),
    ("path", STR, "the version's folder, relative to the data root"),
    ("feature_spec_version", STR, "feature spec version"),
    ("code_version", STR, "digest of the stage versions that built it"),
    ("partitions", pl.List(STR), "landing dates covered"),
    ("episodes_total", I64, "episodes of those dates"),
    ("episodes_in_training", I64, "in train, val or test"),
    ("episodes_excluded", I64, "excluded by the episode policy"),
    ("rows", I64, "observation rows"),
    ("transitions", I64, "rows that are transitions"),
    ("train_episodes", I64, "episodes in train"),
    ("val_episodes", I64, "episodes in val"),
    ("test_episodes", I64, "episodes in test"),
    ("landing_files", I64, "landing segments it was built from"),
    ("split_seed", I64, "seed of the split"),
    file="manifest.json",
)


PLAYER_GAMES = _table(
    "player_games", "gold",
    "One row per (game, player) that traded or bet in the game: entry, exit, SOL in and out, the P&L of trading, shorts "
    "and side bets (vectra_pipeline/gold/player_games.py); every player the broadcasts show, is_own the recording one.",
    ("game_id", "player_id"),
    ("game_id", STR, "gameId"), ("player_id", STR, "playerId"), ("username", STR, "the last username seen"),
    ("is_own", BOOL, "the recording player's"),
    ("entry_tick", I32, "first buy or short open"), ("exit_tick", I32, "last sell or short close; null: held into the rug"),
    ("entry_price", F64, "price of the first buy"), ("exit_price", F64, "price of the last sell"),
    ("buys", I32, "buy trades"), ("sells", I32, "sell trades"), ("shorts", I32, "shorts opened"),
    ("sidebets", I32, "side bets placed"), ("sidebets_won", I32, "side bets won"),
    ("sidebets_open", I32, "side bets not settled in the data (status placed): not in the P&L"),
    ("sol_bought", F64, "SOL spent on buys"), ("sol_sold", F64, "SOL received from sells"),
    ("qty_at_rug", F64, "tokens bought minus sold: held when the game rugged"), ("rug_tick", I32, "null while unknown"),
    ("short_staked", F64, "SOL staked on shorts"), ("short_returned", F64, "SOL the short closes returned"),
    ("short_open_at_rug", BOOL, "a short was open when the game rugged (valued at the rug price)"),
    ("sidebet_staked", F64, "SOL staked on settled side bets"), ("sidebet_payout", F64, "SOL they paid"),
    ("trading_pnl", F64, "sol_sold − sol_bought + qty_at_rug × rug price; null: rug unknown and tokens held"),
    ("short_pnl", F64, "short_returned − short_staked (+ an open short's value at the rug); null while unknown"),
    ("sidebet_pnl", F64, "sidebet_payout − sidebet_staked"),
    ("pnl", F64, "trading_pnl + short_pnl + sidebet_pnl, SOL; null when one is unknown"),
)
