"""The Dagster definitions as a reviewer sees them — asset keys, groups, deps, partitions, checks, jobs, sensors,
schedules — equal the committed ``definitions_snapshot.json``. A change to any of them shows up as a diff of that
file in review. Regenerate it with
``VECTRA_UPDATE_SNAPSHOTS=1 .venv/bin/python -m pytest tests/pipeline/test_definitions_snapshot.py``.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import dagster as dg

from vectra_pipeline.definitions import defs
from vectra_pipeline.schema import LAYERS

SNAPSHOT = Path(__file__).with_name("definitions_snapshot.json")
REGENERATE = "VECTRA_UPDATE_SNAPSHOTS=1 .venv/bin/python -m pytest tests/pipeline/test_definitions_snapshot.py"


def _partitions(definition) -> dict | None:
    if definition is None:
        return None
    assert isinstance(definition, dg.DynamicPartitionsDefinition), definition
    return {"dynamic": definition.name}


def describe(definitions: dg.Definitions) -> dict:
    repository = definitions.get_repository_def()
    graph = repository.asset_graph
    checks: dict[str, list[str]] = {}
    for key in graph.asset_check_keys:
        checks.setdefault(key.asset_key.to_user_string(), []).append(key.name)
    assets = {}
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node, name = graph.get(key), key.to_user_string()
        assets[name] = {
            "group": node.group_name,
            "deps": sorted(parent.to_user_string() for parent in node.parent_keys),
            "partitions": _partitions(node.partitions_def),
            "kinds": sorted(node.kinds),
            "owners": sorted(node.owners),
            "checks": sorted(checks.get(name, [])),
            "versioned": node.code_version is not None,
        }
    jobs = {
        job.name: {"assets": sorted(k.to_user_string() for k in job.asset_layer.executable_asset_keys), "partitions": _partitions(job.partitions_def)}
        for job in repository.get_all_jobs()
        if not job.name.startswith("__")
    }
    sensors = {
        sensor.name: {"kind": type(sensor).__name__, "job": sensor.job_name, "default_status": sensor.default_status.value,
                      "minimum_interval_seconds": sensor.minimum_interval_seconds}
        for sensor in repository.sensor_defs
    }
    schedules = {
        schedule.name: {"job": schedule.job_name, "cron": schedule.cron_schedule, "timezone": schedule.execution_timezone,
                        "default_status": schedule.default_status.value}
        for schedule in repository.schedule_defs
    }
    return {"assets": assets, "jobs": jobs, "sensors": sensors, "schedules": schedules}


def test_definitions_equal_the_committed_snapshot():
    now = describe(defs)
    if os.environ.get("VECTRA_UPDATE_SNAPSHOTS") == "1":
        SNAPSHOT.write_text(json.dumps(now, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    recorded = json.loads(SNAPSHOT.read_text(encoding="utf-8"))
    for part in ("assets", "jobs", "sensors", "schedules"):
        changed = sorted(name for name in recorded[part].keys() | now[part].keys() if recorded[part].get(name) != now[part].get(name))
        assert not changed, f"{part} changed: {', '.join(changed)}; if intended, regenerate with {REGENERATE}"


def test_the_daily_groups_hold_only_daily_assets_and_every_stage_asset_is_versioned():
    assets = describe(defs)["assets"]
    for name, asset in assets.items():
        assert (asset["group"] in LAYERS) == (asset["partitions"] is not None), name
        assert asset["versioned"] or asset["group"] == "datasets", f"{name} has no code_version"
    assert {a["group"] for a in assets.values()} == {*LAYERS, "datasets"}


def test_the_description_sees_a_lost_check_and_a_lost_schedule():
    from vectra_pipeline.defs.assets import ASSETS
    from vectra_pipeline.defs.checks import CHECKS
    from vectra_pipeline.defs.jobs import jobs
    from vectra_pipeline.defs.resources import resources
    from vectra_pipeline.defs.sensors import sensors

    dropped = next(iter(CHECKS[0].check_keys))
    fewer = dg.Definitions(assets=ASSETS, asset_checks=CHECKS[1:], jobs=jobs, sensors=sensors, resources=resources)
    full, partial = describe(defs), describe(fewer)
    assert [n for n in full["assets"] if full["assets"][n] != partial["assets"][n]] == [dropped.asset_key.to_user_string()]
    assert dropped.name not in partial["assets"][dropped.asset_key.to_user_string()]["checks"]
    assert set(full["schedules"]) == {"nightly_dataset"} and partial["schedules"] == {}


def test_descriptions_keep_their_placeholders_visible():
    """The UI renders descriptions as Markdown, where a bare ``<data>`` is an HTML tag and vanishes: placeholders
    sit in backticks."""
    graph = defs.get_repository_def().asset_graph
    bare = {}
    for key in graph.get_all_asset_keys():
        description = graph.get(key).description or ""
        outside_code = re.sub(r"`[^`]*`", "", description)
        found = re.findall(r"<[a-z_]+>", outside_code)
        if found:
            bare[key.to_user_string()] = found
    assert not bare, bare
