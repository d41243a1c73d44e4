"""``player_games``: one row per (game, player) with entry, exit and P&L — worked by hand on a game with every kind
of money (a partial exit, tokens held into the rug, a short open at the rug, side bets won, lost and unsettled),
then against a plain reference over hypothesis-generated trade sequences in any row order."""

from __future__ import annotations

import math

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from capture_agent.protocol.rules import short_value
from vectra_pipeline.gold.player_games import build_player_games
from vectra_pipeline.schema import TABLES, conform

GAME = "20251210-game"


def _trades(rows: list[dict]) -> pl.DataFrame:
    base = {"game_id": GAME, "username": None, "is_own": False, "price": None, "qty": 0.0}
    full = [{**base, "trade_id": f"t{i}", "seq": i, **row} for i, row in enumerate(rows)]
    return conform(pl.DataFrame(full, infer_schema_length=None), "trades") if full else conform(pl.DataFrame(), "trades")


def _sidebets(rows: list[dict]) -> pl.DataFrame:
    base = {"game_id": GAME, "username": None, "is_own": False, "x_payout": 5.0}
    return conform(pl.DataFrame([{**base, **row} for row in rows], infer_schema_length=None), "sidebets") if rows \
        else conform(pl.DataFrame(), "sidebets")


def _games(rug_tick: int | None, rug_price: float | None) -> pl.DataFrame:
    return conform(pl.DataFrame([{"game_id": GAME, "rug_tick": rug_tick, "rug_price": rug_price}]), "games")


def test_a_hand_worked_game():
    trades = _trades([
        {"player_id": "me", "username": "me", "is_own": True, "type": "buy", "tick": 3, "price": 0.5, "qty": 2.0, "amount": 1.0},
        {"player_id": "me", "type": "sell", "tick": 10, "price": 0.8, "qty": 1.0, "amount": 0.8},
        {"player_id": "me", "type": "short_open", "tick": 12, "price": 1.0, "amount": 0.5},
        {"player_id": "flat", "username": "flat", "type": "buy", "tick": 1, "price": 1.0, "qty": 1.0, "amount": 1.0},
        {"player_id": "flat", "type": "sell", "tick": 2, "price": 1.5, "qty": 1.0, "amount": 1.5},
        {"player_id": "flat", "type": "short_open", "tick": 4, "price": 1.5, "amount": 0.2},
        {"player_id": "flat", "type": "short_close", "tick": 6, "price": 1.2, "amount": 0.24},
    ])
    sidebets = _sidebets([
        {"player_id": "me", "start_tick": 0, "end_tick": 40, "bet_amount": 0.1, "status": "won", "payout": 0.5},
        {"player_id": "me", "start_tick": 41, "end_tick": 81, "bet_amount": 0.2, "status": "placed"},
        {"player_id": "bettor", "username": "b", "start_tick": 0, "end_tick": 40, "bet_amount": 0.3, "status": "lost", "payout": 0.0},
    ])
    table = build_player_games(trades, sidebets, _games(50, 0.01))
    assert table.columns == [c.name for c in TABLES["player_games"].columns]
    rows = {row["player_id"]: row for row in table.iter_rows(named=True)}
    assert set(rows) == {"me", "flat", "bettor"}  # a side-bet-only player has a row too

    me = rows["me"]
    assert (me["entry_tick"], me["exit_tick"], me["entry_price"], me["exit_price"]) == (3, 10, 0.5, 0.8)
    assert (me["buys"], me["sells"], me["shorts"], me["sidebets"], me["sidebets_won"], me["sidebets_open"]) == (1, 1, 1, 2, 1, 1)
    assert me["is_own"] and me["qty_at_rug"] == 1.0 and me["short_open_at_rug"] and me["rug_tick"] == 50
    assert me["trading_pnl"] == pytest.approx(0.8 - 1.0 + 1.0 * 0.01)
    assert me["short_pnl"] == pytest.approx(short_value(0.5, 1.0, 0.01) - 0.5)
    assert me["sidebet_pnl"] == pytest.approx(0.4)  # the unsettled bet is not in the P&L
    assert me["pnl"] == pytest.approx(me["trading_pnl"] + me["short_pnl"] + me["sidebet_pnl"])

    flat = rows["flat"]
    assert flat["trading_pnl"] == pytest.approx(0.5) and flat["short_pnl"] == pytest.approx(0.04)
    assert not flat["short_open_at_rug"] and flat["exit_tick"] == 6 and flat["pnl"] == pytest.approx(0.54)
    bettor = rows["bettor"]
    assert (bettor["buys"], bettor["sol_bought"], bettor["entry_tick"]) == (0, 0.0, None)
    assert bettor["pnl"] == pytest.approx(-0.3) and bettor["username"] == "b"


