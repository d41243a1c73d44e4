"""``vectra evaluate [VERSION]``: the baselines (hold, random, rule) on a version's test split and on N fresh
``Sim-v0`` games; prints the table and records the scores beside the version (``<id>.scores.json``), where the Minari
export and the dataset card read them. VERSION is a version folder or id; default: the latest version."""

from __future__ import annotations

import argparse
from pathlib import Path

from capture_agent.config import add_data_argument
from capture_agent.errors import VectraError

DEFAULT_SIM_GAMES = 200


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("version", nargs="?", help="a dataset version folder or id (default: the latest version)")
    parser.add_argument("--split", default="test", choices=("train", "val", "test"), help="recorded split (default test)")
    parser.add_argument("--sim-games", type=int, default=DEFAULT_SIM_GAMES, metavar="N",
                        help=f"fresh Sim-v0 games per policy (default {DEFAULT_SIM_GAMES}; 0: none)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random policy and the simulated games (default 0)")
    add_data_argument(parser, remote=True)


def _latest(data_dir: Path):
    """The most recently published version of any kind under ``data_dir``."""
    from vectra_pipeline import storage
    from vectra_pipeline.datasets.registry import latest_dataset

    latest = [v for name in storage.dataset_names(data_dir) if (v := latest_dataset(data_dir, name)) is not None]
    if not latest:
        raise VectraError(f"no dataset version under {data_dir}; run `vectra build --data {data_dir}` first, or name a version folder")
    return max(latest, key=lambda v: storage.file_stat(storage.manifest_path(v.path))[1])


def _version(reference: str | None, data_dir: Path):
    from vectra_pipeline.envs.recorded import find_version

    if reference is None:
        return _latest(data_dir)
    try:
        return find_version(reference, data_dir)
    except (ValueError, FileNotFoundError) as missing:
        raise VectraError(f"{missing}; name a version folder, or its id with --data set to its data root") from None


def _cell(evaluation, policy: str) -> str:
    if evaluation is None:
        return "-"
    if policy in evaluation.skipped:
        return "n/a"
    score = evaluation.scores[policy]
    return f"{score.mean:+.5f} ± {score.std:.5f}"


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from vectra_pipeline.envs.baselines import POLICIES, evaluate_replay, evaluate_sim, scores_document, write_scores

    if args.sim_games < 0:
        raise VectraError(f"--sim-games must be 0 or more, not {args.sim_games}")
    from vectra_pipeline import storage

    version = _version(args.version, storage.data_root(args.data))
    console = Console()
    replay, replay_error = None, None
    try:
        replay = evaluate_replay(version, args.split, seed=args.seed)
    except ValueError as empty:  # an empty split is said, and the simulated games still play
        replay_error = str(empty)
    sim = evaluate_sim(args.sim_games, seed=args.seed, dataset=version) if args.sim_games else None
    if replay is None and sim is None:
        raise VectraError(f"{replay_error}; nothing to evaluate (add --sim-games N to play simulated games)")

    episodes = f" ({replay.scores['hold'].episodes} episodes)" if replay else ""
    table = Table(title=f"baselines, SOL per episode (mean ± std) — version {version.id}")
    for column in ("policy", f"{args.split} split{episodes}", f"Sim-v0 ({args.sim_games} games)"):
        table.add_column(column)
    for policy in POLICIES:
        table.add_row(policy, _cell(replay, policy), _cell(sim, policy))
    console.print(table)
    for evaluation in (e for e in (replay, sim) if e is not None):
        for policy, reason in evaluation.skipped.items():
            console.print(f"{policy}: not played — {reason}", soft_wrap=True)
    if replay_error:
        console.print(f"{args.split} split: {replay_error}", soft_wrap=True)
    path = write_scores(version, scores_document(version, args.split, replay, sim, args.seed, args.sim_games, replay_error))
    console.print(f"scores recorded in {path}", soft_wrap=True)
    return 0
