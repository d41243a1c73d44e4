"""``vectra/Sim-v0`` (``VectraSimEnv``): fresh provably-fair games under the replay environment's rules.

Games from the provably-fair engine, traded with the replay environment's account, action space, fills and reward —
unlimited games from the real price distribution to train on, evaluated on recorded ones (``vectra/Replay-v0``).

    env = gym.make("vectra/Sim-v0", dataset="vectra_data/datasets/player/<id>")   # that version's feature list
    envs = gym.make_vec("vectra/Sim-v0", num_envs=16)                          # the vector form

- **Games**: each is a new provably-fair game — a random server seed and game id through the verify page's algorithm
  (``capture_agent.protocol.fairness.price_paths``, compiled, a batch at a time) and a rug remainder drawn as the
  simulator draws it (``rules.draw_rug_remainder``) — so prices, rug ticks and god candles follow
  the real distribution. ``info["server_seed_hash"]`` is announced at reset and ``info["server_seed"]`` revealed on
  the last step, as the game does: ``fairness.price_path(server_seed, game_id)`` reproduces the prices.
- **Observations**: the feature list of ``dataset=`` (so a policy reads recorded games unchanged), else the current
  spec. Generated: the price-path features, ``phase_code``, ``game_tick``, ``tick_observed`` and the day statistics
  (``average_multiplier``, ``count_*``, ``highest_today``, flagged known) kept as the simulator keeps them
  (``day_stats.DayStats``) over the games of the simulated day. Not generated, 0: the crowd's
  (``UNSIMULATED``: players, trade counts, order flow, the rugpool) — mask them for a policy meant for both.
- **Account, fills, reward**: those of the replay environment (:mod:`vectra_pipeline.envs.agents`); start cash
  ``start_cash`` (10 SOL: a fresh practice account); ``fill="recorded"`` needs ``dataset=``.
- **Seeding**: ``reset(seed=s)`` starts a fresh simulated server at 00:00 UTC of a new day — the day statistics
  build up over the games that follow, as after a real midnight — and ``reset()`` plays its next game. The games
  come from their own generator, so they do not depend on the actions taken.
- **Vector form** (``VectraSimVectorEnv``, ``gym.make_vec``): n servers, sub-environment i seeded s+i and reset on
  the step after its episode ends, as ``SyncVectorEnv`` does — the same trajectories as
  ``vectorization_mode="sync"``, with one numpy pass over all accounts per step.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Sequence
from pathlib import Path

import gymnasium as gym
import numpy as np
import polars as pl
from gymnasium.utils import seeding
from gymnasium.vector.utils import batch_space
from gymnasium.vector.vector_env import AutoresetMode

from capture_agent.protocol.day_stats import DayStats
from capture_agent.protocol.fairness import price_paths, seed_hash
from capture_agent.protocol.rules import COOLDOWN_MS, GAME_VERSION, TICK_MS, Phase, draw_rug_remainder
from capture_agent.protocol.trading import PRACTICE_START_CASH
from vectra_pipeline.datasets.registry import DatasetVersion, feature_names
from vectra_pipeline.envs.agents import Agents, Desk, Game
from vectra_pipeline.envs.fills import FillModel, fill_model
from vectra_pipeline.envs.recorded import resolve_version
from vectra_pipeline.envs.spaces import action_space, batch_actions, observation_space, read_action
from vectra_pipeline.gold.feature_spec import FEATURE_NAMES, FEATURES
from vectra_pipeline.gold.features import price_features

DAY_MS = 86_400_000
BATCH = 16  # games drawn at a time: one compiled price-path call, one polars pass
UNSIMULATED = ("connected_players", "game_trade_count", "rugpool_amount", "rugpool_threshold", "instarug_count",
               "rugpool_ratio", *(f.name for f in FEATURES if f.group == "flow"))


class SimServer:
    """One simulated server: its games, in order, and the day statistics its frames carry."""

    def __init__(self, names: Sequence[str]) -> None:
        self.names = list(names)
        self._generated = [j for j, name in enumerate(self.names) if name not in UNSIMULATED]

    def restart(self, rng: np.random.Generator) -> None:
        """A fresh server at 00:00 UTC of a new day, drawing its games from ``rng``."""
        self.rng, self.clock_ms, self.day = rng, 0, DayStats("0")
        self.queue: deque[Game] = deque()

    def next_game(self) -> Game:
        if not self.queue:
            self.queue.extend(self._draw_games())
        return self.queue.popleft()

    def _draw_games(self) -> list[Game]:
        """The next ``BATCH`` games: one compiled call for their paths, one polars pass for their features."""
        seeds = [self.rng.bytes(32).hex() for _ in range(BATCH)]
        drawn = [(seed, f"sim-{self.rng.bytes(8).hex()}", GAME_VERSION) for seed in seeds]
        remainders = random.Random(int(self.rng.integers(2**63)))
        paths, ticks = [], []
        for (_, game_id, _), path in zip(drawn, price_paths(drawn)):
            prices = [*path.prices, draw_rug_remainder(remainders, path.prices[-1])]
            paths.append(prices)
            ticks.append(self._tick_rows(game_id, prices))
            self.clock_ms += COOLDOWN_MS + (len(prices) - 1) * TICK_MS
            self.day.add(max(prices), prices, self.clock_ms)  # revealed at its rug: the next game's statistics
            if self.clock_ms // DAY_MS != int(self.day.day):
                self.day = DayStats(str(self.clock_ms // DAY_MS))
        ticks = pl.concat(ticks)
        market = price_features(ticks).join(ticks.drop("price", "price_source", "phase"), on=["game_id", "tick"])
        features = np.zeros((market.height, len(self.names)))
        for j in self._generated:
            if self.names[j] in market.columns:
                features[:, j] = market[self.names[j]].to_numpy()
        games, start = [], 0
        for (seed, game_id, _), prices in zip(drawn, paths):
            end = start + len(prices)
            games.append(Game(game_id, np.arange(len(prices), dtype=np.int64), np.array(prices), features[start:end],
                              terminated=True, server_seed=seed))
            start = end
        return games

    def _tick_rows(self, game_id: str, prices: list[float]) -> pl.DataFrame:
        """A game's ticks as the observation rows read them: the day statistics of the games before it, no crowd."""
        rows, day = len(prices), self.day
        # the simulated server's full frames carry the day's statistics on every tick: known, never carried
        stats = {"average_multiplier": day.average(), "count_2x": day.count(2), "count_10x": day.count(10),
                 "count_50x": day.count(50), "count_100x": day.count(100), "highest_today": day.highest,
                 "stats_known": 1.0, "highest_today_known": 1.0}
        return pl.DataFrame({
            "game_id": [game_id] * rows,
            "tick": np.arange(rows, dtype=np.int32),
            "price": prices,
            "price_source": ["observed"] * rows,
            "phase": [Phase.ACTIVE.value] * (rows - 1) + [Phase.RUGGED.value],
            **{name: pl.Series([float(value)] * rows, dtype=pl.Float64) for name, value in stats.items()},
        })


