"""A dataset version covers only days that built fully and are current; its manifest lists exactly what was built.

A day whose silver fails, whose ERROR check fails, or whose landing changed since its build blocks the version:
the failure names the day in one line and the previous version stays the latest. Unchanged inputs never mint a
new version. The ``day_built`` sensor records days built by daemon-launched runs and requests the publish.
"""

from __future__ import annotations

import shutil

import dagster as dg
import polars as pl
import pytest
from dagster import DagsterEventType

from capture_agent.landing.synthetic import write_synthetic_capture
from vectra_pipeline.build import build
from vectra_pipeline.datasets import days
from vectra_pipeline.datasets.lineage import landing_fingerprint, landing_inputs
from vectra_pipeline.datasets.registry import latest_dataset, list_versions
from vectra_pipeline.defs.assets import ASSETS, gold
from vectra_pipeline.defs.assets import silver as silver_assets
from vectra_pipeline.defs.checks import CHECKS
from vectra_pipeline.defs.jobs import LANDING_TAG, landing_to_gold, nightly, publish_dataset
from vectra_pipeline.defs.partitions import register_days
from vectra_pipeline.defs.resources import VectraPaths
from vectra_pipeline.defs.sensors import day_built
from vectra_pipeline.storage import HISTORY_DIR, dataset_root

FIRST, SECOND = "2025-12-10", "2025-12-11"
KIND = "market"  # the synthetic captures record no account: the market kind is the version they publish


@pytest.fixture(scope="module")
def built_root(tmp_path_factory):
    """Two synthetic landing days, built once (both days recorded, one version published)."""
    root = tmp_path_factory.mktemp("gate")
    write_synthetic_capture(root, 3000, date=FIRST)
    write_synthetic_capture(root, 2000, date=SECOND, seed="second-day")
    summary = build(root, [FIRST, SECOND])
    assert summary.ok, (summary.failed_runs, summary.checks)
    return root


def _copy(built_root, tmp_path):
    copy = tmp_path / "data"
    shutil.copytree(built_root, copy)
    return copy


def _version_dirs(root) -> list[str]:
    # _history holds the publish records, no version
    return sorted(p.name for p in dataset_root(root, KIND).iterdir() if p.is_dir() and p.name != HISTORY_DIR)


def _dataset_failure(summary) -> str:
    (line,) = [f for f in summary.failed_runs if f.startswith("datasets training_dataset:")]
    return line


def test_the_manifest_lists_exactly_what_each_day_built(built_root):
    version = latest_dataset(built_root, KIND)
    records = [days.read_record(built_root, d) for d in (FIRST, SECOND)]
    assert all(r["problems"] == [] for r in records)
    assert version.manifest["partitions"] == [FIRST, SECOND]
    assert version.manifest["inputs"]["landing"] == [e for r in records for e in r["landing"]] == landing_inputs(built_root, [FIRST, SECOND])
    assert version.manifest["inputs"]["gold"] == sorted((e for r in records for e in r["gold"]), key=lambda e: e["path"])


def test_a_day_whose_silver_fails_blocks_the_version_and_is_named(built_root, tmp_path, monkeypatch):
    root = _copy(built_root, tmp_path)
    before = latest_dataset(root, KIND)
    write_synthetic_capture(root, 800, date=SECOND, seed="late-session")  # a new input for the day...
    honest = silver_assets.build_games

    def broken(*args):
        raise RuntimeError("silver games exploded")

    monkeypatch.setattr(silver_assets, "build_games", broken)  # ...that silver then fails to build
    summary = build(root, [SECOND])
    line = _dataset_failure(summary)
    assert "\n" not in line and SECOND in line and "last build failed" in line and before.id in line
    assert _version_dirs(root) == [before.id] and latest_dataset(root, KIND).id == before.id  # no version minted
    assert days.day_problem(root, SECOND).startswith("its last build failed: step")

    monkeypatch.setattr(silver_assets, "build_games", honest)  # fixed: the day builds and a version follows
    summary = build(root, [SECOND])
    assert summary.ok, summary.failed_runs
    after = latest_dataset(root, KIND)
    assert after.id != before.id and after.manifest["inputs"]["landing"] == landing_inputs(root, [FIRST, SECOND])
    assert len(after.manifest["inputs"]["landing"]) == len(before.manifest["inputs"]["landing"]) + 1

    # unchanged inputs: the same id, reused, never a new folder
    again = build(root, [FIRST, SECOND])
    assert again.ok and latest_dataset(root, KIND).id == after.id
    assert _version_dirs(root) == sorted([before.id, after.id])


