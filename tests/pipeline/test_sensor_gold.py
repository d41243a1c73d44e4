"""The landing sensor's job keeps gold current: new landing data for a date rebuilds bronze → silver → daily gold.

The sensor is evaluated with ``build_sensor_context`` on a landing zone written by the simulator engine; each run
it requests is executed in-process with the sensor's own job. Gold must follow the landing data (a second capture on
the same date adds its games to ``episodes``), and the dataset assets (published by the nightly schedule) must stay
out of the job.
"""

from __future__ import annotations

import dagster as dg
import polars as pl

from capture_agent.landing.schema import Direction, Source, Transport
from capture_agent.landing.writer import LandingWriter
from simulator.engine.lifecycle import SimulatorEngine
from simulator.engine.wire import WireEncoder
from vectra_pipeline.definitions import defs
from vectra_pipeline.defs.assets import ASSETS
from vectra_pipeline.defs.checks import CHECKS
from vectra_pipeline.defs.jobs import landing_to_gold
from vectra_pipeline.defs.partitions import register_days
from vectra_pipeline.defs.resources import VectraPaths
from vectra_pipeline.defs.sensors import landing_segments
from vectra_pipeline.storage import table_path

DAY = "2025-12-22"
START_MS = 1_766_361_600_000  # 2025-12-22 00:00 UTC


def _job_assets(job) -> set[str]:
    return {key.to_user_string() for key in job.asset_layer.executable_asset_keys}


def test_the_sensor_job_covers_every_per_day_asset_and_no_dataset():
    job = defs.resolve_job_def(landing_segments.job_name)
    assert job.name == "landing_to_gold"
    graph = defs.get_repository_def().asset_graph
    per_day = {key.to_user_string() for key in graph.get_all_asset_keys() if graph.get(key).partitions_def is not None}
    assert {"frames", "events", "actions", "player_state", "episodes", "observations"} <= per_day
    assert _job_assets(job) == per_day
    assert not {"training_dataset", "minari_datasets"} & _job_assets(job)


def _land_games(data_dir, capture_id: str, start_ms: int, games: int) -> set[str]:
    """A public simulator capture of ``games`` complete games (and the start of the next); returns their ids."""
    engine = SimulatorEngine(capture_id, start_ms, bots=3, speed=10.0)
    encoder = WireEncoder()
    seen: list[str] = []
    with LandingWriter(data_dir, Source.SIMULATOR, capture_id=capture_id) as writer:
        now = start_ms
        emissions = engine.connect("watcher", now)
        while len(seen) <= games:
            for emission in emissions:
                if emission.target in (None, "watcher"):
                    writer.frame(Direction.IN, Transport.WEBSOCKET, encoder.encode(emission.event, emission.args), recv_wall_ns=emission.at_ms * 1_000_000)
            if not seen or seen[-1] != engine.game.game_id:
                seen.append(engine.game.game_id)
            now += 20
            emissions = engine.advance(now)
    return set(seen[:-1])


def _run_requests(requests, paths: VectraPaths) -> None:
    """Executes each run the sensor requested with the sensor's job, in-process, on the test's data root."""
    local = dg.Definitions(
        assets=ASSETS,
        asset_checks=CHECKS,
        jobs=[landing_to_gold],
        resources={"paths": paths},
        executor=dg.in_process_executor,
    )
    job = local.resolve_job_def(landing_segments.job_name)
    for request in requests:
        instance = dg.DagsterInstance.ephemeral()
        register_days(instance, [request.partition_key])  # what the sensor's dynamic partition request does
        result = job.execute_in_process(partition_key=request.partition_key, instance=instance,
                                        run_config={"loggers": {"console": {"config": {"log_level": "ERROR"}}}})  # fmt: skip
        assert result.success


def _episode_games(data_dir) -> set[str]:
    return set(pl.read_parquet(table_path(data_dir, "episodes", DAY))["game_id"])


def test_new_landing_data_rebuilds_the_days_gold(tmp_path):
    paths = VectraPaths(data_dir=str(tmp_path))
    first_games = _land_games(tmp_path, "sim-a", START_MS, games=1)
    context = dg.build_sensor_context(resources={"paths": paths})
    requests = landing_segments(context).run_requests
    assert [r.partition_key for r in requests] == [DAY]
    _run_requests(requests, paths)
    assert first_games <= _episode_games(tmp_path)
    assert pl.read_parquet(table_path(tmp_path, "market_observations", DAY)).height > 0
    assert pl.read_parquet(table_path(tmp_path, "observations", DAY)).is_empty()  # a public capture: no player rows
    assert not (tmp_path / "datasets").exists()  # datasets are the nightly schedule's

    # a later capture lands on the same day: the sensor asks again and gold gains its games
    later_games = _land_games(tmp_path, "sim-b", START_MS + 3_600_000, games=1)
    assert later_games and not later_games & first_games
    context = dg.build_sensor_context(cursor=context.cursor, resources={"paths": paths})
    requests = landing_segments(context).run_requests
    assert [r.partition_key for r in requests] == [DAY]
    _run_requests(requests, paths)
    assert first_games | later_games <= _episode_games(tmp_path)
    assert isinstance(landing_segments(dg.build_sensor_context(cursor=context.cursor, resources={"paths": paths})), dg.SkipReason)
