"""Orders: a client's emits (``buyOrder``, ``sellOrder``, ``requestSidebet``, the short pair, ``authenticate``,
``ping``) and the bots' intents become trades by the protocol's rules (``capture_agent.protocol.trading``), their
broadcasts, the client's own updates and the ack. Part of ``lifecycle.SimulatorEngine``. Pure."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from capture_agent.protocol import trading
from capture_agent.protocol.rules import (
    AUTHENTICATE,
    BUY_ORDER,
    CLOSE_SHORT,
    CURRENT_SIDEBET,
    GAME_STATE_PLAYER_UPDATE,
    NEW_TRADE,
    PING,
    PLAYER_UPDATE,
    REQUEST_SIDEBET,
    SELL_ORDER,
    SHORT_ORDER,
    SOL_COIN,
    Phase,
)
from capture_agent.protocol.socketio import is_trace_arg, trace_id_of
from capture_agent.protocol.trading import Fill, Player, TradeRejected
from simulator import bots as botlib
from simulator.engine import payloads
from simulator.engine.wire import Reply


@dataclass(slots=True)
class Client:
    """A connected client: its practice account, and whether it gets the per-player updates (docs/TRAPS.md §4)."""

    player: Player
    authenticated: bool = False


Handler = Callable[[Client, dict, str | None], dict | None]


class Requests:
    """The order handling of ``lifecycle.SimulatorEngine`` (uses its ``game``, ``phase``, ``tick``, ``_clients``,
    ``rugpool`` and its outbox)."""

    def request(self, client_id: str, event: str, args: tuple | list, now_ms: int) -> Reply:
        """A client emit: returns the frames it causes and the ack arguments (sent when the emit has an ack id)."""
        pending = self.advance(now_ms)
        self._now = max(self._now, now_ms)
        client = self._clients.get(client_id)
        handler = self._handlers().get(event)
        if client is None:
            return Reply(pending, [{"success": False, "reason": "Not connected"}])
        if handler is None:
            return Reply(pending, [{"success": False, "reason": f"Unknown event {event}"}])
        args = tuple(args)
        trace_id = trace_id_of(args)
        payload = args[-1] if args and isinstance(args[-1], dict) and not is_trace_arg(args[-1]) else {}
        try:
            ack = handler(client, payload, trace_id)
        except TradeRejected as rejected:
            ack = {"success": False, "reason": rejected.reason}
        return Reply(pending + self._drain(), [] if ack is None else [ack])

    def _handlers(self) -> dict[str, Handler]:
        """The client events answered with an ack; the short pair's real names are unknown (docs/PROTOCOL.md §4)."""
        return {
            BUY_ORDER: self._on_buy,
            SELL_ORDER: self._on_sell,
            REQUEST_SIDEBET: self._on_sidebet,
            SHORT_ORDER: self._on_short,
            CLOSE_SHORT: self._on_close_short,
            AUTHENTICATE: self._on_authenticate,
            PING: lambda client, payload, trace: None,
        }

    def _on_authenticate(self, client: Client, payload: dict, trace_id: str | None) -> dict:
        client.authenticated = True
        self._emit_player_state(client, with_container=False)
        return {"success": True}

    def _live_price(self) -> float:
        return self.game.prices[self.tick]

    def _require_trading(self, *, presale_ok: bool) -> None:
        if self.phase == Phase.ACTIVE or (presale_ok and self.phase == Phase.PRESALE):
            return
        raise TradeRejected("Trading is not open: wait for the next game" if self.phase != Phase.RUGGED else "Game has rugged")

    def _on_buy(self, client: Client, payload: dict, trace_id: str | None) -> dict:
        self._require_trading(presale_ok=True)
        client.authenticated = True
        player = client.player
        if self.phase == Phase.PRESALE:  # executed at tick 0, price prices[0] = 1; not broadcast (§3.3 Q1)
            self._presale_buy(player, payload.get("amount"))
            self._emit_player_state(client, gspu_first=True)
            return {"success": True}
        fill = trading.buy(player, payload.get("amount"), self._live_price(), self.tick)
        self._record_fill(player, fill, trace_id)
        self._emit_player_state(client)
        return {"success": True}

    def _on_sell(self, client: Client, payload: dict, trace_id: str | None) -> dict:
        self._require_trading(presale_ok=False)
        client.authenticated = True
        fill = trading.sell(client.player, payload.get("percentage"), self._live_price(), self.tick)
        self._record_fill(client.player, fill, trace_id)
        self._emit_player_state(client)
        return {"success": True}

    def _on_short(self, client: Client, payload: dict, trace_id: str | None) -> dict:
        self._require_trading(presale_ok=False)
        client.authenticated = True
        fill = trading.open_short(client.player, payload.get("amount"), self._live_price(), self.tick)
        self._record_fill(client.player, fill, trace_id)
        self._emit_player_state(client)
        return {"success": True}

    def _on_close_short(self, client: Client, payload: dict, trace_id: str | None) -> dict:
        self._require_trading(presale_ok=False)
        fill = trading.close_short(client.player, self._live_price(), self.tick)
        self._record_fill(client.player, fill, trace_id)
        self._emit_player_state(client)
        return {"success": True}

    def _on_sidebet(self, client: Client, payload: dict, trace_id: str | None) -> dict:
        self._require_trading(presale_ok=True)
        client.authenticated = True
        placed = self._place_sidebet(client.player, payload.get("amount"), payload.get("coinAddress"), trace_id)
        self._emit_player_state(client, with_container=False)
        return payloads.sidebet_ack(placed)

    # -- the bots: the same rules, nothing sent back --------------------------------------------------------------

    def _bots_trade(self) -> None:
        price = self._live_price()
        for bot in self.bots:
            for intent in botlib.tick_intents(self._bot_rng, bot, self.tick, price):
                self._bot_act(bot, intent)

    def _bot_act(self, bot: Player, intent: botlib.Intent) -> None:
        if bot.cash < 1:
            bot.cash += botlib.BOT_CASH  # practice money: bots never go broke
        try:
            if intent.action == "sidebet":
                self._place_sidebet(bot, intent.value, payloads.PRACTICE_COIN if self._rng.random() < 0.2 else None, None)
            elif self.phase == Phase.PRESALE:
                self._presale_buy(bot, intent.value)
            elif intent.action == "buy":
                self._record_fill(bot, trading.buy(bot, intent.value, self._live_price(), self.tick), None)
            elif intent.action == "sell":
                self._record_fill(bot, trading.sell(bot, intent.value, self._live_price(), self.tick), None)
            elif intent.action == "short":
                self._record_fill(bot, trading.open_short(bot, intent.value, self._live_price(), self.tick), None)
            elif intent.action == "close_short":
                self._record_fill(bot, trading.close_short(bot, self._live_price(), self.tick), None)
        except TradeRejected:
            pass  # a bot's impossible wish is simply not sent

    # -- shared trade plumbing -------------------------------------------------------------------------------------

    def _presale_buy(self, player: Player, amount: object) -> None:
        """A buy before tick 0: executed at price ``prices[0]`` = 1, counted, shown on the presale board."""
        trading.buy(player, amount, self.game.prices[0], 0)
        self.game.trade_count += 1
        self._presale_changed = True
        self.rugpool.add(player, amount)

    def _place_sidebet(self, player: Player, amount: object, coin: object, trace_id: str | None) -> dict:
        tick = self.tick if self.phase == Phase.ACTIVE else 0
        price = self.game.prices[tick]
        coin_address = coin if isinstance(coin, str) and coin else SOL_COIN
        bet = trading.place_sidebet(player, amount, self.game.game_id, tick, price, self._now, coin_address)
        self._presale_changed = True
        self.game.global_sidebets.append(payloads.global_sidebet_placed(player, bet, self._uuid()))
        placed = payloads.sidebet_placed(player, bet, tick)
        client_id = self._client_id(player)
        if client_id is not None:
            self._emit(CURRENT_SIDEBET, self._trace(trace_id), placed, target=client_id)
        return placed

    def _record_fill(self, player: Player, fill: Fill, trace_id: str | None) -> None:
        self.game.trade_count += 1
        self.rugpool.add(player, fill.amount)
        payload = payloads.trade_payload(self._uuid(), self.game.game_id, player, fill)
        self._emit(NEW_TRADE, self._trace(trace_id), payload)

    def _client_id(self, player: Player) -> str | None:
        if player.is_bot:
            return None
        return next((cid for cid, client in self._clients.items() if client.player is player), None)

    def _emit_player_state(self, client: Client, *, gspu_first: bool = False, with_container: bool = True) -> None:
        """``playerUpdate`` then ``gameStatePlayerUpdate`` (after a presale buy the order is reversed, §3.3)."""
        client_id = self._client_id(client.player)
        update = payloads.player_update(client.player, self._mark_price())
        container = self._player_container(client.player)
        if gspu_first:
            self._emit(GAME_STATE_PLAYER_UPDATE, container, target=client_id)
            self._emit(PLAYER_UPDATE, update, target=client_id)
        else:
            self._emit(PLAYER_UPDATE, update, target=client_id)
            if with_container:
                self._emit(GAME_STATE_PLAYER_UPDATE, container, target=client_id)
