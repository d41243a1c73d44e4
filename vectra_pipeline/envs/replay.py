"""``vectra/Replay-v0`` (``VectraReplayEnv``): a version's recorded games, replayed with the agent's own account.

The recorded games of a dataset version's split, one episode per game, traded with a practice account.

    env = gym.make("vectra/Replay-v0", dataset="vectra_data/datasets/player/<id>", split="test")

The market (prices, statistics, other players' order flow) is the recording: the agent cannot move it. The agent
trades with the action space of every export (a kind and an amount in SOL, ``vectra_pipeline.gold.action_space``)
through the protocol's trade rules (``capture_agent.protocol.trading``); an order the rules refuse (no cash, nothing
to sell, a sidebet already open, an amount outside 0.001–5 SOL…) is a hold, its reason in ``info["rejected"]``.

- **Start cash**: by default the recorded player's equity at the episode's first known tick — its wealth when the
  game began — and 10 SOL (a fresh practice account) when the data holds none (a crowd or hand-built version);
  ``start_cash=`` fixes it.
- **Fills** (``vectra_pipeline.envs.fills``): ``fill="instant"`` executes at the tick the order is sent;
  ``fill="recorded"`` after a delay and ack latency drawn from the orders recorded on the version's days.
- **Episodes**: ``reset(seed=s)`` draws an episode from the seed, and every later ``reset()`` draws from the same
  generator, so a seed fixes the whole sequence; ``options={"episode": i}`` replays episode i (0 ≤ i <
  ``len(env.unwrapped.games)``, in game id order), as evaluation does. An episode terminates on the rug tick and is
  truncated where a recording stopped before it; ``step()`` after the end raises ``gymnasium.error.ResetNeeded``.

Observations are the version's feature vector (float32, manifest order): market, flow and quality features come from
the recorded row, the account and action-history features from the agent's account, with the observation rows' own
functions (:mod:`vectra_pipeline.envs.agents`). The reward is the rows' rule: equity(t+1) − equity(t) in SOL (float64),
so an episode's rewards add up to the account's equity change.
"""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np

from vectra_pipeline.datasets.registry import DatasetVersion, feature_names
from vectra_pipeline.envs.agents import Agents, Game
from vectra_pipeline.envs.fills import FillModel, fill_model
from vectra_pipeline.envs.recorded import recorded_games, resolve_version
from vectra_pipeline.envs.spaces import action_space, observation_space, read_action


def no_episodes(version: DatasetVersion, split: str) -> ValueError:
    """The error of a split without episodes to replay, naming the splits that have some."""
    episodes = {s: n["episodes"] for s, n in version.manifest.get("counts", {}).get("per_split", {}).items()}
    held = ", ".join(f"{s} {n}" for s, n in episodes.items()) or "no split counts in its manifest"
    return ValueError(f"dataset {version.id} has no {split!r} episodes to replay (episodes: {held}); choose another split")


class VectraReplayEnv(gym.Env):
    metadata = {"render_modes": []}

    def __init__(self, dataset: DatasetVersion | Path | str, split: str = "test", start_cash: float | None = None,
                 fill: str | FillModel = "instant") -> None:
        self.version = resolve_version(dataset)
        self.split = split
        self.names = feature_names(self.version)
        self.games = recorded_games(self.version, split)
        if not self.games:
            raise no_episodes(self.version, split)
        self.start_cash = start_cash
        self.fills = fill_model(fill, self.version)
        self.observation_space = observation_space(len(self.names))
        self.action_space = action_space()
        self._agents = Agents(self.names)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        chosen = (options or {}).get("episode")
        if chosen is None:
            chosen = int(self.np_random.integers(len(self.games)))
        elif not 0 <= int(chosen) < len(self.games):
            raise ValueError(f"episode {chosen} is out of range: the {self.split} split has {len(self.games)} episodes")
        game = self.games[int(chosen)]
        self._agents.begin(0, game, game.opening_cash(self.start_cash), self.fills, self.np_random)
        return self._agents.observations()[0], {**self._info(None), "episode": int(chosen)}

    def step(self, action):
        kind, amount = read_action(action)
        rewards, refused = self._agents.step(np.array([kind]), np.array([amount]), [0])
        desk = self._agents.desks[0]
        terminated = desk.done and desk.game.terminated
        return self._agents.observations()[0], float(rewards[0]), terminated, desk.done and not terminated, self._info(refused[0])

    @property
    def game(self) -> Game:
        """The game being replayed."""
        return self._agents.desks[0].game

    def _info(self, rejected: str | None) -> dict:
        desk = self._agents.desks[0]
        recorded = {"player_id": desk.game.player_id} if desk.game.player_id is not None else {}
        return {"game_id": desk.game.game_id, **recorded, "tick": desk.tick, "equity": float(self._agents.equity[0]),
                "rejected": rejected}
