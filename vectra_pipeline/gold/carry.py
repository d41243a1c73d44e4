"""The recording player's account carried across games, so rewards stay exact from a game's first tick.

A game's first own state frame often arrives after its tick-0 frame (a ``gameStatePlayerUpdate`` follows each
``gameStateUpdate``), yet the account was known: it is what the previous game left. Within one capture, the
**previous consecutive game** of a game is the capture's game just before it when the capture saw no gap between
them: its first state row came at most ``CONSECUTIVE_GAP_NS`` after the previous game's last one (a rug, rug frame
#2, the next genesis and a 15 s cooldown fit in it; a game missed in between adds another cooldown and more). When
that game's episode reached its rug, its last state in the capture, **settled at the rug** by the protocol's rules
(the position sold at the rug price, the sidebet paid or lost, the short closed — the equity rule of
:mod:`.rewards` at the rug tick), is the account at this game's first tick until a state of this game is visible.
Its rows are flagged ``player_state_carried``; the previous game must lie in the same partition (a capture crossing
midnight UTC starts the next day unknown).

So an episode starts from the equity its previous consecutive game ended with, and its rewards sum to its equity
change (the asset check ``observations_rewards_exact``).
"""

from __future__ import annotations

import polars as pl

from capture_agent.protocol.rules import COOLDOWN_MS
from vectra_pipeline.gold.rewards import equity

CONSECUTIVE_GAP_NS = (COOLDOWN_MS + 10_000) * 1_000_000  # the gap between two consecutive games is ≈17 s; a missed game makes it ≥32 s


def game_spans(player_state: pl.DataFrame) -> pl.DataFrame:
    """(capture_id, game_id, first_ns, last_ns, rows) of the state rows of each game in each capture."""
    return (
        player_state.filter(pl.col("game_id").is_not_null() & pl.col("recv_wall_ns").is_not_null())
        .group_by("capture_id", "game_id")
        .agg(pl.col("recv_wall_ns").min().alias("first_ns"), pl.col("recv_wall_ns").max().alias("last_ns"), pl.len().alias("rows"))
    )


def previous_games(player_state: pl.DataFrame) -> pl.DataFrame:
    """(capture_id, game_id, previous_game_id): each game's previous consecutive game in the capture (null when none)."""
    spans = game_spans(player_state).sort("capture_id", "first_ns", "game_id")
    previous_last = pl.col("last_ns").shift(1).over("capture_id")
    consecutive = (pl.col("first_ns") - previous_last) <= CONSECUTIVE_GAP_NS
    return spans.select(
        "capture_id", "game_id",
        pl.when(consecutive).then(pl.col("game_id").shift(1).over("capture_id")).alias("previous_game_id"),
    )


def recording_captures(player_state: pl.DataFrame, players: pl.DataFrame) -> pl.DataFrame:
    """(game_id, capture_id, previous_game_id): the capture with most rows of the game's recording player."""
    spans = game_spans(player_state.join(players.select("game_id", "player_id"), on=["game_id", "player_id"], how="inner"))
    best = spans.sort("game_id", "rows", "capture_id", descending=[False, True, False]).unique("game_id", keep="first")
    return best.select("game_id", "capture_id").join(previous_games(player_state), on=["capture_id", "game_id"], how="left")


