"""Baseline policies and their scores.

What any trained policy must beat, and the reference scores of the Minari export and the dataset card.

Policies see only the observation (the version's features, in order):

- ``hold``: never trades — 0 SOL by construction, the line any policy must clear;
- ``random``: the action space sampled uniformly (a kind, and an amount of 0–5 SOL the rules may refuse), seeded;
- ``rule``: momentum with exits — buy ``RULE_BET`` SOL when flat and the price rose over ``RULE_RISE`` in 5 ticks,
  sell everything at +``RULE_TAKE`` % or −``RULE_STOP`` %, never sidebet or short.

A score is the mean episode return in SOL (sum of rewards = equity change) over a version's split (the games and
start cash of ``vectra/Replay-v0``), or over the first n games ``vectra/Sim-v0`` plays after ``reset(seed=s)``:
every policy meets the same games. The games are played side by side on the environments' own accounts
(:func:`play_games`: one numpy pass per tick for all of them), so a score is what the environment pays; a split is
played a run of games at a time (memory: one run), the random policy drawing in the order all of them at once would,
so a score never depends on the runs. Scores are recorded in ``<data>/datasets/<kind>/<id>.scores.json``, beside the
version — a version is immutable, so never inside it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from vectra_pipeline import storage
from vectra_pipeline.datasets.registry import DatasetVersion, feature_names
from vectra_pipeline.envs.agents import Agents, Game
from vectra_pipeline.envs.fills import FillModel
from vectra_pipeline.envs.recorded import GAMES_PER_BATCH, episode_lengths, recorded_game_runs
from vectra_pipeline.envs.spaces import action, read_action
from vectra_pipeline.gold.action_space import MAX_AMOUNT, N_ACTIONS, Action

POLICIES = ("hold", "random", "rule")
RULE_NEEDS = ("position_qty", "return_5", "position_pnl_pct")
RULE_BET, RULE_RISE, RULE_TAKE, RULE_STOP = 0.05, 0.02, 20.0, 10.0
SCORES_SUFFIX = ".scores.json"

Policy = Callable[[np.ndarray], dict]


@dataclass(frozen=True)
class Score:
    policy: str
    episodes: int
    mean: float  # SOL per episode
    std: float
    min: float
    max: float


def make_policy(name: str, names: Sequence[str], seed: int) -> Policy:
    """The baseline ``name`` for observations with features ``names`` (ValueError when it cannot read them)."""
    if name == "hold":
        return lambda _: action(Action.HOLD)
    if name == "random":  # the action space's uniform draw, without its per-call overhead (it runs every tick)
        rng = np.random.default_rng(seed)
        return lambda _: action(int(rng.integers(N_ACTIONS)), float(rng.uniform(0.0, MAX_AMOUNT)))
    if name == "rule":
        missing = [n for n in RULE_NEEDS if n not in names]
        if missing:
            raise ValueError(f"the rule policy reads {', '.join(missing)}, not among this observation's features")
        qty, rise, pnl = (list(names).index(n) for n in RULE_NEEDS)

        def rule(observation: np.ndarray) -> dict:
            if observation[qty] <= 0:
                return action(Action.BUY, RULE_BET) if observation[rise] > RULE_RISE else action(Action.HOLD)
            return action(Action.SELL_100) if not -RULE_STOP < observation[pnl] < RULE_TAKE else action(Action.HOLD)

        return rule
    raise ValueError(f"unknown policy {name!r}; expected one of {', '.join(POLICIES)}")


def play_games(names: Sequence[str], games: Sequence[Game], policy: Policy, start_cash: float | None = None,
               fills: FillModel | None = None, seed: int = 0) -> np.ndarray:
    """Each game's return (SOL) under ``policy``, all games side by side: the environments' own accounts
    (:class:`Agents`), so the same trajectories as playing them one by one, with one numpy pass per tick."""
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


def _score(name: str, returns: np.ndarray) -> Score:
    return Score(name, len(returns), float(returns.mean()), float(returns.std()), float(returns.min()), float(returns.max()))


@dataclass(frozen=True)
class Evaluation:
    scores: dict[str, Score]
    skipped: dict[str, str]  # policy → why it cannot play on these observations


@dataclass(frozen=True)
class _Tape:
    """The actions of a policy that ignores its observation but not its past (``random``: its generator's draws), as
    :func:`play_games` draws them over every game at once — step by step, the games still playing in order — kept
    per game (game i's step s at ``starts[i] + s``), so that a run of the games replays exactly its own draws."""

    kinds: np.ndarray
    amounts: np.ndarray
    starts: np.ndarray
    steps: np.ndarray  # per game: its transitions (its rows but the final one)

    @classmethod
    def record(cls, policy: Policy, steps: np.ndarray) -> _Tape:
        starts = np.cumsum(steps) - steps
        tape = cls(np.zeros(steps.sum(), dtype=np.int64), np.zeros(steps.sum()), starts, steps)
        for at in tape._calls(starts, steps):
            tape.kinds[at], tape.amounts[at] = read_action(policy(None))
        return tape

    def replay(self, first: int, count: int) -> Policy:
        """The policy of the games ``first``…``first + count - 1`` played side by side."""
        calls = self._calls(self.starts[first:first + count], self.steps[first:first + count])

        def replayed(_: np.ndarray) -> dict:
            at = next(calls)
            return action(self.kinds[at], self.amounts[at])

        return replayed

    @staticmethod
    def _calls(starts: np.ndarray, steps: np.ndarray) -> Iterator[int]:
        for step in range(int(steps.max(initial=0))):
            yield from (starts[steps > step] + step).tolist()


STATEFUL = ("random",)  # what a policy does depends on its earlier calls: played from a tape of the whole split


def _evaluate(names: Sequence[str], runs: Iterable[Sequence[Game]], lengths: np.ndarray, policies: Sequence[str],
              seed: int, start_cash: float | None) -> Evaluation:
    """Each policy over the games of ``runs`` (``lengths``: their rows, in order), a run at a time: the same returns
    as all of them side by side."""
    made, skipped = {}, {}
    for name in policies:
        try:
            made[name] = make_policy(name, names, seed)
        except ValueError as unusable:
            skipped[name] = str(unusable)
    tapes = {name: _Tape.record(made[name], lengths - 1) for name in STATEFUL if name in made}
    returns: dict[str, list[np.ndarray]] = {name: [] for name in made}
    first = 0
    for games in runs:
        for name, policy in made.items():
            played = tapes[name].replay(first, len(games)) if name in tapes else policy
            returns[name].append(play_games(names, games, played, start_cash, seed=seed))
        first += len(games)
    return Evaluation({name: _score(name, np.concatenate(r)) for name, r in returns.items()}, skipped)


def evaluate_replay(version: DatasetVersion, split: str = "test", policies: Sequence[str] = POLICIES, seed: int = 0,
                    games_per_run: int = GAMES_PER_BATCH) -> Evaluation:
    """Each policy over every episode of the split (``vectra/Replay-v0``'s games and start cash), a run of games at
    a time (memory: one run's games, not the split's)."""
    from vectra_pipeline.envs.replay import no_episodes

    lengths = episode_lengths(version, split)
    if not len(lengths):
        raise no_episodes(version, split)
    runs = recorded_game_runs(version, split, games_per_run)
    return _evaluate(feature_names(version), runs, lengths, policies, seed, None)


def evaluate_sim(games: int, policies: Sequence[str] = POLICIES, seed: int = 0, dataset: DatasetVersion | None = None
                 ) -> Evaluation:
    """Each policy over the ``games`` games ``vectra/Sim-v0`` plays after ``reset(seed=seed)``."""
    from vectra_pipeline.envs.sim import VectraSimEnv

    if games < 1:
        raise ValueError(f"evaluate on at least 1 simulated game, not {games}")
    env = VectraSimEnv(dataset=dataset)
    env.reset(seed=seed)
    played = [env.game, *(env.server.next_game() for _ in range(games - 1))]
    return _evaluate(env.names, [played], np.array([len(game.ticks) for game in played]), policies, seed, env.start_cash)


def reference_scores(evaluation: Evaluation) -> tuple[float, float] | None:
    """(ref_min_score, ref_max_score): the worst and the best baseline's mean; None without two baselines."""
    means = [score.mean for score in evaluation.scores.values()]
    return (min(means), max(means)) if len(means) >= 2 else None


def scores_path(version: DatasetVersion) -> Path:
    return version.path.parent / f"{version.id}{SCORES_SUFFIX}"


def write_scores(version: DatasetVersion, document: dict) -> Path:
    """Record a version's baseline scores beside it (replaced whole, atomically)."""
    return storage.write_json(scores_path(version), document, indent=2)


def read_scores(version: DatasetVersion) -> dict | None:
    """The recorded scores of a version, or None when ``vectra evaluate`` has not run (or left an unreadable file)."""
    try:
        return json.loads(scores_path(version).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _section(evaluation: Evaluation) -> dict:
    return {"scores": {n: asdict(s) for n, s in evaluation.scores.items()}, "skipped": evaluation.skipped}


def scores_document(version: DatasetVersion, split: str, replay: Evaluation | None, sim: Evaluation | None, seed: int,
                    sim_games: int = 0, replay_error: str | None = None) -> dict:
    """The JSON recorded: the split's scores and reference scores (for Minari), or why it has none; the simulated
    games' scores when played."""
    document = {"version": version.id, "seed": seed, "unit": "SOL per episode (sum of rewards = equity change)",
                "replay": {"split": split, **(_section(replay) if replay else {"error": replay_error})}}
    reference = reference_scores(replay) if replay else None
    if reference is not None:
        document["replay"]["ref_min_score"], document["replay"]["ref_max_score"] = reference
    if sim is not None:
        document["sim"] = {"games": sim_games, **_section(sim)}
    return document
