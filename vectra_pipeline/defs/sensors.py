"""Sensor: new or changed landing segments → one run per affected date partition, bronze → silver → daily gold.

The run rebuilds every per-day asset of the date (bronze, silver, and the gold ``episodes``/``observations``) so gold
never goes stale behind new landing data. The unpartitioned dataset assets span every day and are published by the
nightly schedule (``defs/schedules.py``), not here.

The cursor is the JSON map ``{segment path: mtime_ns}`` of published segments already requested; temp files
(dot-prefixed, ``.parquet.tmp``) are never listed by ``segment_paths``. The run key names the date and the
segments, so a re-evaluation never requests the same work twice.
"""

import hashlib
import json

import dagster as dg

from capture_agent.landing.segments import segment_paths
from vectra_pipeline.defs.assets import gold
from vectra_pipeline.defs.partitions import daily
from vectra_pipeline.defs.resources import VectraPaths

landing_to_gold = dg.define_asset_job(
    "landing_to_gold",
    selection=dg.AssetSelection.groups("bronze", "silver")
    | dg.AssetSelection.assets(*(asset for asset in gold.assets if asset.partitions_def is not None)),
    description="Bronze, silver and the daily gold tables (episodes, observations) for one date partition.",
)


def new_segments(paths: VectraPaths, cursor: str | None) -> tuple[dict[str, list[str]], dict[str, int]]:
    """(date → new/changed segment paths, the full seen-map for the next cursor)."""
    seen: dict[str, int] = json.loads(cursor) if cursor else {}
    current = {str(path): path.stat().st_mtime_ns for path in segment_paths(paths.root)}
    changed: dict[str, list[str]] = {}
    for path, mtime in current.items():
        if seen.get(path) != mtime:
            date = path.rsplit("date=", 1)[1].split("/", 1)[0]
            changed.setdefault(date, []).append(path)
    return changed, current


@dg.sensor(
    job=landing_to_gold,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="Requests bronze → silver → daily gold for every date whose landing segments are new or changed.",
)
def landing_segments(context: dg.SensorEvaluationContext, paths: VectraPaths):
    changed, current = new_segments(paths, context.cursor)
    valid = set(daily.get_partition_keys())
    requests = []
    for date in sorted(changed):
        if date not in valid:
            context.log.warning(f"landing date {date} is outside the partitions ({daily.start.date()} … today); skipped")
            continue
        digest = hashlib.sha256("\n".join(sorted(f"{p}:{current[p]}" for p in changed[date])).encode()).hexdigest()[:16]
        requests.append(dg.RunRequest(run_key=f"{date}:{digest}", partition_key=date, tags={"vectra/segments": str(len(changed[date]))}))
    if not requests and not changed:
        return dg.SkipReason("no new landing segments")
    context.update_cursor(json.dumps(current, sort_keys=True))
    return requests


sensors = [landing_segments]
jobs = [landing_to_gold]
