"""Simulator engine throughput without sleeping.

    .venv/bin/python benchmarks/bench_simulator.py [--frames 100000] [--seed bench] [--bots 8]

Two figures, one core:
- engine: lifecycle emissions per second from ``SimulatorEngine.advance`` (payload dicts, no encoding);
- wire: ``wire_frames`` text frames per second — what one observing client receives, encoded exactly as on
  the WebSocket — with MB/s and how many seconds of simulated play each wall-clock second produces.
"""

from __future__ import annotations

import argparse
import itertools
import time

from rich.console import Console
from rich.table import Table

from capture_agent.simulator.engine import SimulatorEngine, wire_frames

START_MS = 1_765_584_000_000  # 2025-12-13T00:00:00Z


def bench_engine(seed: str, bots: int, count: int) -> tuple[float, float, int]:
    engine = SimulatorEngine(seed, START_MS, bots=bots)
    emitted = 0
    started = time.perf_counter()
    while emitted < count:
        emitted += len(engine.advance(engine.next_at))
    elapsed = time.perf_counter() - started
    return emitted / elapsed, (engine.next_at - START_MS) / 1000 / elapsed, emitted


def bench_wire(seed: str, bots: int, count: int) -> tuple[float, float, float]:
    size = 0
    last_ms = START_MS
    started = time.perf_counter()
    for last_ms, frame in itertools.islice(wire_frames(seed, START_MS, bots), count):
        size += len(frame)
    elapsed = time.perf_counter() - started
    return count / elapsed, size / elapsed / 1e6, (last_ms - START_MS) / 1000 / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=100_000)
    parser.add_argument("--seed", default="bench")
    parser.add_argument("--bots", type=int, default=8)
    args = parser.parse_args()
    console = Console()
    with console.status("engine…"):
        engine_rate, engine_speedup, emitted = bench_engine(args.seed, args.bots, args.frames)
    with console.status("wire_frames…"):
        wire_rate, wire_mb, wire_speedup = bench_wire(args.seed, args.bots, args.frames)
    table = Table(title=f"simulator without sleeping ({args.frames:,} frames, seed {args.seed!r}, {args.bots} bots)")
    for column in ("what", "frames/s", "MB/s", "simulated s per wall s"):
        table.add_column(column, justify="right" if column != "what" else "left")
    table.add_row("engine emissions (no encoding)", f"{engine_rate:,.0f}", "–", f"{engine_speedup:,.0f}×")
    table.add_row("wire_frames (encoded text)", f"{wire_rate:,.0f}", f"{wire_mb:,.1f}", f"{wire_speedup:,.0f}×")
    console.print(table)


if __name__ == "__main__":
    main()
