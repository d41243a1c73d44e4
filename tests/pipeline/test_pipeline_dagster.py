"""The Dagster layer: definitions load, the landing sensor, in-process builds, checks, the warehouse and CLI."""

from __future__ import annotations

import hashlib
import json
import os
import shutil

import dagster as dg
import polars as pl
import pytest

from capture_agent.cli import main
from capture_agent.landing.schema import Direction, Source, Transport
from capture_agent.landing.writer import LandingWriter
from vectra_pipeline.build import build
from vectra_pipeline.commands.query import query
from vectra_pipeline.definitions import defs
from vectra_pipeline.defs.resources import VectraPaths
from vectra_pipeline.defs.sensors import landing_segments


@pytest.fixture(scope="module")
def real_data(tmp_path_factory, real_landing):
    data_dir = tmp_path_factory.mktemp("real")
    shutil.copytree(real_landing.data_dir / "landing", data_dir / "landing")  # the build writes beside it: a copy
    dates = real_landing.dates
    summary = build(data_dir, dates)
    return data_dir, dates, summary


def test_definitions_load_and_resolve():
    dg.Definitions.validate_loadable(defs)
    repository = defs.get_repository_def()
    keys = {key.to_user_string() for key in repository.asset_graph.get_all_asset_keys()}
    assert {"frames", "events", "quarantine", "game_ticks", "cooldowns", "games", "trades", "sidebets", "player_state", "actions"} <= keys
    assert repository.asset_graph.asset_check_keys
    assert defs.resolve_sensor_def("landing_segments") is not None
    assert defs.resolve_job_def("landing_to_gold") is not None
    for schedule in repository.schedule_defs:
        assert schedule.job_name
    for key in keys:
        node = repository.asset_graph.get(dg.AssetKey(key))
        assert node.description, key
        assert node.owners, key
        if node.group_name in ("bronze", "silver"):
            assert node.partitions_def is not None


def test_sensor_requests_only_new_landing_dates(tmp_path):
    paths = VectraPaths(data_dir=str(tmp_path))
    _land(tmp_path, "capture-a", 1_765_000_000_000_000_000)  # 2025-12-06
    context = dg.build_sensor_context(resources={"paths": paths})
    first = landing_segments(context).run_requests
    assert [r.partition_key for r in first] == ["2025-12-06"]
    cursor = context.cursor
    assert json.loads(cursor)
    again = landing_segments(dg.build_sensor_context(cursor=cursor, resources={"paths": paths}))
    assert isinstance(again, dg.SkipReason)
    # a temp file being written is ignored; a new published segment on another day is requested alone
    (tmp_path / "landing" / "date=2025-12-06" / ".capture-b-000000.parquet.tmp").write_bytes(b"partial")
    _land(tmp_path, "capture-b", 1_765_200_000_000_000_000)  # 2025-12-08
    context = dg.build_sensor_context(cursor=cursor, resources={"paths": paths})
    later = landing_segments(context).run_requests
    assert [r.partition_key for r in later] == ["2025-12-08"]
    assert later[0].run_key.startswith("2025-12-08:")


def test_the_sensor_cursor_holds_names_by_date_and_never_reads_mtimes(tmp_path):
    paths = VectraPaths(data_dir=str(tmp_path))
    _land(tmp_path, "capture-a", 1_765_000_000_000_000_000)  # 2025-12-06
    context = dg.build_sensor_context(resources={"paths": paths})
    assert [r.partition_key for r in landing_segments(context).run_requests] == ["2025-12-06"]
    (segment,) = (tmp_path / "landing" / "date=2025-12-06").glob("*.parquet")
    assert json.loads(context.cursor) == {"2025-12-06": [segment.name]}
    # a new mtime (a copy, a restore, another machine's clock) is no new segment: nothing is requested
    stat = segment.stat()
    os.utime(segment, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**12))
    assert isinstance(landing_segments(dg.build_sensor_context(cursor=context.cursor, resources={"paths": paths})), dg.SkipReason)
    # an earlier release's cursor ({path: mtime_ns}) is read as those names: upgrading requests nothing again
    earlier = json.dumps({str(segment): 1})
    upgraded = dg.build_sensor_context(cursor=earlier, resources={"paths": paths})
    assert isinstance(landing_segments(upgraded), dg.SkipReason)
    # a second segment on the same day is new by its name alone, and requested with that name in its run key
    _land(tmp_path, "capture-b", 1_765_000_100_000_000_000)
    again = dg.build_sensor_context(cursor=context.cursor, resources={"paths": paths})
    (request,) = landing_segments(again).run_requests
    (new,) = sorted({p.name for p in segment.parent.glob("*.parquet")} - {segment.name})
    assert request.partition_key == "2025-12-06" and request.tags["vectra/segments"] == "1"
    assert request.run_key == "2025-12-06:" + hashlib.sha256(new.encode()).hexdigest()[:16]
    assert json.loads(again.cursor) == {"2025-12-06": sorted([segment.name, new])}


def _land(data_dir, capture_id: str, wall_ns: int) -> None:
    with LandingWriter(data_dir, Source.SYNTHETIC, capture_id=capture_id) as writer:
        writer.frame(Direction.IN, Transport.WEBSOCKET, '42["gameStateUpdate",{"gameId":"x"}]', recv_wall_ns=wall_ns)


