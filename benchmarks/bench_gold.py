"""Gold throughput: silver tables of a synthetic day → episodes → observations → a published dataset version.

    .venv/bin/python benchmarks/bench_gold.py [--games 1370] [--seed 0] [--days 1] [--json out.json]

A live day is ≈1,370 games (mean game ≈190 ticks at 250 ms + 15 s cooldown). The silver tables come from
``vectra_pipeline.synthetic`` (provably-fair price paths, bots trading every tick, a recording player
trading, sidebetting and shorting); generating them is not timed. Timed stages: ``build_episodes``,
``build_observations`` (features, labels, rewards), writing both gold partitions, ``publish`` (splits,
manifest, Parquet, atomic publish), then the exports: numpy transitions, the Minari arrow export and
``VectraReplayEnv`` steps with a random policy. Peak RSS is the process maximum (ru_maxrss).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl
from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from vectra_pipeline.datasets.publish import publish  # noqa: E402
from vectra_pipeline.envs.replay import VectraReplayEnv  # noqa: E402
from vectra_pipeline.exports.minari import export_minari  # noqa: E402
from vectra_pipeline.exports.numpy import load_transitions  # noqa: E402
from vectra_pipeline.gold.episodes import build_episodes  # noqa: E402
from vectra_pipeline.gold.market import (  # noqa: E402
    EVENT_COLUMNS,
    build_market_episodes,
    build_market_observations,
    frame_stats,
    stats_timeline,
)
from vectra_pipeline.gold.observations import build_observations  # noqa: E402
from vectra_pipeline.schema import empty  # noqa: E402
from vectra_pipeline.storage import write_table  # noqa: E402
from vectra_pipeline.synthetic import synthetic_silver  # noqa: E402

DATE = "2025-12-10"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--games", type=int, default=1370, help="games in the synthetic day (default: one live day)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--env-steps", type=int, default=20_000, help="replay-env steps to time")
    parser.add_argument("--days", type=int, default=1, help="also publish a dataset of this many days (copies of the "
                        "synthetic day under other dates and game ids) to show how the dataset step scales")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    console = Console()

    started = time.perf_counter()
    silver = synthetic_silver(args.games, seed=args.seed)
    console.print(f"synthetic silver day: {args.games} games, "
                  + ", ".join(f"{name} {frame.height:,}" for name, frame in silver.items())
                  + f" ({time.perf_counter() - started:.1f} s, not timed)")

    figures: dict[str, dict] = {}

    def timed(label: str, rows: int, seconds: float) -> None:
        figures[label] = {"seconds": round(seconds, 3), "rows": rows, "rows_per_s": round(rows / seconds) if seconds else None}

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        total = time.perf_counter()
        t = time.perf_counter()
        stats = frame_stats(silver["events"]) if "events" in silver else frame_stats(empty("events").select(EVENT_COLUMNS))
        market_episodes = build_market_episodes(silver["games"], silver["game_ticks"], silver["trades"], stats)
        market = build_market_observations(silver["game_ticks"], silver["trades"], stats_timeline(stats), market_episodes)
        timed("market (episodes + observations)", market.height, time.perf_counter() - t)
        t = time.perf_counter()
        episodes = build_episodes(market_episodes, silver["trades"], silver["sidebets"], silver["player_state"], silver["actions"])
        timed("episodes", episodes.height, time.perf_counter() - t)
        t = time.perf_counter()
        observations = build_observations(silver["game_ticks"], market, silver["trades"], silver["player_state"], silver["actions"], episodes)
        timed("observations", observations.height, time.perf_counter() - t)
        t = time.perf_counter()
        write_table(data, "episodes", DATE, episodes)
        write_table(data, "observations", DATE, observations)
        timed("write gold partitions", observations.height, time.perf_counter() - t)
        t = time.perf_counter()
        tag = pl.lit(DATE).alias("partition")
        inputs = [{"path": f"landing/date={DATE}/synthetic-000000.parquet", "bytes": 0, "sha256": "0" * 64}]
        version, _ = publish(data, [DATE], episodes.with_columns(tag), observations.with_columns(tag), inputs)
        timed("publish (dataset version)", version.manifest["counts"]["rows"], time.perf_counter() - t)
        end_to_end = time.perf_counter() - total
        timed("silver → dataset", observations.height, end_to_end)

        if args.days > 1:
            dates = [f"2025-12-{10 + d:02d}" for d in range(args.days)]

            def copy(frame: pl.DataFrame, day: int) -> pl.DataFrame:
                return frame.with_columns(pl.col("game_id") + f"-d{day}", pl.lit(dates[day]).alias("partition"))

            many_episodes = pl.concat([copy(episodes, d) for d in range(args.days)])
            # lazy per-day frames, as the asset passes Parquet scans: the build holds one day at a time
            many_observations = {dates[d]: copy(observations, d).lazy() for d in range(args.days)}
            rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            t = time.perf_counter()
            many, _ = publish(data, dates, many_episodes, many_observations, inputs)
            timed(f"publish ({args.days} days)", many.manifest["counts"]["rows"], time.perf_counter() - t)
            grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - rss_before
            console.print(f"{args.days}-day dataset: peak RSS grew by {grown:,.0f} MB while publishing it")

        t = time.perf_counter()
        transitions = load_transitions(version, "train")
        timed("numpy transitions (train)", len(transitions), time.perf_counter() - t)
        t = time.perf_counter()
        export_minari(version)
        timed("minari export (3 splits)", version.manifest["counts"]["rows"], time.perf_counter() - t)
        env = VectraReplayEnv(version, split="train")
        env.action_space.seed(args.seed)
        env.reset(seed=args.seed)
        t = time.perf_counter()
        for _ in range(args.env_steps):
            _, _, terminated, truncated, _ = env.step(env.action_space.sample())
            if terminated or truncated:
                env.reset()
        timed("replay env steps (random policy)", args.env_steps, time.perf_counter() - t)

    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    table = Table(title=f"gold on a synthetic day of {args.games} games ({observations.height:,} observation rows)")
    for column in ("stage", "rows", "seconds", "rows/s"):
        table.add_column(column, justify="left" if column == "stage" else "right")
    for label, figure in figures.items():
        table.add_row(label, f"{figure['rows']:,}", f"{figure['seconds']:.2f}", f"{figure['rows_per_s']:,}" if figure["rows_per_s"] else "")
    console.print(table)
    console.print(f"peak RSS {peak_mb:,.0f} MB; features per row {len(version.manifest['feature_spec']['features'])}; "
                  f"finite: {bool(np.isfinite(transitions.observations).all())}")
    if args.json:
        args.json.write_text(json.dumps({"games": args.games, "figures": figures, "peak_rss_mb": round(peak_mb)}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
