"""Landing throughput and memory: the real LandingWriter path vs a bare pyarrow ParquetWriter, one core.

    .venv/bin/python benchmarks/bench_landing.py [--frames 1000000] [--cpu 0] [--live-seconds 10]

Frames are real-shaped: what an observing client receives from the simulator engine (``wire_frames``),
a few thousand distinct frames cycled with fresh, increasing timestamps. Each mode runs in its own process
pinned to one CPU (``sched_setaffinity``: the writer's fsync thread shares that core), so RSS figures are not
polluted by the other mode. Modes:

* ``writer``   — ``LandingWriter.frame`` for every frame: header decode, WAL append (+ fsync every 100 ms),
  zstd Parquet segments published atomically — everything the agent does per frame;
* ``typical`` / ``small`` — the engine's frames as they come (≈ 3 KB: leaderboards) or only those under
  1 KB (trades, acks, pings), to separate the cost per byte from the cost per frame;
* ``baseline`` — a bare ``pyarrow.parquet.ParquetWriter`` (zstd, same schema) fed the same rows in row
  groups: no WAL, no fsync, no header decode — the floor a Parquet landing can reach in Python;
* ``live``     — the writer at the live rate of the simulator's clock for ``--live-seconds``: CPU %.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SAMPLE_FRAMES = 5000
START_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
RSS_EVERY = 50_000


def _rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


SMALL_BYTES = 1000
_kind = "typical"


def _sample() -> tuple[list[tuple[int, str]], int]:
    """The engine's frames as an observer gets them (``typical``), or only those under 1 KB (``small``:
    trades, acks, pings) to show the fixed cost per frame."""
    from simulator.engine.observer import wire_frames

    sample = list(itertools.islice(wire_frames("bench-landing", START_MS), SAMPLE_FRAMES))
    if _kind == "small":
        sample = [(time_ms, text) for time_ms, text in sample if len(text) < SMALL_BYTES]
    span_ms = sample[-1][0] - sample[0][0] + 100
    return sample, span_ms


def _frames(sample: list[tuple[int, str]], span_ms: int, count: int):
    """(wall ns, text) for ``count`` frames: the sample cycled, time moving on with every cycle."""
    size = len(sample)
    for index in range(count):
        cycle, position = divmod(index, size)
        time_ms, text = sample[position]
        yield (time_ms + cycle * span_ms) * 1_000_000, text


def run_writer(frames: int, data: Path) -> dict:
    from capture_agent.landing.schema import Direction, Source, Transport
    from capture_agent.landing.writer import LandingWriter

    sample, span_ms = _sample()
    payload_bytes = sum(len(t.encode()) for _, t in sample) * frames / len(sample)
    rss = [_rss_mb()]
    url = "ws://127.0.0.1:9999/socket.io/?EIO=4&transport=websocket"
    started_cpu, started = time.process_time(), time.perf_counter()
    with LandingWriter(data, Source.SYNTHETIC) as writer:
        land = writer.frame
        for index, (wall_ns, text) in enumerate(_frames(sample, span_ms, frames)):
            land(Direction.IN, Transport.WEBSOCKET, text, url=url, recv_wall_ns=wall_ns)
            if index % RSS_EVERY == 0:
                rss.append(_rss_mb())
    elapsed, cpu = time.perf_counter() - started, time.process_time() - started_cpu
    stats = writer.stats
    rss.append(_rss_mb())
    return _result("writer", frames, payload_bytes, elapsed, cpu, stats.segments_published, stats.bytes_published, stats.drops, rss)


def _result(mode: str, frames: int, payload_bytes: float, elapsed: float, cpu: float, segments: int,
            bytes_published: int, drops: int, rss: list[float]) -> dict:
    """One mode's figures, in the same shape for the writer and the bare baseline (compared side by side)."""
    return {
        "mode": mode,
        "avg_frame_bytes": payload_bytes / frames,
        "frames": frames,
        "seconds": elapsed,
        "cpu_seconds": cpu,
        "frames_per_s": frames / elapsed,
        "payload_mb_per_s": payload_bytes / elapsed / 1e6,
        "segments": segments,
        "bytes_published": bytes_published,
        "drops": drops,
        "rss_mb": rss,
        "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def run_baseline(frames: int, data: Path) -> dict:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from capture_agent.landing.schema import LANDING_SCHEMA

    sample, span_ms = _sample()
    payload_bytes = sum(len(t.encode()) for _, t in sample) * frames / len(sample)
    rss = [_rss_mb()]
    group = 5000
    data.mkdir(parents=True, exist_ok=True)
    started_cpu, started = time.process_time(), time.perf_counter()
    writer = pq.ParquetWriter(str(data / "baseline.parquet"), LANDING_SCHEMA, compression="zstd")
    walls, texts = [], []
    url = "ws://127.0.0.1:9999/socket.io/?EIO=4&transport=websocket"

    def flush(first_seq: int) -> None:
        count = len(texts)
        columns = {
            "capture_id": pa.array(["baseline"] * count, pa.string()),
            "seq": pa.array(range(first_seq, first_seq + count), pa.int64()),
            "record_type": pa.array(["frame"] * count, pa.string()),
            "source": pa.array(["synthetic"] * count, pa.string()),
            "recv_wall_ns": pa.array(walls, LANDING_SCHEMA.field("recv_wall_ns").type),
            "recv_mono_ns": pa.array(walls, pa.int64()),
            "direction": pa.array(["in"] * count, pa.string()),
            "transport": pa.array(["websocket"] * count, pa.string()),
            "url": pa.array([url] * count, pa.string()),
            "opcode": pa.array([1] * count, pa.int8()),
            "payload_text": pa.array(texts, pa.string()),
        }
        arrays = [columns.get(f.name, pa.nulls(count, f.type)) for f in LANDING_SCHEMA]
        writer.write_table(pa.Table.from_arrays(arrays, schema=LANDING_SCHEMA))
        walls.clear()
        texts.clear()

    for index, (wall_ns, text) in enumerate(_frames(sample, span_ms, frames)):
        walls.append(wall_ns)
        texts.append(text)
        if len(texts) == group:
            flush(index + 1 - group)
        if index % RSS_EVERY == 0:
            rss.append(_rss_mb())
    if texts:
        flush(frames - len(texts))
    writer.close()
    elapsed, cpu = time.perf_counter() - started, time.process_time() - started_cpu
    rss.append(_rss_mb())
    baseline_bytes = (data / "baseline.parquet").stat().st_size
    return _result("baseline", frames, payload_bytes, elapsed, cpu, 1, baseline_bytes, 0, rss)


def run_live(seconds: float, data: Path) -> dict:
    """The writer fed at the simulator clock's own pace: CPU share of landing during normal play."""
    from capture_agent.landing.schema import Direction, Source, Transport
    from capture_agent.landing.writer import LandingWriter

    sample, _ = _sample()
    count = 0
    started_cpu, started = time.process_time(), time.perf_counter()
    first_ms = sample[0][0]
    with LandingWriter(data, Source.SYNTHETIC) as writer:
        for time_ms, text in sample:
            due = started + (time_ms - first_ms) / 1000
            if due - started > seconds:
                break
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            writer.frame(Direction.IN, Transport.WEBSOCKET, text, recv_wall_ns=time_ms * 1_000_000)
            count += 1
    elapsed, cpu = time.perf_counter() - started, time.process_time() - started_cpu
    return {"mode": "live", "frames": count, "seconds": elapsed, "frames_per_s": count / elapsed,
            "cpu_percent": 100 * cpu / elapsed, "rss_mb": [_rss_mb()]}


def _child(mode: str, frames: int, cpu: int, live_seconds: float, kind: str = "typical") -> dict:
    with tempfile.TemporaryDirectory(prefix=f"bench-landing-{mode}-") as tmp:
        command = [sys.executable, __file__, "--child", mode, "--frames", str(frames), "--cpu", str(cpu),
                   "--live-seconds", str(live_seconds), "--data", tmp, "--kind", kind]
        output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=1_000_000)
    parser.add_argument("--cpu", type=int, default=0, help="the one CPU every mode is pinned to")
    parser.add_argument("--live-seconds", type=float, default=10.0)
    parser.add_argument("--child", choices=["writer", "baseline", "live"], help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--kind", choices=["typical", "small"], default="typical", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        global _kind
        _kind = args.kind
        os.sched_setaffinity(0, {args.cpu})
        runners = {"writer": run_writer, "baseline": run_baseline}
        if args.child == "live":
            result = run_live(args.live_seconds, args.data)
        else:
            result = runners[args.child](args.frames, args.data)
        print(json.dumps(result))
        return

    from rich.console import Console
    from rich.table import Table

    console = Console(width=max(Console().width, 150))
    console.print(f"landing benchmark: {args.frames:,} frames, pinned to CPU {args.cpu}, sample of {SAMPLE_FRAMES} engine frames")
    results = {}
    for kind in ("typical", "small"):
        for mode in ("baseline", "writer"):
            with console.status(f"running {mode} on {kind} frames…"):
                results[f"{mode} ({kind})"] = _child(mode, args.frames, args.cpu, args.live_seconds, kind)
    with console.status("running live rate…"):
        live = _child("live", args.frames, args.cpu, args.live_seconds)

    table = Table(title="landing throughput and memory (one core)")
    for column in ("mode", "avg B", "frames/s", "frames/CPU-s", "payload MB/s", "seconds", "segments", "MB on disk", "RSS start→end MB", "peak RSS MB", "drops"):
        table.add_column(column, justify="left" if column == "mode" else "right")
    for mode, r in results.items():
        table.add_row(
            mode, f"{r['avg_frame_bytes']:,.0f}", f"{r['frames_per_s']:,.0f}", f"{r['frames'] / r['cpu_seconds']:,.0f}", f"{r['payload_mb_per_s']:,.0f}", f"{r['seconds']:.1f}", str(r["segments"]),
            f"{r['bytes_published'] / 1e6:,.1f}", f"{r['rss_mb'][0]:.0f}→{r['rss_mb'][-1]:.0f}", f"{r['max_rss_mb']:.0f}", str(r["drops"]),
        )
    console.print(table)
    writer, baseline = results["writer (typical)"], results["baseline (typical)"]
    ratio = writer["frames_per_s"] / baseline["frames_per_s"]
    cpu_ratio = baseline["cpu_seconds"] / writer["cpu_seconds"]
    console.print(
        f"writer / bare ParquetWriter: {ratio:.2f}× by wall time, {cpu_ratio:.2f}× by CPU time "
        f"(goal for the writer: ≥ 100,000 frames/s; load average now {os.getloadavg()[0]:.1f})"
    )
    rss = writer["rss_mb"]
    console.print(f"writer RSS every {RSS_EVERY:,} frames (MB): {' '.join(f'{x:.0f}' for x in rss)}  (goal: flat, < 150)")
    console.print(f"live rate: {live['frames']} frames in {live['seconds']:.1f} s ({live['frames_per_s']:.1f}/s): "
                  f"CPU {live['cpu_percent']:.2f} % of one core")
    small = results["writer (small)"]["frames_per_s"] / results["baseline (small)"]["frames_per_s"]
    console.print(f"small frames (< {SMALL_BYTES} B: trades, acks, pings): writer / bare ParquetWriter {small:.2f}×")
    for kind in ("typical", "small"):
        mine, bare = results[f"writer ({kind})"], results[f"baseline ({kind})"]
        console.print(
            f"{kind}: writer {mine['frames'] / mine['cpu_seconds']:,.0f} frames per CPU-second "
            f"({1e6 * mine['cpu_seconds'] / mine['frames']:.1f} µs a frame vs {1e6 * bare['cpu_seconds'] / bare['frames']:.1f} µs bare); "
            f"size on disk writer / bare {mine['bytes_published'] / bare['bytes_published']:.2f}, "
            f"writer / raw payload {mine['bytes_published'] / (mine['avg_frame_bytes'] * mine['frames']):.3f}"
        )
    print(json.dumps({**results, "live": live}))


if __name__ == "__main__":
    main()
