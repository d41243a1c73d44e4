"""The simulator's game engine: the rugs.fun lifecycle as a stream of server emissions. Pure — no I/O, no
sleeping, no wall clock: the caller says what time it is (ms) and gets back what the server sends by then.

Lifecycle per game (docs/PROTOCOL.md §2; nominal periods, each divided by ``speed``):

    genesis   full frame: new gameId, cooldownTimer 15000, gameHistory with the previous game revealed
    cooldown  7-key frames every 100 ms, timer 14900 → 100 (leaderboard = previous game's final board)
    presale   from timer 10000: a 21-key presale-opening frame, then 7-key frames with allowPreRoundBuys
    tick 0    14-key frame (no stats), a full tick-0 frame 125 ms later
    ticks     21-key frame every 250 ms, price = prices[tick], partialPrices = last ≤5 ticks
    rug #1    21 keys, rugged and still active, price = rug remainder; settlements come first (§3.3)
    rug #2    0.77–1.39 s later: full frame, tickCount +1..3, prices frozen, gameHistory without this game
    next      0.3–0.6 s later the next game's genesis

This module is the clock and the settlements; the engine's other jobs sit beside it: ``games`` (seed chain, price
paths, rug remainders), ``requests`` (orders → trades, acks), ``payloads`` (what goes on the wire), ``history``
(gameHistory, the day's statistics), ``rugpool`` and ``wire`` (emissions). Seeds are revealed only in
``gameHistory``. Every client that connects gets a full snapshot with top-level ``prices``; a client that
authenticates (or trades) also gets ``playerUpdate`` after its trades and a ``gameStatePlayerUpdate`` after every
``gameStateUpdate`` (docs/TRAPS.md §4).
"""

from __future__ import annotations

import hashlib
import random
from collections import deque
from collections.abc import Iterator

from capture_agent.protocol import trading
from capture_agent.protocol.day_stats import DayStats
from capture_agent.protocol.rules import (
    COOLDOWN_MS,
    COOLDOWN_STEP_MS,
    CURRENT_SIDEBET_RESULT,
    GAME_STATE_PLAYER_UPDATE,
    GAME_STATE_UPDATE,
    HISTORY_LENGTH,
    PLAYER_UPDATE,
    PRESALE_FROM_MS,
    TICK_MS,
    Phase,
)
from capture_agent.protocol.trading import Player
from simulator import bots as botlib
from simulator.engine import payloads
from simulator.engine.games import Game, chain_game, utc_day
from simulator.engine.history import History, history_entry
from simulator.engine.payloads import GameFrames
from simulator.engine.requests import Client, Requests
from simulator.engine.rugpool import Rugpool
from simulator.engine.wire import Emission, Outbox

# The simulator's model of the server's pauses (docs/PROTOCOL.md §2 measured ranges).
FULL_TICK0_DELAY_MS = 125
RUG2_DELAY_MS = (770, 1390)
GENESIS_DELAY_MS = (300, 600)


