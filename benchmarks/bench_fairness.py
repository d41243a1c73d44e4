"""Provably-fair replay: the compiled library vs the pure-Python reference on the same games, in one run.

    .venv/bin/python benchmarks/bench_fairness.py [--rounds N] [--day-games N] [--verify N]

Times are CPU seconds of this process (the machine is shared); every compiled path is also compared bit for bit
with the reference it is timed against. ``--verify N`` then replays N random games per version both ways.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from array import array
from pathlib import Path

from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from realdata import seeded_games  # noqa: E402

from capture_agent.protocol.fairness import (  # noqa: E402
    VERSIONS,
    SeedRandom,
    compiled_replay_active,
    price_path,
    price_paths,
    reference_price_path,
)


def _cpu(work):
    start = time.process_time()
    result = work()
    return time.process_time() - start, result


def _bits(paths) -> list[bytes]:
    return [array("d", path.prices).tobytes() for path in paths]


def random_games(count: int, version: str, seed: int) -> list[tuple[str, str, str]]:
    """Games shaped like the live ones: a 64-hex server seed, a ``YYYYMMDD-<16 hex>`` id."""
    rng = random.Random(seed)
    return [(rng.randbytes(32).hex(), f"2025{rng.randrange(101, 1232):04d}-{rng.randbytes(8).hex()}", version)
            for _ in range(count)]


def compare(title: str, batches: dict[str, list[tuple[str, str, str]]], rounds: int) -> Table:
    table = Table(title=title)
    for column in ("games", "count", "prices", "reference s", "compiled batch s", "compiled one by one s",
                   "ratio (batch)", "µs/game compiled", "identical"):
        table.add_column(column, justify="right")
    for label, games in batches.items():
        reference_s, reference = _cpu(lambda games=games: [reference_price_path(*g) for _ in range(rounds) for g in games])
        batch_s, batch = _cpu(lambda games=games: [p for _ in range(rounds) for p in price_paths(games)])
        single_s, single = _cpu(lambda games=games: [price_path(*g) for _ in range(rounds) for g in games])
        identical = _bits(reference) == _bits(batch) == _bits(single)
        count = len(games) * rounds
        table.add_row(label, f"{count:,}", f"{sum(len(p.prices) for p in batch):,}", f"{reference_s:.3f}",
                      f"{batch_s:.4f}", f"{single_s:.4f}", f"{reference_s / batch_s:,.0f}×",
                      f"{batch_s / count * 1e6:.1f}", "yes" if identical else "NO")
    return table


def verify(count: int, console: Console) -> bool:
    """``count`` random games per version replayed both ways; True when every one is bit-identical."""
    chunk = 5000
    ok = True
    for version in VERSIONS:
        checked = mismatches = 0
        start = time.perf_counter()
        for first in range(0, count, chunk):
            games = random_games(min(chunk, count - first), version, seed=VERSIONS.index(version) * 10**9 + first)
            compiled = _bits(price_paths(games))
            reference = _bits(reference_price_path(*game) for game in games)
            mismatches += sum(a != b for a, b in zip(compiled, reference, strict=True))
            checked += len(games)
        ok &= mismatches == 0
        console.print(f"verify {version}: {checked:,} random games, {mismatches} mismatches "
                      f"({time.perf_counter() - start:,.0f} s)")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="passes over the real seeds per version (default 5)")
    parser.add_argument("--day-games", type=int, default=2500, help="games in a synthetic day (default 2,500)")
    parser.add_argument("--verify", type=int, default=0, metavar="N", help="N random games per version both ways")
    args = parser.parse_args()
    console = Console(width=150)
    if not compiled_replay_active():
        console.print("the compiled price replay is not built: run `bash scripts/setup.sh` first")
        return 1
    real = seeded_games()
    console.print(compare(f"{len(real)} real seeded games × {args.rounds} rounds, one core",
                          {version: [(g["serverSeed"], g["gameId"], version) for g in real] for version in VERSIONS},
                          args.rounds))
    console.print(compare(f"a day of {args.day_games:,} random v3 games, one pass",
                          {"day": random_games(args.day_games, "v3", seed=2500)}, 1))
    rng = SeedRandom("benchmark")
    draws = 200_000
    seconds, _ = _cpu(lambda: [rng() for _ in range(draws)])
    console.print(f"SeedRandom (Python reference): {draws / seconds:,.0f} draws/CPU-s")
    return 0 if args.verify == 0 or verify(args.verify, console) else 1


if __name__ == "__main__":
    sys.exit(main())
