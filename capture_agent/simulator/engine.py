"""The simulator's game engine: the rugs.fun lifecycle as a stream of server emissions. Pure — no I/O, no
sleeping, no wall clock: the caller says what time it is (ms) and gets back what the server sends by then.

Lifecycle per game (PROTOCOL.md §2; nominal periods, each divided by ``speed``):

    genesis   full frame: new gameId, cooldownTimer 15000, gameHistory with the previous game revealed
    cooldown  7-key frames every 100 ms, timer 14900 → 100 (leaderboard = previous game's final board)
    presale   from timer 10000: a 21-key presale-opening frame, then 7-key frames with allowPreRoundBuys
    tick 0    14-key frame (no stats), a full tick-0 frame 125 ms later
    ticks     21-key frame every 250 ms, price = prices[tick], partialPrices = last ≤5 ticks
    rug #1    21 keys, rugged and still active, price = rug remainder; settlements come first (§3.3)
    rug #2    0.77–1.39 s later: full frame, tickCount +1..3, prices frozen, gameHistory without this game
    next      0.3–0.6 s later the next game's genesis

Prices come from the provably-fair engine (``fairness.price_path``) with a server-seed chain derived from the
simulator seed; the rug remainder is drawn here (≤ min(0.02, 0.02 · previous price), PROTOCOL §5). Seeds are
revealed only in ``gameHistory``. Every client that connects gets a full snapshot with top-level ``prices``;
a client that authenticates (or trades) also gets ``playerUpdate`` after its trades and a
``gameStatePlayerUpdate`` after every ``gameStateUpdate`` (TRAPS §4).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

from capture_agent.protocol import engineio, jsjson, socketio, trading
from capture_agent.protocol.fairness import price_path, seed_hash
from capture_agent.protocol.rules import (
    COOLDOWN_MS,
    COOLDOWN_STEP_MS,
    HISTORY_LENGTH,
    PRESALE_FROM_MS,
    SOL_COIN,
    TICK_MS,
    Phase,
    rug_remainder_bound,
    rug_tick_of_path,
)
from capture_agent.protocol.trading import Fill, Player, TradeRejected
from capture_agent.simulator import bots as botlib
from capture_agent.simulator import frames

FULL_TICK0_DELAY_MS = 125
RUG2_DELAY_MS = (770, 1390)
GENESIS_DELAY_MS = (300, 600)
INSTARUG_TICKS = 10
PING_INTERVAL_MS = 25000

COOLDOWN, PRESALE, ACTIVE, RUGGED = Phase


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


@dataclass(slots=True)
class _Game:
    index: int
    game_id: str
    server_seed: str
    seed_hash: str
    prices: list[float]  # prices[0..rug_tick], the last one the rug remainder
    cooldown_at: int
    trade_count: int = 0
    global_sidebets: list[dict] = field(default_factory=list)

    @property
    def rug_tick(self) -> int:
        return rug_tick_of_path(len(self.prices))


@dataclass(slots=True)
class _Client:
    player: Player
    authenticated: bool = False


@dataclass(slots=True)
class _DayStats:
    """Per-UTC-day figures the full frames carry (averageMultiplier, count2x…, highestToday…, godCandle…)."""

    day: str
    peaks: list[float] = field(default_factory=list)
    highest: float = 0.0
    highest_at: int = 0
    highest_prices: list[float] = field(default_factory=list)
    god_candles: dict[int, dict[str, Any]] = field(default_factory=dict)

    def add(self, peak: float, prices: list[float], timestamp: int) -> None:
        self.peaks.append(peak)
        if peak > self.highest:
            self.highest, self.highest_at, self.highest_prices = peak, timestamp, prices
        jump = _god_candle_jump(prices)
        if jump is not None:
            self.god_candles[frames.god_candle_tier(peak)] = {
                "value": peak, "timestamp": timestamp, "prices": prices, "jump": list(jump)
            }

    def average(self) -> float:
        return sum(self.peaks) / len(self.peaks) if self.peaks else 0

    def count(self, multiple: float) -> int:
        return sum(1 for peak in self.peaks if peak >= multiple)


def _god_candle_jump(prices: list[float]) -> tuple[float, float] | None:
    for before, after in zip(prices, prices[1:-1]):
        if before > 0 and after == before * 10:
            return before, after
    return None


def _utc_day(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y%m%d")


def chain_seed(seed: str, index: int) -> str:
    """The n-th server seed of the chain derived from the simulator seed (64 hex like the real ones)."""
    return hashlib.sha256(f"vectra-sim:{seed}:server-seed:{index}".encode()).hexdigest()


def chain_game_id(seed: str, index: int, at_ms: int) -> str:
    """``YYYYMMDD-<16 hex>`` with the UTC date of the sim clock."""
    return f"{_utc_day(at_ms)}-{hashlib.sha256(f'vectra-sim:{seed}:game:{index}'.encode()).hexdigest()[:16]}"


def draw_rug_remainder(rng: random.Random, previous_price: float) -> float:
    """0 < remainder ≤ min(0.02, 0.02 · previous price), shaped like the real deciles (PROTOCOL §5): about
    one rug in seven sits exactly at the bound, the rest spread over (0.25, 1) of it."""
    bound = rug_remainder_bound(previous_price)
    fraction = 1.0 if rng.random() < 0.15 else rng.uniform(0.25, 1.0)
    return bound * fraction if bound > 0 else 5e-324


class SimulatorEngine:
    """State machine of one simulated rugs.fun server. Drive it with :meth:`advance`; clients with
    :meth:`connect`, :meth:`request` and :meth:`disconnect`. All times are the caller's clock in ms."""

    def __init__(self, seed: str = "vectra", start_ms: int = 0, *, bots: int = 8, speed: float = 1.0) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.seed = seed
        self.speed = speed
        self._rng = random.Random(f"vectra-sim:{seed}:engine")
        self._bot_rng = random.Random(f"vectra-sim:{seed}:bots")
        self.bots = botlib.make_bots(self._bot_rng, bots)
        self._players: dict[str, Player] = {bot.id: bot for bot in self.bots}
        self._clients: dict[str, _Client] = {}
        self._accounts: dict[str, Player] = {}
        self._out: list[Emission] = []
        self._now = start_ms
        self.phase = COOLDOWN
        self.tick = 0
        self.cooldown_timer = COOLDOWN_MS
        self._game_index = 0
        self.history: deque[dict] = deque(maxlen=HISTORY_LENGTH)
        self._pending_history: dict | None = None
        self._final_board: list[dict] = []
        self._board: list[dict] = []
        self._presale_changed = False
        self._crowd = self._rng.randint(180, 260)
        self._rugpool = {"instarugCount": self._rng.randint(0, 5), "rugpoolAmount": round(self._rng.uniform(1, 3), 9)}
        self._rugpool_entries: dict[str, int] = {}
        self._last_drawing = self._initial_drawing(start_ms)
        self._day = _DayStats(_utc_day(start_ms))
        self._prefill_history(start_ms)
        self.game: _Game = self._new_game(start_ms)
        self._steps = self._lifecycle(start_ms)
        self.next_at = next(self._steps)

    # ------------------------------------------------------------------ driving

    def advance(self, now_ms: int) -> list[Emission]:
        """Run every lifecycle step due by ``now_ms``; return what the server sends, in order."""
        while self.next_at <= now_ms:
            self.next_at = self._steps.send(None)
        out, self._out = self._out, []
        return out

    def connect(self, client_id: str, now_ms: int, account: str | None = None) -> list[Emission]:
        """A client connected: pending steps, then its snapshot (the first frame every client gets).

        ``account`` names a practice account that outlives connections (the page keeps one per browser), so a
        client that reconnects finds its cash and position again; without it each connection gets a fresh one."""
        emissions = self.advance(now_ms)
        self._now = max(self._now, now_ms)
        player = self._accounts.get(account) if account else None
        if player is None:
            if account:
                digest = hashlib.sha256(f"vectra-sim:account:{account}".encode()).hexdigest()
                player = Player(id=f"did:privy:cm{digest[:23]}", username=account[:20], level=1)
                self._accounts[account] = player
            else:
                player = Player(id=botlib.privy_id(self._rng), username=f"sim-{client_id[:6]}", level=1)
        for other_id, other in list(self._clients.items()):
            if other.player is player:  # the same account on a new connection replaces the old one
                del self._clients[other_id]
        self._clients[client_id] = _Client(player)
        self._players[player.id] = player
        self._emit("gameStateUpdate", self._snapshot(), target=client_id)
        return emissions + self._drain()

    def disconnect(self, client_id: str) -> None:
        """A client left. A named account stays in the game (its position is still liquidated at the rug)."""
        client = self._clients.pop(client_id, None)
        if client is not None and client.player not in self._accounts.values():
            self._players.pop(client.player.id, None)

    def player_of(self, client_id: str) -> Player:
        return self._clients[client_id].player

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
        trace_id = socketio.trace_id_of(args)
        payload = args[-1] if args and isinstance(args[-1], dict) and not socketio.is_trace_arg(args[-1]) else {}
        try:
            ack = handler(client, payload, trace_id)
        except TradeRejected as rejected:
            ack = {"success": False, "reason": rejected.reason}
        return Reply(pending + self._drain(), [] if ack is None else [ack])

    # ------------------------------------------------------------------ client requests

    def _handlers(self) -> dict[str, Callable[[_Client, dict, str | None], dict | None]]:
        """The client events answered with an ack; the short pair's real names are unknown (PROTOCOL §4)."""
        return {
            "buyOrder": self._on_buy,
            "sellOrder": self._on_sell,
            "requestSidebet": self._on_sidebet,
            "shortOrder": self._on_short,
            "closeShort": self._on_close_short,
            "authenticate": self._on_authenticate,
            "ping": lambda client, payload, trace: None,
        }

    def _on_authenticate(self, client: _Client, payload: dict, trace_id: str | None) -> dict:
        client.authenticated = True
        self._emit_player_state(client, with_container=False)
        return {"success": True}

    def _live_price(self) -> float:
        return self.game.prices[self.tick]

    def _require_trading(self, *, presale_ok: bool) -> None:
        if self.phase == ACTIVE or (presale_ok and self.phase == PRESALE):
            return
        raise TradeRejected("Trading is not open: wait for the next game" if self.phase != RUGGED else "Game has rugged")

    def _on_buy(self, client: _Client, payload: dict, trace_id: str | None) -> dict:
        self._require_trading(presale_ok=True)
        client.authenticated = True
        player = client.player
        if self.phase == PRESALE:  # executed at tick 0, price prices[0] = 1; not broadcast (§3.3 Q1)
            trading.buy(player, payload.get("amount"), self.game.prices[0], 0)
            self.game.trade_count += 1
            self._presale_changed = True
            self._rugpool_add(player, payload.get("amount"))
            self._emit_player_state(client, gspu_first=True)
            return {"success": True}
        fill = trading.buy(player, payload.get("amount"), self._live_price(), self.tick)
        self._record_fill(player, fill, trace_id)
        self._emit_player_state(client)
        return {"success": True}

    def _on_sell(self, client: _Client, payload: dict, trace_id: str | None) -> dict:
        self._require_trading(presale_ok=False)
        client.authenticated = True
        fill = trading.sell(client.player, payload.get("percentage"), self._live_price(), self.tick)
        self._record_fill(client.player, fill, trace_id)
        self._emit_player_state(client)
        return {"success": True}

    def _on_short(self, client: _Client, payload: dict, trace_id: str | None) -> dict:
        self._require_trading(presale_ok=False)
        client.authenticated = True
        fill = trading.open_short(client.player, payload.get("amount"), self._live_price(), self.tick)
        self._record_fill(client.player, fill, trace_id)
        self._emit_player_state(client)
        return {"success": True}

    def _on_close_short(self, client: _Client, payload: dict, trace_id: str | None) -> dict:
        self._require_trading(presale_ok=False)
        fill = trading.close_short(client.player, self._live_price(), self.tick)
        self._record_fill(client.player, fill, trace_id)
        self._emit_player_state(client)
        return {"success": True}

    def _on_sidebet(self, client: _Client, payload: dict, trace_id: str | None) -> dict:
        self._require_trading(presale_ok=True)
        client.authenticated = True
        placed = self._place_sidebet(client.player, payload.get("amount"), payload.get("coinAddress"), trace_id)
        self._emit_player_state(client, with_container=False)
        return frames.sidebet_ack(placed)

    # ------------------------------------------------------------------ shared trade plumbing

    def _place_sidebet(self, player: Player, amount: object, coin: object, trace_id: str | None) -> dict:
        tick = self.tick if self.phase == ACTIVE else 0
        price = self.game.prices[tick]
        coin_address = coin if isinstance(coin, str) and coin else SOL_COIN
        bet = trading.place_sidebet(player, amount, self.game.game_id, tick, price, self._now, coin_address)
        self._presale_changed = True
        self.game.global_sidebets.append(frames.global_sidebet_placed(player, bet, self._uuid()))
        placed = frames.sidebet_placed(player, bet, tick)
        client_id = self._client_id(player)
        if client_id is not None:
            self._emit("currentSidebet", self._trace(trace_id), placed, target=client_id)
        return placed

    def _record_fill(self, player: Player, fill: Fill, trace_id: str | None) -> None:
        self.game.trade_count += 1
        self._rugpool_add(player, fill.amount)
        payload = frames.trade_payload(self._uuid(), self.game.game_id, player, fill)
        self._emit("standard/newTrade", self._trace(trace_id), payload)

    def _rugpool_add(self, player: Player, amount: object) -> None:
        if isinstance(amount, (int, float)) and not isinstance(amount, bool):
            self._rugpool["rugpoolAmount"] += float(amount) * 0.005
            entries = self._rugpool_entries.get(player.id, 0) + int(float(amount) / frames.SOL_PER_ENTRY)
            self._rugpool_entries[player.id] = min(frames.MAX_ENTRIES_PER_PLAYER, entries)

    def _client_id(self, player: Player) -> str | None:
        if player.is_bot:
            return None
        return next((cid for cid, client in self._clients.items() if client.player is player), None)

    def _emit_player_state(self, client: _Client, *, gspu_first: bool = False, with_container: bool = True) -> None:
        """``playerUpdate`` then ``gameStatePlayerUpdate`` (after a presale buy the order is reversed, §3.3)."""
        client_id = self._client_id(client.player)
        update = frames.player_update(client.player, self._mark_price())
        container = self._player_container(client.player)
        if gspu_first:
            self._emit("gameStatePlayerUpdate", container, target=client_id)
            self._emit("playerUpdate", update, target=client_id)
        else:
            self._emit("playerUpdate", update, target=client_id)
            if with_container:
                self._emit("gameStatePlayerUpdate", container, target=client_id)

    # ------------------------------------------------------------------ lifecycle

    def _lifecycle(self, start_ms: int) -> Iterator[int]:
        at = start_ms
        while True:
            at = yield from self._play_game(at)

    def _ms(self, nominal: float) -> int:
        return round(nominal / self.speed)

    def _play_game(self, genesis_at: int) -> Iterator[int]:
        yield genesis_at
        self._now = genesis_at
        self._genesis()
        for timer in range(COOLDOWN_MS - COOLDOWN_STEP_MS, 0, -COOLDOWN_STEP_MS):
            at = genesis_at + self._ms(COOLDOWN_MS - timer)
            yield at
            self._now = at
            self._cooldown_step(timer)
        tick0_at = genesis_at + self._ms(COOLDOWN_MS)
        yield tick0_at
        self._now = tick0_at
        self._tick0()
        yield tick0_at + self._ms(FULL_TICK0_DELAY_MS)
        self._now = tick0_at + self._ms(FULL_TICK0_DELAY_MS)
        self._broadcast_state(self._full_frame(prices_key="partialPrices"))
        rug_tick = self.game.rug_tick
        for tick in range(rug_tick):
            if tick > 0:
                at = tick0_at + self._ms(tick * TICK_MS)
                yield at
                self._now = at
                self._active_tick(tick)
            at = tick0_at + self._ms(tick * TICK_MS + self._rng.randint(FULL_TICK0_DELAY_MS + 5, TICK_MS - 10))
            yield at
            self._now = at
            self._bots_trade()
        rug_at = tick0_at + self._ms(rug_tick * TICK_MS)
        yield rug_at
        self._now = rug_at
        self._rug()
        rug2_delay = self._rng.randint(*RUG2_DELAY_MS)
        yield rug_at + self._ms(rug2_delay)
        self._now = rug_at + self._ms(rug2_delay)
        self._rug_history(advance=self._rng.randint(1, 3))
        return rug_at + self._ms(rug2_delay + self._rng.randint(*GENESIS_DELAY_MS))

    def _new_game(self, cooldown_at: int) -> _Game:
        index = HISTORY_LENGTH + self._game_index
        self._game_index += 1
        server_seed = chain_seed(self.seed, index)
        game_id = chain_game_id(self.seed, index, cooldown_at)
        path = list(price_path(server_seed, game_id, frames.GAME_VERSION).prices)
        path.append(draw_rug_remainder(self._rng, path[-1]))
        return _Game(index, game_id, server_seed, seed_hash(server_seed), path, cooldown_at)

    def _genesis(self) -> None:
        if self._pending_history is not None:  # the game that just rugged: revealed now, newest first
            finished = self._pending_history
            self.history.appendleft(finished)
            self._count_day(finished["peakMultiplier"], finished["prices"], finished["timestamp"])
            self.game = self._new_game(self._now)
            self._pending_history = None
        for player in self._players.values():
            player.reset_for_game()
        self.phase, self.tick, self.cooldown_timer = COOLDOWN, 0, COOLDOWN_MS
        self._board = self._final_board
        self._crowd = max(150, min(300, self._crowd + self._rng.randint(-6, 6)))
        self._broadcast_state(self._full_frame(prices_key="partialPrices"))

    def _cooldown_step(self, timer: int) -> None:
        self.cooldown_timer = timer
        if timer == PRESALE_FROM_MS:
            self.phase = PRESALE
            self._board = []
            self._broadcast_state(self._presale_opening())
            self.game.trade_count = 0  # the opening frame still shows the previous game's count
        if self.phase == PRESALE:
            entrants = self._entrant_count()
            for bot in self.bots:
                intent = botlib.presale_intent(self._bot_rng, bot)
                if intent is not None:
                    self._bot_act(bot, intent)
            if timer == PRESALE_FROM_MS or self._entrant_count() != entrants or self._presale_changed:
                self._board = self._leaderboard(presale=True)  # same list object while nothing changed
                self._presale_changed = False
        self._broadcast_state(self._short_frame())

    def _tick0(self) -> None:
        self.phase, self.tick, self.cooldown_timer = ACTIVE, 0, 0
        self._board = []
        frame = {
            "active": True, "price": self.game.prices[0], "rugged": False, "tickCount": 0, "cooldownTimer": 0,
            "cooldownPaused": False, "pauseMessage": "", "allowPreRoundBuys": False, "leaderboard": [],
            "gameId": self.game.game_id, "connectedPlayers": self._connected(), "gameVersion": frames.GAME_VERSION,
            "partialPrices": frames.partial_prices(self.game.prices, 0), "provablyFair": self._provably_fair(),
        }
        self._broadcast_state(frame)

    def _active_tick(self, tick: int) -> None:
        self.tick = tick
        self._settle_expired_sidebets()
        self._board = self._leaderboard(presale=False)
        self._broadcast_state(self._tick_frame(rugged=False))

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
                self._place_sidebet(bot, intent.value, frames.PRACTICE_COIN if self._rng.random() < 0.2 else None, None)
            elif self.phase == PRESALE:
                trading.buy(bot, intent.value, self.game.prices[0], 0)
                self.game.trade_count += 1
                self._presale_changed = True
                self._rugpool_add(bot, intent.value)
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

    def _settle_expired_sidebets(self) -> None:
        """A side bet whose window ended before this tick lost (the game survived past endTick)."""
        for player in list(self._players.values()):
            bet = player.sidebet
            if bet is not None and bet.game_id == self.game.game_id and self.tick > bet.end_tick:
                self._settle_sidebet(player, won=False)

    def _settle_sidebet(self, player: Player, *, won: bool) -> None:
        bet, payout = trading.settle_sidebet(player, won)
        price = self.game.prices[self.tick]
        self.game.global_sidebets.append(
            frames.global_sidebet_payout(player, bet, payout, self.tick, price, self._now, self._uuid())
        )
        client_id = self._client_id(player)
        if client_id is not None:
            tick = self.tick if won else bet.start_tick
            result = frames.sidebet_result(player, bet, payout, tick, price, self._now)
            self._emit("currentSidebetResult", self._trace(None), result, target=client_id)
            self._emit("playerUpdate", frames.player_update(player, price), target=client_id)

    def _rug(self) -> None:
        """Rug frame #1, preceded by each player's settlement (§3.3: result → playerUpdate → forced sell →
        playerUpdate → gameStatePlayerUpdate)."""
        self.tick = self.game.rug_tick
        self.phase = RUGGED
        rug_price = self.game.prices[self.tick]
        for player in list(self._players.values()):
            client_id = self._client_id(player)
            if player.sidebet is not None:
                self._settle_sidebet(player, won=player.sidebet.wins(self.tick))
            fills = [fill for fill in (trading.liquidate(player, rug_price, self.tick),) if fill is not None]
            if player.short is not None:
                fills.append(trading.close_short(player, rug_price, self.tick))
            for fill in fills:
                self._record_fill(player, fill, None)
            if client_id is not None and fills:
                self._emit("playerUpdate", frames.player_update(player, rug_price), target=client_id)
            if client_id is not None and (fills or self._clients[client_id].authenticated):
                self._emit("gameStatePlayerUpdate", self._player_container(player), target=client_id)
        self._board = self._final_board = self._leaderboard(presale=False)
        self._broadcast_state(self._tick_frame(rugged=True), player_updates=False)
        self._close_rugpool_round()
        self._pending_history = self._history_entry(self.game, self._now)

    def _rug_history(self, advance: int) -> None:
        frame = self._full_frame(prices_key="partialPrices")
        frame["tickCount"] = self.game.rug_tick + advance  # the server's tick clock runs on; prices are frozen
        self._broadcast_state(frame)

    # ------------------------------------------------------------------ frame builders

    def _provably_fair(self) -> dict:
        return {"serverSeedHash": self.game.seed_hash, "version": frames.GAME_VERSION}

    def _connected(self) -> int:
        return self._crowd + len(self._clients)

    def _mark_price(self) -> float:
        return self.game.prices[self.tick] if self.phase in (ACTIVE, RUGGED) else self.game.prices[0]

    def _short_frame(self) -> dict:
        return {
            "gameId": self.game.game_id, "cooldownTimer": self.cooldown_timer, "cooldownPaused": False,
            "allowPreRoundBuys": self.phase == PRESALE, "leaderboard": self._board,
            "connectedPlayers": self._connected(), "provablyFair": self._provably_fair(),
        }

    def _stats(self) -> dict:
        day = self._day
        return {
            "averageMultiplier": day.average(),
            "count2x": day.count(2), "count10x": day.count(10), "count50x": day.count(50), "count100x": day.count(100),
        }

    def _stat_frame(self, *, active: bool, rugged: bool, tick: int, partial: dict, cooldown: int, presale: bool) -> dict:
        """The 21-key shape of active ticks, rug frame #1 and the presale-opening frame."""
        return {
            "active": active, "price": self.game.prices[tick] if active else self.game.prices[0],
            "partialPrices": partial, "tradeCount": self.game.trade_count, "rugged": rugged, "tickCount": tick,
            "cooldownTimer": cooldown, "cooldownPaused": False, "pauseMessage": "", "allowPreRoundBuys": presale,
            **self._stats(), "leaderboard": self._board, "gameId": self.game.game_id,
            "connectedPlayers": self._connected(), "rugpool": self._rugpool_public(),
            "rugRoyale": frames.RUG_ROYALE_INACTIVE, "provablyFair": self._provably_fair(),
        }

    def _tick_frame(self, *, rugged: bool) -> dict:
        partial = frames.partial_prices(self.game.prices, self.tick)
        return self._stat_frame(active=True, rugged=rugged, tick=self.tick, partial=partial, cooldown=0, presale=False)

    def _presale_opening(self) -> dict:
        partial = frames.partial_prices(self.game.prices, 0)
        return self._stat_frame(active=False, rugged=False, tick=0, partial=partial, cooldown=PRESALE_FROM_MS, presale=True)

    def _full_frame(self, *, prices_key: str) -> dict:
        """Genesis, full tick 0, rug frame #2 and connect snapshots (Dec 2025 36-key layout)."""
        day = self._day
        frame: dict[str, Any] = {"gameHistory": list(self.history), **self._stats()}
        frame["highestToday"] = day.highest
        frame["highestTodayTimestamp"] = day.highest_at
        frame["highestTodayPrices"] = day.highest_prices
        for tier in frames.GOD_CANDLE_TIERS:
            record = day.god_candles.get(tier)
            frame[f"godCandle{tier}x"] = record["value"] if record else None
            frame[f"godCandle{tier}xTimestamp"] = record["timestamp"] if record else None
            frame[f"godCandle{tier}xPrices"] = record["prices"] if record else []
            frame[f"godCandle{tier}xMassiveJump"] = record["jump"] if record else None
        frame["availableShitcoins"] = frames.AVAILABLE_SHITCOINS
        in_game = self.phase in (ACTIVE, RUGGED)
        tick = self.tick if in_game else 0
        frame.update(
            active=in_game, price=self.game.prices[tick], rugged=self.phase == RUGGED, tickCount=tick,
            cooldownTimer=0 if in_game else self.cooldown_timer, cooldownPaused=False, pauseMessage="",
            allowPreRoundBuys=self.phase == PRESALE, leaderboard=self._board, gameId=self.game.game_id,
            connectedPlayers=self._connected(), gameVersion=frames.GAME_VERSION,
        )
        if prices_key == "prices":
            frame["prices"] = self.game.prices[: tick + 1]
        else:
            frame["partialPrices"] = frames.partial_prices(self.game.prices, tick)
        frame["provablyFair"] = self._provably_fair()
        return frame

    def _snapshot(self) -> dict:
        return self._full_frame(prices_key="prices")

    def _entrant_count(self) -> int:
        return sum(1 for player in self._players.values() if player.entered)

    def _leaderboard(self, *, presale: bool) -> list[dict]:
        price = None if presale else self._mark_price()
        entrants = [player for player in self._players.values() if player.entered]
        if presale:
            entrants.sort(key=lambda player: -player.total_invested)
        else:
            entrants.sort(key=lambda player: -player.pnl_at(price))
        return [
            frames.leaderboard_entry(player, price, rank, presale=presale)
            for rank, player in enumerate(entrants[:10], start=1)
        ]

    def _player_container(self, player: Player) -> dict:
        """``gameStatePlayerUpdate``: ``{gameId, leaderboardEntry?, rugpool}`` (TRAPS §1.4)."""
        container: dict[str, Any] = {"gameId": self.game.game_id}
        if player.entered:
            presale = self.phase == PRESALE
            ranked = self._leaderboard(presale=presale)
            position = next((e["position"] for e in ranked if e["id"] == player.id), len(ranked) + 1)
            price = None if presale else self._mark_price()
            container["leaderboardEntry"] = frames.leaderboard_entry(player, price, position, presale=presale)
        container["rugpool"] = self._rugpool_private()
        return container

    def _rugpool_public(self) -> dict:
        return {"instarugCount": self._rugpool["instarugCount"], "threshold": frames.RUGPOOL_THRESHOLD,
                "rugpoolAmount": self._rugpool["rugpoolAmount"]}

    def _rugpool_private(self) -> dict:
        total = sum(self._rugpool_entries.values())
        ranked = sorted(self._rugpool_entries.items(), key=lambda item: -item[1])[:10]
        return {
            "instarugCount": self._rugpool["instarugCount"],
            "rugpoolAmount": self._rugpool["rugpoolAmount"],
            "totalEntries": total,
            "threshold": frames.RUGPOOL_THRESHOLD,
            "playersWithEntries": len(self._rugpool_entries),
            "solPerEntry": frames.SOL_PER_ENTRY,
            "maxEntriesPerPlayer": frames.MAX_ENTRIES_PER_PLAYER,
            "playerEntries": [
                {"playerId": pid, "entries": entries, "username": self._username(pid),
                 "percentage": entries / total * 100}
                for pid, entries in ranked
            ],
            "lastDrawing": self._last_drawing,
            "config": frames.RUGPOOL_CONFIG,
        }

    def _username(self, player_id: str) -> str:
        player = self._players.get(player_id)
        return player.username if player and player.username else "anon"

    def _close_rugpool_round(self) -> None:
        """Instarugs (rug within 10 ticks) fill the rugpool; at the threshold it is drawn among its entrants."""
        if self.game.rug_tick > INSTARUG_TICKS:
            return
        self._rugpool["instarugCount"] += 1
        if self._rugpool["instarugCount"] < frames.RUGPOOL_THRESHOLD or not self._rugpool_entries:
            return
        pool = self._rugpool["rugpoolAmount"]
        ranked = sorted(self._rugpool_entries.items(), key=lambda item: -item[1])[:3]
        reward = pool / len(ranked)
        self._last_drawing = {
            "timestamp": self._now,
            "winners": [{"playerId": pid, "username": self._username(pid), "entries": n, "reward": reward}
                        for pid, n in ranked],
            "rewardPerWinner": reward,
            "totalPoolAmount": pool,
        }
        self._rugpool = {"instarugCount": 0, "rugpoolAmount": 0.0}
        self._rugpool_entries.clear()

    def _initial_drawing(self, at_ms: int) -> dict:
        winners = [{"playerId": bot.id, "username": bot.username, "entries": self._rng.randint(100, 3000),
                    "reward": 1.2} for bot in self.bots[:3]]
        return {"timestamp": at_ms - 3_600_000, "winners": winners, "rewardPerWinner": 1.2,
                "totalPoolAmount": round(1.2 * len(winners), 9)}

    def _history_entry(self, game: _Game, rugged_at: int) -> dict:
        return {
            "id": game.game_id,
            "timestamp": rugged_at,
            "prices": list(game.prices),
            "peakMultiplier": max(game.prices),
            "rugged": True,
            "globalTrades": [],
            "globalSidebets": game.global_sidebets,
            "provablyFair": {"serverSeed": game.server_seed, "serverSeedHash": game.seed_hash},
            "gameVersion": frames.GAME_VERSION,
        }

    def _prefill_history(self, start_ms: int) -> None:
        """The server has been running before we start: ten earlier games, seeds revealed, in gameHistory.
        Built backwards from ``start_ms``; each game is dated by its rug moment."""
        rug_at = start_ms - 1000
        entries = []
        for index in range(HISTORY_LENGTH - 1, -1, -1):
            server_seed = chain_seed(self.seed, index)
            game_id = chain_game_id(self.seed, index, rug_at)
            path = list(price_path(server_seed, game_id, frames.GAME_VERSION).prices)
            path.append(draw_rug_remainder(self._rng, path[-1]))
            tick0_at = rug_at - (len(path) - 1) * TICK_MS
            game = _Game(index, game_id, server_seed, seed_hash(server_seed), path, tick0_at - COOLDOWN_MS)
            game.global_sidebets = self._past_sidebets(game, tick0_at)
            entries.append(self._history_entry(game, rug_at))
            rug_at = game.cooldown_at - 2000
        for entry in reversed(entries):  # oldest first, so the newest ends up at index 0
            self.history.appendleft(entry)
            self._count_day(entry["peakMultiplier"], entry["prices"], entry["timestamp"])

    def _past_sidebets(self, game: _Game, tick0_at: int) -> list[dict]:
        records = []
        for bot in self.bots:
            if self._rng.random() < 0.3:
                start = self._rng.randint(0, game.rug_tick)
                bet = trading.Sidebet(game.game_id, 0.01, start, game.prices[start], tick0_at + start * TICK_MS,
                                      SOL_COIN)
                records.append(frames.global_sidebet_placed(bot, bet, self._uuid()))
                won = bet.wins(game.rug_tick)
                settle_tick = game.rug_tick if won else bet.end_tick + 1
                records.append(frames.global_sidebet_payout(
                    bot, bet, bet.payout(won), game.rug_tick,
                    game.prices[game.rug_tick], tick0_at + settle_tick * TICK_MS, self._uuid()))
        return sorted(records, key=lambda record: record["timestamp"])

    def _count_day(self, peak: float, prices: list[float], timestamp: int) -> None:
        day = _utc_day(timestamp)
        if day != self._day.day:
            if day < self._day.day:
                return  # a game of yesterday does not count today
            self._day = _DayStats(day)
        self._day.add(peak, prices, timestamp)

    # ------------------------------------------------------------------ emission helpers

    def _emit(self, event: str, *args: Any, target: str | None = None) -> None:
        self._out.append(Emission(self._now, event, args, target))

    def _drain(self) -> list[Emission]:
        out, self._out = self._out, []
        return out

    def _broadcast_state(self, frame: dict, *, player_updates: bool = True) -> None:
        """A ``gameStateUpdate`` broadcast, then each authenticated client's ``gameStatePlayerUpdate``."""
        self._emit("gameStateUpdate", frame)
        if player_updates:
            for client_id, client in self._clients.items():
                if client.authenticated:
                    self._emit("gameStatePlayerUpdate", self._player_container(client.player), target=client_id)

    def _uuid(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def _trace(self, trace_id: str | None) -> dict:
        """The W3C trace argument: the request's trace id when there is one, a fresh span id always."""
        return socketio.trace_arg(trace_id or f"{self._rng.getrandbits(128):032x}", f"{self._rng.getrandbits(64):016x}")


# ---------------------------------------------------------------------- wire frames for one observer

OBSERVER_ID = "observer"
_OPEN_SID = "VectraSimObserver01"


class WireEncoder:
    """``socketio.encode_event`` with each revealed ``gameHistory`` entry serialised once: the same ten entries
    repeat in every full frame and dominate the encoding time. The output is byte-identical (JSON composes)."""

    def __init__(self) -> None:
        self._entries: dict[str, orjson.Fragment] = {}
        self._board: list | None = None  # kept referenced, so ``is`` cannot match a recycled object
        self._board_json = orjson.Fragment(b"[]")

    def encode(self, event: str, args: tuple) -> str:
        payload = args[-1] if args else None
        if event == "gameStateUpdate" and isinstance(payload, dict):
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
        return socketio.encode_event(event, *args)


def observer_frames(engine: SimulatorEngine, client_id: str, start_ms: int) -> Iterator[tuple[int, str]]:
    """What one unauthenticated client receives over a WebSocket, endlessly: Engine.IO OPEN, the Socket.IO
    CONNECT, its snapshot, then every broadcast (and a ping every 25 s)."""
    yield start_ms, engineio.encode_open(
        {"sid": _OPEN_SID, "upgrades": [], "pingInterval": PING_INTERVAL_MS, "pingTimeout": 20000, "maxPayload": 1000000}
    )
    yield start_ms, socketio.encode_connect({"sid": f"{_OPEN_SID}-socket"})
    next_ping = start_ms + PING_INTERVAL_MS
    encoder = WireEncoder()
    emissions = engine.connect(client_id, start_ms)
    while True:
        for emission in emissions:
            while next_ping <= emission.at_ms:
                yield next_ping, engineio.PING
                next_ping += PING_INTERVAL_MS
            if emission.target is None or emission.target == client_id:
                yield emission.at_ms, encoder.encode(emission.event, emission.args)
        emissions = engine.advance(engine.next_at)


def wire_frames(seed: str, start_ms: int, bots: int = 8) -> Iterator[tuple[int, str]]:
    """An endless, deterministic stream of ``(time_ms, text frame)`` exactly as one unauthenticated observing
    client receives them over a WebSocket from a speed-1 server started at ``start_ms`` — as fast as the CPU
    allows (no sleeping). Used by the capture agent's synthetic-day benchmark."""
    engine = SimulatorEngine(seed, start_ms, bots=bots)
    return observer_frames(engine, OBSERVER_ID, start_ms)