def _feature_names(version: DatasetVersion | None) -> list[str]:
    names = feature_names(version) if version is not None else list(FEATURE_NAMES)
    if "price" not in names:
        raise ValueError("the observation has no price feature: an environment trades at the tick prices")
    return names


def _info(desk: Desk, equity: float, rejected: str | None) -> dict:
    info = {"game_id": desk.game.game_id, "tick": desk.tick, "equity": equity, "rejected": rejected}
    if desk.row == 0:
        info["server_seed_hash"] = seed_hash(desk.game.server_seed)
    if desk.done:
        info["server_seed"] = desk.game.server_seed
    return info


def _server_rng(rng: np.random.Generator) -> np.random.Generator:
    """The games' own generator, drawn from the environment's: the games do not depend on the actions (fills draw
    from the environment's generator)."""
    return np.random.default_rng(int(rng.integers(2**63)))


class VectraSimEnv(gym.Env):
    metadata = {"render_modes": []}

    def __init__(self, dataset: DatasetVersion | Path | str | None = None, start_cash: float = PRACTICE_START_CASH,
                 fill: str | FillModel = "instant") -> None:
        version = resolve_version(dataset) if dataset is not None else None
        self.names = _feature_names(version)
        self.start_cash = start_cash
        self.fills = fill_model(fill, version)
        self.observation_space = observation_space(len(self.names))
        self.action_space = action_space()
        self.server = SimServer(self.names)
        self._agents = Agents(self.names)
        self._started = False

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        if seed is not None or not self._started:
            self.server.restart(_server_rng(self.np_random))
            self._started = True
        self._agents.begin(0, self.server.next_game(), self.start_cash, self.fills, self.np_random)
        return self._agents.observations()[0], _info(self._agents.desks[0], float(self._agents.equity[0]), None)

    @property
    def game(self) -> Game:
        """The game being played."""
        return self._agents.desks[0].game

    def step(self, action):
        kind, amount = read_action(action)
        rewards, refused = self._agents.step(np.array([kind]), np.array([amount]), [0])
        desk = self._agents.desks[0]
        info = _info(desk, float(self._agents.equity[0]), refused[0])
        return self._agents.observations()[0], float(rewards[0]), desk.done, False, info


