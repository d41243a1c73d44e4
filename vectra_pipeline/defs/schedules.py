"""Nightly: build yesterday's partition (bronze → gold), and the days whose last build is not current.

At 02:00 UTC the schedule looks at the landing zone. Yesterday, and every earlier day never built, whose last build
failed, or whose landing segments are not the ones its last build read (late imports, re-captures), gets a run of the
``nightly`` job for its partition, tagged with the day's landing fingerprint. What a build read is its day record
(``datasets.days``): segment names, which never change once published — no clock is compared, so a bucket's
``LastModified`` or a copied folder's mtimes cannot make a day look newer or older than it is. The dataset is not
published in those runs: a version may only cover days whose build succeeded with every ERROR check passing, which is known once a run has finished. The
``day_built`` run-status sensor (``defs/sensors.py``) records each finished day and, after a nightly run, requests
``publish_dataset`` when the dataset id of every day built would be new. Without landing data for yesterday and
no stale day, the schedule skips. Run keys name the day and its landing, so the same work is never requested twice.
Only days that are partitions already can be run (a schedule cannot add one): the ``landing_segments`` sensor and
``vectra ui`` register them; a day that is not one yet is named in the skip reason.
"""

import datetime as dt

import dagster as dg

from vectra_pipeline import storage
from vectra_pipeline.datasets import days
from vectra_pipeline.datasets.lineage import landing_fingerprint
from vectra_pipeline.defs.jobs import LANDING_TAG, automation_on, nightly
from vectra_pipeline.defs.partitions import LANDING_DAYS
from vectra_pipeline.defs.resources import VectraPaths


def stale_days(paths: VectraPaths) -> dict[str, str]:
    """Landed days whose last build is not current → why: never built, failed, or read other landing segments."""
    landed: dict[str, set[str]] = {}
    for path in storage.landing_segments(paths.root):
        landed.setdefault(storage.landing_date(path), set()).add(storage.relative(paths.root, path))
    stale = {}
    for day, segments in sorted(landed.items()):
        record = days.read_record(paths.root, day)
        if record is None:
            stale[day] = "never built"
        elif record["problems"]:
            stale[day] = "its last build failed"
        elif {entry["path"] for entry in record["landing"]} != segments:
            stale[day] = "landing changed since its build"
    return stale


def nightly_request(paths: VectraPaths, scheduled: dt.datetime, partitions: set[str]) -> list[dg.RunRequest] | dg.SkipReason:
    """The runs for the day before ``scheduled`` and for stale days, of those that are ``partitions`` (a pure decision
    over the files under the data root)."""
    day = (scheduled.astimezone(dt.UTC) - dt.timedelta(days=1)).date().isoformat()
    reasons = {d: why for d, why in stale_days(paths).items() if d != day}
    if storage.landing_segments(paths.root, day):
        reasons[day] = "yesterday"
    if not reasons:
        return dg.SkipReason(f"no landing segments for {day} and no stale day")
    unknown = [d for d in reasons if d not in partitions]
    if len(unknown) == len(reasons):
        return dg.SkipReason(f"not partitions yet (the landing_segments sensor adds them): {', '.join(unknown)}")
    requests = []
    for date in (d for d in reasons if d in partitions):  # stale days first, then yesterday
        fingerprint = landing_fingerprint(paths.root, date)
        requests.append(dg.RunRequest(
            run_key=f"{date}:{fingerprint}", partition_key=date,
            tags={"vectra/day": date, "vectra/reason": reasons[date], LANDING_TAG: fingerprint},
        ))
    return requests


@dg.schedule(
    job=nightly,
    cron_schedule="0 2 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING if automation_on() else dg.DefaultScheduleStatus.STOPPED,
    description="02:00 UTC: yesterday's partition and stale days; the day_built sensor then publishes the dataset.",
)
def nightly_dataset(context: dg.ScheduleEvaluationContext, paths: VectraPaths):
    scheduled = context.scheduled_execution_time or dt.datetime.now(dt.UTC)
    return nightly_request(paths, scheduled, set(context.instance.get_dynamic_partitions(LANDING_DAYS)))


schedules = [nightly_dataset]
