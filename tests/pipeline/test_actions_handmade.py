"""Hand-made landing: the real public capture of 2025-12-12 with a recording player's frames written in by hand.

The real frames give the lifecycle the rules depend on (docs/PROTOCOL.md §2): the rugged game 25dcb's rug frame #2
arriving *after* the first cooldown frame of 6114, 6114's presale, ticks 1–15, rug at 16, rug frame #2, and the
genesis of 6f491e. Around them the test places orders, acks, own trades and playerUpdates that the simulator
never produces: an own trade received before the send, two sells sent on one tick with one refused, a traced buy
whose trade is lost while the next buy's arrives, a sidebet known only from its ack, and a cooldown sell whose ack is
lost followed by a later own sell in that game.
"""

from __future__ import annotations

import polars as pl
import pytest
import realdata
from pipeline_kit import run_chain

from capture_agent.landing.schema import Direction, Source, Transport
from capture_agent.landing.segments import read_landing, segment_paths
from capture_agent.landing.writer import LandingWriter
from capture_agent.protocol import socketio

ME = "did:privy:vectra-handmade"
G_OLD, G, G_NEXT = "20251212-25dcb17086a24ad7", "20251212-6114b2ff44ef4b71", "20251212-6f491efbd808458b"
SOL = "So11111111111111111111111111111111111111112"


def _trace(n: int) -> dict:
    return socketio.trace_arg(f"{n:032x}", f"{n:016x}")


def _player_update(cash: float, qty: float, avg_cost: float = 0.0) -> tuple:
    payload = {"id": ME, "cash": cash, "positionQty": qty, "avgCost": avg_cost, "totalInvested": 0.1 if qty else 0.0,
               "cumulativePnL": 0.0, "pnlPercent": 0.0, "sideBet": None, "shortPosition": None}  # fmt: skip
    return Direction.IN, socketio.encode_event("playerUpdate", payload)


def _trade(trade_id: str, game: str, kind: str, tick: int, price: float, qty: float, trace: int) -> tuple:
    payload = {"id": trade_id, "gameId": game, "playerId": ME, "username": "me", "level": 1, "price": price, "type": kind,
               "qty": qty, "tickIndex": tick, "coin": "solana", "amount": qty * price}  # fmt: skip
    return Direction.IN, socketio.encode_event("standard/newTrade", _trace(trace), payload)


def _order(event: str, ack_id: int, payload: dict, trace: int | None = None) -> tuple:
    args = (_trace(trace), payload) if trace is not None else (payload,)
    return Direction.OUT, socketio.encode_event(event, *args, ack_id=ack_id)


def _ack(ack_id: int, **fields) -> tuple:
    return Direction.IN, socketio.encode_ack(ack_id, fields)


