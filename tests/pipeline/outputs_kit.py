"""Helpers for the pipeline-output reliability tests: a small landing zone and `vectra` run as a real process."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

from capture_agent.landing.synthetic import write_synthetic_capture

REPO = Path(__file__).resolve().parents[2]
DAYS = ("2025-12-10", "2025-12-11")
BUILD_TIMEOUT = 600  # seconds; a build of the small landing takes ~10 s on an idle 2-core machine
# Files that legitimately differ between two builds of the same inputs: bookkeeping with timestamps or mtimes.
NOT_OUTPUTS = ("history.jsonl", ".landing-sha256.json", ".warehouse.lock", ".warehouse-views.json", "warehouse.duckdb")
NOT_OUTPUT_FOLDERS = ("_history",)  # one record per publish, named by its time


def small_landing(data_dir: Path) -> Path:
    """Two synthetic landing days (~5,000 frames, games with bot trades): a build publishes a dataset."""
    write_synthetic_capture(data_dir, 3000, date=DAYS[0])
    write_synthetic_capture(data_dir, 2000, date=DAYS[1], seed="second-day")
    return data_dir


def vectra_env(dagster_home: Path, **extra: str) -> dict[str, str]:
    dagster_home.mkdir(parents=True, exist_ok=True)
    (dagster_home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    env = {k: v for k, v in os.environ.items() if k not in ("VECTRA_CRASH_AT", "VECTRA_DATA")}
    return {**env, "DAGSTER_HOME": str(dagster_home), "PYTHONUNBUFFERED": "1", **extra}


def vectra_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "capture_agent.cli", *args]


def run_vectra(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(vectra_command(*args), cwd=REPO, env=env, capture_output=True, text=True, timeout=BUILD_TIMEOUT)


def output_digests(data_dir: Path) -> dict[str, str]:
    """sha256 of every pipeline output file (tables, day records, dataset versions, Minari exports)."""
    found = {}
    for top in ("bronze", "silver", "gold", "datasets"):
        for path in sorted((data_dir / top).rglob("*")):
            if path.is_file() and path.name not in NOT_OUTPUTS and not set(path.parts) & set(NOT_OUTPUT_FOLDERS):
                found[path.relative_to(data_dir).as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found
