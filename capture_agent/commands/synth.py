"""``vectra synth``: write a synthetic landing capture of N frames (:mod:`capture_agent.landing.synthetic`)."""

from __future__ import annotations

import argparse

from capture_agent.config import add_cache_argument, add_data_argument
from capture_agent.errors import VectraError
from capture_agent.landing.synthetic import DEFAULT_SEED, midnight_ms, write_synthetic_capture


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_data_argument(parser, remote=True)
    add_cache_argument(parser)
    parser.add_argument("--frames", type=int, required=True, metavar="N", help="number of frames to write (e.g. 1000000)")
    parser.add_argument("--seed", default=DEFAULT_SEED, help=f"simulator seed chain (default {DEFAULT_SEED!r})")
    parser.add_argument("--date", default=None, metavar="YYYY-MM-DD", help="UTC day the capture starts at midnight (default today)")


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeRemainingColumn,
    )

    from capture_agent.extras import load_simulator
    from capture_agent.landing.recovery import recover
    from capture_agent.landing.upload import landing_dirs, upload_after

    if args.frames < 1:
        raise VectraError("--frames must be at least 1")
    midnight_ms(args.date)
    load_simulator("engine.observer")  # before the progress bar: a missing simulator is one line
    data_dir, target = landing_dirs(args.data, args.cache)
    console = Console(stderr=True)
    if line := recover(data_dir).report():
        console.print(line, markup=False, highlight=False, soft_wrap=True)
    uploaded = upload_after(target, lambda line: console.print(line, markup=False, highlight=False, soft_wrap=True))
    with Progress(
        TextColumn("synthesising"), BarColumn(), MofNCompleteColumn(), TaskProgressColumn(), TimeRemainingColumn(),
        console=console,
    ) as progress:
        task = progress.add_task("synth", total=args.frames)
        result = write_synthetic_capture(
            data_dir, args.frames, args.seed, args.date, on_progress=lambda n: progress.advance(task, n),
            agent_id=target.agent_id if target else None,
        )
    span_h = (result.last_ms - result.first_ms) / 3_600_000
    rate = result.rows / result.seconds if result.seconds else float("inf")
    Console().print(
        f"capture [bold]{result.capture_id}[/]: {result.rows:,} frames ({span_h:.1f} h of play) in "
        f"{len(result.segments)} segment(s) under {target.remote if target else data_dir}/landing, {result.seconds:.1f} s "
        f"({rate:,.0f} frames/s)"
    )
    return uploaded()
