"""Silver tables of a synthetic recorded session, for the gold tests and ``benchmarks/bench_gold.py``.

Prices come from the provably-fair engine (``capture_agent.protocol.fairness``) and the recording player's trades
from the protocol's trade rules (``capture_agent.protocol.trading``), so the tables obey the protocol's arithmetic:
frames a tick (250 ms) apart, trades broadcast after their tick's frame, the settlement ``playerUpdate`` before the
rug frame. Deterministic for a given seed.
"""

from __future__ import annotations

import hashlib
import random

import polars as pl

from capture_agent.protocol import trading
from capture_agent.protocol.fairness import price_path
from capture_agent.protocol.rules import (
    COOLDOWN_MS,
    CURRENT_SIDEBET,
    PLAYER_UPDATE,
    SIDEBET_PAYOUT,
    SOL_COIN,
    TICK_MS,
    Phase,
    rug_remainder_bound,
    sidebet_end_tick,
)
from vectra_pipeline.schema import conform, empty

TICK_NS = TICK_MS * 1_000_000
COOLDOWN_NS = COOLDOWN_MS * 1_000_000
PLAYER_ID = "did:privy:synthetic-recorder"
CAPTURE_ID = "synthetic-capture"


def _state_row(player: trading.Player, game_id: str, tick: int, recv: int, seq: int, source: str = PLAYER_UPDATE) -> dict:
    bet, short = player.sidebet, player.short
    return {
        "capture_id": CAPTURE_ID, "seq": seq, "player_id": PLAYER_ID, "game_id": game_id, "tick": tick,
        "phase": Phase.ACTIVE.value, "cash": player.cash, "position_qty": player.position_qty, "avg_cost": player.avg_cost,
        "cumulative_pnl": player.cumulative_pnl, "total_invested": player.total_invested, "pnl_percent": 0.0,
        "sidebet_active": bet is not None, "sidebet_start_tick": bet.start_tick if bet else None,
        "sidebet_end_tick": bet.end_tick if bet else None, "sidebet_amount": bet.bet_amount if bet else None,
        "short_amount": short.amount if short else None, "short_entry_price": short.entry_price if short else None,
        "source": source, "recv_wall_ns": recv,
    }


