"""``vectra demo``: the whole chain on the embedded simulator, end to end, in about a minute and a half.

simulator (high speed, bots) → capture (real Chromium with a scripted player clicking the page; the direct
socket when Chromium is missing, said so) → landing → Dagster in-process (bronze → silver → gold → dataset)
→ a summary and three example DuckDB queries with their output. Every step is the real one a user runs:
the capture is the :class:`~capture_agent.session.CaptureSession` that ``vectra capture`` runs, the build
``vectra build``'s.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

from capture_agent.config import add_data_argument
from capture_agent.errors import VectraError
from vectra_pipeline.commands.build import set_allocators

EXAMPLE_QUERIES = (
    (
        "Games captured: rug tick, peak and whether the revealed seed reproduces the path",
        "SELECT game_id, rug_tick, round(peak, 3) AS peak, completeness, fair_verified "
        "FROM games WHERE NOT history_only ORDER BY first_seen_ns LIMIT 8",
    ),
    (
        "Your actions: what you clicked, at which tick, how fast the server answered and where it filled",
        "SELECT kind, tick, round(price, 4) AS price, ack_ok, left(ack_reason, 24) AS ack_reason, "
        "round(ack_latency_ms, 1) AS ack_ms, "
        "exec_tick, slippage_ticks FROM actions ORDER BY send_wall_ns LIMIT 10",
    ),
    (
        "Training data: the newest dataset version's episodes per split, with your actions and total reward",
        "SELECT e.split, count(*) AS episodes, sum(e.transitions) AS transitions, sum(e.actions) AS actions, "
        "round(sum(o.reward), 4) AS total_reward FROM read_parquet('{dataset}/episodes.parquet') e "
        "JOIN (SELECT game_id, sum(reward) AS reward FROM read_parquet('{dataset}/observations.parquet') "
        "GROUP BY game_id) o USING (game_id) WHERE e.in_training GROUP BY e.split ORDER BY e.split",
    ),
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_data_argument(parser)
    parser.add_argument("--seconds", type=float, default=45.0, help="how long to play and capture (default 45)")
    parser.add_argument("--speed", type=float, default=20.0, help="simulator speed factor (default 20)")
    parser.add_argument("--bots", type=int, default=8, help="simulated players (default 8)")
    parser.add_argument("--seed", default="vectra-demo", help="simulator seed (default vectra-demo)")
    parser.add_argument(
        "--via",
        choices=("auto", "browser", "direct"),
        default="auto",
        help="capture through Chromium (auto: when /usr/bin/chromium exists) or the direct socket",
    )


def run(args: argparse.Namespace) -> int:
    set_allocators()  # the demo's build is ``vectra build``'s, with its allocators
    from rich.console import Console

    from capture_agent.sources.browser import CHROMIUM
    from vectra_pipeline.build import build, landing_dates
    from vectra_pipeline.datasets.registry import latest_dataset
    from vectra_pipeline.instance import dagster_home

    console = Console()
    data_dir = Path(args.data).resolve()
    via = args.via
    if via == "auto":
        via = "browser" if os.path.exists(CHROMIUM) else "direct"
        if via == "direct":
            console.print(
                f"[yellow]Chromium is not installed ({CHROMIUM}): capturing with the direct socket instead, "
                "so the demo has no scripted player and no own actions. `bash scripts/setup.sh` installs it.[/]"
            )

    console.rule("[bold]1 · play and capture")
    _capture(args, data_dir, via)

    console.rule("[bold]2 · build: landing → bronze → silver → gold → dataset")
    home = dagster_home(data_dir)
    summary = build(data_dir, landing_dates(data_dir), show_progress=True, dagster_home=home)
    if summary.failed_runs:
        raise VectraError(f"the build failed: {summary.failed_runs[0]}")

    console.rule("[bold]3 · what you have")
    # the player kind needs the scripted player (browser); a direct capture still gives the market kind
    version = latest_dataset(data_dir, "player") or latest_dataset(data_dir, "market")
    if version is None:
        raise VectraError("the build published no dataset version; run `vectra build` to see why")
    _print_summary(console, data_dir, version, summary, home)
    for title, sql in EXAMPLE_QUERIES:
        if "{dataset}" in sql and version.kind != "player":
            continue  # the player episodes' columns
        _print_query(console, data_dir, title, sql.format(dataset=str(version.path).replace("'", "''")))
    return 0


def _capture(args: argparse.Namespace, data_dir: Path, via: str) -> None:
    """Play on the simulator and capture it: through headless Chromium with the scripted player, or the socket."""
    from capture_agent.session import CaptureOptions, CaptureSession, SimulatorOptions, StatusView
    from capture_agent.sources.browser import BrowserOptions
    from capture_agent.sources.direct import DirectOptions

    if args.seconds <= 0:
        raise VectraError("--seconds must be positive")
    connection = BrowserOptions(headless=True) if via == "browser" else DirectOptions()
    simulator = SimulatorOptions(speed=args.speed, bots=args.bots, seed=args.seed, via=connection, autoplay=via == "browser")
    options = CaptureOptions(data_dir, simulator, duration_s=args.seconds, status=StatusView.LOG, handle_signals=True)
    result = asyncio.run(CaptureSession(options, say=_say_capture).run())
    _say_capture(f"stopped: {result.summary()}")
    if result.drops:
        raise VectraError(f"the capture lost {result.drops} row(s); see the lines above")


def _say_capture(text: str) -> None:
    print(f"vectra capture: {text}", file=sys.stderr, flush=True)


def _print_summary(console, data_dir: Path, version, summary, home: Path) -> None:
    from rich.table import Table

    from vectra_pipeline.commands.build import check_lines
    from vectra_pipeline.commands.query import query

    counts = {
        "games captured": "SELECT count(*) FROM games WHERE NOT history_only",
        "games known from history only": "SELECT count(*) FROM games WHERE history_only",
        "ticks": "SELECT count(*) FROM game_ticks",
        "trades (all players)": "SELECT count(*) FROM trades",
        "your actions": "SELECT count(*) FROM actions",
        "landing frames": "SELECT count(*) FROM frames",
    }
    table = Table(title="Vectra demo", show_header=False)
    table.add_column("what", no_wrap=True)
    table.add_column("value", overflow="fold")
    for label, sql in counts.items():
        table.add_row(label, str(query(data_dir, sql)[1][0][0]))
    manifest = version.manifest
    checks = check_lines(summary)
    table.add_row("dataset version", f"{manifest.get('name', 'default')}/{version.id}")
    table.add_row("episodes in the dataset", str(manifest.get("counts", {}).get("episodes_in_training", "?")))
    table.add_row("asset checks", checks[0].removeprefix("checks: "))
    table.add_row("landing zone", str(data_dir / "landing"))
    table.add_row("dataset files", str(version.path))
    table.add_row("warehouse", f"{data_dir / 'warehouse.duckdb'}  →  vectra query \"SELECT …\" --data {data_dir}")
    table.add_row("dagster", f"runs recorded in {home}  →  vectra ui --data {data_dir}")
    console.print(table)
    for line in checks[1:]:  # each check that did not pass, named, with its figures
        console.print(line, soft_wrap=True)


def _print_query(console, data_dir: Path, title: str, sql: str) -> None:
    from vectra_pipeline.commands.query import print_rows, query

    names, rows = query(data_dir, sql)
    print_rows(console, names, rows, title=title, caption=sql, caption_justify="left")