class VectraSimVectorEnv(gym.vector.VectorEnv):
    metadata = {"render_modes": [], "autoreset_mode": AutoresetMode.NEXT_STEP}

    def __init__(self, num_envs: int = 1, dataset: DatasetVersion | Path | str | None = None,
                 start_cash: float = PRACTICE_START_CASH, fill: str | FillModel = "instant") -> None:
        version = resolve_version(dataset) if dataset is not None else None
        self.names = _feature_names(version)
        self.num_envs = num_envs
        self.start_cash = start_cash
        self.fills = fill_model(fill, version)
        self.single_observation_space = observation_space(len(self.names))
        self.single_action_space = action_space()
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self.servers = [SimServer(self.names) for _ in range(num_envs)]
        self._rngs: list[np.random.Generator | None] = [None] * num_envs
        self._agents = Agents(self.names, num_envs)
        self._autoreset = np.zeros(num_envs, dtype=bool)

    def reset(self, *, seed: int | Sequence[int | None] | None = None, options: dict | None = None):
        super().reset(seed=seed if isinstance(seed, int) else None)
        seeds = [None] * self.num_envs if seed is None else [seed + i for i in range(self.num_envs)] if isinstance(seed, int) else list(seed)
        if len(seeds) != self.num_envs:
            raise ValueError(f"{len(seeds)} seeds for {self.num_envs} environments")
        for i, sub_seed in enumerate(seeds):
            if sub_seed is not None or self._rngs[i] is None:
                self._rngs[i] = seeding.np_random(sub_seed)[0]
                self.servers[i].restart(_server_rng(self._rngs[i]))
            self._begin(i)
        self._autoreset[:] = False
        return self._agents.observations(), self._infos([None] * self.num_envs)

    def step(self, actions):
        kinds, amounts = batch_actions(actions, self.num_envs)
        resetting = np.flatnonzero(self._autoreset)
        stepping = np.flatnonzero(~self._autoreset)
        rewards, refused = self._agents.step(kinds, amounts, stepping)
        for i in resetting:
            self._begin(i)
        terminated = np.array([not self._autoreset[i] and desk.done for i, desk in enumerate(self._agents.desks)])
        infos = self._infos(refused)
        self._autoreset = terminated
        return self._agents.observations(), rewards, terminated, np.zeros(self.num_envs, dtype=bool), infos

    def _begin(self, i: int) -> None:
        self._agents.begin(i, self.servers[i].next_game(), self.start_cash, self.fills, self._rngs[i])

    def _infos(self, refused: Sequence[str | None]) -> dict:
        """Every sub-environment's ``_info`` batched as ``SyncVectorEnv`` batches them (a value array and a
        ``_key`` mask per key), built directly: it runs every step."""
        entries = [_info(desk, float(equity), reason) for desk, equity, reason in zip(self._agents.desks, self._agents.equity, refused)]
        infos: dict = {}
        for key in dict.fromkeys(key for entry in entries for key in entry):
            present = np.array([key in entry for entry in entries])
            values = [entry.get(key) for entry in entries]
            first = values[int(np.argmax(present))]
            dtype = type(first) if type(first) in (int, float, bool) else object
            array = np.zeros(self.num_envs, dtype=dtype) if dtype is not object else np.full(self.num_envs, None, dtype=object)
            for i in np.flatnonzero(present):
                array[i] = values[i]
            infos[key], infos[f"_{key}"] = array, present
        return infos
