"""Trade rules and the frames they cause (docs/PROTOCOL.md §3.2–§3.3, §4), on the pure engine."""

from __future__ import annotations

import pytest
from simdrive import Driver, trace

from capture_agent.protocol import trading
from capture_agent.protocol.game import FrameShape, frame_shape
from capture_agent.protocol.rules import SOL_COIN, Phase, lamports
from capture_agent.protocol.trading import Player, TradeRejected


def _at_tick(driver: Driver, tick: int) -> None:
    driver.until_state(lambda f: f.get("active") is True and f.get("rugged") is False and f.get("tickCount") == tick
                       and "tradeCount" in f)


def _long_game_driver(min_rug: int = 60) -> Driver:
    """A driver positioned at the genesis of the first game that lasts at least ``min_rug`` ticks."""
    for n in range(50):
        driver = Driver(f"long-{n}")
        driver.until_state(lambda f: frame_shape(f) is FrameShape.GENESIS)
        if driver.engine.game.rug_tick >= min_rug:
            return driver
    raise AssertionError("no long game found")


def _sent_to_client(reply, client="c1"):
    return [(e.event, e.args) for e in reply.emissions if e.target in (None, client)]


def test_in_game_buy_price_qty_trace_and_frame_order():
    driver = _long_game_driver()
    _at_tick(driver, 10)
    reply = driver.request("buyOrder", trace(0xABC), {"amount": 0.3})
    assert reply.ack == [{"success": True}]
    events = [event for event, _ in _sent_to_client(reply)]
    assert events == ["standard/newTrade", "playerUpdate", "gameStatePlayerUpdate"]  # then the ack (§3.3 Q2)
    trace_arg, trade = _sent_to_client(reply)[0][1]
    assert trace_arg["traceparent"].split("-")[1] == f"{0xABC:032x}"  # same trace id as the request
    price = driver.engine.game.prices[10]
    assert (trade["type"], trade["tickIndex"], trade["price"], trade["amount"]) == ("buy", 10, price, 0.3)
    assert trade["qty"] == lamports(0.3 / price) and abs(trade["qty"] - 0.3 / price) < 1e-9
    update = _sent_to_client(reply)[1][1][0]
    assert update["positionQty"] == trade["qty"] and update["cash"] == pytest.approx(10 - 0.3)


def test_sell_amount_is_qty_times_price():
    driver = _long_game_driver()
    _at_tick(driver, 5)
    driver.request("buyOrder", trace(1), {"amount": 1})
    held = driver.engine.player_of("c1").position_qty
    _at_tick(driver, 9)
    reply = driver.request("sellOrder", {"percentage": 50})
    assert reply.ack == [{"success": True}]
    trade = next(args[-1] for event, args in _sent_to_client(reply) if event == "standard/newTrade")
    price = driver.engine.game.prices[9]
    assert trade["type"] == "sell" and trade["price"] == price and trade["tickIndex"] == 9
    assert trade["qty"] == lamports(held * 0.5)
    assert trade["amount"] == lamports(trade["qty"] * price)
    assert driver.engine.player_of("c1").position_qty == pytest.approx(held - trade["qty"])


@pytest.mark.parametrize(
    "event, payload, reason",
    [
        ("sellOrder", {"percentage": 100}, "No position to sell"),
        ("buyOrder", {"amount": 11}, "Amount above maximum of 5.0 SOL"),
        ("buyOrder", {"amount": 0.0001}, "Amount below minimum of 0.001 SOL"),
        ("buyOrder", {"amount": "1"}, "Invalid amount"),
        ("buyOrder", {}, "Invalid amount"),
        ("sellOrder", {"percentage": 0}, "Invalid percentage"),
        ("closeShort", {}, "No short position to close"),
        ("noSuchEvent", {}, "Unknown event noSuchEvent"),
    ],
)
def test_rejections_are_acked_with_a_reason(event, payload, reason):
    driver = _long_game_driver()
    _at_tick(driver, 3)
    reply = driver.request(event, trace(2), payload)
    assert reply.ack == [{"success": False, "reason": reason}]
    assert not [e for e in reply.emissions if e.event == "standard/newTrade" and e.target is None
                and e.args[-1]["playerId"] == driver.engine.player_of("c1").id]


