"""``vectra ui``: the Dagster UI (and daemon: sensor, nightly schedule) on the repo's workspace, loopback only.

It sets what ``dagster dev`` needs and the README would otherwise ask of the user — ``DAGSTER_HOME`` (the repo's
``dagster_home/``), ``VECTRA_DATA`` (the assets' data root) — and then becomes ``dagster dev`` (exec), so Ctrl-C
reaches Dagster directly and stops it.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from capture_agent.config import DATA_ENV, add_data_argument
from capture_agent.errors import VectraError
from vectra_pipeline.commands.build import ensure_dagster_home

REPO = Path(__file__).resolve().parents[2]
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_data_argument(parser)
    parser.add_argument("--host", default="127.0.0.1", help="listen address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=3000, help="listen port (default 3000)")
    parser.add_argument("--public", action="store_true", help="allow a non-loopback --host (the UI can launch runs)")


def dagster_dev_command(host: str, port: int) -> list[str]:
    dagster = Path(sys.executable).with_name("dagster")
    if not dagster.exists():
        raise VectraError(f"dagster is not installed beside {sys.executable}; run `bash scripts/setup.sh`")
    return [str(dagster), "dev", "-w", str(REPO / "workspace.yaml"), "--host", host, "--port", str(port)]


def run(args: argparse.Namespace) -> int:
    if args.host not in LOOPBACK and not args.public:
        raise VectraError(f"--host {args.host} is not loopback: the UI can launch runs; add --public to mean it")
    if not 0 < args.port < 65536:
        raise VectraError(f"--port {args.port} is not a TCP port")
    command = dagster_dev_command(args.host, args.port)
    home = ensure_dagster_home()
    if home is None:
        raise VectraError(f"no dagster_home/ in {REPO}; set DAGSTER_HOME to an absolute folder")
    os.environ[DATA_ENV] = str(Path(args.data).resolve())
    print(f"vectra ui: http://{args.host}:{args.port}/  (DAGSTER_HOME={home}, {DATA_ENV}={os.environ[DATA_ENV]})", flush=True)
    os.chdir(REPO)
    os.execv(command[0], command)
    return 0  # not reached: exec replaced this process
