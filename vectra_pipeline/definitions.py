"""The Dagster code location: every asset, check, sensor and schedule of the pipeline, from ``defs/``."""

import dagster as dg

from vectra_pipeline.defs import schedules, sensors
from vectra_pipeline.defs.assets import bronze, gold, silver
from vectra_pipeline.defs.checks import gold as gold_checks
from vectra_pipeline.defs.checks import silver as silver_checks
from vectra_pipeline.defs.resources import resources

defs = dg.Definitions(
    assets=[*bronze.assets, *silver.assets, *gold.assets],
    asset_checks=[*silver_checks.checks, *gold_checks.checks],
    jobs=sensors.jobs,
    sensors=sensors.sensors,
    schedules=schedules.schedules,
    resources=resources,
    executor=dg.in_process_executor,
)
