"""Gold through Dagster: assets and checks in-process on a synthetic landing day, rebuild determinism, schedule."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import time

import dagster as dg
import duckdb
import polars as pl
import pytest

from capture_agent.landing.synthetic import write_synthetic_capture
from vectra_pipeline.build import build, landing_dates
from vectra_pipeline.datasets.days import read_record, write_record
from vectra_pipeline.datasets.lineage import landing_fingerprint
from vectra_pipeline.datasets.registry import latest_dataset, list_versions
from vectra_pipeline.definitions import defs
from vectra_pipeline.defs.assets import ASSETS
from vectra_pipeline.defs.assets import gold as gold_assets
from vectra_pipeline.defs.checks import datasets as datasets_checks
from vectra_pipeline.defs.checks import gold as gold_checks
from vectra_pipeline.defs.jobs import LANDING_TAG
from vectra_pipeline.defs.partitions import register_days
from vectra_pipeline.defs.resources import VectraPaths
from vectra_pipeline.defs.schedules import nightly_dataset
from vectra_pipeline.storage import landing_segments, table_path
from vectra_pipeline.warehouse import warehouse_path

DAY = "2025-12-10"


def _files(path):
    return {p.relative_to(path).as_posix(): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file() and "minari" not in p.parts}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """One synthetic landing day, copied to a second data root; both built through Dagster in-process."""
    first = tmp_path_factory.mktemp("first")
    write_synthetic_capture(first, 6000, date=DAY)
    second = tmp_path_factory.mktemp("second")
    shutil.copytree(first / "landing", second / "landing")
    summaries = [build(first, [DAY]), build(second, [DAY])]
    return first, second, summaries


def test_gold_definitions():
    repository = defs.get_repository_def()
    graph = repository.asset_graph
    for name, group in (("episodes", "gold"), ("observations", "gold"), ("training_dataset", "datasets"), ("minari_datasets", "datasets")):
        node = graph.get(dg.AssetKey(name))
        assert node.group_name == group and node.description and node.owners
    assert graph.get(dg.AssetKey("observations")).partitions_def is not None
    assert graph.get(dg.AssetKey("training_dataset")).partitions_def is None
    check_names = {key.name for key in graph.asset_check_keys}
    assert {"observations_finite", "observations_no_look_ahead", "episodes_one_per_game", "training_dataset_splits_disjoint"} <= check_names
    assert {s.name: s.job_name for s in repository.schedule_defs}["nightly_dataset"] == "nightly"


def test_build_publishes_a_dataset_and_checks_pass(built):
    first, _, (summary, _) = built
    assert summary.ok, (summary.failed_runs, summary.checks)
    gold_checks_run = {name for name, _, passed, _ in summary.checks if name in {c.check_key.name for c in [*gold_checks.checks, *datasets_checks.checks]}}
    assert gold_checks_run == {"observations_finite", "market_observations_finite", "observations_no_look_ahead", "observations_rewards_exact", "episodes_one_per_game",
                               "market_episodes_one_per_game", "crowd_rewards_exact", "training_dataset_splits_disjoint"}
    assert all(passed for _, _, passed, _ in summary.checks)
    # the synthetic capture is a public socket: no account recorded, so no player version (never "hold" rows)
    assert latest_dataset(first, "player") is None
    assert any("player: no complete game yet" in note for note in summary.notes), summary.notes
    version = latest_dataset(first, "market")
    assert version is not None and version.manifest["partitions"] == [DAY] and version.kind == "market"
    episodes = pl.read_parquet(table_path(first, "market_episodes", DAY))
    assert version.manifest["counts"]["episodes_total"] == episodes.height > 5
    assert (version.path / "README.md").is_file() and (version.path / "minari" / "vectra" / f"market-train-{version.id}-v0").is_dir()
    # an external client opens the file with the data root as its file_search_path (views hold relative paths)
    with duckdb.connect(str(warehouse_path(first)), read_only=True, config={"file_search_path": str(first)}) as con:
        assert con.execute("SELECT id, rows FROM datasets WHERE name = 'market'").fetchall() == [(version.id, version.manifest["counts"]["rows"])]
        crowd = latest_dataset(first, "crowd")  # the bots on the boards: every player the frames show
        assert crowd.manifest["counts"]["rows"] > version.manifest["counts"]["rows"] and (crowd.path / "README.md").is_file()
        assert con.execute("SELECT count(*) FROM datasets").fetchone() == (2,)
        assert con.execute("SELECT count(*) FROM market_observations").fetchone()[0] == pl.read_parquet(table_path(first, "market_observations", DAY)).height
        assert con.execute("SELECT count(DISTINCT game_id) FROM market_episodes WHERE date = DATE '2025-12-10'").fetchone()[0] == episodes.height


def test_rebuild_gives_same_id_and_identical_bytes(built):
    first, second, _ = built
    for kind in ("crowd", "market"):  # every version of the two roots, byte for byte
        x, y = latest_dataset(first, kind), latest_dataset(second, kind)
        assert x.id == y.id and _files(x.path) == _files(y.path), kind
    a = latest_dataset(first, "market")
    # materialising the dataset again reuses the version
    result = dg.materialize(
        ASSETS, selection=["training_dataset"], resources={"paths": VectraPaths(data_dir=str(first))},
        instance=dg.DagsterInstance.ephemeral(),
    )
    metadata = result.asset_materializations_for_node("training_dataset")[0].metadata
    assert metadata["published"].value["market"] == {**metadata["published"].value["market"], "id": a.id, "created": False}
    assert [v.id for v in list_versions(first, "market")] == [a.id]


def _evaluate(data_dir, when):
    with dg.instance_for_test() as instance:  # a schedule reads the instance's partitions: a real (temporary) one
        register_days(instance, landing_dates(data_dir))  # as the landing sensor does
        with dg.build_schedule_context(instance=instance, scheduled_execution_time=when,
                                       resources={"paths": VectraPaths(data_dir=str(data_dir))}) as context:
            return nightly_dataset(context)


def test_nightly_schedule(built, tmp_path):
    first, _, _ = built
    morning = dt.datetime(2025, 12, 11, 2, 0, tzinfo=dt.UTC)
    # yesterday's day run, tagged with its landing fingerprint; the dataset follows through the day_built sensor
    (request,) = _evaluate(first, morning)
    assert request.partition_key == DAY and request.asset_selection is None
    assert request.tags[LANDING_TAG] == landing_fingerprint(first, DAY) and request.run_key == f"{DAY}:{request.tags[LANDING_TAG]}"
    # another landing segment that day → another fingerprint, another run key
    changed = tmp_path / "changed"
    shutil.copytree(first, changed, ignore=shutil.ignore_patterns("warehouse.duckdb*"))
    write_synthetic_capture(changed, 500, date=DAY, seed="another-session")
    (again,) = _evaluate(changed, morning)
    assert again.partition_key == DAY and again.run_key != request.run_key
    # nothing landed yesterday and nothing stale → skip
    assert isinstance(_evaluate(first, morning + dt.timedelta(days=3)), dg.SkipReason)


def test_nightly_schedule_rebuilds_stale_days_first(built, tmp_path):
    first, _, _ = built
    late = tmp_path / "late"
    shutil.copytree(first, late, ignore=shutil.ignore_patterns("warehouse.duckdb*"))
    write_synthetic_capture(late, 500, date="2025-12-05", seed="imported-late")  # an old day landed after the fact
    stale, yesterday = _evaluate(late, dt.datetime(2025, 12, 11, 2, 0, tzinfo=dt.UTC))
    assert stale.partition_key == "2025-12-05" and stale.tags["vectra/reason"] == "never built"
    assert yesterday.partition_key == DAY and yesterday.tags["vectra/reason"] == "yesterday"
    (only,) = _evaluate(late, dt.datetime(2025, 12, 20, 2, 0, tzinfo=dt.UTC))  # no landing yesterday: the stale day alone
    assert only.partition_key == "2025-12-05"


def test_nightly_schedule_reads_what_a_build_read_not_clocks(built, tmp_path):
    """A built day's segments touched into the future (a restore, a bucket's LastModified) are not stale; its gold
    made older than its landing is not either; a new segment among the same names is."""
    first, _, _ = built
    copy = tmp_path / "copy"
    shutil.copytree(first, copy, ignore=shutil.ignore_patterns("warehouse.duckdb*"))
    later = time.time() + 86_400
    for segment in landing_segments(copy, DAY):
        os.utime(segment, (later, later))
    for gold in (copy / "gold").rglob("*.parquet"):
        os.utime(gold, (0, 0))
    next_week = dt.datetime(2025, 12, 20, 2, 0, tzinfo=dt.UTC)
    assert isinstance(_evaluate(copy, next_week), dg.SkipReason)
    record = read_record(copy, DAY)
    write_record(copy, DAY, record["landing"], ["step decode_events failed"])  # a failed build is tried again
    (request,) = _evaluate(copy, next_week)
    assert request.partition_key == DAY and request.tags["vectra/reason"] == "its last build failed"
    write_record(copy, DAY, record["landing"], [])
    write_synthetic_capture(copy, 300, date=DAY, seed="one-more-session")
    (request,) = _evaluate(copy, next_week)
    assert request.partition_key == DAY and request.tags["vectra/reason"] == "landing changed since its build"


def test_checks_fail_on_bad_observations(built, tmp_path, monkeypatch):
    first, _, _ = built
    data = tmp_path / "bad"
    shutil.copytree(first, data, ignore=shutil.ignore_patterns("warehouse.duckdb*", "datasets"))
    honest = gold_assets.build_market_observations

    def broken(*args):
        table = honest(*args)
        return table.with_columns(pl.when(pl.col("tick") == 3).then(float("nan")).otherwise(pl.col("return_5")).cast(pl.Float32).alias("return_5"))

    monkeypatch.setattr(gold_assets, "build_market_observations", broken)
    instance = dg.DagsterInstance.ephemeral()
    register_days(instance, [DAY])
    result = dg.materialize(
        [gold_assets.market_observations, gold_checks.market_observations_finite], partition_key=DAY,
        resources={"paths": VectraPaths(data_dir=str(data))}, instance=instance, raise_on_error=False,
    )
    evaluations = [e.event_specific_data for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"]
    assert [(e.check_name, e.passed) for e in evaluations] == [("market_observations_finite", False)]
    assert evaluations[0].metadata["non_finite_by_feature"].value == {"return_5": pl.read_parquet(table_path(data, "market_observations", DAY)).filter(pl.col("tick") == 3).height}


def test_look_ahead_check_reads_only_its_sample_and_rebuilds_it_as_from_the_whole_day(built):
    first, _, _ = built
    paths = VectraPaths(data_dir=str(first))
    whole = gold_assets.read_silver(paths, DAY)
    games = whole["games"]["game_id"].head(3).to_list()
    sample = gold_assets.read_silver(paths, DAY, games=games)
    assert sample.keys() == whole.keys() and len(games) == 3
    for name, table in whole.items():  # each table's rows of the sample, in the day's order, and no other
        assert sample[name].equals(table.filter(pl.col("game_id").is_in(games))), name
    assert sum(table.height for table in sample.values()) < sum(table.height for table in whole.values())
    assert gold_checks.look_ahead_violations(sample, games) == gold_checks.look_ahead_violations(whole, games) == {}


def test_dataset_of_chosen_partitions_and_parameters(built):
    first, _, _ = built
    default = latest_dataset(first, "market")
    run_config = {"ops": {"training_dataset": {"config": {"partitions": [DAY], "split_seed": 3}}}}
    result = dg.materialize(
        ASSETS, selection=["training_dataset"], resources={"paths": VectraPaths(data_dir=str(first))},
        instance=dg.DagsterInstance.ephemeral(), run_config=run_config,
    )
    metadata = result.asset_materializations_for_node("training_dataset")[0].metadata
    published = metadata["published"].value["market"]
    assert published["created"] is True and published["id"] != default.id
    assert latest_dataset(first, "market").manifest["parameters"]["split_seed"] == 3
    missing = {"ops": {"training_dataset": {"config": {"partitions": ["2025-12-01"]}}}}
    failed = dg.materialize(
        ASSETS, selection=["training_dataset"], resources={"paths": VectraPaths(data_dir=str(first))},
        instance=dg.DagsterInstance.ephemeral(), run_config=missing, raise_on_error=False,
    )
    assert not failed.success


def test_split_check_detects_a_tampered_version(built, tmp_path):
    first, _, _ = built
    data = tmp_path / "tampered"
    shutil.copytree(first, data, ignore=shutil.ignore_patterns("warehouse.duckdb*"))
    for version in list_versions(data, "market"):  # every game in train, in every version
        path = version.path / "observations.parquet"
        pl.read_parquet(path).with_columns(pl.lit("train").alias("split")).write_parquet(path)
    result = dg.materialize(
        [*ASSETS, datasets_checks.training_dataset_splits_disjoint], selection=["training_dataset"],
        resources={"paths": VectraPaths(data_dir=str(data))}, instance=dg.DagsterInstance.ephemeral(), raise_on_error=False,
    )
    evaluation = next(e.event_specific_data for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION")
    assert not evaluation.passed
    report = evaluation.metadata["versions"].value[f"market/{latest_dataset(data, 'market').id}"]
    assert report["files_match_manifest"] is False
