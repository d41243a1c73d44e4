"""The baselines' reference player: every game on its own account of the environments (:class:`Agents`, one
``Desk.step`` per game per tick, the observation vectors the environments hand out) — what the vectorised
:func:`vectra_pipeline.envs.baselines.play_games` must pay bit for bit."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from vectra_pipeline.envs.agents import Agents, Game
from vectra_pipeline.envs.baselines import Policy
from vectra_pipeline.envs.fills import FillModel
from vectra_pipeline.envs.spaces import read_action


def play_games_by_desk(names: Sequence[str], games: Sequence[Game], policy: Policy, start_cash: float | None = None,
                       fills: FillModel | None = None, seed: int = 0) -> np.ndarray:
    """Each game's return (SOL) under a per-observation ``policy``, the games side by side on the environments'
    accounts, the policy called per game per tick in game order."""
    agents, rng = Agents(names, len(games)), np.random.default_rng(seed)
    for i, game in enumerate(games):
        agents.begin(i, game, game.opening_cash(start_cash), fills or FillModel.instant(), rng)
    totals = np.zeros(len(games))
    kinds, amounts = np.zeros(len(games), dtype=np.int64), np.zeros(len(games))
    active = list(range(len(games)))
    while active:
        observations = agents.observations()
        for i in active:
            kinds[i], amounts[i] = read_action(policy(observations[i]))
        totals += agents.step(kinds, amounts, active)[0]
        active = [i for i in active if not agents.desks[i].done]
    return totals
