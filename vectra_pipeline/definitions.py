"""The Dagster code location: every asset, check, job, sensor and schedule of the pipeline, from ``defs/``."""

import dagster as dg

from vectra_pipeline.defs.assets import ASSETS
from vectra_pipeline.defs.checks import CHECKS
from vectra_pipeline.defs.jobs import jobs
from vectra_pipeline.defs.resources import resources
from vectra_pipeline.defs.schedules import schedules
from vectra_pipeline.defs.sensors import sensors

defs = dg.Definitions(
    assets=ASSETS,
    asset_checks=CHECKS,
    jobs=jobs,
    sensors=sensors,
    schedules=schedules,
    resources=resources,
    executor=dg.in_process_executor,
)
