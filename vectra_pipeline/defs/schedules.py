"""Nightly: build yesterday's partition (bronze → gold) and, when the dataset's inputs changed, a new version.

At 02:00 UTC the schedule looks at the landing zone. Yesterday, and every earlier day whose landing segments are
newer than its gold observations (late imports, re-captures), gets a run of the ``nightly`` job for its partition.
The dataset assets (``training_dataset``, ``minari_datasets``) ride on yesterday's run only when the id the
dataset would get — from the landing hashes of every built day plus yesterday, the feature spec, the code version
and the default parameters — is not published yet, and only when no other day is being rebuilt in parallel (that
day's new gold would be missed; the next evaluation publishes it). Without landing data for yesterday and no stale
day, the schedule skips. Run keys name the day and the inputs, so the same work is never requested twice.
"""

import datetime as dt

import dagster as dg

from capture_agent.landing.segments import segment_paths
from vectra_pipeline.defs.assets.gold import DatasetConfig
from vectra_pipeline.defs.partitions import daily
from vectra_pipeline.defs.resources import VectraPaths
from vectra_pipeline.stages.gold import datasets as gold_datasets

DATASET_ASSETS = ("training_dataset", "minari_datasets")

nightly = dg.define_asset_job(
    "nightly",
    selection=dg.AssetSelection.groups("bronze", "silver", "gold"),
    description="Bronze → silver → gold for one date partition, then the training dataset over every built day.",
)


def stale_days(paths: VectraPaths) -> dict[str, int]:
    """Days whose newest landing segment is newer than their gold observations (or that have none): day → mtime."""
    newest: dict[str, int] = {}
    for path in segment_paths(paths.root):
        day = path.parent.name.removeprefix("date=")
        newest[day] = max(newest.get(day, 0), path.stat().st_mtime_ns)
    stale = {}
    for day, mtime in newest.items():
        gold = gold_datasets.gold_partition_path(paths.root, "observations", day)
        if not gold.exists() or gold.stat().st_mtime_ns < mtime:
            stale[day] = mtime
    return stale


def nightly_request(paths: VectraPaths, scheduled: dt.datetime, per_day_assets: list[dg.AssetKey]) -> list[dg.RunRequest] | dg.SkipReason:
    """The runs for the day before ``scheduled`` and for stale days (a pure decision over the files under the data root)."""
    day = (scheduled.astimezone(dt.timezone.utc) - dt.timedelta(days=1)).date().isoformat()
    valid = set(daily.get_partition_keys(current_time=scheduled))
    stale = {d: m for d, m in stale_days(paths).items() if d in valid and d != day}
    requests = [
        dg.RunRequest(run_key=f"{d}:stale:{mtime}", partition_key=d, asset_selection=list(per_day_assets),
                      tags={"vectra/day": d, "vectra/reason": "landing newer than gold"})
        for d, mtime in sorted(stale.items())
    ]
    if not gold_datasets.landing_inputs(paths.root, [day]):
        return requests or dg.SkipReason(f"no landing segments for {day} and no stale day")
    params = DatasetConfig().params()
    dates = sorted(set(gold_datasets.gold_partitions(paths.root)) | {day})
    candidate = gold_datasets.dataset_id(gold_datasets.landing_inputs(paths.root, dates), dates, params)
    published = (paths.root / gold_datasets.DATASETS_DIR / params.name / candidate / gold_datasets.MANIFEST).exists()
    new_dataset = not published and not stale
    selection = list(per_day_assets) + ([dg.AssetKey(name) for name in DATASET_ASSETS] if new_dataset else [])
    requests.append(dg.RunRequest(
        run_key=f"{day}:{candidate}:{'dataset' if new_dataset else 'day'}",
        partition_key=day,
        asset_selection=selection,
        tags={"vectra/day": day, "vectra/dataset_id": candidate, "vectra/new_dataset": str(new_dataset).lower()},
    ))
    return requests


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
