"""Player games: one row per (game, player) that traded or bet in the game — the first thing a player asks: when
did I get in and out, what did it pay, what did the side bets and shorts do.

From the broadcast trades (every player's, ``is_own`` marks the recording player's), the side bets and the game's
rug. Money is SOL:

- trading: ``sold − bought`` plus what the tokens still held at the rug were worth at the rug price (the remainder
  the game pays out); null while the rug is unknown and tokens are held;
- shorts: closes returned minus opens staked; a short still open at the rug is valued at the rug price
  (``rules.short_value``); null while the rug is unknown and a short is open;
- side bets: settled payouts minus settled stakes (a bet still ``placed`` counts in ``sidebets_open``, not in the
  P&L);
- ``pnl``: the sum of the three, null when any is unknown. The game charges no fee of its own (PROTOCOL.md), so
  there is no fee column: every SOL in and out is in the amounts.
"""

from __future__ import annotations

import polars as pl

from capture_agent.protocol.rules import short_value
from vectra_pipeline.schema import conform

VERSION = 1  # bump when the output would change (tests/pipeline/test_stage_versions.py)

QTY_DUST = 1e-9
_OPENS = ("buy", "short_open")
_CLOSES = ("sell", "short_close")


def _sum_where(condition: pl.Expr, column: str) -> pl.Expr:
    return pl.when(condition).then(pl.col(column)).otherwise(0.0).sum()


def build_player_games(trades: pl.DataFrame, sidebets: pl.DataFrame, games: pl.DataFrame) -> pl.DataFrame:
    """The ``player_games`` table of a partition (pure: frames in, frame out)."""
    kind = pl.col("type")
    trading = trades.sort("tick", "seq").group_by("game_id", "player_id").agg(
        pl.col("username").drop_nulls().last(),
        pl.col("is_own").any(),
        pl.col("tick").filter(kind.is_in(_OPENS)).min().alias("entry_tick"),
        pl.col("tick").filter(kind.is_in(_CLOSES)).max().alias("exit_tick"),
        pl.col("price").filter(kind == "buy").first().alias("entry_price"),
        pl.col("price").filter(kind == "sell").last().alias("exit_price"),
        (kind == "buy").sum().cast(pl.Int32).alias("buys"),
        (kind == "sell").sum().cast(pl.Int32).alias("sells"),
        (kind == "short_open").sum().cast(pl.Int32).alias("shorts"),
        _sum_where(kind == "buy", "amount").alias("sol_bought"),
        _sum_where(kind == "sell", "amount").alias("sol_sold"),
        (_sum_where(kind == "buy", "qty") - _sum_where(kind == "sell", "qty")).alias("qty_at_rug"),
        _sum_where(kind == "short_open", "amount").alias("short_staked"),
        _sum_where(kind == "short_close", "amount").alias("short_returned"),
        # a short whose open no close followed is open at the rug: its amount and entry price (one short at a time)
        pl.col("type").filter(kind.is_in(("short_open", "short_close"))).last().alias("_last_short_kind"),
        pl.col("amount").filter(kind == "short_open").last().alias("_open_amount"),
        pl.col("price").filter(kind == "short_open").last().alias("_open_price"),
    )
    bets = sidebets.group_by("game_id", "player_id").agg(
        pl.col("username").drop_nulls().last().alias("_bet_username"),
        pl.col("is_own").any().alias("_bet_own"),
        pl.len().cast(pl.Int32).alias("sidebets"),
        (pl.col("status") == "placed").sum().cast(pl.Int32).alias("sidebets_open"),
        (pl.col("status") == "won").sum().cast(pl.Int32).alias("sidebets_won"),
        pl.col("bet_amount").filter(pl.col("status") != "placed").sum().alias("sidebet_staked"),
        pl.col("payout").filter(pl.col("status") != "placed").sum().alias("sidebet_payout"),
    )
    rows = trading.join(bets, on=["game_id", "player_id"], how="full", coalesce=True)
    rug = games.select("game_id", "rug_tick", "rug_price").unique("game_id", keep="last")
    rows = rows.join(rug, on="game_id", how="left")
    # sums of float token amounts leave dust after a full exit: below a nano-token it is nothing held
    rows = rows.with_columns(pl.when(pl.col("qty_at_rug") < QTY_DUST).then(0.0).otherwise(pl.col("qty_at_rug")).alias("qty_at_rug"))
    short_open_at_rug = pl.col("_last_short_kind") == "short_open"
    rug_known = pl.col("rug_price").is_not_null()
    held = pl.col("qty_at_rug").fill_null(0.0)
    rows = rows.with_columns(
        pl.coalesce("username", "_bet_username").alias("username"),
        (pl.col("is_own").fill_null(False) | pl.col("_bet_own").fill_null(False)).alias("is_own"),
        *(pl.col(c).fill_null(0).cast(pl.Int32) for c in ("buys", "sells", "shorts", "sidebets", "sidebets_open", "sidebets_won")),
        *(pl.col(c).fill_null(0.0) for c in ("sol_bought", "sol_sold", "short_staked", "short_returned", "sidebet_staked",
                                              "sidebet_payout", "qty_at_rug")),
        short_open_at_rug.fill_null(False).alias("short_open_at_rug"),
    ).with_columns(
        pl.when(held == 0).then(pl.col("sol_sold") - pl.col("sol_bought"))
        .when(rug_known).then(pl.col("sol_sold") - pl.col("sol_bought") + held * pl.col("rug_price"))
        .alias("trading_pnl"),
        pl.when(~pl.col("short_open_at_rug")).then(pl.col("short_returned") - pl.col("short_staked"))
        .when(rug_known).then(pl.col("short_returned") - pl.col("short_staked")
                              + short_value(pl.col("_open_amount"), pl.col("_open_price"), pl.col("rug_price")))
        .alias("short_pnl"),
        (pl.col("sidebet_payout") - pl.col("sidebet_staked")).alias("sidebet_pnl"),
    ).with_columns(
        (pl.col("trading_pnl") + pl.col("short_pnl") + pl.col("sidebet_pnl")).alias("pnl"),
    )
    return conform(rows.drop("_bet_username", "_bet_own", "_last_short_kind", "_open_amount", "_open_price", "rug_price")
                   .sort("game_id", "player_id"), "player_games")
