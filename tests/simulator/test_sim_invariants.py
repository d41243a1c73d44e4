"""Invariants over long runs: every broadcast trade obeys the wire rules against the revealed price path, and
random order sequences never break an account (hypothesis)."""

from __future__ import annotations

import itertools
from collections import defaultdict

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from simdrive import START_MS

from capture_agent.protocol import socketio, trading
from capture_agent.protocol.fairness import price_path, seed_hash
from capture_agent.protocol.rules import SOL_COIN, lamports
from capture_agent.protocol.trading import Player, TradeRejected
from simulator.engine.observer import wire_frames


@pytest.fixture(scope="module")
def observed() -> tuple[dict[str, list[dict]], dict[str, dict]]:
    """Trades by game and revealed history entries from ~20 000 frames of one observer."""
    trades: dict[str, list[dict]] = defaultdict(list)
    revealed: dict[str, dict] = {}
    for _, text in itertools.islice(wire_frames("invariants", START_MS), 20_000):
        (packet,) = socketio.decode_frame(text)
        if packet.event == "standard/newTrade":
            trades[packet.payload["gameId"]].append(packet.payload)
        elif packet.event == "gameStateUpdate":
            for entry in packet.payload.get("gameHistory", ()):
                revealed[entry["id"]] = entry
    return trades, revealed


def test_every_trade_obeys_the_price_and_quantity_rules(observed):
    trades, revealed = observed
    checked = 0
    for game_id, game_trades in trades.items():
        if game_id not in revealed:
            continue  # the game still running when the stream was cut
        prices = revealed[game_id]["prices"]
        for trade in game_trades:
            assert trade["price"] == prices[trade["tickIndex"]]
            if trade["type"] == "buy":
                assert trade["qty"] == lamports(trade["amount"] / trade["price"])
            elif trade["type"] == "sell":
                assert trade["amount"] == lamports(trade["qty"] * trade["price"])
            else:
                assert trade["qty"] == 0
            checked += 1
    assert checked > 200
    rug_sells = [t for g, ts in trades.items() if g in revealed for t in ts
                 if t["tickIndex"] == len(revealed[g]["prices"]) - 1]
    assert rug_sells and all(t["type"] in ("sell", "short_close") for t in rug_sells)  # only forced exits at the rug


def test_every_revealed_game_is_provably_fair(observed):
    _, revealed = observed
    assert len(revealed) >= 20
    for game_id, entry in revealed.items():
        seed = entry["provablyFair"]["serverSeed"]
        assert seed_hash(seed) == entry["provablyFair"]["serverSeedHash"]
        assert list(price_path(seed, game_id).prices) == entry["prices"][:-1]
        assert 0 < entry["prices"][-1] <= min(0.02, 0.02 * entry["prices"][-2])
        for record in entry["globalSidebets"]:
            if record["type"] == "payout":
                won = len(entry["prices"]) - 1 <= record["endTick"]
                assert record["endTick"] == record["startTick"] + 40
                assert (record["payout"] == record["betAmount"] * 5) if won else (record["payout"] == 0)


orders = st.lists(
    st.tuples(st.sampled_from(["buy", "sell", "short", "close", "sidebet"]),
              st.floats(min_value=-1, max_value=8, allow_nan=False), st.floats(min_value=0.01, max_value=5)),
    max_size=40,
)


@settings(max_examples=150, deadline=None)
@given(orders)
def test_random_orders_never_break_an_account(sequence):
    player = Player("p", "p", 1, cash=10.0)
    for tick, (action, value, price) in enumerate(sequence):
        cash, qty = player.cash, player.position_qty
        try:
            if action == "buy":
                fill = trading.buy(player, value, price, tick)
                assert player.cash == pytest.approx(cash - fill.amount) and player.position_qty > qty
            elif action == "sell":
                fill = trading.sell(player, value * 20, price, tick)
                assert player.cash == pytest.approx(cash + fill.amount) and player.position_qty < qty + 1e-12
            elif action == "short":
                trading.open_short(player, value, price, tick)
            elif action == "close":
                trading.close_short(player, price, tick)
            elif player.sidebet is None:
                trading.place_sidebet(player, value, "g", tick, price, 0, SOL_COIN)
            else:
                trading.settle_sidebet(player, won=tick % 2 == 0)
        except TradeRejected as rejected:
            assert rejected.reason and (player.cash, player.position_qty) == (cash, qty)
        assert player.cash >= 0 and player.position_qty >= 0
        assert player.position_qty == 0 or player.avg_cost > 0
