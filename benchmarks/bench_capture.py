"""CPU and memory of the capture agent at the live rate and under a burst.

The agent runs as its own process (``vectra capture --source direct``), exactly as a user runs it, against
the simulator running in this process; its CPU time and RSS are read from ``/proc/<pid>`` once a second
after a warm-up. Scenarios: simulator speed 1 (the live cadence: 4 ticks/s, 10 cooldown frames/s) and
speed 50, both with bots trading.

    .venv/bin/python benchmarks/bench_capture.py                 # 60 s per scenario
    .venv/bin/python benchmarks/bench_capture.py --seconds 20 --speeds 1 50 --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from capture_agent.landing.segments import read_landing  # noqa: E402
from simulator.server import start_simulator  # noqa: E402

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime


def rss_bytes(pid: int) -> int:
    return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_BYTES


def run_scenario(speed: float, bots: int, seconds: float, warmup: float) -> dict:
    with tempfile.TemporaryDirectory(prefix="vectra-bench-") as scratch:
        data = Path(scratch) / "data"
        simulator = start_simulator(speed=speed, bots=bots)
        command = [sys.executable, "-m", "capture_agent.cli", "capture", "--source", "direct", "--url", simulator.url,
                   "--data", str(data), "--no-status"]
        agent = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            time.sleep(warmup)
            if agent.poll() is not None:
                raise SystemExit(f"the agent exited during warm-up: {agent.stderr.read()}")
            cpu_start, wall_start = cpu_seconds(agent.pid), time.monotonic()
            rss = []
            while time.monotonic() - wall_start < seconds:
                time.sleep(1.0)
                rss.append(rss_bytes(agent.pid))
            cpu_used, wall = cpu_seconds(agent.pid) - cpu_start, time.monotonic() - wall_start
            agent.send_signal(signal.SIGTERM)
            _, stderr = agent.communicate(timeout=30)
            if agent.returncode != 0:
                raise SystemExit(f"the agent failed: {stderr}")
        finally:
            if agent.poll() is None:
                agent.kill()
            simulator.stop()
        table = read_landing(data)
        frames = sum(1 for kind in table["record_type"].to_pylist() if kind == "frame")
        landed_bytes = sum(p.stat().st_size for p in data.glob("landing/date=*/*.parquet"))
        total_wall = warmup + wall
        return {
            "speed": speed,
            "bots": bots,
            "seconds": round(wall, 1),
            "frames_landed": frames,
            "frames_per_s": round(frames / total_wall, 1),
            "cpu_percent_of_one_core": round(100 * cpu_used / wall, 2),
            "rss_mb_mean": round(sum(rss) / len(rss) / 2**20, 1),
            "rss_mb_max": round(max(rss) / 2**20, 1),
            "rss_mb_first_last": [round(rss[0] / 2**20, 1), round(rss[-1] / 2**20, 1)],
            "parquet_bytes": landed_bytes,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="measured time per scenario (default 60)")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds before measuring (imports, connect)")
    parser.add_argument("--speeds", type=float, nargs="+", default=[1.0, 50.0])
    parser.add_argument("--bots", type=int, default=8)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    results = [run_scenario(speed, args.bots, args.seconds, args.warmup) for speed in args.speeds]
    header = (f"{'speed':>6} {'bots':>5} {'frames/s':>9} {'CPU % (1 core)':>15} {'RSS mean MB':>12} {'RSS max MB':>11}"
              f" {'RSS first→last':>15} {'frames':>8}")
    print(header)
    for r in results:
        print(f"{r['speed']:>6g} {r['bots']:>5} {r['frames_per_s']:>9} {r['cpu_percent_of_one_core']:>15} "
              f"{r['rss_mb_mean']:>12} {r['rss_mb_max']:>11} {'→'.join(map(str, r['rss_mb_first_last'])):>15} {r['frames_landed']:>8}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
