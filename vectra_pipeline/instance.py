"""The Dagster instance that records a data root's runs: the root's own, ``<data>/dagster/``, unless ``$DAGSTER_HOME``
names another; for an ``s3://`` root, ``dagster/`` in the root's local cache folder (``config.default_cache_dir``),
never in the bucket (sqlite files on an object store would be torn by two machines).

One instance per root keeps each root's history apart: the UI opened on one root never shows another root's row
counts or failed assets, and a copied root carries its history along. The folder is created on first use with the
repository's ``dagster_home/dagster.yaml`` (no telemetry, run monitoring); run, event and schedule storage are
Dagster's default sqlite files inside it. ``vectra build``, ``vectra demo`` and ``vectra ui`` all resolve it here.
"""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg

from capture_agent.config import default_cache_dir
from capture_agent.errors import VectraError
from vectra_pipeline import remote_storage, storage

DAGSTER_DIR = "dagster"
CONFIG = "dagster.yaml"
TEMPLATE = Path(__file__).resolve().parents[1] / "dagster_home" / CONFIG


def dagster_home(data_dir: Path) -> Path:
    """``$DAGSTER_HOME`` when set (it must be absolute), else ``<data>/dagster/`` (``<cache>/dagster/`` for a remote
    root), created with its config."""
    named = os.environ.get("DAGSTER_HOME")
    if named:
        if not Path(named).is_absolute():
            raise VectraError(f"DAGSTER_HOME must be an absolute path, not {named!r}")
        return Path(named)
    remote = remote_storage.remote_of(data_dir)
    home = default_cache_dir(remote) / DAGSTER_DIR if remote else storage.location(Path(data_dir).resolve(), DAGSTER_DIR)
    if not (home / CONFIG).exists():
        home.mkdir(parents=True, exist_ok=True)
        storage.write_text(home / CONFIG, TEMPLATE.read_text(encoding="utf-8"))
    return home


def open_instance(home: Path | None) -> dg.DagsterInstance:
    """The instance configured in ``home``; an ephemeral one (nothing recorded) when ``home`` is None."""
    return dg.DagsterInstance.from_config(str(home)) if home is not None else dg.DagsterInstance.ephemeral()
