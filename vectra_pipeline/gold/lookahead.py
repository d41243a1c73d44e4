"""The no-look-ahead check: perturb everything after a cut tick and require the features up to the cut unchanged.

Used by the ``observations_no_look_ahead`` asset check on every partition and by the tests. The perturbation is
deliberately brutal: later prices and statistics change, later ticks disappear, the rug and the completeness
become unknown, later trades get 50× their amount, later player states gain 123 SOL, later actions vanish.
"""

from __future__ import annotations

import polars as pl

from capture_agent.protocol.rules import PRE_GAME_PHASES
from vectra_pipeline.gold.crowd import build_crowd_episodes, build_crowd_observations
from vectra_pipeline.gold.episodes import PLAYER_POLICY, build_episodes
from vectra_pipeline.gold.feature_spec import FEATURE_NAMES, MARKET_FEATURE_NAMES
from vectra_pipeline.gold.leaderboard import board_frames, build_leaderboard
from vectra_pipeline.gold.market import (
    EVENT_COLUMNS,
    build_market_episodes,
    build_market_observations,
    frame_stats,
    stats_timeline,
)
from vectra_pipeline.gold.observations import build_observations
from vectra_pipeline.gold.policy import EpisodePolicy
from vectra_pipeline.schema import empty

SILVER_INPUTS = ("games", "game_ticks", "trades", "sidebets", "player_state", "actions", "events")


def gold_tables(tables: dict[str, pl.DataFrame], policy: EpisodePolicy = PLAYER_POLICY) -> dict[str, pl.DataFrame]:
    """Every gold table of silver tables (``events``: at least ``market.EVENT_COLUMNS``; absent = no frame
    statistics; bronze ``frames`` with their ``payload_text`` read back from landing — ``bronze.frames.with_payloads`` —, absent = no boards), the player kind's episodes under
    ``policy``."""
    events = tables.get("events")
    stats = frame_stats(events if events is not None else empty("events").select(EVENT_COLUMNS))
    market_episodes = build_market_episodes(tables["games"], tables["game_ticks"], tables["trades"], stats)
    market = build_market_observations(tables["game_ticks"], tables["trades"], stats_timeline(stats), market_episodes)
    episodes = build_episodes(market_episodes, tables["trades"], tables["sidebets"], tables["player_state"], tables["actions"], policy)
    observations = build_observations(tables["game_ticks"], market, tables["trades"], tables["player_state"], tables["actions"], episodes)
    frames = tables.get("frames")
    texts = frames.select("capture_id", "seq", "payload_text") if frames is not None else pl.DataFrame(
        schema={"capture_id": pl.String, "seq": pl.Int64, "payload_text": pl.String})
    leaderboard, _ = build_leaderboard(board_frames(stats), texts)
    crowd = build_crowd_observations(tables["game_ticks"], market, market_episodes, leaderboard, tables["trades"], tables["sidebets"])
    crowd_episodes = build_crowd_episodes(crowd, market_episodes, leaderboard, tables["trades"], tables["sidebets"])
    return {"market_episodes": market_episodes, "market_observations": market, "episodes": episodes, "observations": observations,
            "leaderboard": leaderboard, "crowd_episodes": crowd_episodes, "crowd_observations": crowd}


def gold_from_silver(tables: dict[str, pl.DataFrame], policy: EpisodePolicy = PLAYER_POLICY) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(episodes, observations) of the player kind, from silver tables."""
    gold = gold_tables(tables, policy)
    return gold["episodes"], gold["observations"]


def perturb_after(tables: dict[str, pl.DataFrame], game_id: str, cut: int) -> dict[str, pl.DataFrame]:
    """A copy of the silver tables where everything of ``game_id`` after tick ``cut`` is different."""
    this = pl.col("game_id") == game_id
    after = this & (pl.col("tick") > cut)
    ticks = tables["game_ticks"].with_columns(
        pl.when(after).then(pl.col("price") * 3.7 + 0.5).otherwise(pl.col("price")).alias("price"),
        pl.when(after).then(pl.col("connected_players") + 999).otherwise(pl.col("connected_players")).alias("connected_players"),
    ).filter(~(this & (pl.col("tick") > cut + 30)))
    games = tables["games"].with_columns(
        pl.when(this).then(None).otherwise(pl.col("rug_tick")).alias("rug_tick"),
        pl.when(this).then(pl.lit("partial_end")).otherwise(pl.col("completeness")).alias("completeness"),
    )
    trades = tables["trades"].with_columns(pl.when(after).then(pl.col("amount") * 50).otherwise(pl.col("amount")).alias("amount"))
    # pre-game rows (presale buys) have no tick in silver: they come before tick 0, never "after"
    in_game_after = after & ~pl.col("phase").is_in(PRE_GAME_PHASES).fill_null(False)
    states = tables["player_state"].with_columns(pl.when(in_game_after).then(pl.col("cash") + 123).otherwise(pl.col("cash")).alias("cash"))
    actions = tables["actions"].filter(~in_game_after.fill_null(False))
    perturbed = {**tables, "game_ticks": ticks, "games": games, "trades": trades, "player_state": states, "actions": actions}
    if tables.get("events") is not None:  # the frame statistics of later frames of the game
        later = (pl.col("game_id") == game_id) & (pl.col("tick_count") > cut)
        perturbed["events"] = tables["events"].with_columns(
            *(pl.when(later).then(pl.col(c) + 999).otherwise(pl.col(c)).alias(c) for c in ("connected_players", "average_multiplier", "highest_today"))
        )
    return perturbed


def look_ahead_violations(tables: dict[str, pl.DataFrame], game_ids: list[str]) -> dict[str, list[str]]:
    """game → features that changed at or before the cut (the game's middle tick) when its future was perturbed, in
    the market rows (every game) and the player rows (a game an account recorded).

    Each game is rebuilt alone (its rows of every silver table), before and after the perturbation.
    """
    checked = (("market_observations", MARKET_FEATURE_NAMES), ("observations", FEATURE_NAMES))
    violations = {}
    for game_id in game_ids:
        alone = {name: frame.filter(pl.col("game_id") == game_id) for name, frame in tables.items()}
        gold = gold_tables(alone)
        market = gold["market_observations"]
        if market.height < 4:
            continue
        cut = int(market["tick"].min() + market.height // 2)
        perturbed = gold_tables(perturb_after(alone, game_id, cut))
        changed: list[str] = []
        for table, features in checked:
            keep = pl.col("tick") <= cut
            before = gold[table].filter(keep).sort("tick").select("tick", *features)
            after = perturbed[table].filter(keep).sort("tick").select("tick", *features)
            if before.height != after.height:
                changed.append(f"<{table} rows>")
                continue
            changed += [name for name in features if not before[name].equals(after[name]) and name not in changed]
        if changed:
            violations[game_id] = changed
    return violations
