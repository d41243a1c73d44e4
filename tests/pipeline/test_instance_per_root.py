"""What a user sees of Dagster: each data root records its runs in its own instance (``<data>/dagster/``,
``$DAGSTER_HOME`` still wins); the partitions are the landing days that exist; CLI runs are named by their job, as
the UI's are; a day without landing data fails from the UI's job too; re-running the datasets job on an unchanged
input set mints no new version; and the build summary prints no ``-1`` rows and only real calendar dates."""

from __future__ import annotations

import dagster as dg
import pytest

from capture_agent.cli import main
from capture_agent.errors import VectraError
from capture_agent.landing.synthetic import write_synthetic_capture
from vectra_pipeline.build import landing_dates, resolve_dates
from vectra_pipeline.datasets.kinds import KINDS
from vectra_pipeline.datasets.registry import list_versions
from vectra_pipeline.defs.assets import ASSETS
from vectra_pipeline.defs.checks import CHECKS
from vectra_pipeline.defs.jobs import UI_RUN_TAGS, jobs, landing_to_gold, publish_dataset
from vectra_pipeline.defs.partitions import LANDING_DAYS, register_days
from vectra_pipeline.defs.resources import VectraPaths
from vectra_pipeline.instance import open_instance

QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


@pytest.fixture(scope="module")
def roots(tmp_path_factory):
    """Two roots built by `vectra build` with DAGSTER_HOME unset: (root, its build output) each."""
    built = []
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("DAGSTER_HOME", raising=False)
        patch.delenv("VECTRA_DEBUG", raising=False)
        for name, frames, date in (("a", 300, "2025-12-10"), ("b", 200, "2025-12-11")):
            root = tmp_path_factory.mktemp(name)
            write_synthetic_capture(root, frames, date=date)
            code = main(["build", "--data", str(root)])
            assert code in (0, 1)
            built.append(root)
    return built


def _runs(root):
    with open_instance(root / "dagster") as instance:
        return instance.get_runs(), sorted(instance.get_dynamic_partitions(LANDING_DAYS))


def test_each_root_records_only_its_own_runs_named_by_job(roots):
    for root in roots:
        runs, partitions = _runs(root)
        assert partitions == landing_dates(root)  # the days that exist, no backlog
        assert {run.job_name for run in runs} == {landing_to_gold.name, publish_dataset.name}
        assert all(run.tags.items() >= UI_RUN_TAGS.items() for run in runs)  # the Jobs page lists them
        assert {run.tags.get("dagster/partition") for run in runs} == {*partitions, None}
        # the other root's day never appears here
        other = next(r for r in roots if r != root)
        assert not set(landing_dates(other)) & {run.tags.get("dagster/partition") for run in runs}


def test_the_build_lands_player_games_one_row_per_game_and_player(roots):
    from vectra_pipeline.commands.query import query

    for root in roots:
        (played,) = query(root, "SELECT count(*) FROM (SELECT game_id, player_id FROM trades "
                                "UNION SELECT game_id, player_id FROM sidebets)")[1]
        (rows, keys) = query(root, "SELECT count(*), count(DISTINCT (game_id, player_id)) FROM player_games")[1][0]
        assert rows == keys == played[0] > 0
        with open_instance(root / "dagster") as instance:  # the day's last games, drawn, on the materialisation
            (event,) = instance.fetch_materializations(dg.AssetKey("player_games"), limit=1).records
        recent = event.asset_materialization.metadata["recent_games"].value
        assert "](data:image/png;base64," in recent


def test_dagster_home_still_wins(tmp_path, monkeypatch):
    from vectra_pipeline.instance import dagster_home

    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "named"))
    assert dagster_home(tmp_path / "data") == tmp_path / "named" and not (tmp_path / "data" / "dagster").exists()
    monkeypatch.setenv("DAGSTER_HOME", "relative/home")
    with pytest.raises(VectraError, match="absolute"):
        dagster_home(tmp_path / "data")


def _ui_definitions(root) -> dg.Definitions:
    """What `vectra ui` serves for this root (jobs, assets, checks, paths), executed in-process."""
    return dg.Definitions(assets=ASSETS, asset_checks=CHECKS, jobs=jobs, executor=dg.in_process_executor,
                          resources={"paths": VectraPaths(data_dir=str(root))})


def test_a_day_without_landing_data_fails_from_the_ui_job_and_mints_nothing(roots):
    root = roots[0]
    versions = {kind: [v.id for v in list_versions(root, kind)] for kind in KINDS}
    assert any(versions.values())  # the synthetic capture publishes the market and crowd kinds
    with open_instance(root / "dagster") as instance:
        register_days(instance, ["2025-01-01"])  # e.g. added by hand in the UI
        result = _ui_definitions(root).resolve_job_def(landing_to_gold.name).execute_in_process(
            partition_key="2025-01-01", instance=instance, raise_on_error=False, run_config=QUIET)
        assert not result.success
        failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
        assert "no landing data for 2025-01-01" in failure.event_specific_data.error.message
        assert not (root / "bronze" / "frames" / "date=2025-01-01").exists()
        # the datasets job on the unchanged input set: the same version, no new one
        again = _ui_definitions(root).resolve_job_def(publish_dataset.name).execute_in_process(instance=instance, run_config=QUIET)
        assert again.success
    assert {kind: [v.id for v in list_versions(root, kind)] for kind in KINDS} == versions


@pytest.mark.parametrize("bad", ["2026-13-45", "2025-02-30", "20251210", "2025-1-5", "yesterday", "2025-12-10 "])
def test_a_date_that_is_not_a_calendar_date_is_said_so(bad, roots):
    with pytest.raises(VectraError, match="is not a date of the form YYYY-MM-DD"):
        resolve_dates(roots[0], [bad])
    with pytest.raises(VectraError, match="no landing data for 2025-12-31"):
        resolve_dates(roots[0], ["2025-12-31"])  # a real date without data is the other message


def test_the_build_summary_names_its_instance_and_shows_no_negative_rows(roots, capsys, monkeypatch):
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    root = roots[1]
    main(["build", "--data", str(root)])
    out = capsys.readouterr().out
    minari = next(line for line in out.splitlines() if "minari_datasets" in line)
    assert "-1" not in minari and "–" in minari
    assert f"dagster instance: {root / 'dagster'}" in out.replace("\n", "")


def test_every_check_that_did_not_pass_is_named_with_its_figures():
    from vectra_pipeline.build import BuildSummary
    from vectra_pipeline.commands.build import check_lines

    summary = BuildSummary()
    summary.checks = [("dataset_version_new", "", False, "ERROR"), ("few_games", "2025-12-10", False, "WARN"),
                      ("frames_ordered", "2025-12-10", True, "ERROR")]
    summary.check_details = {("dataset_version_new", ""): "same inputs as 3f2a", ("few_games", "2025-12-10"): "2 < 5"}
    assert check_lines(summary) == [
        "checks: 1 passed, 1 warned, 1 failed",
        "  [red]ERROR[/] dataset_version_new (same inputs as 3f2a)",
        "  [yellow]WARN[/] few_games 2025-12-10 (2 < 5)",
    ]
