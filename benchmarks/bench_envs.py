"""Environment throughput: ``vectra/Sim-v0`` single and vectorised beside ``vectra/Replay-v0``, anchored on
Gymnasium's ``CartPole-v1`` in the same run.

    .venv/bin/python benchmarks/bench_envs.py [--steps 20000] [--num-envs 16] [--games 300] [--json out.json]

The replay env plays the train split of a version published from ``--games`` synthetic games (not timed). Actions are
drawn from the action space before timing (a random policy whose sampling is not measured); every env resets itself
when an episode ends, so the figures include resets and — for Sim-v0 — generating the games (compiled price paths,
their features). Vectorised figures count sub-environment steps: ``--steps`` of them in all.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import gymnasium as gym
import polars as pl
from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from capture_agent.protocol.fairness import compiled_replay_active  # noqa: E402
from vectra_pipeline.datasets.publish import publish  # noqa: E402
from vectra_pipeline.envs import REPLAY_ENV_ID, SIM_ENV_ID  # noqa: E402
from vectra_pipeline.gold.episodes import build_episodes  # noqa: E402
from vectra_pipeline.gold.observations import build_observations  # noqa: E402
from vectra_pipeline.synthetic import synthetic_silver  # noqa: E402

DATE = "2025-12-10"


def _version(data: Path, games: int, seed: int):
    """A version published from ``games`` synthetic games (not timed)."""
    silver = synthetic_silver(games, seed=seed)
    episodes = build_episodes(silver["games"], silver["game_ticks"], silver["trades"], silver["sidebets"],
                              silver["player_state"], silver["actions"])
    observations = build_observations(silver["game_ticks"], silver["trades"], silver["player_state"], silver["actions"], episodes)
    tag = pl.lit(DATE).alias("partition")
    return publish(data, [DATE], episodes.with_columns(tag), observations.with_columns(tag), [])[0]


def _single(env: gym.Env, steps: int, seed: int) -> float:
    """Steps per second of one env under a random policy."""
    env.action_space.seed(seed)
    actions = [env.action_space.sample() for _ in range(steps)]
    env.reset(seed=seed)
    started = time.perf_counter()
    for chosen in actions:
        _, _, terminated, truncated, _ = env.step(chosen)
        if terminated or truncated:
            env.reset()
    return steps / (time.perf_counter() - started)


def _vector(envs: gym.vector.VectorEnv, steps: int, seed: int) -> float:
    """Sub-environment steps per second of a vector env (it resets its own sub-environments)."""
    envs.action_space.seed(seed)
    batches = [envs.action_space.sample() for _ in range(steps // envs.num_envs)]
    envs.reset(seed=seed)
    started = time.perf_counter()
    for chosen in batches:
        envs.step(chosen)
    return len(batches) * envs.num_envs / (time.perf_counter() - started)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=20_000, help="env steps to time per row")
    parser.add_argument("--num-envs", type=int, default=16, help="sub-environments of the vector forms")
    parser.add_argument("--games", type=int, default=300, help="synthetic games of the replayed version")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    console = Console()
    n = args.num_envs

    with tempfile.TemporaryDirectory() as folder:
        version = _version(Path(folder), args.games, args.seed)
        rows: dict[str, float] = {
            "CartPole-v1 (anchor)": _single(gym.make("CartPole-v1"), args.steps, args.seed),
            "Replay-v0": _single(gym.make(REPLAY_ENV_ID, dataset=version.path, split="train"), args.steps, args.seed),
            "Sim-v0": _single(gym.make(SIM_ENV_ID), args.steps, args.seed),
            f"Sim-v0 vector ({n} envs, make_vec)": _vector(gym.make_vec(SIM_ENV_ID, num_envs=n), args.steps, args.seed),
            f"Sim-v0 SyncVectorEnv ({n} envs)": _vector(
                gym.make_vec(SIM_ENV_ID, num_envs=n, vectorization_mode="sync"), args.steps, args.seed),
            f"CartPole-v1 vector ({n} envs, anchor)": _vector(gym.make_vec("CartPole-v1", num_envs=n), args.steps, args.seed),
        }

    table = Table(title=f"env steps/s, random policy, {args.steps:,} steps each (compiled price replay: {compiled_replay_active()})")
    table.add_column("env")
    table.add_column("steps/s", justify="right")
    for label, rate in rows.items():
        table.add_row(label, f"{rate:,.0f}")
    console.print(table)
    if args.json:
        args.json.write_text(json.dumps({"steps": args.steps, "num_envs": n, "steps_per_s": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
