"""Baseline policies and their scores.

What any trained policy must beat, and the reference scores of the Minari export and the dataset card.

Policies see only the observation (the version's features, in order):

- ``hold``: never trades — 0 SOL by construction, the line any policy must clear;
- ``random``: the action space sampled uniformly (a kind, and an amount of 0–5 SOL the rules may refuse), seeded;
- ``rule``: momentum with exits — buy ``RULE_BET`` SOL when flat and the price rose over ``RULE_RISE`` in 5 ticks,
  sell everything at +``RULE_TAKE`` % or −``RULE_STOP`` %, never sidebet or short.

A score is the mean episode return in SOL (sum of rewards = equity change) over a version's split (the games and
start cash of ``vectra/Replay-v0``), or over the first n games ``vectra/Sim-v0`` plays after ``reset(seed=s)``:
every policy meets the same games. The games are played side by side, every account stepped at once
(:func:`play_games` on a :class:`~vectra_pipeline.envs.ledger.Ledger`: the environments' trading rules and instant
fills on the same floats, one array operation per rule per tick), so a score is what the environment pays; a split is
played a run of games at a time (memory: one run), the random policy drawing in the order all of them at once would,
so a score never depends on the runs. Scores are recorded in ``<data>/datasets/<kind>/<id>.scores.json``, beside the
version — a version is immutable, so never inside it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from vectra_pipeline import storage
from vectra_pipeline.datasets.registry import DatasetVersion, feature_names
from vectra_pipeline.envs.agents import Game
from vectra_pipeline.envs.ledger import Ledger, Table
from vectra_pipeline.envs.recorded import GAMES_PER_BATCH, episode_lengths, recorded_game_runs
from vectra_pipeline.envs.spaces import action
from vectra_pipeline.gold.action_space import MAX_AMOUNT, N_ACTIONS, Action
from vectra_pipeline.gold.feature_spec import FEATURES, PLAYER_FEATURES
from vectra_pipeline.gold.rewards import reward

POLICIES = ("hold", "random", "rule")
RULE_NEEDS = ("position_qty", "return_5", "position_pnl_pct")
RULE_BET, RULE_RISE, RULE_TAKE, RULE_STOP = 0.05, 0.02, 20.0, 10.0
SCORES_SUFFIX = ".scores.json"
_ACTION_HISTORY = {f.name for f in FEATURES if f.group == "action"}

Policy = Callable[[np.ndarray], dict]
Decide = Callable[[dict[str, np.ndarray], int, slice], tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class Score:
    policy: str
    episodes: int
    mean: float  # SOL per episode
    std: float
    min: float
    max: float


@dataclass(frozen=True)
class Baseline:
    """A baseline deciding for every game of a run at once: ``decide(observed, step, games)`` gets the features it
    ``reads`` (float32, one per game, as the observation vectors hold them) at transition ``step`` of the games
    ``games`` (their positions among every game the baseline plays) and returns (kinds int64, amounts float64)."""

    name: str
    reads: tuple[str, ...]
    decide: Decide


def _rule(observed: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The rule's decisions, one per observation (float32 compared as the observation holds it)."""
    flat = observed["position_qty"] <= 0
    buy = flat & (observed["return_5"] > RULE_RISE)
    pnl = observed["position_pnl_pct"]
    sell = ~flat & ~((-RULE_STOP < pnl) & (pnl < RULE_TAKE))
    kinds = np.where(buy, Action.BUY, np.where(sell, Action.SELL_100, Action.HOLD)).astype(np.int64)
    return kinds, np.where(buy, RULE_BET, 0.0)


def _draw(rng: np.random.Generator) -> tuple[int, float]:
    """One uniform draw of the action space, without its per-call overhead (the random policy draws every tick)."""
    return int(rng.integers(N_ACTIONS)), float(rng.uniform(0.0, MAX_AMOUNT))


def _rule_reads(names: Sequence[str]) -> None:
    missing = [n for n in RULE_NEEDS if n not in names]
    if missing:
        raise ValueError(f"the rule policy reads {', '.join(missing)}, not among this observation's features")


def make_policy(name: str, names: Sequence[str], seed: int) -> Policy:
    """The baseline ``name`` for one observation at a time (an environment's loop), with features ``names``
    (ValueError when it cannot read them)."""
    if name == "hold":
        return lambda _: action(Action.HOLD)
    if name == "random":
        rng = np.random.default_rng(seed)
        return lambda _: action(*_draw(rng))
    if name == "rule":
        _rule_reads(names)
        columns = [list(names).index(n) for n in RULE_NEEDS]

        def rule(observation: np.ndarray) -> dict:
            kinds, amounts = _rule({n: observation[c:c + 1] for n, c in zip(RULE_NEEDS, columns, strict=True)})
            return action(kinds[0], amounts[0])

        return rule
    raise ValueError(f"unknown policy {name!r}; expected one of {', '.join(POLICIES)}")


def baseline(name: str, names: Sequence[str], seed: int, steps: np.ndarray) -> Baseline:
    """The baseline ``name`` deciding for many games at once, over games of ``steps`` transitions each (a random
    policy's draws span them all: see :class:`_Tape`); the same decisions as :func:`make_policy`'s."""
    if name == "hold":
        return Baseline(name, (), lambda _, __, games: (np.zeros(games.stop - games.start, dtype=np.int64),
                                                         np.zeros(games.stop - games.start)))
    if name == "random":
        return Baseline(name, (), _Tape.record(np.random.default_rng(seed), steps).decide)
    if name == "rule":
        _rule_reads(names)
        return Baseline(name, RULE_NEEDS, lambda observed, _, __: _rule(observed))
    raise ValueError(f"unknown policy {name!r}; expected one of {', '.join(POLICIES)}")


