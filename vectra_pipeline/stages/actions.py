"""Silver ``actions``: every client→server trade frame, with its context, cause, ack and execution. Pure.

* Orders: ``buyOrder`` (amount), ``sellOrder`` (percentage), ``requestSidebet`` (amount) as PROTOCOL.md §4
  documents them; no real source documents the short events, so ``shortOrder`` / ``closeShort`` are the
  simulator's names (capture_agent/simulator/engine.py).
* Context at send time: the last gameStateUpdate the capture received before the emit (game, phase) and its
  last tick frame of that game (tick, price); player state = the last ``player_state`` row before the emit.
* Cause: the last trade-control click (landing ``click`` rows) of the same kind since the previous action;
  ``bet_adjust_clicks`` are the other clicks in between, in order.
* Ack: the first ack (``43<id>``) of the same capture with the emit's ack id after it; latency in ms.
* Execution: the own ``standard/newTrade`` with the emit's trace id (the server reuses it, PROTOCOL.md §1),
  else the first own trade of the same type and game after the emit that no emit's trace id claims (presale
  buys are not broadcast, §3.3, so they usually have none); for sidebets the own
  ``currentSidebet``. ``slippage_ticks`` = execution tick − tick at send time.
"""

from __future__ import annotations

import orjson
import polars as pl

from vectra_pipeline.stages.ticks import game_state_rows, observed_ticks
from vectra_pipeline.tables import conform

ORDER_KINDS = {
    "buyOrder": "buy",
    "sellOrder": "sell",
    "requestSidebet": "sidebet",
    "shortOrder": "short_open",
    "closeShort": "short_close",
}
# Click control → order kind, from the control's id/selector (simulator page: #buy, #sell-25, #short-open…).
_CLICK_KINDS = (("short-open", "short_open"), ("short-close", "short_close"), ("sidebet", "sidebet"), ("buy", "buy"), ("sell", "sell"))


def click_kind(detail: dict) -> str | None:
    """The order kind a click asks for, or None for any other control (bet adjustments)."""
    label = " ".join(str(detail.get(key) or "") for key in ("id", "selector")).lower().replace("_", "-")
    return next((kind for token, kind in _CLICK_KINDS if token in label), None)


def _args(payload_json: str | None):
    return orjson.loads(payload_json) if payload_json else None