def carried_states(player_state: pl.DataFrame, episodes: pl.DataFrame, game_ticks: pl.DataFrame) -> pl.DataFrame:
    """Carried state rows (``carried`` true, tick and receipt time null) for every episode whose previous consecutive
    game reached its rug: that game's last state in the capture, settled at the rug, under this game's id."""
    previous = episodes.filter(pl.col("previous_game_id").is_not_null()).select(
        "game_id", "capture_id", pl.col("previous_game_id").alias("_previous")
    )
    ended = episodes.filter(pl.col("terminated")).select(pl.col("game_id").alias("_previous"), "rug_tick")
    rug_prices = game_ticks.filter(pl.col("is_rug_tick")).select(pl.col("game_id").alias("_previous"), pl.col("price").alias("_rug_price"))
    last = (
        player_state.filter(pl.col("cash").is_not_null())
        .sort("recv_wall_ns", "seq", nulls_last=False)
        .group_by("capture_id", "game_id", maintain_order=True).last()
        .rename({"game_id": "_previous"})
    )
    rows = (
        previous.join(ended, on="_previous", how="inner")
        .join(rug_prices, on="_previous", how="inner")
        .join(last.drop("tick"), on=["capture_id", "_previous"], how="inner")
    )
    if rows.is_empty():
        return player_state.clear().with_columns(pl.lit(None, dtype=pl.Boolean).alias("carried"))
    settled = equity(
        rows["_rug_price"].to_numpy(), rows["cash"].to_numpy(), rows["position_qty"].to_numpy(),
        rows["sidebet_active"].fill_null(False).to_numpy(), rows["sidebet_amount"].to_numpy(),
        rows["sidebet_end_tick"].cast(pl.Float64).to_numpy(), rows["short_amount"].to_numpy(),
        rows["short_entry_price"].to_numpy(), rows["rug_tick"].to_numpy(), rows["rug_tick"].to_numpy(),
    )
    flat = {name: pl.lit(value) for name, value in (("position_qty", 0.0), ("avg_cost", 0.0), ("total_invested", 0.0),
                                                     ("sidebet_active", False), ("short_amount", None))}
    return rows.with_columns(
        pl.Series("cash", settled),
        *(value.alias(name) for name, value in flat.items()),
        *(pl.lit(None).alias(name) for name in ("tick", "recv_wall_ns", "sidebet_start_tick", "sidebet_end_tick",
                                                "sidebet_amount", "short_entry_price", "disagreement")),
        pl.lit("carried").alias("source"),
        pl.lit(True).alias("carried"),
    ).select(*player_state.columns, "carried").cast(player_state.schema | {"carried": pl.Boolean})


REWARD_TOLERANCE_SOL = 1e-9  # float64 sums of a few hundred lamport-sized steps stay far below it


def reward_violations(episodes: pl.DataFrame, observations: pl.DataFrame) -> dict[str, dict]:
    """game → what breaks the exact-reward rules in player ``observations`` (none: an empty dict).

    - **sum**: an episode's rewards sum to its equity change, from its first known row to its final row;
    - **continuity**: an episode whose previous consecutive game is in ``episodes`` and reached its rug starts from
      the equity that game ended with (its final row's), when its first row is that carried account.
    """
    rows = observations.sort("game_id", "tick")
    per_game = rows.group_by("game_id", maintain_order=True).agg(
        pl.col("reward").filter(~pl.col("is_final")).sum().alias("reward_sum"),
        pl.col("equity").filter(pl.col("player_state_known") > 0).first().alias("start_equity"),
        pl.col("equity").last().alias("end_equity"),
        (pl.col("player_state_known").last() > 0).alias("end_known"),
        pl.col("equity").first().alias("first_equity"),
        (pl.col("player_state_carried").first() > 0).alias("first_carried"),
    )
    ended = per_game.join(episodes.filter(pl.col("terminated")).select("game_id"), on="game_id", how="inner").select(
        pl.col("game_id").alias("previous_game_id"), pl.col("end_equity").alias("previous_end_equity")
    )
    checked = per_game.join(episodes.select("game_id", "previous_game_id"), on="game_id", how="left").join(
        ended, on="previous_game_id", how="left"
    )
    violations = {}
    for row in checked.iter_rows(named=True):
        change = (row["end_equity"] - row["start_equity"]) if row["end_known"] and row["start_equity"] is not None else 0.0
        problems = {}
        if abs(row["reward_sum"] - change) > REWARD_TOLERANCE_SOL:
            problems["sum"] = {"rewards": row["reward_sum"], "equity_change": change}
        previous = row["previous_end_equity"]
        if row["first_carried"] and previous is not None and abs(row["first_equity"] - previous) > REWARD_TOLERANCE_SOL:
            problems["continuity"] = {"starts_at": row["first_equity"], "previous_ended_at": previous}
        if problems:
            violations[row["game_id"]] = problems
    return violations