def test_build_materialises_every_date_and_checks_pass(real_data):
    data_dir, dates, summary = real_data
    assert not summary.failed_runs
    assert {p for _, p in summary.rows} - {""} == set(dates)  # "": unpartitioned (gold) assets
    errors = [c for c in summary.checks if not c[2] and c[3] == "ERROR"]
    assert errors == []
    names = {c[0] for c in summary.checks}
    assert {"unexplained_quarantine", "seeds_verify", "game_ticks_key_unique"} <= names


def test_warehouse_views_answer_sql(real_data):
    data_dir, dates, _ = real_data
    names, rows = query(data_dir, "SELECT count(*) FILTER (WHERE fair_verified), count(*) FILTER (WHERE server_seed IS NOT NULL) FROM games")
    assert rows[0][0] == rows[0][1] >= 30
    _, rows = query(data_dir, "SELECT DISTINCT CAST(date AS VARCHAR) FROM game_ticks ORDER BY 1")
    assert [r[0] for r in rows] == [d for d in dates if (data_dir / "silver" / "game_ticks" / f"date={d}").exists()]
    _, rows = query(data_dir, "SELECT count(*) FROM quarantine WHERE NOT explained")
    assert rows[0][0] == 0


def _digests(data_dir) -> dict[str, str]:
    return {
        str(p.relative_to(data_dir)): hashlib.sha256(p.read_bytes()).hexdigest()
        for stage in ("bronze", "silver")
        for p in sorted((data_dir / stage).rglob("*.parquet"))
    }


def test_rebuilding_a_partition_is_byte_identical(real_data, tmp_path):
    data_dir, dates, _ = real_data
    before = _digests(data_dir)
    copy = tmp_path / "copy"
    shutil.copytree(data_dir / "landing", copy / "landing")
    build(copy, dates)
    assert _digests(copy) == before
    build(data_dir, dates[:1])
    assert _digests(data_dir) == before


def test_checks_fail_on_bad_data(tmp_path):
    """A tick price that contradicts partialPrices is quarantined unexplained; a replaced seed fails the replay."""
    import realdata

    records = [r for _, r in realdata.event_records() if _name_of(r) == "capture_2025-12-06"]
    lines = []
    tampered_price = tampered_seed = False
    for record in records:
        data = record.get("data")
        if record["event"] == "gameStateUpdate" and isinstance(data, dict):
            if not tampered_price and data.get("tradeCount") is not None and "gameHistory" not in data and data.get("partialPrices"):
                data["price"] = data["price"] * 1.5
                tampered_price = True
            elif not tampered_seed and data.get("gameHistory"):
                entry = next(e for e in data["gameHistory"] if e.get("prices"))
                entry["prices"][1] = entry["prices"][1] + 0.001
                tampered_seed = True
        lines.append(json.dumps(record))
    assert tampered_price and tampered_seed
    source = tmp_path / "tampered.jsonl"
    source.write_text("\n".join(lines) + "\n")
    from capture_agent.landing.importer import import_files

    import_files(tmp_path / "data", [source])
    summary = build(tmp_path / "data", ["2025-12-07"])
    failed = {c[0] for c in summary.checks if not c[2]}
    assert {"unexplained_quarantine", "seeds_verify"} <= failed
    assert not summary.ok
    quarantine = pl.read_parquet(tmp_path / "data" / "silver" / "quarantine" / "date=2025-12-07" / "part.parquet")
    assert quarantine["rule"].to_list() == ["gameStateUpdate.active.row.price_equals_partial_prices_at_tick"]
    games = pl.read_parquet(tmp_path / "data" / "silver" / "games" / "date=2025-12-07" / "part.parquet")
    bad = games.filter(pl.col("fair_verified") == False)  # noqa: E712
    assert bad.height == 1 and bad["first_mismatch_tick"].to_list() == [1]


def _name_of(record: dict) -> str:
    return "capture_2025-12-06" if "websocket_raw_samples" in (record.get("source") or "") else ""


def test_cli_query_without_warehouse_says_to_build(tmp_path, capsys):
    assert main(["query", "SELECT 1", "--data", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "vectra build" in err


def test_cli_build_and_query(tmp_path, capsys, monkeypatch):
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    monkeypatch.setenv("DAGSTER_HOME", str(home))  # the CLI would otherwise default to the repo's dagster_home
    import realdata

    capture = next(p for p in realdata.event_files() if p.name.startswith("capture_2025-12-06"))
    assert main(["import", str(capture), "--data", str(tmp_path)]) == 0
    code = main(["build", "--data", str(tmp_path)])
    printed = capsys.readouterr().out
    assert "2025-12-07" in printed and "warehouse:" in printed
    # bronze/silver runs all succeeded; the exit code also covers the gold stage, tested in tests/gold
    assert not [line for line in printed.splitlines() if line.startswith("failed 20")]
    assert code in (0, 1)
    assert main(["query", "SELECT count(*) AS n FROM frames", "--data", str(tmp_path)]) == 0
    assert capsys.readouterr().out == "n\n200\n"  # into a pipe: CSV
    assert main(["query", "SELECT nope FROM frames", "--data", str(tmp_path)]) == 2
    assert main(["build", "--date", "2020-01-01", "--data", str(tmp_path)]) == 2
    assert any(home.iterdir())  # the run was recorded in the instance