def _insertions(records: list[dict]) -> dict[int, list[tuple]]:
    """Index of the real record → the hand-made frames received right after it."""

    def at(shape_test) -> int:
        return next(i for i, r in enumerate(records) if r["event"] == "gameStateUpdate" and shape_test(r["data"]))

    def price(game: str, tick: int) -> float:
        return records[at(lambda d: d.get("gameId") == game and d.get("tickCount") == tick and d.get("active"))]["data"]["price"]

    first_cooldown = at(lambda d: d.get("gameId") == G and "active" not in d)
    late_rug2 = at(lambda d: d.get("gameId") == G_OLD and "gameHistory" in d and d.get("rugged"))
    assert late_rug2 > first_cooldown  # the real capture's order: rug frame #2 of 25dcb after 6114's cooldown began
    presale = at(lambda d: d.get("gameId") == G and d.get("allowPreRoundBuys") is True and "active" not in d)

    def tick(game: str, n: int) -> int:
        return at(lambda d: d.get("gameId") == game and d.get("tickCount") == n and d.get("active") and not d.get("rugged"))

    rug2 = at(lambda d: d.get("gameId") == G and d.get("rugged") and "gameHistory" in d)
    genesis = at(lambda d: d.get("gameId") == G_NEXT)
    next_presale = at(lambda d: d.get("gameId") == G_NEXT and d.get("allowPreRoundBuys") is True)
    buy_qty = 0.01 / price(G, 10)
    return {
        1: [_player_update(1.0, 0.0)],
        first_cooldown: [_order("sellOrder", 1, {"percentage": 100}), _ack(1, success=False, reason="Trading is not open")],
        late_rug2: [_order("sellOrder", 2, {"percentage": 100}), _ack(2, success=False, reason="Game has rugged")],
        presale: [_order("buyOrder", 3, {"amount": 0.1}, trace=3), _player_update(0.9, 0.1, 1.0), _ack(3, success=True)],
        # an own sell received before the next sell was sent (another tab): never that sell's execution
        tick(G, 3): [_trade("x0", G, "sell", 3, price(G, 3), 0.02, 900), _player_update(0.92, 0.08, 1.0)],
        tick(G, 4): [_order("sellOrder", 4, {"percentage": 25})],
        tick(G, 5): [_trade("x1", G, "sell", 5, price(G, 5), 0.02, 901), _player_update(0.94, 0.06, 1.0), _ack(4, success=True)],
        tick(G, 7): [_order("sellOrder", 5, {"percentage": 50}), _order("sellOrder", 6, {"percentage": 50})],
        # the playerUpdate says 0.04 where own trades imply 0.03: recorded as a disagreement (rule 3)
        tick(G, 8): [_trade("x2", G, "sell", 8, price(G, 8), 0.03, 902), _player_update(0.97, 0.04, 1.0),
                     _ack(5, success=False, reason="Order already pending"), _ack(6, success=True)],  # fmt: skip
        tick(G, 9): [_order("buyOrder", 7, {"amount": 0.01}, trace=7), _order("buyOrder", 8, {"amount": 0.01}, trace=8)],
        tick(G, 10): [_trade("x3", G, "buy", 10, price(G, 10), buy_qty, 8), _player_update(0.96, 0.04 + buy_qty, 1.0),
                      _ack(8, success=True), _ack(7, success=True)],  # fmt: skip
        tick(G, 15): [_order("requestSidebet", 9, {"amount": 0.01, "coinAddress": SOL, "xPayout": 5}, trace=9),
                      _ack(9, success=True, message="Side bet placed",
                           sidebet={"playerId": ME, "gameId": G, "startTick": 15, "endTick": 55, "price": price(G, 15), "betAmount": 0.01})],  # fmt: skip
        # the rug liquidates the position: a forced sell, then the playerUpdate (docs/PROTOCOL.md §3.3)
        rug2: [_trade("x5", G, "sell", 16, records[rug2]["data"]["price"], 0.04 + buy_qty, 904), _player_update(0.95, 0.0),
               _order("requestSidebet", 10, {"amount": 0.01, "coinAddress": SOL, "xPayout": 5}, trace=10),
               _ack(10, success=False, reason="Game has rugged")],  # fmt: skip
        genesis: [_player_update(0.95, 0.0), _order("sellOrder", 11, {"percentage": 100})],  # its ack is lost
        next_presale: [_trade("x4", G_NEXT, "sell", 2, 1.1, 0.01, 903)],
    }


def _build(data_dir, *, drop_rug1_of: str | None = None):
    """Lands the real capture with the hand-made frames (optionally without a game's rug frame #1) and runs the chain."""
    records = [r for name, r in realdata.event_records() if name.startswith("capture_2025-12-12")]
    insertions = _insertions(records)
    with LandingWriter(data_dir, Source.SYNTHETIC, capture_id="handmade") as writer:
        for index, record in enumerate(records):
            data = record["data"]
            if record["event"] == "connect" or (
                isinstance(data, dict) and data.get("gameId") == drop_rug1_of and data.get("rugged") and "gameHistory" not in data
            ):
                continue
            trace = (record.get("meta") or {}).get("trace")
            args = (trace, record["data"]) if trace else (record["data"],)
            wall_ns = record["ts_ms"] * 1_000_000
            writer.frame(Direction.IN, Transport.WEBSOCKET, socketio.encode_event(record["event"], *args), recv_wall_ns=wall_ns)
            for offset, (direction, frame) in enumerate(insertions.get(index, []), start=1):
                writer.frame(direction, Transport.WEBSOCKET, frame, recv_wall_ns=wall_ns + offset * 1_000)
    dates = sorted({p.parent.name.removeprefix("date=") for p in segment_paths(data_dir)})
    result = run_chain(read_landing(data_dir, dates))
    assert result.quarantine.filter(~pl.col("explained")).height == 0
    return result


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    return _build(tmp_path_factory.mktemp("handmade"))


def _actions(chain) -> dict[int, dict]:
    return {row["ack_id"]: row for row in chain.actions.iter_rows(named=True)}