def test_a_failed_error_check_blocks_the_version(built_root, tmp_path, monkeypatch):
    root = _copy(built_root, tmp_path)
    before = latest_dataset(root, KIND)
    write_synthetic_capture(root, 800, date=FIRST, seed="another")
    honest = gold.build_market_observations

    def with_nan(*args):
        table = honest(*args)
        return table.with_columns(pl.when(pl.col("tick") == 2).then(float("nan")).otherwise(pl.col("price")).cast(pl.Float32).alias("price"))

    monkeypatch.setattr(gold, "build_market_observations", with_nan)
    summary = build(root, [FIRST])
    assert ("market_observations_finite", FIRST, False, "ERROR") in summary.checks
    line = _dataset_failure(summary)
    assert FIRST in line and "check market_observations_finite failed" in line
    assert _version_dirs(root) == [before.id]


def test_landing_changed_since_the_build_blocks_a_direct_publish(built_root, tmp_path):
    root = _copy(built_root, tmp_path)
    before = latest_dataset(root, KIND)
    write_synthetic_capture(root, 500, date=SECOND, seed="landed-after-the-build")
    result = dg.materialize(
        ASSETS, selection=["training_dataset"], resources={"paths": VectraPaths(data_dir=str(root))},
        instance=dg.DagsterInstance.ephemeral(), raise_on_error=False,
    )
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    message = failure.event_specific_data.error.message
    assert f"{SECOND} its landing files changed since its build" in message and before.id in message
    assert _version_dirs(root) == [before.id]


def _definitions(root) -> dg.Definitions:
    return dg.Definitions(
        assets=ASSETS,
        asset_checks=CHECKS,
        jobs=[landing_to_gold, nightly, publish_dataset],
        resources={"paths": VectraPaths(data_dir=str(root))},
        executor=dg.in_process_executor,
    )


def _sensor_after(job_name: str, root, instance) -> object:
    """Run ``job_name`` for SECOND as the daemon would (tagged with the landing fingerprint), then the sensor."""
    job = _definitions(root).resolve_job_def(job_name)
    register_days(instance, [SECOND])  # as the landing sensor does
    result = job.execute_in_process(
        partition_key=SECOND, instance=instance, tags={LANDING_TAG: landing_fingerprint(root, SECOND)},
        run_config={"loggers": {"console": {"config": {"log_level": "ERROR"}}}},
    )
    assert result.success
    (success,) = instance.all_logs(result.run_id, of_type=DagsterEventType.RUN_SUCCESS)
    context = dg.build_run_status_sensor_context(
        sensor_name="day_built", dagster_event=success.dagster_event, dagster_instance=instance, dagster_run=result.dagster_run,
        resources={"paths": VectraPaths(data_dir=str(root))},
    )
    return day_built(context)


def test_day_built_sensor_records_the_day_and_requests_the_publish(built_root, tmp_path):
    root = _copy(built_root, tmp_path)
    write_synthetic_capture(root, 500, date=SECOND, seed="captured-later")
    assert days.day_problem(root, SECOND) == "its landing files changed since its build"
    instance = dg.DagsterInstance.ephemeral()
    # the landing sensor's job: the day is recorded, no publish is requested (versions follow the nightly runs)
    assert isinstance(_sensor_after("landing_to_gold", root, instance), dg.SkipReason)
    assert days.day_problem(root, SECOND) is None
    # the nightly job: recorded, and the new dataset id is requested once
    request = _sensor_after("nightly", root, instance)
    assert isinstance(request, dg.RunRequest) and request.run_key not in {v.id for v in list_versions(root, KIND)}
    published = _definitions(root).resolve_job_def(publish_dataset.name).execute_in_process(instance=instance)
    assert published.success and latest_dataset(root, KIND).id in request.run_key.split("+")
    assert request.tags[f"vectra/dataset_id.{KIND}"] == latest_dataset(root, KIND).id
    assert isinstance(_sensor_after("nightly", root, instance), dg.SkipReason)  # published: nothing new to request
