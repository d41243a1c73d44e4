"""kill -9 during `vectra build`: no partial output is ever visible, and a rerun gives the uninterrupted bytes.

One data root is killed at the named instants a random kill rarely hits (``VECTRA_CRASH_AT``: the warehouse temp
written but not renamed, a version's rows written but not its card and manifest, the dataset temp folder complete
with its manifest, the version renamed in but not in the history, the Minari export written beside the version);
another at seeded random moments spread over a build's duration. After every kill: every table view answers, only
complete Parquet files are read, the ``datasets`` view and ``list_versions`` agree and hold no dot-prefixed name,
and every visible version folder — Minari export included when present — is byte-identical to the uninterrupted
build's. Each root is then rebuilt to completion: every table partition, day record and version file hashes the same
as the uninterrupted build, no temp file is left, and no Dagster run is left STARTED.
"""

from __future__ import annotations

import random
import shutil
import signal
import subprocess
import time

import dagster as dg
import duckdb
import pytest
from outputs_kit import REPO, output_digests, run_vectra, small_landing, vectra_command, vectra_env

from vectra_pipeline import warehouse
from vectra_pipeline.datasets.registry import latest_dataset, list_versions
from vectra_pipeline.storage import file_sha256
from vectra_pipeline.warehouse import table_globs, warehouse_path

SEED = 20261127
NAMED_KILLS = ("warehouse:written", "dataset:files-written", "dataset:manifest-written", "dataset:published", "minari:written")
RANDOM_KILLS = 4
KIND = "market"  # the synthetic captures record no account: market (and crowd) versions, no player version
KINDS = ("crowd", "market")
BOOKKEEPING = {".landing-sha256.json", ".warehouse.lock", ".warehouse-views.json"}  # dot-prefixed but not temps


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The landing, and one uninterrupted `vectra build` of it: its output hashes and how long it took."""
    base = tmp_path_factory.mktemp("kill9")
    landing_root = small_landing(base / "landing-only")
    root = base / "reference"
    _copy_landing(landing_root, root)
    env = vectra_env(base / "dagster_home")
    started = time.monotonic()
    done = run_vectra(env, "build", "--data", str(root))
    duration = time.monotonic() - started
    assert done.returncode == 0, done.stdout + done.stderr
    version = latest_dataset(root, KIND)
    assert version is not None and (version.path / "minari").is_dir()
    return landing_root, root, output_digests(root), duration, base / "dagster_home"


def _copy_landing(source, target) -> None:
    shutil.copytree(source / "landing", target / "landing")


def _files(path) -> dict[str, bytes]:
    return {p.relative_to(path).as_posix(): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def _assert_no_visible_partial_output(root, reference_root) -> None:
    tables = table_globs(root)  # none yet when the kill came early
    assert not [name for name in tables if name.startswith(".")]
    with warehouse.connect(root) as con:  # the views `vectra query` runs on
        for table in tables:  # every view answers: only whole Parquet files are read
            con.execute(f'SELECT count(*) FROM "{table}"').fetchall()
        viewed = con.execute("SELECT id, path FROM datasets ORDER BY id").fetchall()
    versions = {kind: list_versions(root, kind) for kind in KINDS}
    everything = sorted((v.id, f"datasets/{kind}/{v.id}") for kind, listed in versions.items() for v in listed)
    assert viewed == everything
    for kind, listed in versions.items():
        expected = latest_dataset(reference_root, kind)
        for version in listed:
            assert version.id == expected.id  # the only version of the kind these inputs can give
            files = _files(version.path)
            reference_files = _files(expected.path)
            if not (version.path / "minari").exists():  # exported later: absent, or whole
                reference_files = {k: v for k, v in reference_files.items() if not k.startswith("minari/")}
            assert files == reference_files
            for name, entry in version.manifest["files"].items():
                assert file_sha256(version.path / name) == entry["sha256"]
        if listed:
            assert latest_dataset(root, kind) is not None  # the history is never torn
    if warehouse_path(root).exists():
        with duckdb.connect(str(warehouse_path(root)), read_only=True) as con:
            assert con.execute("SELECT count(*) FROM duckdb_views() WHERE NOT internal").fetchone()[0] >= 1


def _kill_at(env, root, moment: float | None) -> int:
    """Run `vectra build` and SIGKILL it ``moment`` seconds in (None: let it run; a crash point may kill it)."""
    process = subprocess.Popen(vectra_command("build", "--data", str(root)), cwd=REPO, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        process.wait(timeout=moment if moment is not None else 600)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=60)
    return process.returncode


def _assert_rebuilt_like_the_reference(root, reference_root, digests, env, monkeypatch) -> None:
    done = run_vectra(env, "build", "--data", str(root))
    assert done.returncode == 0, done.stdout + done.stderr
    assert latest_dataset(root, KIND).id == latest_dataset(reference_root, KIND).id
    assert output_digests(root) == digests
    leftovers = [p for p in root.rglob(".*") if p.name not in BOOKKEEPING and "landing" not in p.relative_to(root).parts]
    assert leftovers == []
    monkeypatch.setenv("DAGSTER_HOME", env["DAGSTER_HOME"])
    with dg.DagsterInstance.get() as instance:
        stuck = instance.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.STARTING]))
        assert stuck == []


@pytest.mark.timeout(600)  # a build up to each of five named instants, then one to completion
def test_kills_at_the_instants_of_a_publish(reference, tmp_path, monkeypatch):
    landing_root, reference_root, digests, _, _ = reference
    root = tmp_path / "data"
    _copy_landing(landing_root, root)
    home = tmp_path / "dagster_home"
    for point in NAMED_KILLS:  # in publish order: each kill leaves the state the next point starts from
        assert _kill_at(vectra_env(home, VECTRA_CRASH_AT=point), root, None) == -signal.SIGKILL, point
        _assert_no_visible_partial_output(root, reference_root)
    _assert_rebuilt_like_the_reference(root, reference_root, digests, vectra_env(home), monkeypatch)


def test_kills_at_random_moments(reference, tmp_path, monkeypatch):
    landing_root, reference_root, digests, duration, _ = reference
    root = tmp_path / "data"
    _copy_landing(landing_root, root)
    home = tmp_path / "dagster_home"
    rng = random.Random(SEED)
    width = 0.9 / RANDOM_KILLS  # one seeded moment in each slice of 10 %…100 % of the uninterrupted duration
    moments = [(0.1 + width * (i + rng.random())) * duration for i in range(RANDOM_KILLS)]
    outcomes = []
    for moment in moments:
        outcomes.append(_kill_at(vectra_env(home), root, moment))  # a late moment may find the build finished
        _assert_no_visible_partial_output(root, reference_root)
    print(f"random kills: {outcomes.count(-signal.SIGKILL)} of {len(moments)} at {[round(m, 1) for m in moments]} s "
          f"(uninterrupted build {duration:.1f} s)")
    _assert_rebuilt_like_the_reference(root, reference_root, digests, vectra_env(home), monkeypatch)
