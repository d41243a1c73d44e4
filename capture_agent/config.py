"""Settings shared by every command: where the data lives."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

DATA_ENV = "VECTRA_DATA"
DEFAULT_DATA = "./vectra_data"


def default_data_dir() -> Path:
    return Path(os.environ.get(DATA_ENV) or DEFAULT_DATA)


def add_data_argument(parser: argparse.ArgumentParser) -> None:
    """``--data DIR`` for every command that reads or writes data (default ./vectra_data, env VECTRA_DATA)."""
    parser.add_argument(
        "--data",
        type=Path,
        default=default_data_dir(),
        metavar="DIR",
        help=f"data root (default: ${DATA_ENV} or {DEFAULT_DATA})",
    )
