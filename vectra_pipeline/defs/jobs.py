"""The jobs, and the one definition of "the daily assets" that every day's run selects.

``DAILY``: every asset of bronze, silver and gold — each partitioned by landing date (a test checks the groups hold
nothing else). ``vectra build`` runs it per date, the landing sensor requests it as ``landing_to_gold``, the nightly
schedule as ``nightly`` (after which the ``day_built`` sensor publishes the dataset). ``DATASETS``: the dataset and
its export, across days, run as the ``datasets`` job. ``vectra build`` runs the same jobs in-process
(``landing_to_gold`` per day, then ``datasets``), so the Jobs page holds every run under its name.
"""

import os

import dagster as dg

from vectra_pipeline import allocators
from vectra_pipeline.defs.assets import ASSETS
from vectra_pipeline.schema import LAYERS

DAILY = dg.AssetSelection.groups(*LAYERS)
DATASETS = dg.AssetSelection.groups("datasets")
LANDING_TAG = "vectra/landing"  # a day run's tag: the day's landing fingerprint when the run was requested


# Every step of a run executes in one process (the in-process executor of ``vectra build``, a backfill's day worker,
# the daemon's run): what one step's allocators kept would otherwise sit under the next step's peak.
@dg.success_hook(name="release_memory")
def _release_after_success(_context: dg.HookContext) -> None:
    allocators.release()


@dg.failure_hook(name="release_memory_after_failure")
def _release_after_failure(_context: dg.HookContext) -> None:
    allocators.release()


RELEASE_MEMORY = {_release_after_success, _release_after_failure}

landing_to_gold = dg.define_asset_job(
    "landing_to_gold",
    selection=DAILY,
    description="Bronze, silver and the daily gold tables (episodes, observations) for one date partition.",
    hooks=RELEASE_MEMORY,
)
nightly = dg.define_asset_job(
    "nightly",
    selection=DAILY,
    description="Bronze → silver → gold for one date partition (the dataset follows through the day_built sensor).",
    hooks=RELEASE_MEMORY,
)
publish_dataset = dg.define_asset_job(
    "datasets",
    selection=DATASETS,
    description="The training dataset over every day that built fully, and its Minari export.",
    hooks=RELEASE_MEMORY,
)

jobs = [landing_to_gold, nightly, publish_dataset]


def daily_asset_keys() -> set[dg.AssetKey]:
    """The keys a day's run must materialise to have built its day fully."""
    return DAILY.resolve(ASSETS)


# The Jobs page lists a job's runs by this tag (repository@code location of workspace.yaml); runs the daemon launches
# carry it, in-process runs (``vectra build``) are given it so their history shows under their job too.
UI_RUN_TAGS = {".dagster/repository": "__repository__@vectra_pipeline.definitions"}


# `vectra ui` sets this to "1" (unless --no-automation) before starting dagster dev: the landing sensor, the day_built
# sensor and the nightly schedule then start switched on. A switch the user flips in the UI is stored in the instance
# and wins over this default. Anywhere else (tests, a bare `dagster dev`) they start off.
AUTOMATION_ENV = "VECTRA_AUTOMATION"


def automation_on() -> bool:
    return os.environ.get(AUTOMATION_ENV) == "1"