def play_games(names: Sequence[str], games: Sequence[Game], policy: Baseline, start_cash: float | None = None,
               first: int = 0) -> np.ndarray:
    """Each game's return (SOL) under ``policy`` (``games`` being its games ``first``…), every game on its own
    account and all of them stepped at once (:class:`Ledger`, instant fills): what the environments pay."""
    return _play(names, games, [policy], first, np.array([game.opening_cash(start_cash) for game in games], dtype=np.float64))[0]


def _market_reads(names: Sequence[str], reads: Iterable[str]) -> list[str]:
    """The features read from the games' rows (the account's come from the ledger); an account feature the ledger
    does not keep (the action history) is a programming error."""
    history = sorted({n for n in reads} & _ACTION_HISTORY)
    if history:
        raise ValueError(f"a baseline cannot read {', '.join(history)}: the ledger keeps no action history")
    return [n for n in reads if n not in PLAYER_FEATURES and n in names]


def _play(names: Sequence[str], games: Sequence[Game], policies: Sequence[Baseline], first: int,
          start_cash: np.ndarray) -> list[np.ndarray]:
    """Each policy's returns over ``games``, summed as the environments add them: each transition's reward added to
    its game's total in order. Every policy's accounts are stepped in one ledger (the games once per policy, side by
    side): one array operation per rule per tick for all of them, and each account's arithmetic is its own, so each
    return is the one a ledger of that policy alone gives."""
    n, parts = len(games), [slice(i * len(games), (i + 1) * len(games)) for i in range(len(policies))]
    table = Table([*games] * len(policies), names, _market_reads(names, [r for policy in policies for r in policy.reads]))
    ledger, steps = Ledger(table, np.tile(start_cash, len(policies))), table.rows[:n] - 1
    played = slice(first, first + n)
    features, totals = ledger.features(), np.zeros(n * len(policies))
    for step in range(int(steps.max(initial=0))):
        active = np.tile(steps > step, len(policies))
        decisions = [policy.decide({name: table.market[name][part, step] if name in table.market
                                    else features[name][part].astype(np.float32) for name in policy.reads}, step, played)
                     for policy, part in zip(policies, parts, strict=True)]
        ledger.step(np.concatenate([kinds for kinds, _ in decisions]), np.concatenate([amounts for _, amounts in decisions]),
                    active)
        after = ledger.features()
        totals += np.where(active, reward(features["equity"], after["equity"]), 0.0)
        features = after
    return [totals[part] for part in parts]


def _score(name: str, returns: np.ndarray) -> Score:
    return Score(name, len(returns), float(returns.mean()), float(returns.std()), float(returns.min()), float(returns.max()))


@dataclass(frozen=True)
class Evaluation:
    scores: dict[str, Score]
    skipped: dict[str, str]  # policy → why it cannot play on these observations


@dataclass(frozen=True)
class _Tape:
    """The actions of a policy that ignores its observation but not its past (``random``: its generator's draws), in
    the order the games played side by side would draw them — step by step, the games still playing in order — kept
    per game (game i's step s at ``starts[i] + s``), so that a run of the games replays exactly its own draws."""

    kinds: np.ndarray
    amounts: np.ndarray
    starts: np.ndarray
    steps: np.ndarray  # per game: its transitions (its rows but the final one)

    @classmethod
    def record(cls, rng: np.random.Generator, steps: np.ndarray) -> _Tape:
        steps = np.asarray(steps, dtype=np.int64)
        starts = np.cumsum(steps) - steps
        game = np.repeat(np.arange(len(steps)), steps)
        called = np.lexsort((game, np.arange(len(game)) - starts[game]))  # by step, then game
        draws = np.array([_draw(rng) for _ in range(len(game))], dtype=np.float64).reshape(-1, 2)
        kinds, amounts = np.zeros(len(game), dtype=np.int64), np.zeros(len(game))
        kinds[called], amounts[called] = draws[:, 0].astype(np.int64), draws[:, 1]
        return cls(kinds, amounts, starts, steps)

    def decide(self, _: dict, step: int, games: slice) -> tuple[np.ndarray, np.ndarray]:
        """The draws of transition ``step`` of ``games`` (a game already over gets its last draw: never played)."""
        at = self.starts[games] + np.minimum(step, np.maximum(self.steps[games] - 1, 0))
        return self.kinds[at], self.amounts[at]


def _evaluate(names: Sequence[str], runs: Iterable[Sequence[Game]], lengths: np.ndarray, policies: Sequence[str],
              seed: int, start_cash: float | None) -> Evaluation:
    """Each policy over the games of ``runs`` (``lengths``: their rows, in order), a run at a time: the same returns
    as all of them side by side."""
    made, skipped = {}, {}
    for name in policies:
        try:
            made[name] = baseline(name, names, seed, lengths - 1)
        except ValueError as unusable:
            skipped[name] = str(unusable)
    returns: dict[str, list[np.ndarray]] = {name: [] for name in made}
    first = 0
    for games in runs:
        cash = np.array([game.opening_cash(start_cash) for game in games], dtype=np.float64)
        for name, played in zip(made, _play(names, games, list(made.values()), first, cash), strict=True):
            returns[name].append(played)
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
