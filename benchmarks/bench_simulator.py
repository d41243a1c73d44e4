"""Simulator engine throughput without sleeping.

    .venv/bin/python benchmarks/bench_simulator.py [--frames 100000] [--seed bench] [--bots 8]

Two figures, one core:
- engine: lifecycle emissions per second from ``SimulatorEngine.advance`` (payload dicts, no encoding);
- wire: ``wire_frames`` text frames per second — what one observing client receives, encoded exactly as on
  the WebSocket — with MB/s and how many seconds of simulated play each second produces.
Rates are given per second of this process's CPU time (stable on a shared machine) and per wall second.
"""

from __future__ import annotations

import argparse
import itertools
import time

from rich.console import Console
from rich.table import Table

from simulator.engine.lifecycle import SimulatorEngine
from simulator.engine.observer import wire_frames

START_MS = 1_765_584_000_000  # 2025-12-13T00:00:00Z


class Clock:
    """CPU and wall seconds of a block."""

    def __enter__(self) -> Clock:
        self._cpu, self._wall = time.process_time(), time.perf_counter()
        return self

    def __exit__(self, *_: object) -> None:
        self.cpu = time.process_time() - self._cpu
        self.wall = time.perf_counter() - self._wall


def bench_engine(seed: str, bots: int, count: int) -> tuple[Clock, int, float]:
    """(clock, emissions, simulated seconds)."""
    engine = SimulatorEngine(seed, START_MS, bots=bots)
    emitted = 0
    with Clock() as clock:
        while emitted < count:
            emitted += len(engine.advance(engine.next_at))
    return clock, emitted, (engine.next_at - START_MS) / 1000


def bench_wire(seed: str, bots: int, count: int) -> tuple[Clock, int, float]:
    """(clock, bytes, simulated seconds)."""
    size = 0
    last_ms = START_MS
    with Clock() as clock:
        for last_ms, frame in itertools.islice(wire_frames(seed, START_MS, bots), count):  # noqa: B007 - read after the loop
            size += len(frame)
    return clock, size, (last_ms - START_MS) / 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=100_000)
    parser.add_argument("--seed", default="bench")
    parser.add_argument("--bots", type=int, default=8)
    args = parser.parse_args()
    console = Console(width=120)
    with console.status("engine…"):
        engine_clock, emitted, engine_sim = bench_engine(args.seed, args.bots, args.frames)
    with console.status("wire_frames…"):
        wire_clock, size, wire_sim = bench_wire(args.seed, args.bots, args.frames)
    table = Table(title=f"simulator without sleeping ({args.frames:,} frames, seed {args.seed!r}, {args.bots} bots)")
    for column in ("what", "frames/CPU s", "frames/wall s", "MB/CPU s", "simulated s per CPU s"):
        table.add_column(column, justify="right" if column != "what" else "left")
    table.add_row("engine emissions (no encoding)", f"{emitted / engine_clock.cpu:,.0f}",
                  f"{emitted / engine_clock.wall:,.0f}", "–", f"{engine_sim / engine_clock.cpu:,.0f}×")
    table.add_row("wire_frames (encoded text)", f"{args.frames / wire_clock.cpu:,.0f}",
                  f"{args.frames / wire_clock.wall:,.0f}", f"{size / wire_clock.cpu / 1e6:,.1f}",
                  f"{wire_sim / wire_clock.cpu:,.0f}×")
    console.print(table)


if __name__ == "__main__":
    main()