def synthetic_silver(n_games: int, seed: int = 0, start_ns: int = 1_765_000_000_000_000_000, bots: int = 20,
                     gapped_every: int = 0) -> dict[str, pl.DataFrame]:
    """``games``, ``game_ticks``, ``trades``, ``sidebets``, ``player_state``, ``actions`` of ``n_games`` games.

    ``gapped_every`` > 0 drops one mid-game tick row of every such game (completeness ``gapped``).
    """
    rng = random.Random(seed)
    player = trading.Player(PLAYER_ID, "recorder", 10)
    rows: dict[str, list[dict]] = {k: [] for k in ("games", "game_ticks", "trades", "sidebets", "player_state", "actions")}
    seq = 0
    clock = start_ns
    for g in range(n_games):
        server_seed = hashlib.sha256(f"{seed}-{g}".encode()).hexdigest()
        game_id = f"20251210-{hashlib.sha256(f'game-{seed}-{g}'.encode()).hexdigest()[:16]}"
        path = price_path(server_seed, game_id)
        rug = path.rug_tick
        prices = list(path.prices) + [rug_remainder_bound(path.prices[-1]) * rng.uniform(0.3, 1.0)]
        game_start = clock + COOLDOWN_NS
        frame_ns = [game_start + t * TICK_NS for t in range(rug + 1)]
        gap = rng.randrange(1, rug) if gapped_every and g % gapped_every == 0 and rug > 2 else None
        trade_count = 0
        plan = {2: ("buy", 0.05 + 0.01 * (g % 5)), 6: ("sell", 50), 12: ("sell", 100)}
        if g % 2 == 0:
            plan[4] = ("sidebet", 0.01)
        if g % 3 == 0:
            plan[3], plan[9] = ("short_open", 0.02), ("short_close", None)
        if g % 4 == 1:  # a presale buy: silver gives it (and its state) the upcoming game's id and no tick
            seq += 1
            send = game_start - 2_000_000_000
            action = {
                "action_id": f"{CAPTURE_ID}:{seq}:0", "capture_id": CAPTURE_ID, "seq": seq, "send_wall_ns": send,
                "kind": "buy", "amount": 0.02, "game_id": game_id, "phase": Phase.PRESALE.value, "tick": None,
                "cash_before": player.cash, "position_qty_before": player.position_qty, "ack_latency_ms": 30.0, "ack_ok": True,
            }
            fill = trading.buy(player, 0.02, prices[0], 0)
            trade_id = f"{game_id}-own-presale"
            rows["trades"].append({
                "trade_id": trade_id, "game_id": game_id, "player_id": PLAYER_ID, "type": "buy", "tick": 0,
                "price": prices[0], "qty": fill.qty, "amount": fill.amount, "recv_wall_ns": send + 20_000_000, "is_own": True,
            })
            action.update(trade_id=trade_id, exec_tick=0, exec_price=prices[0], slippage_ticks=0)
            rows["actions"].append(action)
            seq += 1
            presale_state = _state_row(player, game_id, None, send + 25_000_000, seq)
            rows["player_state"].append({**presale_state, "phase": Phase.PRESALE.value})
        seq += 1
        rows["player_state"].append(_state_row(player, game_id, 0, frame_ns[0] + 5_000_000, seq))
        for t in range(rug + 1):
            price = prices[t]
            bot_trades = [] if t == rug else [rng.randrange(bots) for _ in range(rng.choice((0, 0, 1, 2, 3)))]
            for i, bot in enumerate(bot_trades):
                kind = "buy" if rng.random() < 0.55 else "sell"
                amount = round(rng.uniform(0.001, 0.5), 6)
                trade_count += 1
                rows["trades"].append({
                    "trade_id": f"{game_id}-{t}-{i}", "game_id": game_id, "player_id": f"bot-{bot}", "type": kind,
                    "tick": t, "price": price, "qty": amount / price if price else 0.0, "amount": amount,
                    "recv_wall_ns": frame_ns[t] + rng.randrange(1_000_000, TICK_NS - 1_000_000), "is_own": False,
                })
            if t != gap:
                rows["game_ticks"].append({
                    "game_id": game_id, "tick": t, "price": price, "price_source": "observed",
                    "phase": Phase.RUGGED.value if t == rug else Phase.ACTIVE.value, "recv_wall_ns": frame_ns[t], "is_rug_tick": t == rug,
                    "trade_count": trade_count, "connected_players": 200 + (g + t) % 50,
                    "average_multiplier": 1.5 + (g % 7) * 0.1, "count2x": g % 9, "count10x": g % 4, "count50x": g % 2,
                    "count100x": 0, "rugpool_amount": 2.0 + 0.01 * t, "rugpool_threshold": 10.0,
                    "instarug_count": g % 6, "highest_today": 50.0 if t == 0 else None, "frames": 1,
                })
            if t == rug:
                break
            if t in plan:
                kind, value = plan[t]
                seq += 1
                send = frame_ns[t] + 40_000_000
                action = {
                    "action_id": f"{CAPTURE_ID}:{seq}:0", "capture_id": CAPTURE_ID, "seq": seq, "send_wall_ns": send,
                    "kind": kind, "amount": value if kind in ("buy", "sidebet", "short_open") else None,
                    "percentage": float(value) if kind == "sell" else None, "game_id": game_id, "phase": Phase.ACTIVE.value,
                    "tick": t, "price": price, "cash_before": player.cash, "position_qty_before": player.position_qty,
                    "ack_latency_ms": 30.0,
                }
                try:
                    if kind == "buy":
                        fill = trading.buy(player, value, price, t)
                    elif kind == "sell":
                        fill = trading.sell(player, value, price, t)
                    elif kind == "short_open":
                        fill = trading.open_short(player, value, price, t)
                    elif kind == "short_close":
                        fill = trading.close_short(player, price, t)
                    else:
                        trading.place_sidebet(player, value, game_id, t, price, 0, SOL_COIN)
                        fill = None
                        rows["sidebets"].append({
                            "game_id": game_id, "player_id": PLAYER_ID, "start_tick": t, "end_tick": sidebet_end_tick(t),
                            "bet_amount": value, "x_payout": float(SIDEBET_PAYOUT), "status": "placed",
                            "recv_wall_ns": send + 20_000_000, "source": CURRENT_SIDEBET, "is_own": True,
                        })
                    action["ack_ok"] = True
                except trading.TradeRejected as rejected:
                    fill, action["ack_ok"], action["ack_reason"] = None, False, rejected.reason
                if fill is not None:
                    trade_id = f"{game_id}-own-{t}"
                    rows["trades"].append({
                        "trade_id": trade_id, "game_id": game_id, "player_id": PLAYER_ID, "type": fill.type, "tick": t,
                        "price": price, "qty": fill.qty, "amount": fill.amount, "recv_wall_ns": send + 20_000_000,
                        "is_own": True,
                    })
                    action.update(trade_id=trade_id, exec_tick=t, exec_price=price, slippage_ticks=0)
                rows["actions"].append(action)
                seq += 1
                rows["player_state"].append(_state_row(player, game_id, t, send + 25_000_000, seq))
            if player.sidebet is not None and t + 1 > player.sidebet.end_tick:
                trading.settle_sidebet(player, won=False)
                seq += 1
                rows["player_state"].append(_state_row(player, game_id, t, frame_ns[t] + 200_000_000, seq))
        # settlement before the rug frame (docs/PROTOCOL.md §3.3): sidebet, forced sell, short close
        if player.sidebet is not None:
            trading.settle_sidebet(player, won=player.sidebet.wins(rug))
        trading.liquidate(player, prices[rug], rug)
        if player.short is not None:
            trading.close_short(player, prices[rug], rug)
        seq += 1
        rows["player_state"].append(_state_row(player, game_id, rug - 1, frame_ns[rug] - 100_000_000, seq))
        player.reset_for_game()
        rows["games"].append({
            "game_id": game_id, "first_seen_ns": clock, "last_seen_ns": frame_ns[rug], "rug_tick": rug,
            "rug_price": prices[rug], "peak": max(prices), "ticks_observed": rug + (0 if gap is not None else 1),
            "ticks_expected": rug + 1, "completeness": "gapped" if gap is not None else "complete",
            "history_only": False, "server_seed": server_seed, "fair_verified": True, "game_version": "v3",
        })
        clock = frame_ns[rug] + 1_000_000_000
    return {name: conform(pl.DataFrame(data, infer_schema_length=None), name) if data else empty(name)
            for name, data in rows.items()}
