"""``VectraReplayEnv``: replays the recorded games of a dataset version with the agent's own practice account.

The market (prices, statistics, other players' order flow) is the recording: the agent cannot move it. The agent's
account follows the protocol's trade rules (``capture_agent.protocol.trading``): a buy spends ``bet_amount`` SOL
at the tick's price, a sell sells 10/25/50/100 % of the position, a sidebet stakes ``sidebet_amount`` for 40 ticks,
a short opens ``bet_amount`` SOL at the tick's price and closes at its value. Orders execute at the price of the tick
they are sent on (no latency). An order the rules refuse (no cash, nothing to sell, a sidebet already open…) is a
hold, reported in ``info["rejected"]``.

Observations are the feature vector of the spec (float32, the dataset's order): market, flow and quality features
come from the recorded row; player and action features are recomputed from the agent's account with the same
functions as the observations (``features.player_features``). The reward is the same rule, ``rewards.reward``:
equity(t+1) − equity(t) with ``rewards.equity`` — sidebet stake valued until decided, payout on the rug tick. The
episode terminates on the rug tick and is truncated at the end of a recording that stopped before it.
"""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np

from capture_agent.protocol import trading
from capture_agent.protocol.rules import SOL_COIN
from vectra_pipeline.datasets.registry import DatasetVersion, as_version, feature_names, read_observations
from vectra_pipeline.envs.spaces import action_space, observation_space
from vectra_pipeline.gold.action_space import ACTION_PERCENTAGE, Action
from vectra_pipeline.gold.features import player_features
from vectra_pipeline.gold.rewards import reward


