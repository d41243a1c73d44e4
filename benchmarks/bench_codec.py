"""Wire codec throughput on real ``gameStateUpdate`` frames, beside the typed-decode floor measured in the same run.

    .venv/bin/python benchmarks/bench_codec.py [--frames 100000] [--repeat 3]

The real frames are rebuilt from the real captures (tests/realdata.py) and replicated to --frames.
Rows: ``decode_frame`` (full typed packet), stdlib ``json.loads`` and ``orjson.loads`` of the JSON body,
a ``msgspec`` typed decode of six fields (the floor: it skips everything else), and ``encode_event``
(JS-exact ``dumps``) of the decoded payloads.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

import msgspec
import orjson
from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from realdata import event_records  # noqa: E402

from capture_agent.protocol.recordings import frame_from_record  # noqa: E402
from capture_agent.protocol.socketio import decode_frame, encode_event  # noqa: E402


class State(msgspec.Struct):
    gameId: str
    cooldownTimer: int = 0
    tickCount: int = 0
    price: float = 1.0
    active: bool = False
    rugged: bool = False


def _timed(decode: Callable[[object], object], inputs: list) -> float:
    """Seconds to run ``decode`` over ``inputs``, results dropped as a streaming consumer drops them
    (keeping 100k decoded payloads alive makes the cyclic GC dominate every row)."""
    start = time.perf_counter()
    deque(map(decode, inputs), maxlen=0)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=100_000, help="frames per method (default 100000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per method, best one kept (default 3)")
    args = parser.parse_args()
    real = [frame_from_record(r) for _, r in event_records() if r["event"] == "gameStateUpdate"]
    frames = (real * (args.frames // len(real) + 1))[: args.frames]
    bodies = [frame[2:] for frame in frames]  # the JSON array after "42"
    megabytes = sum(map(len, frames)) / 1e6
    typed = msgspec.json.Decoder(tuple[str, State])
    payloads = [packet.payload for frame in real for packet in decode_frame(frame)]
    payloads = (payloads * (args.frames // len(payloads) + 1))[: args.frames]

    rows = [
        ("socketio.decode_frame (typed Packet)", decode_frame, frames),
        ("stdlib json.loads (full)", json.loads, bodies),
        ("orjson.loads (full)", orjson.loads, bodies),
        ("msgspec typed, 6 fields (floor)", typed.decode, bodies),
        ("socketio.encode_event (JS-exact dumps)", lambda payload: encode_event("gameStateUpdate", payload), payloads),
    ]
    table = Table(title=f"{args.frames:,} real gameStateUpdate frames ({len(real)} distinct, "
                        f"avg {megabytes * 1e6 / args.frames / 1000:.1f} kB), one core, best of {args.repeat}")
    for column in ("method", "seconds", "frames/s", "MB/s"):
        table.add_column(column, justify="right" if column != "method" else "left")
    best = {name: float("inf") for name, _, _ in rows}
    for _ in range(args.repeat):  # rounds interleave the methods so a busy moment hits them all alike
        for name, decode, inputs in rows:
            best[name] = min(best[name], _timed(decode, inputs))
    for name, _, _ in rows:
        seconds = best[name]
        table.add_row(name, f"{seconds:.2f}", f"{args.frames / seconds:,.0f}", f"{megabytes / seconds:,.0f}")
    Console().print(table)


if __name__ == "__main__":
    main()