def test_cash_too_low_and_wrong_phase():
    driver = _long_game_driver()
    assert driver.engine.phase not in (Phase.ACTIVE, Phase.PRESALE)
    assert driver.request("buyOrder", trace(3), {"amount": 1}).ack[0]["reason"].startswith("Trading is not open")
    _at_tick(driver, 2)
    driver.engine.player_of("c1").cash = 0.5
    assert driver.request("buyOrder", trace(4), {"amount": 1}).ack == [{"success": False, "reason": "Insufficient balance"}]


def test_presale_buy_executes_at_price_1_without_a_broadcast():
    driver = _long_game_driver()
    driver.until_state(lambda f: f.get("allowPreRoundBuys") is True and len(f) == 7)
    reply = driver.request("buyOrder", trace(5), {"amount": 0.25})
    assert reply.ack == [{"success": True}]
    assert [event for event, _ in _sent_to_client(reply)] == ["gameStatePlayerUpdate", "playerUpdate"]  # §3.3 Q1
    player = driver.engine.player_of("c1")
    assert (player.position_qty, player.avg_cost) == (0.25, 1.0)
    board = driver.until_state(lambda f: f.get("allowPreRoundBuys") is True and len(f) == 7).args[0]["leaderboard"]
    mine = next(entry for entry in board if entry["id"] == player.id)
    assert "regularPnl" not in mine and mine["positionQty"] == 0.25 and mine["avgCost"] == 1


def test_sidebet_placement_frames_and_ack():
    driver = _long_game_driver()
    _at_tick(driver, 4)
    reply = driver.request("requestSidebet", trace(6), {"amount": 0.01, "coinAddress": SOL_COIN, "xPayout": 5})
    ack = reply.ack[0]
    assert ack["success"] is True and ack["message"] == "Side bet placed"
    assert (ack["sidebet"]["startTick"], ack["sidebet"]["endTick"], ack["sidebet"]["betAmount"]) == (4, 44, 0.01)
    events = [event for event, _ in _sent_to_client(reply)]
    assert events[0] == "currentSidebet"
    placed_trace, placed = _sent_to_client(reply)[0][1]
    assert placed_trace["traceparent"].split("-")[1] == f"{6:032x}"
    assert placed["type"] == "placed" and placed["endTick"] == placed["startTick"] + 40
    second = driver.request("requestSidebet", trace(7), {"amount": 0.01, "coinAddress": SOL_COIN, "xPayout": 5})
    assert second.ack == [{"success": False, "reason": "Side bet already active"}]


@pytest.mark.parametrize("offset, wins", [(40, True), (41, False), (10, True)])
def test_sidebet_wins_iff_rug_tick_within_the_window(offset, wins):
    driver = _long_game_driver(min_rug=60)
    rug = driver.engine.game.rug_tick
    start = rug - offset
    _at_tick(driver, start)
    driver.request("requestSidebet", trace(8), {"amount": 0.1, "coinAddress": SOL_COIN, "xPayout": 5})
    cash_before = driver.engine.player_of("c1").cash
    result = driver.until(lambda e: e.event == "currentSidebetResult").args[-1]
    assert (result["payout"] > 0) is wins
    assert result["endTick"] == start + 40
    if wins:
        assert (result["payout"], result["tickIndex"]) == (pytest.approx(0.5), rug)
        assert result["price"] == driver.engine.game.prices[rug]
        assert driver.engine.player_of("c1").cash == pytest.approx(cash_before + 0.5)
    else:
        assert (result["payout"], result["profit"], result["tickIndex"]) == (0, -0.1, start)
    revealed = driver.until_state(lambda f: frame_shape(f) is FrameShape.GENESIS).args[0]["gameHistory"][0]
    mine = [s for s in revealed["globalSidebets"] if s["playerId"] == driver.engine.player_of("c1").id]
    assert [s["type"] for s in mine] == ["placed", "payout"]


