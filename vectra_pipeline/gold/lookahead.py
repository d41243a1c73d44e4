"""The no-look-ahead check: perturb everything after a cut tick and require the features up to the cut unchanged.

Used by the ``observations_no_look_ahead`` asset check on every partition and by the tests. The perturbation is
deliberately brutal: later prices and statistics change, later ticks disappear, the rug and the completeness
become unknown, later trades get 50× their amount, later player states gain 123 SOL, later actions vanish.
"""

from __future__ import annotations

import polars as pl

from capture_agent.protocol.rules import PRE_GAME_PHASES
from vectra_pipeline.gold.episodes import build_episodes
from vectra_pipeline.gold.feature_spec import FEATURE_NAMES
from vectra_pipeline.gold.observations import build_observations

SILVER_INPUTS = ("games", "game_ticks", "trades", "sidebets", "player_state", "actions")


def gold_from_silver(tables: dict[str, pl.DataFrame]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(episodes, observations) of silver tables with the default policy."""
    episodes = build_episodes(*(tables[name] for name in SILVER_INPUTS))
    observations = build_observations(tables["game_ticks"], tables["trades"], tables["player_state"], tables["actions"], episodes)
    return episodes, observations


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
    return {**tables, "game_ticks": ticks, "games": games, "trades": trades, "player_state": states, "actions": actions}


def look_ahead_violations(tables: dict[str, pl.DataFrame], game_ids: list[str]) -> dict[str, list[str]]:
    """game → features that changed at or before the cut (the game's middle tick) when its future was perturbed.

    Each game is rebuilt alone (its rows of every silver table), before and after the perturbation.
    """
    violations = {}
    for game_id in game_ids:
        alone = {name: frame.filter(pl.col("game_id") == game_id) for name, frame in tables.items()}
        _, rows = gold_from_silver(alone)
        if rows.height < 4:
            continue
        cut = int(rows["tick"].min() + rows.height // 2)
        _, perturbed = gold_from_silver(perturb_after(alone, game_id, cut))
        keep = pl.col("tick") <= cut
        before = rows.filter(keep).sort("tick").select("tick", *FEATURE_NAMES)
        after = perturbed.filter(keep).sort("tick").select("tick", *FEATURE_NAMES)
        if before.height != after.height:
            violations[game_id] = ["<rows>"]
            continue
        changed = [name for name in FEATURE_NAMES if not before[name].equals(after[name])]
        if changed:
            violations[game_id] = changed
    return violations
