"""Asset checks on gold: finite features, no look-ahead (by perturbing the future), one episode per game, exact
rewards."""

import dagster as dg
import polars as pl

from vectra_pipeline import storage
from vectra_pipeline.defs.assets.gold import read_silver
from vectra_pipeline.defs.resources import VectraPaths
from vectra_pipeline.gold.carry import REWARD_TOLERANCE_SOL, reward_violations
from vectra_pipeline.gold.feature_spec import FEATURE_NAMES, MARKET_FEATURE_NAMES
from vectra_pipeline.gold.lookahead import look_ahead_violations

LOOK_AHEAD_SAMPLE = 5  # games rebuilt per partition (the longest episodes: the most ticks to leak into)


def _gold(paths: VectraPaths, table: str, date: str) -> pl.DataFrame:
    return storage.read_parquet(storage.table_path(paths.root, table, date))  # the asset checked wrote it


def _finite(paths: VectraPaths, table: str, date: str, features: tuple[str, ...]) -> dg.AssetCheckResult:
    """Non-finite features and bad rewards counted by a streaming scan of only those columns (a 1M-frame day's
    observation rows are not held: the counts are per-column sums). A null counts as non-finite, as NaN does; a null
    reward counts twice (non-finite and null), as it always has."""
    rows = storage.scan_table(paths.root, table, date)
    not_finite = [(~pl.col(name).is_finite()).fill_null(True).sum().alias(name) for name in features]
    reward = pl.col("reward").filter(~pl.col("is_final"))
    bad_reward = ((~reward.is_finite()).fill_null(True).sum() + reward.null_count()).alias("_bad_rewards")
    totals = rows.select(pl.len().alias("_rows"), bad_reward, *not_finite).collect(engine="streaming").row(0, named=True)
    bad = {name: int(totals[name]) for name in features if totals[name]}
    bad_rewards = int(totals["_bad_rewards"])
    return dg.AssetCheckResult(
        passed=not bad and bad_rewards == 0,
        metadata={"rows": int(totals["_rows"]), "non_finite_by_feature": dg.MetadataValue.json(bad), "bad_rewards": bad_rewards},
    )


@dg.asset_check(asset="observations", description="No NaN or ±inf in any feature or reward.")
def observations_finite(context: dg.AssetCheckExecutionContext, paths: VectraPaths) -> dg.AssetCheckResult:
    return _finite(paths, "observations", context.partition_key, FEATURE_NAMES)


@dg.asset_check(asset="market_observations", description="No NaN or ±inf in any market feature or reward.")
def market_observations_finite(context: dg.AssetCheckExecutionContext, paths: VectraPaths) -> dg.AssetCheckResult:
    return _finite(paths, "market_observations", context.partition_key, MARKET_FEATURE_NAMES)


@dg.asset_check(
    asset="observations",
    description=f"Features at tick t use data ≤ t only: for the {LOOK_AHEAD_SAMPLE} longest episodes, everything after "
    "the middle tick is perturbed (prices, stats, trades, states, actions, the rug) and the earlier rows must not change.",
)
def observations_no_look_ahead(context: dg.AssetCheckExecutionContext, paths: VectraPaths) -> dg.AssetCheckResult:
    date = context.partition_key
    episodes = _gold(paths, "episodes", date)
    sample = episodes.filter(pl.col("ticks") >= 4).sort(["ticks", "game_id"], descending=[True, False]).head(LOOK_AHEAD_SAMPLE)
    games = sample["game_id"].to_list()
    # each game is rebuilt from its own rows alone: the sample's rows are all the check reads of the day
    violations = look_ahead_violations(read_silver(paths, date, games=games), games)
    return dg.AssetCheckResult(
        passed=not violations,
        metadata={"games_checked": dg.MetadataValue.json(games), "violations": dg.MetadataValue.json(violations)},
    )


@dg.asset_check(asset="episodes", description="Every game of silver games has exactly one episode.")
def episodes_one_per_game(context: dg.AssetCheckExecutionContext, paths: VectraPaths) -> dg.AssetCheckResult:
    return _one_per_game(paths, "episodes", context.partition_key)


def _one_per_game(paths: VectraPaths, table: str, date: str) -> dg.AssetCheckResult:
    episodes = _gold(paths, table, date)
    games = storage.read_table(paths.root, "games", date, columns=["game_id"])
    missing = games.join(episodes, on="game_id", how="anti").height
    duplicated = episodes.height - episodes["game_id"].n_unique()
    return dg.AssetCheckResult(passed=missing == 0 and duplicated == 0, metadata={"missing": missing, "duplicated": duplicated})


@dg.asset_check(
    asset="observations",
    description="Exact rewards: every episode's rewards sum to its equity change, and an episode whose account is "
    "carried from its previous consecutive game starts from the equity that game ended with.",
)
def observations_rewards_exact(context: dg.AssetCheckExecutionContext, paths: VectraPaths) -> dg.AssetCheckResult:
    date = context.partition_key
    episodes, rows = _gold(paths, "episodes", date), _gold(paths, "observations", date)
    violations = reward_violations(episodes, rows)
    return dg.AssetCheckResult(
        passed=not violations,
        metadata={"episodes_checked": rows["game_id"].n_unique(),
                  "carried_starts": int(rows.filter(pl.col("player_state_carried") > 0)["game_id"].n_unique()),
                  "violations": dg.MetadataValue.json(dict(list(violations.items())[:20]))},
    )


@dg.asset_check(
    asset="crowd_episodes",
    description="Every crowd trajectory's rewards sum to its P&L change (end_pnl − start_pnl) and to its rows' rewards.",
)
def crowd_rewards_exact(context: dg.AssetCheckExecutionContext, paths: VectraPaths) -> dg.AssetCheckResult:
    return _crowd_rewards(paths, context.partition_key)


def _crowd_rewards(paths: VectraPaths, date: str) -> dg.AssetCheckResult:
    episodes = storage.read_table(paths.root, "crowd_episodes", date, columns=["game_id", "player_id", "start_pnl", "end_pnl", "episode_return"])
    # a streaming scan of four columns: the day's crowd rows (3.4M × 64 columns on a 1M-frame day) are never held
    sums = (storage.scan_table(paths.root, "crowd_observations", date).filter(~pl.col("is_final"))
            .group_by("game_id", "player_id").agg(pl.col("reward").sum().alias("_rows")).collect(engine="streaming"))
    joined = episodes.join(sums, on=["game_id", "player_id"], how="left").with_columns(
        (pl.col("end_pnl").fill_null(0.0) - pl.col("start_pnl").fill_null(0.0)).alias("_change"), pl.col("_rows").fill_null(0.0)
    )
    broken = joined.filter(((pl.col("episode_return").fill_null(0.0) - pl.col("_change")).abs() > REWARD_TOLERANCE_SOL)
                           | ((pl.col("_rows") - pl.col("_change")).abs() > REWARD_TOLERANCE_SOL))
    return dg.AssetCheckResult(
        passed=broken.is_empty(),
        metadata={"trajectories": episodes.height, "broken": dg.MetadataValue.json(broken.select("game_id", "player_id").head(20).rows())},
    )


@dg.asset_check(asset="market_episodes", description="Every game of silver games has exactly one market episode.")
def market_episodes_one_per_game(context: dg.AssetCheckExecutionContext, paths: VectraPaths) -> dg.AssetCheckResult:
    return _one_per_game(paths, "market_episodes", context.partition_key)


checks = [observations_finite, market_observations_finite, observations_no_look_ahead, observations_rewards_exact, episodes_one_per_game,
          market_episodes_one_per_game, crowd_rewards_exact]