def build_actions(frames: pl.DataFrame, events: pl.DataFrame, trades: pl.DataFrame, player_state: pl.DataFrame) -> pl.DataFrame:
    orders = events.filter(
        (pl.col("direction") == "out") & (pl.col("socket_type") == "event") & pl.col("event").is_in(list(ORDER_KINDS))
    ).sort(["capture_id", "seq", "packet_index"])
    if orders.height == 0:
        return conform(pl.DataFrame(), "actions")
    captures = orders["capture_id"].unique().to_list()
    states = game_state_rows(events.filter(pl.col("capture_id").is_in(captures)))
    context = states.sort(["capture_id", "seq"]).select("capture_id", "seq", pl.col("game_id").alias("ctx_game"), pl.col("phase").alias("ctx_phase"))
    tick_frames = (
        observed_ticks(states)
        .sort(["capture_id", "seq"])
        .select("capture_id", "seq", pl.col("game_id").alias("tick_game"), pl.col("tick_count").alias("ctx_tick"), pl.col("price").alias("ctx_price"))
    )
    state_rows = _with_open_tick(player_state.filter(pl.col("capture_id").is_in(captures)))
    base = (
        orders.select("capture_id", "seq", "packet_index", "event", "recv_wall_ns", "ack_id", "trace_id", "payload_json")
        .join_asof(context, on="seq", by="capture_id", strategy="backward", allow_exact_matches=False, check_sortedness=False)
        .join_asof(tick_frames, on="seq", by="capture_id", strategy="backward", allow_exact_matches=False, check_sortedness=False)
        .join_asof(
            state_rows.select("capture_id", "seq", pl.col("cash").alias("cash_before"),
                              pl.col("position_qty").alias("position_qty_before"), "open_tick"),
            on="seq", by="capture_id", strategy="backward", allow_exact_matches=False, check_sortedness=False,
        )  # fmt: skip
    )
    acks = _acks(events.filter(pl.col("capture_id").is_in(captures)))
    clicks = _clicks(frames.filter(pl.col("capture_id").is_in(captures)))
    own_trades = trades.filter(pl.col("is_own")).sort(["capture_id", "seq"])
    own_sidebets = events.filter(
        pl.col("capture_id").is_in(captures) & (pl.col("event") == "currentSidebet") & (pl.col("direction") == "in")
    ).sort(["capture_id", "seq"])
    rows = []
    # trades another emit's trace id claims are never a fallback match (e.g. for a presale buy, not broadcast)
    used_trades: set[str] = set(own_trades.filter(pl.col("trace_id").is_in(base["trace_id"].drop_nulls().implode()))["trade_id"])
    used_sidebets: set[tuple] = set()
    previous: dict[str, tuple[int, str | None, int | None]] = {}  # capture → (seq, game, tick) of its last action
    for order in base.iter_rows(named=True):
        capture, seq = order["capture_id"], order["seq"]
        kind = ORDER_KINDS[order["event"]]
        args = _args(order["payload_json"])
        payload = args if isinstance(args, dict) else {}
        game = order["ctx_game"]
        tick = order["ctx_tick"] if order["tick_game"] == game else None
        price = order["ctx_price"] if order["tick_game"] == game else None
        last_seq, last_game, last_tick = previous.get(capture, (-1, None, None))
        click, adjusts = _cause(clicks.get(capture, []), last_seq, seq, kind)
        ack = _match_ack(acks.get((capture, order["ack_id"]), []), seq) if order["ack_id"] is not None else None
        execution = (
            _match_sidebet(own_sidebets, capture, seq, order["trace_id"], used_sidebets)
            if kind == "sidebet"
            else _match_trade(own_trades, capture, seq, game, kind, order["trace_id"], used_trades)
        )
        exec_tick = execution[1] if execution else None
        rows.append(
            {
                "action_id": f"{capture}:{seq}:{order['packet_index']}", "capture_id": capture, "seq": seq,
                "event": order["event"], "send_wall_ns": order["recv_wall_ns"], "kind": kind,
                "amount": _float(payload.get("amount")), "percentage": _float(payload.get("percentage")),
                "ack_id": order["ack_id"], "trace_id": order["trace_id"], "game_id": game, "phase": order["ctx_phase"],
                "tick": tick, "price": price, "cash_before": order["cash_before"],
                "position_qty_before": order["position_qty_before"],
                "ticks_since_last_action": tick - last_tick if tick is not None and last_tick is not None and last_game == game else None,
                "ticks_in_position": tick - order["open_tick"] if tick is not None and order["open_tick"] is not None and (order["position_qty_before"] or 0) > 0 else None,
                "click_seq": click[0] if click else None, "click_wall_ns": click[1] if click else None,
                "bet_adjust_clicks": orjson.dumps(adjusts).decode(),
                "ack_ok": ack[0] if ack else None, "ack_reason": ack[1] if ack else None,
                "ack_latency_ms": (ack[2] - order["recv_wall_ns"]) / 1e6 if ack else None,
                "trade_id": execution[0] if execution else None, "exec_tick": exec_tick,
                "exec_price": execution[2] if execution else None,
                "slippage_ticks": exec_tick - tick if exec_tick is not None and tick is not None else None,
            }
        )  # fmt: skip
        previous[capture] = (seq, game, tick)
    return conform(pl.DataFrame(rows, infer_schema_length=None), "actions")


def _float(value) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _with_open_tick(states: pl.DataFrame) -> pl.DataFrame:
    """Adds ``open_tick``: the tick at which the current position was opened (null when flat)."""
    open_ticks = []
    last: dict[str, int | None] = {}
    ordered = states.sort(["capture_id", "seq"])
    for capture, qty, tick in ordered.select("capture_id", "position_qty", "tick").iter_rows():
        held = (qty or 0) > 0
        if not held:
            last[capture] = None
        elif last.get(capture) is None:
            last[capture] = tick
        open_ticks.append(last.get(capture))
    return ordered.with_columns(pl.Series("open_tick", open_ticks, dtype=pl.Int32))


