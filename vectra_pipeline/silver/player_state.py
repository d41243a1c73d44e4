"""Silver ``player_state``: the recording player's state, the one source of truth. Pure.

Rules (docs/PLAYER_STATE.md says the same for readers):

1. The recording player of a capture is ``playerUpdate.id``; captures without a playerUpdate have no rows.
2. ``playerUpdate`` is authoritative: every field it carries is taken as is (``source = playerUpdate``).
3. ``gameStatePlayerUpdate.leaderboardEntry`` (same player id) fills between playerUpdates: it sets position,
   avg cost, invested, pnl %, sidebet and short; cash and cumulative P&L are carried from the last
   playerUpdate (the entry has neither). If its position, avg cost or invested differ from the last
   playerUpdate of the same game, the row records the ``disagreement`` (the entry may lag a trade —
   docs/PROTOCOL.md §3.3 — it is recorded, never averaged).
4. Own trades must agree: the position a playerUpdate reports must equal the previous playerUpdate's plus the
   own buys minus the own sells received in between (same game); otherwise ``disagreement`` says what the
   trades imply.
5. Every tick frame (``ticks.observed_ticks``) followed by no own state frame before the capture's next tick frame
   adds a ``carried`` row at that frame: the last state, carried to that tick, so the table has the player's state
   at every observed tick.
Context of a row: ``game_id`` and ``phase`` of the last gameStateUpdate the same capture received before it (a
gameStatePlayerUpdate sets the game from its own ``gameId``); ``tick`` is the game's last tick frame while it is
active or rugged (rug frame #1 = the rug tick) and null in cooldown/presale, whose frames name the upcoming game.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import orjson
import polars as pl

from capture_agent.protocol.game import is_rug_frame
from capture_agent.protocol.rules import (
    GAME_STATE_PLAYER_UPDATE,
    GAME_STATE_UPDATE,
    IN_GAME_PHASES,
    PLAYER_UPDATE,
    Phase,
)
from vectra_pipeline.schema import conform
from vectra_pipeline.silver.ticks import game_state_rows, observed_ticks

VERSION = 1  # bump when the output would change (tests/pipeline/test_stage_versions.py)

QTY_TOLERANCE = 1e-6
_INT32 = 1 << 31
STATE_FIELDS = (
    "cash", "position_qty", "avg_cost", "cumulative_pnl", "total_invested", "pnl_percent", "sidebet_active",
    "sidebet_start_tick", "sidebet_end_tick", "sidebet_amount", "short_amount", "short_entry_price",
)  # fmt: skip


@dataclass
class State:
    values: dict = field(default_factory=lambda: dict.fromkeys(STATE_FIELDS))


def _number(value) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def as_int32(value) -> int | None:
    """A number as a 32-bit integer (the tick columns); another type, NaN, ±inf or a value beyond is null."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return int(value) if -_INT32 <= value < _INT32 else None


def _position_fields(source: dict) -> dict:
    side = source.get("sideBet") if isinstance(source.get("sideBet"), dict) else None
    short = source.get("shortPosition") if isinstance(source.get("shortPosition"), dict) else None
    active = source.get("sidebetActive")
    return {
        "position_qty": _number(source.get("positionQty")),
        "avg_cost": _number(source.get("avgCost")),
        "total_invested": _number(source.get("totalInvested")),
        "pnl_percent": _number(source.get("pnlPercent")),
        "sidebet_active": bool(active) if isinstance(active, bool) else side is not None,
        "sidebet_start_tick": as_int32(side.get("startedAtTick")) if side else None,
        "sidebet_end_tick": as_int32(side.get("end")) if side else None,
        "sidebet_amount": _number(side.get("betAmount")) if side else None,
        "short_amount": _number(short.get("amount")) if short else None,
        "short_entry_price": _number(short.get("entryPrice")) if short else None,
    }


def _differs(a, b) -> bool:
    return a is not None and b is not None and abs(a - b) > QTY_TOLERANCE * max(1.0, abs(a), abs(b))


# the frames that name a capture's recording player (rule 1): a capture without one has no rows
OWN_UPDATES = (pl.col("event") == PLAYER_UPDATE) & pl.col("contract_ok")


