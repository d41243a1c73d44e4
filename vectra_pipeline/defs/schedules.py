"""Nightly: build yesterday's partition (bronze → gold) and, when the dataset's inputs changed, a new version.

At 02:00 UTC the schedule looks at yesterday's landing segments. Without any it skips. Otherwise it requests
one in-process run of the ``nightly`` job for that partition; the dataset assets (``training_dataset``,
``minari_datasets``) are included only when the id the dataset would get — computed from the landing hashes of
every built day plus yesterday, the feature spec, the code version and the default parameters — is not
published yet. The run key names the day and that id, so the same inputs are never requested twice.
"""


import datetime as dt

import dagster as dg

from vectra_pipeline.defs.assets.gold import DatasetConfig
from vectra_pipeline.defs.resources import VectraPaths
from vectra_pipeline.stages.gold import datasets as gold_datasets

DATASET_ASSETS = ("training_dataset", "minari_datasets")

nightly = dg.define_asset_job(
    "nightly",
    selection=dg.AssetSelection.groups("bronze", "silver", "gold"),
    description="Bronze → silver → gold for one date partition, then the training dataset over every built day.",
)


def nightly_request(paths: VectraPaths, scheduled: dt.datetime, per_day_assets: list[dg.AssetKey]) -> dg.RunRequest | dg.SkipReason:
    """The run for the day before ``scheduled`` (a pure decision over the files under the data root)."""
    day = (scheduled.astimezone(dt.timezone.utc) - dt.timedelta(days=1)).date().isoformat()
    if not gold_datasets.landing_inputs(paths.root, [day]):
        return dg.SkipReason(f"no landing segments for {day}")
    params = DatasetConfig().params()
    dates = sorted(set(gold_datasets.gold_partitions(paths.root)) | {day})
    candidate = gold_datasets.dataset_id(gold_datasets.landing_inputs(paths.root, dates), dates, params)
    published = (paths.root / gold_datasets.DATASETS_DIR / params.name / candidate / gold_datasets.MANIFEST).exists()
    selection = list(per_day_assets) + ([] if published else [dg.AssetKey(name) for name in DATASET_ASSETS])
    return dg.RunRequest(
        run_key=f"{day}:{candidate}",
        partition_key=day,
        asset_selection=selection,
        tags={"vectra/day": day, "vectra/dataset_id": candidate, "vectra/new_dataset": str(not published).lower()},
    )


def _per_day_assets() -> list[dg.AssetKey]:
    from vectra_pipeline.defs.assets import bronze, gold, silver

    keys = []
    for asset in (*bronze.assets, *silver.assets, *gold.assets):
        if asset.partitions_def is not None:
            keys.extend(asset.keys)
    return keys


@dg.schedule(
    job=nightly,
    cron_schedule="0 2 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="02:00 UTC: yesterday's partition, and a new dataset version when its inputs changed.",
)
def nightly_dataset(context: dg.ScheduleEvaluationContext, paths: VectraPaths):
    scheduled = context.scheduled_execution_time or dt.datetime.now(dt.timezone.utc)
    return nightly_request(paths, scheduled, _per_day_assets())


schedules = [nightly_dataset]