def _acks(events: pl.DataFrame) -> dict[tuple[str, int], list[tuple[int, int, str | None]]]:
    acks: dict[tuple[str, int], list] = {}
    for capture, seq, ack_id, wall, payload_json in (
        events.filter((pl.col("socket_type") == "ack") & (pl.col("direction") == "in") & pl.col("ack_id").is_not_null())
        .sort(["capture_id", "seq"])
        .select("capture_id", "seq", "ack_id", "recv_wall_ns", "payload_json")
        .iter_rows()
    ):
        acks.setdefault((capture, ack_id), []).append((seq, wall, payload_json))
    return acks


def _match_ack(candidates: list, seq: int):
    """(ok, reason, recv_wall_ns) of the first ack after the emit."""
    for ack_seq, wall, payload_json in candidates:
        if ack_seq > seq:
            args = _args(payload_json) or []
            first = args[0] if args and isinstance(args[0], dict) else {}
            ok = first.get("success") if isinstance(first.get("success"), bool) else None
            reason = next((first[k] for k in ("message", "reason", "error") if isinstance(first.get(k), str)), None)
            return ok, reason, wall
    return None


def _clicks(frames: pl.DataFrame) -> dict[str, list[tuple[int, int, str | None, dict]]]:
    clicks: dict[str, list] = {}
    for capture, seq, wall, detail in (
        frames.filter(pl.col("record_type") == "click").sort(["capture_id", "seq"]).select("capture_id", "seq", "recv_wall_ns", "detail").iter_rows()
    ):
        try:
            parsed = orjson.loads(detail) if detail else {}
        except orjson.JSONDecodeError:
            parsed = {"raw": detail}
        parsed = parsed if isinstance(parsed, dict) else {"raw": parsed}
        clicks.setdefault(capture, []).append((seq, wall, click_kind(parsed), parsed))
    return clicks


def _cause(clicks: list, after_seq: int, before_seq: int, kind: str):
    """(seq, wall) of the click that caused the order and the bet-adjust clicks leading to it."""
    window = [c for c in clicks if after_seq < c[0] < before_seq]
    cause = next(((s, w) for s, w, k, _ in reversed(window) if k == kind), None)
    adjusts = [
        {"seq": s, "wall_ns": w, "control": d.get("id") or d.get("selector") or d.get("text"), "amount": d.get("amount")}
        for s, w, k, d in window
        if k is None
    ]
    return cause, adjusts


def _match_trade(trades: pl.DataFrame, capture: str, seq: int, game: str | None, kind: str, trace_id: str | None, used: set[str]):
    """(trade_id, tick, price) of the own trade the order produced."""
    mine = trades.filter((pl.col("capture_id") == capture) & (pl.col("seq") > seq))
    if trace_id is not None:
        traced = mine.filter(pl.col("trace_id") == trace_id)
        if traced.height:
            trade = traced.row(0, named=True)
            return trade["trade_id"], trade["tick"], trade["price"]
    for trade in mine.filter(pl.col("type") == kind).iter_rows(named=True):
        if trade["trade_id"] not in used and (game is None or trade["game_id"] == game):
            used.add(trade["trade_id"])
            return trade["trade_id"], trade["tick"], trade["price"]
    return None


def _match_sidebet(sidebets: pl.DataFrame, capture: str, seq: int, trace_id: str | None, used: set[tuple]):
    """(None, start tick, price) of the own currentSidebet the request produced."""
    mine = sidebets.filter((pl.col("capture_id") == capture) & (pl.col("seq") > seq))
    ordered = mine.filter(pl.col("trace_id") == trace_id) if trace_id is not None else mine.head(0)
    for candidate in (ordered, mine):
        for row in candidate.iter_rows(named=True):
            key = (row["capture_id"], row["seq"])
            if key in used:
                continue
            payload = _args(row["payload_json"]) or {}
            used.add(key)
            return None, payload.get("startTick"), _float(payload.get("price"))
    return None

