"""Between a build's steps the allocators hand back what they kept (issue 13, round six): every step of every job
ends with ``allocators.release``, a failed one too; ``allocators.held`` reads what each allocator holds; and the
allocators a build runs with change no byte of its outputs."""

from __future__ import annotations

import shutil

import dagster as dg
import realdata
from dagster._core.execution.stats import StepEventStatus
from outputs_kit import output_digests, run_vectra, small_landing, vectra_env

from capture_agent.landing.importer import import_files
from vectra_pipeline import allocators
from vectra_pipeline.build import build
from vectra_pipeline.commands.build import ARROW_POOL
from vectra_pipeline.defs.assets import silver as silver_assets

DATE = "2025-12-07"


def _boom(*_args, **_kwargs):
    raise RuntimeError("boom: the games stage broke")


def test_every_step_ends_by_releasing_memory_a_failed_one_too(tmp_path, monkeypatch):
    home = tmp_path / "dagster_home"
    vectra_env(home)  # writes its dagster.yaml
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    capture = next(p for p in realdata.event_files() if p.name.startswith("capture_2025-12-06"))
    import_files(tmp_path / "data", [capture])
    released: list[float] = []
    monkeypatch.setattr(allocators, "release", lambda: released.append(allocators.resident_mb()))
    monkeypatch.setattr(silver_assets, "build_games", _boom)

    summary = build(tmp_path / "data", [DATE])

    assert any(" games: RuntimeError: boom" in line for line in summary.failed_runs)
    with dg.DagsterInstance.get() as instance:
        runs = instance.get_runs()
        ended = [step for run in runs for step in instance.get_run_step_stats(run.run_id)
                 if step.status in (StepEventStatus.SUCCESS, StepEventStatus.FAILURE)]  # fmt: skip
    assert {run.job_name for run in runs} == {"landing_to_gold", "datasets"}
    assert any(step.status == StepEventStatus.FAILURE for step in ended)
    assert len(ended) > 10 and len(released) == len(ended)  # one release per step that ran, not per run


def test_held_names_every_allocator_and_release_runs_in_any_state():
    before = allocators.held()
    assert set(before) == {"rss", "arrow_in_use", "arrow_peak", "malloc_in_use", "malloc_free"}  # glibc: mallinfo2
    assert before["rss"] > before["malloc_in_use"] > 0 and all(value >= 0 for value in before.values())
    allocators.release()
    allocators.release()  # twice in a row: nothing left to hand back is no error
    assert allocators.held()["rss"] > 0


def test_the_allocators_change_no_byte_of_the_outputs(tmp_path):
    """pyarrow's pool (jemalloc, the build's; mimalloc, pyarrow's default) and the releases between steps are
    invisible in every bronze, silver, gold, dataset and Minari file."""
    landing = small_landing(tmp_path / "landing-only")
    digests = {}
    for pool in ("jemalloc", "mimalloc"):
        root = tmp_path / pool
        shutil.copytree(landing / "landing", root / "landing")
        done = run_vectra(vectra_env(tmp_path / f"home-{pool}", **{ARROW_POOL[0]: pool}), "build", "--data", str(root))
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
        digests[pool] = output_digests(root)
    assert any(name.startswith("datasets/") and "minari" in name for name in digests["jemalloc"])
    assert digests["jemalloc"] == digests["mimalloc"]