def build_player_state(events: pl.DataFrame, trades: pl.DataFrame) -> pl.DataFrame:
    own_updates = events.filter(OWN_UPDATES)
    owners: dict[str, str] = {}
    for capture_id, payload_json in own_updates.sort(["capture_id", "seq"]).select("capture_id", "payload_json").iter_rows():
        player_id = orjson.loads(payload_json).get("id")
        if isinstance(player_id, str):
            owners.setdefault(capture_id, player_id)
    if not owners:
        return conform(pl.DataFrame(), "player_state")
    captures = list(owners)
    relevant = events.filter(
        pl.col("capture_id").is_in(captures)
        & pl.col("contract_ok")
        & pl.col("event").is_in([PLAYER_UPDATE, GAME_STATE_PLAYER_UPDATE, GAME_STATE_UPDATE])
    ).sort(["capture_id", "seq", "packet_index"])
    tick_frames = set(observed_ticks(game_state_rows(relevant)).select("capture_id", "seq").iter_rows())
    own_trades = trades.filter(pl.col("is_own") & pl.col("capture_id").is_in(captures)).select("capture_id", "seq", "game_id", "type", "qty")
    trades_by_capture: dict[str, list[tuple]] = {}
    for capture_id, seq, game_id, kind, qty in own_trades.sort(["capture_id", "seq"]).iter_rows():
        trades_by_capture.setdefault(capture_id, []).append((seq, game_id, kind, qty or 0.0))
    out: list[dict] = []
    columns = ("capture_id", "seq", "recv_wall_ns", "event", "payload_json", "game_id", "tick_count", "phase", "frame_shape")
    current = {c: {"state": State(), "game": None, "tick_game": None, "tick": None, "rug_seen": False, "phase": None, "seen": False,
                   "carry": None, "last_update": None, "trade_i": 0, "trade_qty": 0.0}
               for c in captures}  # fmt: skip
    for capture_id, seq, wall, event, payload_json, game_id, tick, phase, shape in relevant.select(columns).iter_rows():
        ctx = current[capture_id]
        own_id = owners[capture_id]
        pending = trades_by_capture.get(capture_id, [])
        while ctx["trade_i"] < len(pending) and pending[ctx["trade_i"]][0] < seq:
            _, trade_game, kind, qty = pending[ctx["trade_i"]]
            if trade_game == ctx["game"] or ctx["game"] is None:
                ctx["trade_qty"] += qty if kind == "buy" else -qty if kind == "sell" else 0.0
            ctx["trade_i"] += 1
        if event == GAME_STATE_UPDATE:
            _enter_game(ctx, game_id)
            ctx["phase"] = phase
            if (capture_id, seq) in tick_frames:
                ctx["tick_game"], ctx["tick"], ctx["rug_seen"] = game_id, tick, is_rug_frame(shape)
                # the previous tick frame got no own row before this one: its state is the carried one
                if ctx["carry"] is not None:
                    out.append(ctx["carry"])
                ctx["carry"] = _row(capture_id, seq, own_id, ctx, "carried", wall, None) if ctx["seen"] else None
            continue
        payload = orjson.loads(payload_json)
        if event == PLAYER_UPDATE:
            if payload.get("id") != own_id:
                continue
            values = _position_fields(payload) | {
                "cash": _number(payload.get("cash")),
                "cumulative_pnl": _number(payload.get("cumulativePnL")),
            }
            disagreement = None
            previous = ctx["last_update"]
            # presale buys are not broadcast (docs/PROTOCOL.md §3.3): only in-game updates are checked against trades
            if previous is not None and ctx["phase"] in IN_GAME_PHASES and previous["position_qty"] is not None and values["position_qty"] is not None:
                implied = previous["position_qty"] + ctx["trade_qty"]
                if _differs(implied, values["position_qty"]):
                    disagreement = f"own trades imply positionQty={implied:.9g}, playerUpdate says {values['position_qty']:.9g}"
            ctx["state"] = State(values)
            ctx["last_update"] = values
            ctx["trade_qty"] = 0.0
            source = "playerUpdate"
        else:
            entry = payload.get("leaderboardEntry")
            if not isinstance(entry, dict) or entry.get("id") != own_id:
                continue
            if isinstance(payload.get("gameId"), str):
                _enter_game(ctx, payload["gameId"])
            values = _position_fields(entry)
            reference = ctx["last_update"] or {}
            mismatches = [
                f"{name}: gameStatePlayerUpdate {values[name]:.9g} vs playerUpdate {reference[name]:.9g}"
                for name in ("position_qty", "avg_cost", "total_invested")
                if _differs(values[name], reference.get(name))
            ]
            disagreement = "; ".join(mismatches) or None
            ctx["state"] = State(ctx["state"].values | values)
            source = "gameStatePlayerUpdate"
        ctx["seen"] = True
        ctx["carry"] = None
        out.append(_row(capture_id, seq, own_id, ctx, source, wall, disagreement))
    out.extend(ctx["carry"] for ctx in current.values() if ctx["carry"] is not None)
    if not out:
        return conform(pl.DataFrame(), "player_state")
    return conform(pl.DataFrame(out, infer_schema_length=None).sort(["capture_id", "seq"], maintain_order=True), "player_state")


def _enter_game(ctx: dict, game_id: str | None) -> None:
    """A frame of another game: the checks of rules 3 and 4 start over (a game's state never carries into the next)."""
    if game_id != ctx["game"]:
        ctx["last_update"] = None
        ctx["trade_qty"] = 0.0
    ctx["game"] = game_id


def _row(capture_id: str, seq: int, player_id: str, ctx: dict, source: str, wall: int, disagreement: str | None) -> dict:
    # the tick is the game's last tick frame while it runs, rug frame #1's once it has rugged (null when the capture
    # missed it, never the last running tick); a cooldown/presale row belongs to the upcoming game, which has no tick yet
    same_game = ctx["tick_game"] == ctx["game"]
    in_game = same_game and (ctx["phase"] == Phase.ACTIVE.value or (ctx["phase"] == Phase.RUGGED.value and ctx["rug_seen"]))
    return {
        "capture_id": capture_id, "seq": seq, "player_id": player_id, "game_id": ctx["game"], "tick": ctx["tick"] if in_game else None,
        "phase": ctx["phase"], **ctx["state"].values, "source": source, "recv_wall_ns": wall, "disagreement": disagreement,
    }  # fmt: skip

