"""Provably-fair engine throughput: games/s of ``price_path`` on every real revealed seed.

    .venv/bin/python benchmarks/bench_fairness.py [--rounds N]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from realdata import seeded_games  # noqa: E402

from capture_agent.protocol.fairness import VERSIONS, SeedRandom, price_path  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="passes over the real seeds per version (default 5)")
    args = parser.parse_args()
    games = seeded_games()
    table = Table(title=f"price_path on {len(games)} real seeded games × {args.rounds} rounds (one core)")
    for column in ("version", "games", "ticks", "seconds", "games/s", "ticks/s", "µs/game"):
        table.add_column(column, justify="right")
    for version in VERSIONS:
        ticks = 0
        start = time.perf_counter()
        for _ in range(args.rounds):
            for game in games:
                ticks += len(price_path(game["serverSeed"], game["gameId"], version).prices)
        seconds = time.perf_counter() - start
        count = len(games) * args.rounds
        table.add_row(version, f"{count:,}", f"{ticks:,}", f"{seconds:.2f}", f"{count / seconds:,.0f}",
                      f"{ticks / seconds:,.0f}", f"{seconds / count * 1e6:,.0f}")
    rng = SeedRandom("benchmark")
    draws = 200_000
    start = time.perf_counter()
    for _ in range(draws):
        rng()
    seconds = time.perf_counter() - start
    console = Console()
    console.print(table)
    console.print(f"SeedRandom: {draws / seconds:,.0f} draws/s")


if __name__ == "__main__":
    main()
