"""What the engine sends: :class:`Emission` records (one Socket.IO event each), the :class:`Reply` to a client emit,
the :class:`Outbox` part of the engine that queues them, and :class:`WireEncoder`, which turns them into frame text
byte-identical to ``socketio.encode_event``. Pure."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import orjson

from capture_agent.protocol import jsjson
from capture_agent.protocol.rules import GAME_STATE_PLAYER_UPDATE, GAME_STATE_UPDATE
from capture_agent.protocol.socketio import encode_event, trace_arg


@dataclass(frozen=True, slots=True)
class Emission:
    """One server → client Socket.IO event: ``target`` None is a broadcast, else a client id."""

    at_ms: int
    event: str
    args: tuple
    target: str | None = None


@dataclass(frozen=True, slots=True)
class Reply:
    """The answer to a client emit: what the server sends first, then the ack arguments ``43<id>[…]``."""

    emissions: list[Emission]
    ack: list


class Outbox:
    """The engine's queue of emissions, stamped with its clock (part of ``lifecycle.SimulatorEngine``; uses its
    ``_now``, ``_out``, ``_rng`` and ``_clients``)."""

    def _emit(self, event: str, *args: Any, target: str | None = None) -> None:
        self._out.append(Emission(self._now, event, args, target))

    def _drain(self) -> list[Emission]:
        out, self._out = self._out, []
        return out

    def _broadcast_state(self, frame: dict, *, player_updates: bool = True) -> None:
        """A ``gameStateUpdate`` broadcast, then each authenticated client's ``gameStatePlayerUpdate``."""
        self._emit(GAME_STATE_UPDATE, frame)
        if player_updates:
            for client_id, client in self._clients.items():
                if client.authenticated:
                    self._emit(GAME_STATE_PLAYER_UPDATE, self._player_container(client.player), target=client_id)

    def _uuid(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def _trace(self, trace_id: str | None) -> dict:
        """The W3C trace argument: the request's trace id when there is one, a fresh span id always."""
        return trace_arg(trace_id or f"{self._rng.getrandbits(128):032x}", f"{self._rng.getrandbits(64):016x}")


class WireEncoder:
    """``socketio.encode_event`` with each revealed ``gameHistory`` entry serialised once: the same ten entries
    repeat in every full frame and dominate the encoding time. The output is byte-identical (JSON composes)."""

    def __init__(self) -> None:
        self._entries: dict[str, orjson.Fragment] = {}
        self._board: list | None = None  # kept referenced, so ``is`` cannot match a recycled object
        self._board_json = orjson.Fragment(b"[]")

    def encode(self, event: str, args: tuple) -> str:
        payload = args[-1] if args else None
        if event == GAME_STATE_UPDATE and isinstance(payload, dict):
            payload = dict(payload)
            if "gameHistory" in payload:
                history = payload["gameHistory"]
                self._entries = {entry["id"]: self._entries.get(entry["id"]) or orjson.Fragment(jsjson.dumps(entry))
                                 for entry in history}
                payload["gameHistory"] = [self._entries[entry["id"]] for entry in history]
            board = payload.get("leaderboard")
            if board:  # the engine reuses one board object across cooldown and presale frames until it changes
                if board is not self._board:
                    self._board, self._board_json = board, orjson.Fragment(jsjson.dumps(board))
                payload["leaderboard"] = self._board_json
            args = (*args[:-1], payload)
        return encode_event(event, *args)