def test_without_a_known_rug_only_what_is_known_has_a_value():
    trades = _trades([
        {"player_id": "holder", "type": "buy", "tick": 1, "price": 1.0, "qty": 1.0, "amount": 1.0},
        {"player_id": "flat", "type": "buy", "tick": 1, "price": 1.0, "qty": 1.0, "amount": 1.0},
        {"player_id": "flat", "type": "sell", "tick": 5, "price": 1.2, "qty": 1.0, "amount": 1.2},
    ])
    rows = {r["player_id"]: r for r in build_player_games(trades, _sidebets([]), _games(None, None)).iter_rows(named=True)}
    assert rows["holder"]["trading_pnl"] is None and rows["holder"]["pnl"] is None  # worth unknown until the rug
    assert rows["flat"]["pnl"] == pytest.approx(0.2)


def test_no_trades_and_no_bets_is_an_empty_table_with_the_schema():
    table = build_player_games(_trades([]), _sidebets([]), _games(10, 0.01))
    assert table.height == 0 and table.schema == TABLES["player_games"].schema


AMOUNT = st.floats(0.001, 5, allow_nan=False)
PRICE = st.floats(0.01, 50, allow_nan=False)
EVENT = st.tuples(st.sampled_from(["p1", "p2", "p3"]), st.sampled_from(["buy", "sell"]), st.integers(0, 200), PRICE, AMOUNT)


@settings(max_examples=150, deadline=None)
@given(events=st.lists(EVENT, max_size=30), rug_price=st.one_of(st.none(), st.floats(0, 0.02)), order=st.randoms())
def test_trading_pnl_matches_a_plain_reference_in_any_row_order(events, rug_price, order):
    rows = [{"player_id": p, "type": kind, "tick": tick, "price": price, "amount": amount, "qty": amount / price}
            for p, kind, tick, price, amount in events]
    shuffled = rows[:]
    order.shuffle(shuffled)
    table = build_player_games(_trades(shuffled), _sidebets([]), _games(None if rug_price is None else 201, rug_price))
    assert table.height == len({r["player_id"] for r in rows})
    for row in table.iter_rows(named=True):
        mine = [r for r in rows if r["player_id"] == row["player_id"]]
        bought = sum(r["amount"] for r in mine if r["type"] == "buy")
        sold = sum(r["amount"] for r in mine if r["type"] == "sell")
        held = max(0.0, sum(r["qty"] for r in mine if r["type"] == "buy") - sum(r["qty"] for r in mine if r["type"] == "sell"))
        assert row["sol_bought"] == pytest.approx(bought) and row["sol_sold"] == pytest.approx(sold)
        assert row["qty_at_rug"] == pytest.approx(held, abs=1e-9)  # dust below a nano-token is nothing held
        if row["qty_at_rug"] > 0 and rug_price is None:
            assert row["trading_pnl"] is None and row["pnl"] is None
        else:
            expected = sold - bought + row["qty_at_rug"] * (rug_price or 0.0)
            assert math.isclose(row["trading_pnl"], expected, rel_tol=1e-9, abs_tol=1e-9)
            assert row["pnl"] == pytest.approx(row["trading_pnl"])  # no shorts, no bets
        buys = [r["tick"] for r in mine if r["type"] == "buy"]
        assert row["entry_tick"] == (min(buys) if buys else None)
