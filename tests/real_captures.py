"""Session fixtures: the real captures (tests/realdata.py) imported into a landing zone once, and the pure silver
chain run on them once, for every module that tests on them.

Both are shared read-only: a test that writes (a build, a damaged file) copies the landing zone first
(``shutil.copytree(real_landing.data_dir / "landing", ...)``). ``tests/conftest.py`` registers them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from pipeline_kit import Chain, chains_by_date, import_real


@dataclass(frozen=True)
class RealLanding:
    data_dir: Path  # holds landing/ only; never written after the import
    dates: list[str]  # the landing dates, sorted


@pytest.fixture(scope="session")
def real_landing(tmp_path_factory) -> RealLanding:
    """Every real event file imported with the landing importer, one capture each."""
    data_dir = tmp_path_factory.mktemp("real-landing")
    return RealLanding(data_dir, import_real(data_dir))


@pytest.fixture(scope="session")
def real_chains(real_landing) -> dict[str, Chain]:
    """landing date → the bronze and silver tables of that date, built by the pure stages (no Dagster)."""
    return chains_by_date(real_landing.data_dir, real_landing.dates)
