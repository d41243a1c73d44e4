"""Crash leftovers: never visible while they exist, removed by the next build when their process is gone.

Temp files and folders of a dead writer (its PID in the name) are planted where each writer puts them — a table
partition, a dataset version's temp folder holding a complete-looking manifest, a Minari temp inside a published
version (an earlier release's layout), the warehouse and its WAL, a day record, the landing hash cache — next to the
same names of a live process. Until the next build none of them is a table, a row, a version or a DuckDB row; the
build removes the dead ones and leaves the live ones. Runs of a killed build are marked failed in Dagster.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import dagster as dg
import pytest
from outputs_kit import DAYS, REPO, small_landing, vectra_command, vectra_env

from vectra_pipeline.build import build
from vectra_pipeline.commands.query import query
from vectra_pipeline.datasets.registry import latest_dataset, list_versions
from vectra_pipeline.defs.stale_runs import TAG_PROCESS_START, run_process_tags
from vectra_pipeline.warehouse import table_globs

DAY = DAYS[0]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = small_landing(tmp_path_factory.mktemp("hygiene") / "data")
    assert build(root, list(DAYS)).ok
    return root


def _dead_pid() -> int:
    """The PID of a process that has exited (and was reaped)."""
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True)
    return int(done.stdout)


def _plant(root, pid: int, version) -> list:
    partition = root / "silver" / "games" / f"date={DAY}"
    shutil.copy(partition / "part.parquet", partition / f".part.parquet.{pid}.tmp")  # a whole, valid Parquet file
    temp_version = root / "datasets" / "market" / f".{'f' * 16}.{pid}.tmp"
    shutil.copytree(version.path, temp_version)  # killed just after its manifest was written
    manifest = json.loads((temp_version / "manifest.json").read_text())
    (temp_version / "manifest.json").write_text(json.dumps({**manifest, "id": "f" * 16}))
    legacy_temp = root / "datasets" / "market" / f".tmp-{'e' * 16}-{pid}-123"
    shutil.copytree(version.path, legacy_temp, ignore=shutil.ignore_patterns("minari"))
    legacy_minari = version.path / f".minari-{pid}.tmp"
    (legacy_minari / "vectra").mkdir(parents=True)
    files = [root / f".warehouse.duckdb.{pid}.tmp", root / f".warehouse.duckdb.{pid}.tmp.wal",
             root / "gold" / "_built" / f".date={DAY}.json.{pid}.tmp", root / "datasets" / f".landing-sha256.json.{pid}.tmp"]
    for file in files:
        file.write_bytes(b"half written")
    return [partition / f".part.parquet.{pid}.tmp", temp_version, legacy_temp, legacy_minari, *files]


def test_leftovers_are_invisible_and_the_dead_ones_are_swept(built, tmp_path):
    root = tmp_path / "data"
    shutil.copytree(built, root)
    version = latest_dataset(root, "market")  # the synthetic capture records no account: no player version
    games, frames = query(root, "SELECT (SELECT count(*) FROM games), (SELECT count(*) FROM frames)")[1][0]
    dead = _plant(root, _dead_pid(), version)
    live = _plant(root, 1, version)  # PID 1 (init) never exits
    # not temp files, just dot-prefixed: a hidden table folder and a hidden Parquet file in a partition
    hidden_table = root / "silver" / ".games_backup" / f"date={DAY}"
    hidden_table.mkdir(parents=True)
    shutil.copy(root / "silver" / "games" / f"date={DAY}" / "part.parquet", hidden_table / "part.parquet")
    shutil.copy(root / "silver" / "games" / f"date={DAY}" / "part.parquet", root / "silver" / "games" / f"date={DAY}" / ".stray.parquet")

    def nothing_dot_prefixed_is_visible():
        assert not [name for name in table_globs(root) if name.startswith(".")]
        assert query(root, "SELECT (SELECT count(*) FROM games), (SELECT count(*) FROM frames)")[1][0] == (games, frames)
        assert query(root, "SELECT id, path FROM datasets WHERE name = 'market'")[1] == [(version.id, f"datasets/market/{version.id}")]
        assert [v.id for v in list_versions(root, "market")] == [version.id] and latest_dataset(root, "market").id == version.id

    nothing_dot_prefixed_is_visible()
    assert build(root, [DAY]).ok
    assert [p for p in dead if p.exists()] == []
    assert [p for p in live if not p.exists()] == []
    assert latest_dataset(root, "market").id == version.id and (version.path / "minari" / "vectra").is_dir()
    nothing_dot_prefixed_is_visible()


def test_runs_of_a_killed_build_are_marked_failed(built, tmp_path, monkeypatch):
    root = tmp_path / "data"
    shutil.copytree(built / "landing", root / "landing")
    home = tmp_path / "dagster_home"
    env = vectra_env(home, VECTRA_CRASH_AT="partition:written")
    killed = subprocess.run(vectra_command("build", "--data", str(root)), cwd=REPO, env=env, capture_output=True, timeout=600)
    assert killed.returncode == -9, killed.stderr  # killed by its own crash point, mid-write
    assert list((root / "bronze" / "frames" / f"date={DAY}").glob(".part.parquet.*.tmp"))  # its half-written partition

    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with dg.DagsterInstance.get() as instance:
        (stuck,) = instance.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))
        alive = instance.add_run(dg.DagsterRun(job_name="still_running", status=dg.DagsterRunStatus.STARTED, tags=run_process_tags()))
        reused = instance.add_run(dg.DagsterRun(job_name="pid_reused", status=dg.DagsterRunStatus.STARTED,
                                                tags={**run_process_tags(), TAG_PROCESS_START: "1"}))
    assert build(root, list(DAYS)).ok
    with dg.DagsterInstance.get() as instance:
        assert instance.get_run_by_id(stuck.run_id).status == dg.DagsterRunStatus.FAILURE
        assert instance.get_run_by_id(reused.run_id).status == dg.DagsterRunStatus.FAILURE  # same PID, other process
        assert instance.get_run_by_id(alive.run_id).status == dg.DagsterRunStatus.STARTED  # its process is this one
        (failure,) = instance.all_logs(stuck.run_id, of_type=dg.DagsterEventType.RUN_FAILURE)
        assert "is gone (killed)" in failure.dagster_event.message
    assert not list(root.rglob(".part.parquet.*.tmp"))


def test_the_assets_sweep_their_own_folders_without_a_build(built, tmp_path):
    """A Dagster-launched run (no `vectra build` start-up sweep): the dataset and partition writers sweep too."""
    from vectra_pipeline.defs.assets import ASSETS
    from vectra_pipeline.defs.resources import VectraPaths

    root = tmp_path / "data"
    shutil.copytree(built, root)
    dead = _plant(root, _dead_pid(), latest_dataset(root, "market"))
    result = dg.materialize(ASSETS, selection=["training_dataset", "minari_datasets"], instance=dg.DagsterInstance.ephemeral(),
                            resources={"paths": VectraPaths(data_dir=str(root))})
    assert result.success
    _, temp_version, legacy_temp, legacy_minari, *_ = dead
    assert [p for p in (temp_version, legacy_temp, legacy_minari) if p.exists()] == []