def _rug(chain, game: str) -> tuple[int, float]:
    row = chain.games.filter(pl.col("game_id") == game).row(0, named=True)
    return row["rug_tick"], row["rug_price"]


def test_context_follows_the_last_frame_before_the_send(chain):
    actions = _actions(chain)
    assert len(actions) == 11
    # cooldown of 6114: the upcoming game, no tick
    assert (actions[1]["game_id"], actions[1]["phase"], actions[1]["tick"], actions[1]["price"]) == (G, "cooldown", None, None)
    # after 25dcb's late rug frame #2: that game, rugged, its rug tick and rug price (rug frame #1's)
    rug_tick, rug_price = _rug(chain, G_OLD)
    assert (actions[2]["game_id"], actions[2]["phase"], actions[2]["tick"]) == (G_OLD, "rugged", rug_tick)
    assert actions[2]["price"] == pytest.approx(rug_price)
    assert (actions[3]["game_id"], actions[3]["phase"], actions[3]["tick"]) == (G, "presale", None)
    assert [actions[n]["tick"] for n in (4, 5, 6, 7, 8, 9)] == [4, 7, 7, 9, 9, 15]
    rug_tick, rug_price = _rug(chain, G)
    assert (actions[10]["phase"], actions[10]["tick"], actions[10]["price"]) == ("rugged", rug_tick, pytest.approx(rug_price))
    assert (actions[11]["game_id"], actions[11]["phase"], actions[11]["tick"]) == (G_NEXT, "cooldown", None)


def test_executions_are_the_orders_own(chain):
    actions = _actions(chain)
    executions = {n: (a["trade_id"], a["exec_tick"], a["slippage_ticks"]) for n, a in actions.items()}
    assert executions == {
        1: (None, None, None),  # refused
        2: (None, None, None),  # refused
        3: (None, None, None),  # presale buy: executes at tick 0, not broadcast
        4: ("x1", 5, 1),  # never x0, received before the send
        5: (None, None, None),  # refused, although an own sell follows
        6: ("x2", 8, 1),
        7: (None, None, None),  # its trade was lost; x3 carries the next buy's trace
        8: ("x3", 10, 1),
        9: (None, 15, 0),  # the placed sidebet, from its ack
        10: (None, None, None),  # refused on the rugged game
        11: (None, None, None),  # ack lost; a pre-game sell can only execute at tick 0
    }
    assert [actions[n]["ack_ok"] for n in range(1, 12)] == [False, False, True, True, False, True, True, True, True, False, None]


def test_player_state_ticks_and_disagreements(chain):
    state = chain.player_state.sort("seq")
    pre_game = state.filter(pl.col("phase").is_in(["cooldown", "presale"]))
    assert pre_game["tick"].is_null().all()
    by_game = {row["game_id"]: row for row in pre_game.iter_rows(named=True)}
    assert set(by_game) == {G, G_NEXT}  # the presale buy's update belongs to 6114, the genesis one to 6f491e
    rugged = state.filter((pl.col("game_id") == G) & (pl.col("phase") == "rugged"))
    assert rugged.height and (rugged["tick"] == _rug(chain, G)[0]).all()
    running = state.filter(pl.col("phase") == "active")
    assert running["tick"].is_not_null().all()
    assert set(range(1, 16)) <= set(running.filter(pl.col("game_id") == G)["tick"])  # carried to every observed tick
    disagreements = state.filter(pl.col("disagreement").is_not_null())
    assert disagreements["source"].to_list() == ["playerUpdate"]
    assert "implies positionQty=0.03" in disagreements["disagreement"][0].replace("imply", "implies")


def test_a_missed_rug_frame_1_leaves_the_rugged_tick_unknown_not_wrong(tmp_path):
    """Without 6114's rug frame #1 the last tick frame is tick 15: after rug frame #2 the tick is null (rug frame #2's
    tickCount is not the rug tick) and the price is still the rug price, which rug frame #2 carries."""
    chain = _build(tmp_path, drop_rug1_of=G)
    action = _actions(chain)[10]
    rug_tick, rug_price = _rug(chain, G)
    assert rug_tick == 16  # known from the next genesis frame's gameHistory
    assert (action["game_id"], action["phase"], action["tick"]) == (G, "rugged", None)
    assert action["price"] == pytest.approx(rug_price)
    rugged = chain.player_state.filter((pl.col("game_id") == G) & (pl.col("phase") == "rugged"))
    assert rugged.height and rugged["tick"].is_null().all()