class VectraReplayEnv(gym.Env):
    metadata = {"render_modes": []}

    def __init__(self, dataset: DatasetVersion | Path | str, split: str = "test", bet_amount: float = 0.05,
                 sidebet_amount: float = 0.01, start_cash: float = trading.PRACTICE_START_CASH) -> None:
        version = as_version(dataset)
        self.names = feature_names(version)
        self._index = {name: i for i, name in enumerate(self.names)}
        rows = read_observations(version, split)
        if rows.is_empty():
            raise ValueError(f"dataset {version.id} has no {split!r} episodes to replay")
        self.bet_amount, self.sidebet_amount, self.start_cash = bet_amount, sidebet_amount, start_cash
        self.episodes: list[dict] = []
        for (game_id,), episode in rows.group_by("game_id", maintain_order=True):
            self.episodes.append({
                "game_id": game_id,
                "features": episode.select(self.names).to_numpy().astype(np.float64),
                "ticks": episode["tick"].to_numpy(),
                "prices": episode["price"].to_numpy(),
                "terminated": bool(episode["terminated"].any()),
            })
        self.observation_space = observation_space(len(self.names))
        self.action_space = action_space()
        self._next_episode = 0

    # -- gym API ---------------------------------------------------------------------------------------------------

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """Replay episode ``options["episode"]``; else one drawn from the seed when a seed is given (reproducible);
        else the next one in order (cycling)."""
        super().reset(seed=seed)
        chosen = (options or {}).get("episode")
        if chosen is None and seed is not None:
            chosen = int(self.np_random.integers(len(self.episodes)))
        elif chosen is None:
            chosen = self._next_episode
            self._next_episode = (self._next_episode + 1) % len(self.episodes)
        self.episode = self.episodes[int(chosen)]
        rug = int(self.episode["ticks"][-1]) if self.episode["terminated"] else -1
        self.rug_tick = rug
        self.row = 0
        self.player = trading.Player("agent", "agent", 0, cash=self.start_cash)
        self.last_action_tick: int | None = None
        self.last_bet = 0.0
        self.position_since: int | None = None
        self._refresh()
        return self._observation(), self._info(rejected=None)

    def step(self, action):
        action = Action(int(action))
        tick, price = self._tick(), float(self.episode["prices"][self.row])
        before = self._equity()  # the state at this tick, before the order
        rejected = None
        if action is not Action.HOLD:
            # like the recorded labels, an action counts as sent whether or not the rules accept it
            self.last_action_tick = tick
            if action in (Action.BUY, Action.SHORT_OPEN):
                self.last_bet = self.bet_amount
            elif action is Action.SIDEBET:
                self.last_bet = self.sidebet_amount
            try:
                self._apply(action, tick, price)
            except trading.TradeRejected as refusal:
                rejected = refusal.reason
        self.row += 1
        self._refresh()
        gain = reward(before, self._equity())
        last = self.row == len(self.episode["ticks"]) - 1
        terminated, truncated = last and self.episode["terminated"], last and not self.episode["terminated"]
        if self._settle_expired_sidebet():
            self._refresh()
        if self.player.position_qty > 0 and self.position_since is None:
            self.position_since = self._tick()
        elif self.player.position_qty <= 0:
            self.position_since = None
        return self._observation(), float(gain), terminated, truncated, self._info(rejected)

    # -- internals -------------------------------------------------------------------------------------------------

    def _tick(self) -> int:
        return int(self.episode["ticks"][self.row])

    def _apply(self, action: Action, tick: int, price: float) -> None:
        player = self.player
        if action is Action.BUY:
            trading.buy(player, self.bet_amount, price, tick)
        elif action in ACTION_PERCENTAGE:
            trading.sell(player, ACTION_PERCENTAGE[action], price, tick)
        elif action is Action.SIDEBET:
            trading.place_sidebet(player, self.sidebet_amount, self.episode["game_id"], tick, price, 0, SOL_COIN)
        elif action is Action.SHORT_OPEN:
            trading.open_short(player, self.bet_amount, price, tick)
        elif action is Action.SHORT_CLOSE:
            trading.close_short(player, price, tick)

    def _settle_expired_sidebet(self) -> bool:
        """Free the sidebet slot once the window passed without a rug (its value is already 0 in the equity)."""
        bet = self.player.sidebet
        if bet is not None and self._tick() > bet.end_tick:
            trading.settle_sidebet(self.player, won=False)
            return True
        return False

    def _refresh(self) -> None:
        """Recompute the account's features at the current row (after every change of row or of account)."""
        player, bet, short = self.player, self.player.sidebet, self.player.short
        self._state = player_features(
            price=float(self.episode["prices"][self.row]), tick=self._tick(), rug_tick=self.rug_tick, known=True,
            cash=player.cash, position_qty=player.position_qty, avg_cost=player.avg_cost,
            cumulative_pnl=player.cumulative_pnl, total_invested=player.total_invested,
            sidebet_active=bet is not None, sidebet_end_tick=bet.end_tick if bet else 0.0,
            sidebet_amount=bet.bet_amount if bet else 0.0, short_amount=short.amount if short else 0.0,
            short_entry_price=short.entry_price if short else 0.0,
        )

    def _equity(self) -> float:
        return float(self._state["equity"])

    def _observation(self) -> np.ndarray:
        vector = self.episode["features"][self.row].copy()
        tick = self._tick()
        own = {name: float(value) for name, value in self._state.items()}
        acted = self.last_action_tick is not None
        own.update(
            ticks_in_position=float(tick - self.position_since) if self.position_since is not None else 0.0,
            has_acted=float(acted),
            ticks_since_last_action=float(tick - self.last_action_tick) if acted else 0.0,
            last_bet_amount=self.last_bet,
            last_slippage_ticks=0.0,
            last_exec_price_ratio=0.0,
            last_ack_latency_ms=0.0,
        )
        for name, value in own.items():
            vector[self._index[name]] = value
        return vector.astype(np.float32)

    def _info(self, rejected: str | None) -> dict:
        return {"game_id": self.episode["game_id"], "tick": self._tick(), "equity": self._equity(), "rejected": rejected}
