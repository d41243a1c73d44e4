"""End-to-end benchmark: a synthetic landed day → bronze → silver → gold → published dataset, through Dagster
in-process (``vectra build``'s own code path), beside the typed-decode floor measured on the same frames in the
same run. Goal (issue 6): ≥ 25 % of the floor end to end; peak RSS reported.

    .venv/bin/python benchmarks/bench_end_to_end.py                    # 1M-frame day (synthesised once, reused)
    .venv/bin/python benchmarks/bench_end_to_end.py --frames 200000    # quicker

The synthetic day and the floor come from ``bench_pipeline.py`` (same day, same floor). Each build runs in a fresh
child process on a fresh copy of the landing folder, so nothing from an earlier run (silver files, an existing
dataset id) is reused and the peak RSS is the build's own.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_pipeline import DAY, _child, _rss_mb  # noqa: E402 - the sibling benchmark owns the day and the floor


def phase_end_to_end(data_dir: Path) -> dict:
    import vectra_pipeline.definitions  # noqa: F401 - import Dagster and every asset module before the clock starts
    from vectra_pipeline.build import build
    from vectra_pipeline.datasets.registry import latest_dataset

    started = time.perf_counter()
    summary = build(data_dir, [DAY])
    seconds = time.perf_counter() - started
    version = latest_dataset(data_dir)
    counts = version.manifest["counts"] if version else {}
    return {
        "seconds": seconds, "failed_runs": summary.failed_runs, "peak_rss_mb": _rss_mb(),
        "dataset": version.id if version else None, "rows": counts.get("rows"), "episodes": counts.get("episodes_total"),
        "failed_checks": [c[0] for c in summary.checks if not c[2]],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=1_000_000, help="frames of the synthetic day (default 1M)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/vectra-bench-pipeline"))
    parser.add_argument("--phase", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        print(json.dumps(phase_end_to_end(Path(args.phase[0]))))
        return

    from rich.console import Console

    console = Console()
    day_dir = args.work / f"day-{args.frames}"
    console.print(f"synthetic day: {args.frames:,} frames in {day_dir} (reused when present)")
    _child("synth", str(day_dir), str(args.frames), DAY)
    floor = _child("floor", str(day_dir), DAY)
    console.print(f"floor (msgspec typed decode, 6 fields): {floor['frames_per_s']:,.0f} frames/s")

    fresh = args.work / f"e2e-{args.frames}"
    shutil.rmtree(fresh, ignore_errors=True)
    shutil.copytree(day_dir / "landing", fresh / "landing")
    command = [sys.executable, str(Path(__file__).resolve()), "--phase", str(fresh)]
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        raise SystemExit(f"end-to-end build failed:\n{completed.stderr[-3000:]}")
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    rate = floor["frames"] / result["seconds"]
    console.print(
        f"landing → dataset through Dagster: {result['seconds']:.1f} s = {rate:,.0f} frames/s = "
        f"{rate / floor['frames_per_s']:.1%} of the floor (goal ≥ 25 %); peak RSS {result['peak_rss_mb']:,.0f} MB; "
        f"dataset {result['dataset']} ({result['episodes']} episodes, {result['rows']:,} rows); "
        f"failed runs {result['failed_runs'] or 'none'}, failed checks {result['failed_checks'] or 'none'}"
    )


if __name__ == "__main__":
    main()