def test_forced_sell_at_the_rug_in_protocol_order():
    driver = _long_game_driver()
    rug = driver.engine.game.rug_tick
    _at_tick(driver, rug - 20)
    driver.request("requestSidebet", trace(9), {"amount": 0.01, "coinAddress": SOL_COIN, "xPayout": 5})
    driver.request("buyOrder", trace(10), {"amount": 0.5})
    qty = driver.engine.player_of("c1").position_qty
    mark = len(driver.received)
    rug_frame = driver.until_state(lambda f: frame_shape(f) is FrameShape.RUG)
    me = driver.engine.player_of("c1").id
    settlement = [
        e.event for e in driver.received[mark:]
        if e.target == "c1" or (e.event == "standard/newTrade" and e.args[-1]["playerId"] == me)
        or e is rug_frame
    ]
    assert settlement[-6:] == ["currentSidebetResult", "playerUpdate", "standard/newTrade", "playerUpdate",
                               "gameStatePlayerUpdate", "gameStateUpdate"]
    forced = next(e.args[-1] for e in driver.received[mark:]
                  if e.event == "standard/newTrade" and e.args[-1]["playerId"] == me and e.args[-1]["type"] == "sell")
    rug_price = driver.engine.game.prices[rug]
    assert (forced["tickIndex"], forced["price"], forced["qty"]) == (rug, rug_price, qty)
    assert forced["amount"] == lamports(qty * rug_price)
    assert driver.engine.player_of("c1").position_qty == 0


def test_short_opens_and_closes_with_short_trades():
    driver = _long_game_driver()
    _at_tick(driver, 6)
    opened = driver.request("shortOrder", trace(11), {"amount": 0.2})
    assert opened.ack == [{"success": True}]
    trade = next(args[-1] for event, args in _sent_to_client(opened) if event == "standard/newTrade")
    assert (trade["type"], trade["qty"], trade["amount"]) == ("short_open", 0, 0.2)
    assert "leverage" not in trade and "bonusPortion" not in trade
    _at_tick(driver, 8)
    closed = driver.request("closeShort", trace(12), {})
    trade = next(args[-1] for event, args in _sent_to_client(closed) if event == "standard/newTrade")
    prices = driver.engine.game.prices
    assert trade["type"] == "short_close" and trade["price"] == prices[8]
    assert trade["amount"] == lamports(0.2 * (2 - prices[8] / prices[6]))


def test_pure_trade_rules():
    player = Player("p", "p", 1, cash=1.0)
    fill = trading.buy(player, 0.5, 2.0, 3)
    assert (fill.qty, player.avg_cost, player.cash) == (0.25, 2.0, 0.5)
    trading.buy(player, 0.5, 1.0, 4)
    assert player.avg_cost == pytest.approx((0.25 * 2 + 0.5 * 1) / 0.75)
    with pytest.raises(TradeRejected, match="Insufficient balance"):
        trading.buy(player, 0.5, 1.0, 5)
    sold = trading.sell(player, 100, 1.5, 6)
    assert sold.qty == 0.75 and sold.amount == lamports(0.75 * 1.5) and player.position_qty == 0
    assert player.regular_pnl(None) == pytest.approx(1.125 - 1.0)


def test_a_named_account_survives_reconnects_and_is_liquidated_while_away():
    driver = _long_game_driver()
    engine = driver.engine
    engine.connect("first", driver.now, account="alice")
    _at_tick(driver, 5)
    assert engine.request("first", "buyOrder", (trace(20), {"amount": 1}), driver.now).ack == [{"success": True}]
    alice = engine.player_of("first")
    engine.disconnect("first")
    forced = driver.until(lambda e: e.event == "standard/newTrade" and e.args[-1]["playerId"] == alice.id)
    assert forced.args[-1]["type"] == "sell" and forced.args[-1]["tickIndex"] == engine.game.rug_tick
    engine.connect("second", driver.now, account="alice")
    assert engine.player_of("second") is alice and alice.position_qty == 0
    assert alice.cash == pytest.approx(10 - 1 + forced.args[-1]["amount"])
    engine.connect("third", driver.now)  # no account: a fresh one
    assert engine.player_of("third") is not alice and engine.player_of("third").cash == 10
