"""Rows per hour of capture of each dataset kind: player, crowd and market, from one simulated authenticated session.

    .venv/bin/python benchmarks/bench_kinds.py [--games 60] [--bots 8] [--seed kinds] [--json out.json]

The session is the gold tests' (``tests/pipeline/pipeline_kit.land_session``): the simulator engine plays
``--games`` games at live speed on its own clock with ``--bots`` bots, a recording player buys, side-bets and sells
in every game, and every frame it receives is landed. Silver and gold are built by the pure stages (not timed
against the clock of the capture: the figures are rows per hour of *captured* time, from the first to the last
frame). A live hour is ≈57 games.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import polars as pl
from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests"), str(REPO / "tests" / "pipeline")]

from pipeline_kit import land_session, run_chain  # noqa: E402 - the tests' simulated authenticated session

from capture_agent.landing.schema import Source  # noqa: E402
from capture_agent.landing.segments import read_landing  # noqa: E402
from capture_agent.landing.writer import LandingWriter  # noqa: E402
from vectra_pipeline.gold.lookahead import SILVER_INPUTS, gold_tables  # noqa: E402

START_MS, DAY = 1_766_361_600_000, "2025-12-22"  # 00:00 UTC
KINDS = (("player", "episodes", "observations"), ("crowd", "crowd_episodes", "crowd_observations"),
         ("market", "market_episodes", "market_observations"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--games", type=int, default=60, help="games to play (≈57 is a live hour)")
    parser.add_argument("--bots", type=int, default=8)
    parser.add_argument("--seed", default="kinds")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        with LandingWriter(data, Source.SIMULATOR, capture_id="bench-kinds") as writer:
            land_session(writer, args.seed, START_MS, games=args.games, bots=args.bots)
        landing = read_landing(data, [DAY])
        started = time.perf_counter()
        chain = run_chain(landing)
        gold = gold_tables({**{name: getattr(chain, name) for name in SILVER_INPUTS}, "frames": chain.frames_with_text})
        seconds = time.perf_counter() - started
    received = chain.frames["recv_wall_ns"]
    hours = (received.max() - received.min()) / 3.6e12
    figures = {}
    for kind, episodes, rows in KINDS:
        trained = gold[episodes].filter(pl.col("in_training"))
        keys = ["game_id", "player_id"] if kind == "crowd" else ["game_id"]
        kept = gold[rows].join(trained.select(keys), on=keys, how="semi")
        figures[kind] = {"episodes": trained.height, "rows": kept.height, "transitions": kept.filter(~pl.col("is_final")).height,
                         "rows_per_hour": round(kept.height / hours), "actions_not_hold": kept.filter(pl.col("action").fill_null(0) > 0).height}
    table = Table(title=f"{args.games} simulated games, {args.bots} bots, {hours * 60:.1f} min of capture; silver+gold built in {seconds:.1f} s")
    for column in ("kind", "episodes in training", "rows", "transitions", "rows / hour of capture", "actions ≠ hold"):
        table.add_column(column, justify="left" if column == "kind" else "right")
    for kind, f in figures.items():
        table.add_row(kind, f"{f['episodes']:,}", f"{f['rows']:,}", f"{f['transitions']:,}", f"{f['rows_per_hour']:,}", f"{f['actions_not_hold']:,}")
    Console().print(table)
    if args.json:
        args.json.write_text(json.dumps({"games": args.games, "bots": args.bots, "hours": hours, "figures": figures}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
