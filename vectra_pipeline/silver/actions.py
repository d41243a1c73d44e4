"""Silver ``actions``: every client→server trade frame, with its context, cause, ack and execution. Pure.

* Orders: ``buyOrder`` (amount), ``sellOrder`` (percentage), ``requestSidebet`` (amount) as docs/PROTOCOL.md §4
  documents them; no real source documents the short events, so ``shortOrder`` / ``closeShort`` are the
  simulator's names (``capture_agent.protocol.rules``).
* Context at send time: the last gameStateUpdate the capture received before the emit gives ``game_id`` and
  ``phase`` (cooldown/presale frames already carry the *upcoming* game's id); while the game runs ``tick``/``price``
  are those of the capture's last tick frame (``ticks.observed_ticks``) of that game; once rugged, the tick is rug
  frame #1's (null when the capture missed it) and the price the rug price both rug frames carry; in
  cooldown/presale both are null (the game has no tick yet).
  Player state = the last ``player_state`` row before the emit.
* Cause: the last trade-control click (landing ``click`` rows) of the same kind since the previous action;
  ``bet_adjust_clicks`` are the other clicks in between, in order. A click's kind comes from the words of its
  control's id, the selector that matched it, its accessible name, then its visible text — the first that names
  one ("BUY", "sell-25", "SIDEBET", "Side bet", "short-open", "CLOSE SHORT"): the capture records every button
  without selectors, so rugs.fun's buttons are read by their labels.
* Ack: the first ack (``43<id>``) of the same capture with the emit's ack id after it; latency in ms.
* Execution (docs/PLAYER_STATE.md "Actions and their executions" says the same for readers): none when the ack
  says ``success: false``. Otherwise, for buys, sells and shorts the own ``standard/newTrade`` of the order's type
  (``short_open``/``short_close`` for shorts): the one with the emit's trace id (the server reuses it,
  docs/PROTOCOL.md §1), else the first own trade of that type and game received after the emit that no other action
  took and no other emit's trace id claims. For a sidebet the placed bet: the own ``currentSidebet`` chosen by
  the same rule (``exec_tick`` = its ``startTick``, ``exec_price`` its ``price``, no ``trade_id``), else the
  ``sidebet`` object of its success ack. An order sent before the game started executes at tick 0 or not at all
  (presale buys are not broadcast, §3.3, so they usually have none). ``slippage_ticks`` = execution tick − tick
  at send time, when both are ticks of the same game.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from itertools import islice
from typing import NamedTuple

import orjson
import polars as pl

from capture_agent.protocol.game import is_rug_frame
from capture_agent.protocol.rules import CURRENT_SIDEBET, ORDER_KINDS, PRE_GAME_PHASES, Phase
from vectra_pipeline.schema import conform
from vectra_pipeline.silver.player_state import as_int32
from vectra_pipeline.silver.ticks import game_state_rows, observed_ticks

VERSION = 1  # bump when the output would change (tests/pipeline/test_stage_versions.py)

_CLICK_LABELS = ("id", "selector", "name", "text")  # a click's labels, most specific first
_CAMEL_HUMP = re.compile(r"(?<=[a-z])(?=[A-Z])")  # sellButton → sell Button


def click_kind(detail: dict) -> str | None:
    """The order kind a click asks for, or None for any other control (bet adjustments)."""
    for key in _CLICK_LABELS:
        kind = _label_kind(str(detail.get(key) or ""))
        if kind is not None:
            return kind
    return None


def _label_kind(label: str) -> str | None:
    words = re.findall(r"[a-z]+", _CAMEL_HUMP.sub(" ", label).lower())
    if "sidebet" in words or any(pair == ("side", "bet") for pair in zip(words, words[1:])):
        return "sidebet"
    if "short" in words:
        return "short_close" if "close" in words else "short_open"
    if "buy" in words:
        return "buy"
    if "sell" in words:
        return "sell"
    return None


def _args(payload_json: str | None):
    return orjson.loads(payload_json) if payload_json else None


# the emits that are orders: a capture without one has no actions (every public-socket capture)
ORDERS = (pl.col("direction") == "out") & (pl.col("socket_type") == "event") & pl.col("event").is_in(list(ORDER_KINDS))


def build_actions(frames: pl.DataFrame, events: pl.DataFrame, trades: pl.DataFrame, player_state: pl.DataFrame) -> pl.DataFrame:
    orders = events.filter(ORDERS).sort(["capture_id", "seq", "packet_index"])
    if orders.height == 0:
        return conform(pl.DataFrame(), "actions")
    captures = orders["capture_id"].unique().to_list()
    base = _with_context(orders, events.filter(pl.col("capture_id").is_in(captures)))
    state_rows = _with_open_tick(player_state.filter(pl.col("capture_id").is_in(captures)))
    base = base.join_asof(
        state_rows.select("capture_id", "seq", pl.col("cash").alias("cash_before"),
                          pl.col("position_qty").alias("position_qty_before"), "open_tick"),
        on="seq", by="capture_id", strategy="backward", allow_exact_matches=False, check_sortedness=False,
    )  # fmt: skip
    acks = _acks(events.filter(pl.col("capture_id").is_in(captures)))
    clicks = _clicks(frames.filter(pl.col("capture_id").is_in(captures)))
    executions = _executions(events.filter(pl.col("capture_id").is_in(captures)), trades.filter(pl.col("capture_id").is_in(captures)))
    # an execution carrying an emit's trace id belongs to that emit: it is never another order's fallback match
    claimed_traces = set(base["trace_id"].drop_nulls())
    taken: set = set()
    rows = []
    previous: dict[str, tuple[int, str | None, int | None]] = {}  # capture → (seq, game, tick) of its last action
    for order in base.iter_rows(named=True):
        capture, seq = order["capture_id"], order["seq"]
        kind = ORDER_KINDS[order["event"]]
        args = _args(order["payload_json"])
        payload = args if isinstance(args, dict) else {}
        game, tick = order["ctx_game"], order["ctx_tick"]
        last_seq, last_game, last_tick = previous.get(capture, (-1, None, None))
        click, adjusts = _cause(clicks.get(capture, []), last_seq, seq, kind)
        ack = _match_ack(acks.get((capture, order["ack_id"]), []), seq) if order["ack_id"] is not None else None
        execution = None
        if ack is None or ack.ok is not False:
            pre_game = order["ctx_phase"] in PRE_GAME_PHASES
            execution = _match_execution(executions.get((capture, kind), []), seq, game, pre_game, order["trace_id"], claimed_traces, taken)
            if execution is None and kind == "sidebet" and ack is not None and ack.ok:
                execution = _ack_sidebet(ack.payload)
        exec_tick = execution[1] if execution else None
        # slippage compares ticks of one game; a context of another game (a transcription's spliced snippets) has none
        same_game = execution is not None and execution[3] == game
        rows.append(
            {
                "action_id": f"{capture}:{seq}:{order['packet_index']}", "capture_id": capture, "seq": seq,
                "event": order["event"], "send_wall_ns": order["recv_wall_ns"], "kind": kind,
                "amount": _float(payload.get("amount")), "percentage": _float(payload.get("percentage")),
                "ack_id": order["ack_id"], "trace_id": order["trace_id"], "game_id": game, "phase": order["ctx_phase"],
                "tick": tick, "price": order["ctx_price"], "cash_before": order["cash_before"],
                "position_qty_before": order["position_qty_before"],
                "ticks_since_last_action": tick - last_tick if tick is not None and last_tick is not None and last_game == game else None,
                "ticks_in_position": tick - order["open_tick"] if tick is not None and order["open_tick"] is not None and (order["position_qty_before"] or 0) > 0 else None,
                "click_seq": click[0] if click else None, "click_wall_ns": click[1] if click else None,
                "bet_adjust_clicks": orjson.dumps(adjusts).decode(),
                "ack_ok": ack.ok if ack else None, "ack_reason": ack.reason if ack else None,
                "ack_latency_ms": (ack.wall_ns - order["recv_wall_ns"]) / 1e6 if ack else None,
                "trade_id": execution[0] if execution else None, "exec_tick": exec_tick,
                "exec_price": execution[2] if execution else None,
                "slippage_ticks": exec_tick - tick if same_game and exec_tick is not None and tick is not None else None,
            }
        )  # fmt: skip
        previous[capture] = (seq, game, tick)
    return conform(pl.DataFrame(rows, infer_schema_length=None), "actions")


def _with_context(orders: pl.DataFrame, events: pl.DataFrame) -> pl.DataFrame:
    """Adds ``ctx_game``, ``ctx_phase`` (last gameStateUpdate before the emit), ``ctx_tick``, ``ctx_price``."""
    states = game_state_rows(events)
    context = states.sort(["capture_id", "seq"]).select(
        "capture_id", "seq", pl.col("game_id").alias("ctx_game"), pl.col("phase").alias("ctx_phase"), pl.col("price").alias("ctx_frame_price")
    )
    tick_frames = (
        observed_ticks(states)
        .sort(["capture_id", "seq"])
        .select("capture_id", "seq", pl.col("game_id").alias("tick_game"), pl.col("tick_count").alias("tick_frame_tick"),
                pl.col("price").alias("tick_frame_price"), is_rug_frame(pl.col("frame_shape")).alias("tick_frame_is_rug"))
    )  # fmt: skip
    # A tick belongs to the context only when it is the same game's and the game is running or rugged: a
    # cooldown/presale frame names the upcoming game, which has no tick yet. Once rugged, the tick is rug frame #1's
    # (null when the capture missed it, never the last running tick) and the price the rug price, which both rug
    # frames carry (docs/PROTOCOL.md §2).
    same_game = pl.col("tick_game") == pl.col("ctx_game")
    running = same_game & (pl.col("ctx_phase") == Phase.ACTIVE.value)
    rugged = pl.col("ctx_phase") == Phase.RUGGED.value
    return (
        orders.select("capture_id", "seq", "packet_index", "event", "recv_wall_ns", "ack_id", "trace_id", "payload_json")
        .join_asof(context, on="seq", by="capture_id", strategy="backward", allow_exact_matches=False, check_sortedness=False)
        .join_asof(tick_frames, on="seq", by="capture_id", strategy="backward", allow_exact_matches=False, check_sortedness=False)
        .with_columns(
            pl.when(running | (rugged & same_game & pl.col("tick_frame_is_rug"))).then(pl.col("tick_frame_tick")).alias("ctx_tick"),
            pl.when(running).then(pl.col("tick_frame_price")).when(rugged).then(pl.col("ctx_frame_price")).alias("ctx_price"),
        )
    )


def _float(value) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _with_open_tick(states: pl.DataFrame) -> pl.DataFrame:
    """Adds ``open_tick``: the tick at which the current position was opened (null when flat).

    A position first seen before its game started (a presale buy) was opened at tick 0, where presale buys execute.
    """
    open_ticks = []
    last: dict[str, int | None] = {}
    ordered = states.sort(["capture_id", "seq"])
    for capture, qty, tick, phase in ordered.select("capture_id", "position_qty", "tick", "phase").iter_rows():
        held = (qty or 0) > 0
        if not held:
            last[capture] = None
        elif last.get(capture) is None:
            last[capture] = 0 if tick is None and phase in PRE_GAME_PHASES else tick
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


class _Ack(NamedTuple):
    ok: bool | None
    reason: str | None
    wall_ns: int
    payload: dict  # the ack's first argument (e.g. a sidebet ack's ``sidebet``)


def _match_ack(candidates: list, seq: int) -> _Ack | None:
    """The first ack after the emit."""
    for ack_seq, wall, payload_json in candidates:
        if ack_seq > seq:
            args = _args(payload_json) or []
            first = args[0] if args and isinstance(args[0], dict) else {}
            ok = first.get("success") if isinstance(first.get("success"), bool) else None
            reason = next((first[k] for k in ("message", "reason", "error") if isinstance(first.get(k), str)), None)
            return _Ack(ok, reason, wall, first)
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
        {"seq": s, "wall_ns": w, "control": next((d[key] for key in _CLICK_LABELS if d.get(key)), None), "amount": d.get("amount")}
        for s, w, k, d in window
        if k is None
    ]
    return cause, adjusts


class _Execution(NamedTuple):
    capture_id: str
    seq: int
    trace_id: str | None
    game_id: str | None
    trade_id: str | None
    tick: int | None
    price: float | None


def _executions(events: pl.DataFrame, trades: pl.DataFrame) -> dict[tuple[str, str], list[_Execution]]:
    """(capture, order kind) → the recording player's executions of that kind, in receipt order: own trades by
    type, own ``currentSidebet`` frames for sidebets."""
    out: dict[tuple[str, str], list[_Execution]] = {}
    own = trades.filter(pl.col("is_own")).sort(["capture_id", "seq"])
    for capture, seq, trace, game, trade_id, kind, tick, price in own.select(
        "capture_id", "seq", "trace_id", "game_id", "trade_id", "type", "tick", "price"
    ).iter_rows():
        out.setdefault((capture, kind), []).append(_Execution(capture, seq, trace, game, trade_id, tick, price))
    placed = events.filter((pl.col("event") == CURRENT_SIDEBET) & (pl.col("direction") == "in")).sort(["capture_id", "seq"])
    for capture, seq, trace, game, payload_json in placed.select("capture_id", "seq", "trace_id", "game_id", "payload_json").iter_rows():
        payload = _args(payload_json)
        payload = payload if isinstance(payload, dict) else {}
        out.setdefault((capture, "sidebet"), []).append(
            _Execution(capture, seq, trace, game, None, as_int32(payload.get("startTick")), _float(payload.get("price")))
        )
    return out


def _match_execution(
    candidates: list[_Execution], seq: int, game: str | None, pre_game: bool, trace_id: str | None, claimed: set[str], taken: set
) -> tuple[str | None, int | None, float | None, str | None] | None:
    """(trade_id, tick, price, game_id) of the execution the order produced, marking it taken; None when there is none.

    The execution with the order's trace id, else the first one after the order in the same game that is neither
    taken nor claimed by another emit's trace id. An order sent before its game started can only execute at tick 0.
    """
    start = bisect_right(candidates, seq, key=lambda c: c.seq)  # never an execution received before the send
    traced = (c for c in islice(candidates, start, None) if trace_id is not None and c.trace_id == trace_id and c not in taken)
    fallback = (
        c for c in islice(candidates, start, None)
        if c not in taken and c.trace_id not in claimed and (game is None or c.game_id == game) and (not pre_game or c.tick == 0)
    )  # fmt: skip
    match = next(traced, None) or next(fallback, None)
    if match is None:
        return None
    taken.add(match)
    return match.trade_id, match.tick, match.price, match.game_id


def _ack_sidebet(ack: dict) -> tuple[None, int | None, float | None, str | None] | None:
    """(None, start tick, price, game_id) from a success ack's ``sidebet`` object (docs/PROTOCOL.md §4), when it has one."""
    sidebet = ack.get("sidebet")
    if not isinstance(sidebet, dict) or as_int32(sidebet.get("startTick")) is None:
        return None
    game = sidebet.get("gameId")
    return None, as_int32(sidebet.get("startTick")), _float(sidebet.get("price")), game if isinstance(game, str) else None
