"""Sensors: new landing segments → a run per affected date; a finished day run → its day record and the dataset.

``landing_segments``: new landing segments → their days become partitions (``defs.partitions``) and each gets a
run, bronze → silver → daily gold, so gold never goes stale behind new landing data — unless the day's record says
it already built fully from exactly these files (``datasets.days``: after ``vectra build``, switching the sensor on
rebuilds nothing). It lists names, on a local root as on an object store: the cursor is the JSON map ``{date: [segment
names already seen]}`` — a segment's name never changes once published (the agent creates each key once), so
neither mtimes nor ``LastModified`` (whose order is no promise across machines) are read. Temp files (dot-prefixed,
``.parquet.tmp``) are never listed by ``storage.landing_segments``. The run key names the date and the new segments,
so a re-evaluation never requests the same work twice; the run carries the day's landing fingerprint (tag
``vectra/landing``). A date's set is kept even once built: dropping it would make every tick re-read the day's
record to learn the names are old.

``day_built`` (on every successful day run of ``landing_to_gold`` or ``nightly``): writes the day record
(``datasets.days``) — built fully, or the failed checks — when the landing is still what the run was requested
for; after a ``nightly`` run it requests the ``datasets`` job when every day with gold built fully and the dataset
id they give for some kind is not published yet and that kind has episodes to train on (run key: those ids).
"""

import hashlib
import json

import dagster as dg
import polars as pl

from vectra_pipeline import storage
from vectra_pipeline.datasets import days
from vectra_pipeline.datasets.contents import reason_not_to_publish
from vectra_pipeline.datasets.identity import dataset_id
from vectra_pipeline.datasets.lineage import landing_fingerprint, landing_inputs
from vectra_pipeline.defs.assets.datasets import DatasetConfig
from vectra_pipeline.defs.built import record_run
from vectra_pipeline.defs.jobs import LANDING_TAG, automation_on, landing_to_gold, nightly, publish_dataset
from vectra_pipeline.defs.partitions import daily
from vectra_pipeline.defs.resources import VectraPaths


def new_segments(paths: VectraPaths, cursor: str | None) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """(date → names of its segments not seen yet, the full seen-map date → names for the next cursor)."""
    seen = _seen_names(json.loads(cursor) if cursor else {})
    current: dict[str, list[str]] = {}
    for path in storage.landing_segments(paths.root):
        current.setdefault(storage.landing_date(path), []).append(path.name)
    changed = {date: new for date, names in current.items() if (new := sorted(set(names) - set(seen.get(date, []))))}
    return changed, {date: sorted(names) for date, names in current.items()}


def _seen_names(cursor: dict) -> dict[str, list[str]]:
    """The cursor as date → names; an earlier release's ``{segment path: mtime_ns}`` is read as those names."""
    if all(isinstance(value, list) for value in cursor.values()):
        return cursor
    seen: dict[str, list[str]] = {}
    for path in cursor:
        folder, _, name = path.rpartition("/")
        seen.setdefault(folder.rpartition("/")[2].removeprefix("date="), []).append(name)
    return seen


_DEFAULT_STATUS = dg.DefaultSensorStatus.RUNNING if automation_on() else dg.DefaultSensorStatus.STOPPED


@dg.sensor(
    job=landing_to_gold,
    minimum_interval_seconds=30,
    default_status=_DEFAULT_STATUS,
    description="Requests bronze → silver → daily gold for every date whose landing segments are new or changed.",
)
def landing_segments(context: dg.SensorEvaluationContext, paths: VectraPaths):
    changed, current = new_segments(paths, context.cursor)
    if not changed:
        return dg.SkipReason("no new landing segments")
    requests, built = [], []
    for date in sorted(changed):
        if days.day_problem(paths.root, date) is None:  # built fully from exactly these files already
            built.append(date)
            continue
        digest = hashlib.sha256("\n".join(changed[date]).encode()).hexdigest()[:16]
        tags = {"vectra/segments": str(len(changed[date])), LANDING_TAG: landing_fingerprint(paths.root, date)}
        requests.append(dg.RunRequest(run_key=f"{date}:{digest}", partition_key=date, tags=tags))
    context.update_cursor(json.dumps(current, sort_keys=True))
    return dg.SensorResult(
        run_requests=requests,
        skip_reason=None if requests else f"already built from their landing files: {', '.join(built)}",
        dynamic_partitions_requests=[daily.build_add_request(sorted(changed))],
    )


def dataset_request(paths: VectraPaths) -> dg.RunRequest | dg.SkipReason:
    """A ``datasets`` run when every day with gold built fully and their dataset id is new."""
    dates = days.gold_dates(paths.root)
    problems = {date: problem for date in dates if (problem := days.day_problem(paths.root, date))}
    if not dates or problems:
        return dg.SkipReason("no gold yet" if not dates else f"not publishing: {min(problems)} {problems[min(problems)]}")
    config = DatasetConfig()
    inputs = [entry for date in dates for entry in days.read_record(paths.root, date)["landing"]]
    pending = {}
    for params in (config.params(kind) for kind in config.kinds):
        candidate = dataset_id(inputs, dates, params)
        if storage.is_published(storage.version_path(paths.root, params.name, candidate)):
            continue
        episodes = pl.concat([storage.read_table(paths.root, params.spec.episodes, d).with_columns(pl.lit(d).alias("partition"))
                              for d in dates], how="vertical_relaxed")
        if reason_not_to_publish(episodes, params) is None:  # a kind with nothing to train on is never requested
            pending[params.kind] = candidate
    if not pending:
        return dg.SkipReason("every dataset kind is published for these days, or has nothing to train on")
    run_key = "+".join(pending[kind] for kind in sorted(pending))
    return dg.RunRequest(run_key=run_key, tags={f"vectra/dataset_id.{kind}": candidate for kind, candidate in pending.items()})


@dg.run_status_sensor(
    run_status=dg.DagsterRunStatus.SUCCESS,
    monitored_jobs=[landing_to_gold, nightly],
    request_job=publish_dataset,
    default_status=_DEFAULT_STATUS,
    description="Records each day a run built (fully, or its failed checks); after a nightly run, publishes the "
    "dataset when every day built fully and its id would be new.",
)
def day_built(context: dg.RunStatusSensorContext, paths: VectraPaths):
    run = context.dagster_run
    date, requested = run.tags.get("dagster/partition"), run.tags.get(LANDING_TAG)
    if not date or not requested:
        return dg.SkipReason("not a day run requested by the landing sensor or the nightly schedule")
    if landing_fingerprint(paths.root, date) != requested:
        return dg.SkipReason(f"{date}: its landing changed during the run; the landing sensor rebuilds it")
    events = [entry.dagster_event for entry in context.instance.all_logs(run.run_id) if entry.dagster_event]
    record_run(paths.root, date, landing_inputs(paths.root, [date]), events)
    return dataset_request(paths) if run.job_name == nightly.name else dg.SkipReason(f"{date} recorded")


sensors = [landing_segments, day_built]
