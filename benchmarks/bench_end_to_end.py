"""End-to-end benchmark: synthetic landed days → bronze → silver → gold → published dataset, through Dagster
in-process (``vectra build``'s own code path), beside the typed-decode floor measured on the same frames in the
same run (issue 13's goals: ≤ 8× the floor end to end, peak RSS ≤ 1 GB, a 2×-larger day within 10 % of the peak,
a backfill on both cores with each worker inside the same bound).

    .venv/bin/python benchmarks/bench_end_to_end.py                              # 1M-frame day, 2M day, 7-day backfill
    .venv/bin/python benchmarks/bench_end_to_end.py --frames 200000 --backfill-frames 50000   # scaled down

In one run: the floor (msgspec typed decode of 6 fields of every frame of the day); the day built end to end
(seconds, peak RSS, and each Dagster step's seconds, so a stage's share of the end-to-end time is read off the same
run); the same for a day twice as large (memory flat in day size); then a ``--backfill-days`` backfill built one
day after another and ``--jobs`` days at a time (wall seconds, CPU seconds / wall = cores used, peak RSS of the
build process and of its largest worker). Each build runs in a fresh child process on a fresh copy of the landing
folder, so nothing from an earlier run is reused and each peak RSS is that build's own. The synthetic days come from
``bench_pipeline.py`` (same days, same floor) and are kept under --work between runs.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from datetime import date as Date
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_pipeline import DAY, _child, _rss_mb  # noqa: E402 - the sibling benchmark owns the day and the floor
from process_memory import RssSampler  # noqa: E402

BACKFILL_START = "2025-12-01"


def _step_seconds(instance, sampler: RssSampler) -> dict[str, dict]:
    """Per Dagster step (an asset, a multi-asset or a check) over every run of the instance: its seconds, the RSS of
    the process that ran it (the build process, or a backfill's day worker) at its start and end and at most during
    it (MB, the most over the days), and, in the build process, what its allocators held at its start and end."""
    from vectra_pipeline.defs.stale_runs import TAG_PID  # the PID a run ran in (a backfill's day worker)

    steps: dict[str, dict] = defaultdict(lambda: {"seconds": 0.0, "peak_mb": 0.0, "start_mb": 0.0, "end_mb": 0.0})
    for run in instance.get_runs():
        pid = int(run.tags.get(TAG_PID, os.getpid()))
        resident = [(at, by_pid[pid]) for at, by_pid in sampler.samples if pid in by_pid]
        for step in instance.get_run_step_stats(run.run_id):
            if not (step.start_time and step.end_time):
                continue
            figures = steps[step.step_key]
            figures["started_at"] = min(figures.get("started_at", step.start_time), step.start_time)
            figures["seconds"] += step.end_time - step.start_time
            during = [mb for at, mb in resident if step.start_time <= at <= step.end_time]
            figures["peak_mb"] = max(figures["peak_mb"], *during, 0.0)
            figures["start_mb"] = max(figures["start_mb"], next((mb for at, mb in resident if at >= step.start_time), 0.0))
            figures["end_mb"] = max(figures["end_mb"], next((mb for at, mb in reversed(resident) if at <= step.end_time), 0.0))
            if pid == os.getpid():
                figures["start"] = next((held for at, held in sampler.extras if at >= step.start_time), None)
                figures["end"] = next((held for at, held in reversed(sampler.extras) if at <= step.end_time), None)
    return dict(steps)


def phase_end_to_end(data_dir: Path, jobs: int) -> dict:
    from vectra_pipeline.commands.build import set_allocators

    set_allocators()  # as `vectra build` runs (set before polars and pyarrow load)
    import vectra_pipeline.definitions  # noqa: F401 - import Dagster and every asset module before the clock starts

    home = Path(tempfile.mkdtemp(prefix="bench-dagster-home-"))
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    os.environ["DAGSTER_HOME"] = str(home)  # a throwaway instance: its runs give each step's seconds
    import dagster as dg

    from vectra_pipeline import storage
    from vectra_pipeline.allocators import held
    from vectra_pipeline.build import build, landing_dates
    from vectra_pipeline.datasets.registry import latest_dataset

    days = landing_dates(data_dir)
    imports = held()
    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    sampler = RssSampler(extra=held)
    sampler.start()
    started = time.perf_counter()
    summary = build(data_dir, days, jobs=jobs)
    seconds = time.perf_counter() - started
    sampler.done.set()
    sampler.join()
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (own.ru_utime - cpu_before.ru_utime) + (own.ru_stime - cpu_before.ru_stime) + children.ru_utime + children.ru_stime
    versions = {name: latest_dataset(data_dir, name) for name in storage.dataset_names(data_dir)}
    counts = {name: version.manifest["counts"] for name, version in versions.items() if version}
    with dg.DagsterInstance.get() as instance:
        steps = _step_seconds(instance, sampler)
    shutil.rmtree(home, ignore_errors=True)
    return {
        "days": len(days), "jobs": jobs, "seconds": seconds, "cpu_seconds": cpu, "cores_used": cpu / seconds,
        "failed_runs": summary.failed_runs, "peak_rss_mb": _rss_mb(), "peak_all_processes_mb": sampler.tree_peak_mb,
        "peak_worker_rss_mb": sampler.largest_child_mb,
        "datasets": {name: version.id for name, version in versions.items() if version},
        "rows": sum(c["rows"] for c in counts.values()), "episodes": sum(c["episodes_total"] for c in counts.values()),
        "failed_checks": [c[0] for c in summary.checks if not c[2]], "held_after_imports": imports,
        "steps_s": {k: round(v["seconds"], 2) for k, v in sorted(steps.items())},
        "steps_peak_rss_mb": {k: round(v["peak_mb"]) for k, v in sorted(steps.items())},
        "steps_in_chain": {k: {"start_mb": round(v["start_mb"]), "peak_mb": round(v["peak_mb"]), "end_mb": round(v["end_mb"]),
                               "held_at_start": v.get("start"), "held_at_end": v.get("end")}
                           for k, v in sorted(steps.items(), key=lambda item: item[1]["started_at"])},
    }  # fmt: skip


def _build(work: Path, landing_roots: list[Path], name: str, jobs: int = 1) -> dict:
    """A fresh copy of the landing folders of ``landing_roots`` built end to end in a child process."""
    fresh = work / name
    shutil.rmtree(fresh, ignore_errors=True)
    for root in landing_roots:
        shutil.copytree(root / "landing", fresh / "landing", dirs_exist_ok=True)
    command = [sys.executable, str(Path(__file__).resolve()), "--phase", str(fresh), str(jobs)]
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        raise SystemExit(f"end-to-end build of {name} failed:\n{completed.stderr[-3000:]}")
    shutil.rmtree(fresh, ignore_errors=True)
    return json.loads(completed.stdout.strip().splitlines()[-1])


def _shares(result: dict) -> str:
    """The slowest steps and their share of the build's wall time (sequential builds only: steps do not overlap)."""
    top = sorted(result["steps_s"].items(), key=lambda item: -item[1])[:8]
    return ", ".join(f"{step} {seconds:.1f} s ({seconds / result['seconds']:.0%})" for step, seconds in top)


def _left_to_next_step(result: dict) -> str:
    """The RSS of the process after imports against the most any step started with (what earlier steps left)."""
    starts = sorted(((figures["start_mb"], step) for step, figures in result["steps_in_chain"].items()), reverse=True)
    highest = ", ".join(f"{step} {mb:,}" for mb, step in starts[:4])
    return f"the build process after imports {result['held_after_imports']['rss']:,.0f} MB; highest at a step's start (MB): {highest}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=1_000_000, help="frames of the synthetic day (default 1M)")
    parser.add_argument("--no-double", action="store_true", help="skip the day twice as large")
    parser.add_argument("--backfill-days", type=int, default=7, help="days of the backfill (0: skip it)")
    parser.add_argument("--backfill-frames", type=int, default=None, help="frames per backfill day (default --frames)")
    parser.add_argument("--jobs", type=int, default=2, help="days at a time in the parallel backfill")
    parser.add_argument("--no-sequential", action="store_true", help="the parallel backfill only (not one day after another)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/vectra-bench-pipeline"))
    parser.add_argument("--phase", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        print(json.dumps(phase_end_to_end(Path(args.phase[0]), int(args.phase[1]))))
        return

    from rich.console import Console

    console = Console()
    report: dict = {}
    sizes = [args.frames] if args.no_double else [args.frames, 2 * args.frames]
    for frames in sizes:
        day_dir = args.work / f"day-{frames}"
        console.print(f"synthetic day: {frames:,} frames in {day_dir} (reused when present)")
        _child("synth", str(day_dir), str(frames), DAY)
        floor = _child("floor", str(day_dir), DAY)
        result = _build(args.work, [day_dir], f"e2e-{frames}")
        ratio = result["seconds"] / floor["seconds"]
        console.print(
            f"{frames:,} frames: floor (msgspec typed decode, 6 fields) {floor['seconds']:.2f} s = "
            f"{floor['frames_per_s']:,.0f} frames/s; landing → dataset through Dagster {result['seconds']:.1f} s = "
            f"[bold]{ratio:.1f}× the floor[/] (goal ≤ 8×); peak RSS [bold]{result['peak_rss_mb']:,.0f} MB[/] (goal ≤ 1,024), "
            f"all its processes at once {result['peak_all_processes_mb']:,.0f} MB; "
            f"{result['episodes']} episodes, {result['rows']:,} rows ({', '.join(result['datasets'])}); failed runs {result['failed_runs'] or 'none'}, "
            f"failed checks {result['failed_checks'] or 'none'}"
        )
        console.print(f"  slowest steps: {_shares(result)}")
        peaks = sorted(result["steps_peak_rss_mb"].items(), key=lambda item: -item[1])[:6]
        console.print("  highest resident memory during a step (MB): " + ", ".join(f"{step} {mb:,}" for step, mb in peaks))
        console.print(f"  what steps start with: {_left_to_next_step(result)}")
        report[f"day_{frames}"] = {"floor": floor, "build": result, "times_floor": ratio}
    if len(sizes) == 2:
        small, large = (report[f"day_{n}"]["build"]["peak_rss_mb"] for n in sizes)
        console.print(f"memory in day size: {large:,.0f} MB for {sizes[1]:,} frames vs {small:,.0f} MB = {large / small - 1:+.0%} (goal ≤ +10 %)")

    if args.backfill_days:
        per_day = args.backfill_frames or args.frames
        start = Date.fromisoformat(BACKFILL_START)
        roots = []
        for offset in range(args.backfill_days):
            day = (start + timedelta(days=offset)).isoformat()
            roots.append(args.work / f"backfill-day-{day}-{per_day}")
            _child("synth", str(roots[-1]), str(per_day), day)
        console.print(f"backfill: {args.backfill_days} days × {per_day:,} frames")
        for jobs in (args.jobs,) if args.no_sequential else (1, args.jobs):
            result = _build(args.work, roots, f"backfill-{jobs}", jobs)
            worker = f", largest worker {result['peak_worker_rss_mb']:,.0f} MB" if result["peak_worker_rss_mb"] else ""
            console.print(
                f"  --jobs {jobs}: {result['seconds']:.1f} s wall, {result['cpu_seconds']:.1f} CPU-s = "
                f"{result['cores_used']:.2f} cores; peak RSS build process {result['peak_rss_mb']:,.0f} MB{worker}, "
                f"all processes at once {result['peak_all_processes_mb']:,.0f} MB; "
                f"failed runs {result['failed_runs'] or 'none'}"
            )
            console.print(f"    what steps start with in the day workers: {_left_to_next_step(result)}")
            report[f"backfill_jobs_{jobs}"] = result
    (args.work / "report-end-to-end.json").write_text(json.dumps(report, indent=2))
    console.print(f"figures: {args.work / 'report-end-to-end.json'}")


if __name__ == "__main__":
    main()