class SimulatorEngine(Requests, GameFrames, History, Outbox):
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
        self._clients: dict[str, Client] = {}
        self._accounts: dict[str, Player] = {}
        self._out: list[Emission] = []
        self._now = start_ms
        self.phase = Phase.COOLDOWN
        self.tick = 0
        self.cooldown_timer = COOLDOWN_MS
        self._game_index = 0
        self.history: deque[dict] = deque(maxlen=HISTORY_LENGTH)
        self._pending_history: dict | None = None
        self._final_board: list[dict] = []
        self._board: list[dict] = []
        self._presale_changed = False
        self._crowd = self._rng.randint(180, 260)
        self.rugpool = Rugpool(self._rng, self.bots, start_ms)
        self._day = DayStats(utc_day(start_ms))
        self._prefill_history(start_ms)
        self.game: Game = self._new_game(start_ms)
        self._steps = self._lifecycle(start_ms)
        self.next_at = next(self._steps)

    # -- driving -----------------------------------------------------------------------------------------------------

    def advance(self, now_ms: int) -> list[Emission]:
        """Run every lifecycle step due by ``now_ms``; return what the server sends, in order."""
        while self.next_at <= now_ms:
            self.next_at = self._steps.send(None)
        return self._drain()

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
        self._clients[client_id] = Client(player)
        self._players[player.id] = player
        self._emit(GAME_STATE_UPDATE, self._snapshot(), target=client_id)
        return emissions + self._drain()

    def disconnect(self, client_id: str) -> None:
        """A client left. A named account stays in the game (its position is still liquidated at the rug)."""
        client = self._clients.pop(client_id, None)
        if client is not None and client.player not in self._accounts.values():
            self._players.pop(client.player.id, None)

    def player_of(self, client_id: str) -> Player:
        return self._clients[client_id].player

    # -- the clock ---------------------------------------------------------------------------------------------------

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

    def _new_game(self, cooldown_at: int) -> Game:
        index = HISTORY_LENGTH + self._game_index
        self._game_index += 1
        return chain_game(self.seed, index, cooldown_at, self._rng)

    def _genesis(self) -> None:
        if self._pending_history is not None:  # the game that just rugged: revealed now, newest first
            finished = self._pending_history
            self.history.appendleft(finished)
            self._count_day(finished["peakMultiplier"], finished["prices"], finished["timestamp"])
            self.game = self._new_game(self._now)
            self._pending_history = None
        for player in self._players.values():
            player.reset_for_game()
        self.phase, self.tick, self.cooldown_timer = Phase.COOLDOWN, 0, COOLDOWN_MS
        self._board = self._final_board
        self._crowd = max(150, min(300, self._crowd + self._rng.randint(-6, 6)))
        self._broadcast_state(self._full_frame(prices_key="partialPrices"))

    def _cooldown_step(self, timer: int) -> None:
        self.cooldown_timer = timer
        if timer == PRESALE_FROM_MS:
            self.phase = Phase.PRESALE
            self._board = []
            self._broadcast_state(self._presale_opening())
            self.game.trade_count = 0  # the opening frame still shows the previous game's count
        if self.phase == Phase.PRESALE:
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
        self.phase, self.tick, self.cooldown_timer = Phase.ACTIVE, 0, 0
        self._board = []
        self._broadcast_state(self._tick0_frame())

    def _active_tick(self, tick: int) -> None:
        self.tick = tick
        self._settle_expired_sidebets()
        self._board = self._leaderboard(presale=False)
        self._broadcast_state(self._tick_frame(rugged=False))

    # -- settlements -------------------------------------------------------------------------------------------------

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
            payloads.global_sidebet_payout(player, bet, payout, self.tick, price, self._now, self._uuid())
        )
        client_id = self._client_id(player)
        if client_id is not None:
            tick = self.tick if won else bet.start_tick
            result = payloads.sidebet_result(player, bet, payout, tick, price, self._now)
            self._emit(CURRENT_SIDEBET_RESULT, self._trace(None), result, target=client_id)
            self._emit(PLAYER_UPDATE, payloads.player_update(player, price), target=client_id)

    def _rug(self) -> None:
        """Rug frame #1, preceded by each player's settlement (§3.3: result → playerUpdate → forced sell →
        playerUpdate → gameStatePlayerUpdate)."""
        self.tick = self.game.rug_tick
        self.phase = Phase.RUGGED
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
                self._emit(PLAYER_UPDATE, payloads.player_update(player, rug_price), target=client_id)
            if client_id is not None and (fills or self._clients[client_id].authenticated):
                self._emit(GAME_STATE_PLAYER_UPDATE, self._player_container(player), target=client_id)
        self._board = self._final_board = self._leaderboard(presale=False)
        self._broadcast_state(self._tick_frame(rugged=True), player_updates=False)
        self.rugpool.close_round(self.game.rug_tick, self._now, self._username)
        self._pending_history = history_entry(self.game, self._now)

    def _rug_history(self, advance: int) -> None:
        frame = self._full_frame(prices_key="partialPrices")
        frame["tickCount"] = self.game.rug_tick + advance  # the server's tick clock runs on; prices are frozen
        self._broadcast_state(frame)
