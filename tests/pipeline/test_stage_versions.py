"""A stage's output changes only with its ``VERSION``.

Every stage of ``datasets.identity.STAGES`` runs on fixed inputs — the real captures through the whole chain, and
the synthetic silver (``vectra_pipeline.synthetic``) through gold and the datasets — and the fingerprints of its
inputs and outputs are compared with ``stage_versions.json``, recorded with the stage's ``VERSION``:

- same input, other output, same ``VERSION`` → fails: bump ``VERSION`` in the stage's module (new dataset ids and
  Dagster code versions follow), then regenerate;
- another ``VERSION``, or another input (an upstream stage or the test input changed) → fails until regenerated.

Regenerate with ``VECTRA_UPDATE_STAGE_VERSIONS=1 .venv/bin/python -m pytest tests/pipeline/test_stage_versions.py``;
it refuses to record a changed output under an unchanged version and input. When an upstream stage and this one
change together, the input changed too and only regeneration is asked for: the upstream bump already changes the
dataset ids, and Dagster sees this stage's input change.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import pkgutil
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
import realdata
from pipeline_kit import import_real, run_chain

import vectra_pipeline
from vectra_pipeline.datasets import contents, identity
from vectra_pipeline.definitions import defs
from vectra_pipeline.gold.lookahead import SILVER_INPUTS, gold_tables
from vectra_pipeline.gold.player_games import build_player_games
from vectra_pipeline.landing_files import read_landing_day
from vectra_pipeline.synthetic import synthetic_silver

FIXTURE = Path(__file__).with_name("stage_versions.json")
REGENERATE = "VECTRA_UPDATE_STAGE_VERSIONS=1 .venv/bin/python -m pytest tests/pipeline/test_stage_versions.py"
UPDATING = os.environ.get("VECTRA_UPDATE_STAGE_VERSIONS") == "1"
IMPORT_DAY_NS = 1_800_000_000_000_000_000  # 2027-01-15 08:00 UTC: the day of the records that carry no time


def fingerprint(*parts) -> str:
    """Of frames (schema and every value, exactly: numbers by their bytes, anything else by its repr) and JSON-able
    values — independent of how polars lays the data out in memory."""
    digest = hashlib.sha256()
    for part in parts:
        if isinstance(part, pl.DataFrame):
            digest.update(f"{part.height}:{[(name, str(dtype)) for name, dtype in part.schema.items()]}".encode())
            for series in part.get_columns():
                digest.update(series.is_null().to_numpy().tobytes())
                if series.dtype.is_numeric():
                    digest.update(series.fill_null(0).to_numpy().tobytes())
                else:
                    digest.update(repr(series.to_list()).encode())
        else:
            digest.update(json.dumps(part, sort_keys=True).encode())
    return digest.hexdigest()[:16]


def _fixed(landing: pl.DataFrame) -> pl.DataFrame:
    """The imported real captures without what an import run stamps on them: the capture id's time and random
    suffix (``<time>-import-<file sha>-<random>`` → ``import-<file sha>``), the monotonic clock (→ the seq), and
    the receipt time of records that had none (the import's clock → a fixed day, in seq order). Sorted by capture and
    seq: files imported in the same second are read in the order of their random suffix, which must not count."""
    stamped = pl.col("detail").str.contains('"recv_wall_ns":"import time', literal=True).fill_null(False)
    return landing.with_columns(
        pl.col("capture_id").str.replace(r"^\d{8}T\d{6}-(import-[0-9a-f]+)-[0-9a-f]+$", "$1"),
        pl.col("seq").alias("recv_mono_ns"),
        pl.when(stamped).then(IMPORT_DAY_NS + pl.col("seq") * 1_000_000).otherwise(pl.col("recv_wall_ns")).alias("recv_wall_ns"),
    ).sort("capture_id", "seq")


def _real_days(root: Path) -> dict[str, pl.DataFrame]:
    """Every real capture imported and fixed (:func:`_fixed`), by UTC day of receipt."""
    dates = import_real(root, realdata.fixture_files())  # the committed copy: new real files beside the repository move no fingerprint
    landing = _fixed(pl.concat([read_landing_day(root, date).frame for date in dates]))
    day = pl.from_epoch("recv_wall_ns", time_unit="ns").dt.strftime("%Y-%m-%d")
    return {date: frame.drop("_day") for (date,), frame in landing.with_columns(day.alias("_day")).partition_by("_day", as_dict=True).items()}


def _gold(silver: dict[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    return gold_tables({name: silver[name] for name in (*SILVER_INPUTS, "frames") if name in silver})  # synthetic silver has no events


def _dataset(days: dict[str, tuple[pl.DataFrame, pl.DataFrame]]) -> tuple[tuple, tuple]:
    """(inputs, outputs) of the datasets stage over the days' gold: the version's episodes, rows, counts and manifest
    (its identity and file hashes left out: those are the other stages' versions and the Parquet writer's)."""
    episodes = pl.concat([e.with_columns(pl.lit(day).alias("partition")) for day, (e, _) in days.items()])
    params = contents.DatasetParams()
    chosen, duplicates = contents.version_episodes(episodes, params)
    rows, counts = [], contents.empty_row_counts()
    for day, (_, observations) in sorted(days.items()):
        rows.append(contents.version_rows(observations.lazy(), chosen, day))
        contents.add_row_counts(counts, rows[-1])
    totals = contents.counts(chosen, counts, duplicates)
    inputs = [{"path": f"landing/date={day}/capture-000000.parquet", "bytes": 1, "sha256": "00"} for day in days]
    manifest = contents.manifest({}, params, list(days), inputs, [], chosen, totals, {})
    gold_inputs = [frame for pair in days.values() for frame in pair]
    return (episodes, *gold_inputs), (chosen, *rows, manifest)


@pytest.fixture(scope="module")
def observed(tmp_path_factory) -> dict[str, dict[str, dict[str, str]]]:
    """stage → input set ("real", "synthetic") → {"input": fingerprint, "output": fingerprint}."""
    runs: dict[str, dict[str, tuple[list, list]]] = {identity.stage_name(m): {} for m in identity.STAGES}

    def record(stage: str, source: str, inputs, outputs) -> None:
        ins, outs = runs[stage].setdefault(source, ([], []))
        ins.extend(inputs)
        outs.extend(outputs)

    real_gold = {}
    for date, landing in sorted(_real_days(tmp_path_factory.mktemp("stage-versions")).items()):
        chain = run_chain(landing)
        silver = {name: getattr(chain, name) for name in SILVER_INPUTS}
        record("bronze.frames", "real", [landing], [chain.frames])
        record("silver.events", "real", [chain.frames_with_text], [chain.events, chain.quarantine])
        record("silver.game_history", "real", [chain.events], [chain.game_history])
        record("silver.ticks", "real", [chain.events, chain.game_history], [chain.game_ticks, chain.cooldowns])
        record("silver.games", "real", [chain.events, chain.game_ticks, chain.game_history], [chain.games])
        record("silver.trades", "real", [chain.events], [chain.trades])
        record("silver.sidebets", "real", [chain.events, chain.games, chain.game_history], [chain.sidebets])
        record("silver.player_state", "real", [chain.events, chain.trades], [chain.player_state])
        record("silver.actions", "real", [chain.frames, chain.events, chain.trades, chain.player_state], [chain.actions])
        gold = _gold({**silver, "frames": chain.frames_with_text})
        real_gold[date] = episodes, observations = gold["episodes"], gold["observations"]
        record("gold.leaderboard", "real", [chain.frames_with_text, chain.events], [gold["leaderboard"]])
        record("gold.crowd", "real", [*silver.values(), gold["leaderboard"], gold["market_observations"]],
               [gold["crowd_observations"], gold["crowd_episodes"]])
        record("gold.market", "real", list(silver.values()), [gold["market_episodes"], gold["market_observations"]])
        record("gold.episodes", "real", [*silver.values(), gold["market_episodes"]], [episodes])
        record("gold.observations", "real", [*silver.values(), gold["market_observations"], episodes], [observations])
        record("gold.player_games", "real", [chain.trades, chain.sidebets, chain.games],
               [build_player_games(chain.trades, chain.sidebets, chain.games)])
    record("datasets.contents", "real", *_dataset(real_gold))
    synthetic = synthetic_silver(40, seed=11, gapped_every=6)
    gold = _gold(synthetic)
    episodes, observations = gold["episodes"], gold["observations"]
    record("gold.market", "synthetic", list(synthetic.values()), [gold["market_episodes"], gold["market_observations"]])
    record("gold.episodes", "synthetic", [*synthetic.values(), gold["market_episodes"]], [episodes])
    record("gold.observations", "synthetic", [*synthetic.values(), gold["market_observations"], episodes], [observations])
    player_inputs = [synthetic[name] for name in ("trades", "sidebets", "games")]
    record("gold.player_games", "synthetic", player_inputs, [build_player_games(*player_inputs)])
    record("datasets.contents", "synthetic", *_dataset({"2025-12-10": (episodes, observations)}))
    return {
        stage: {source: {"input": fingerprint(*ins), "output": fingerprint(*outs)} for source, (ins, outs) in sources.items()}
        for stage, sources in runs.items()
    }


def _verdict(stage: str, version: int, recorded: dict | None, now: dict) -> str | None:
    """None when the fixture holds exactly this; else why not, in one line that says what to do."""
    if recorded is None:
        return f"{stage} is not in {FIXTURE.name}: regenerate it with {REGENERATE}"
    for source, current in now.items():
        before = recorded.get(source)
        if before and before["input"] == current["input"] and before["output"] != current["output"] and recorded["version"] == version:
            module = stage.replace(".", "/")
            return (f"{stage}: its output on the {source} input changed with the same input and VERSION {version}: bump VERSION "
                    f"in vectra_pipeline/{module}.py (new dataset ids and Dagster code versions follow), then {REGENERATE}")
    if recorded != {"version": version, **now}:
        return f"{stage}: VERSION or its input changed since {FIXTURE.name} was recorded: regenerate it with {REGENERATE}"
    return None


def _bumps_missing(fixture: dict, observed: dict) -> list[str]:
    return [stage for stage, version in identity.stage_versions().items()
            if "bump VERSION" in (_verdict(stage, version, fixture.get(stage), observed[stage]) or "")]


@pytest.mark.parametrize("module", list(identity.STAGES), ids=identity.stage_name)
def test_a_stage_output_changes_only_with_its_version(module, observed):
    stage = identity.stage_name(module)
    fixture = json.loads(FIXTURE.read_text(encoding="utf-8")) if FIXTURE.exists() else {}
    problem = _verdict(stage, module.VERSION, fixture.get(stage), observed[stage])
    if problem and UPDATING and not _bumps_missing(fixture, observed):  # never half a fixture
        fixture[stage] = {"version": module.VERSION, **observed[stage]}
        FIXTURE.write_text(json.dumps(fixture, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        problem = None
    assert problem is None, problem


def test_the_fixture_names_exactly_the_stages():
    fixture = json.loads(FIXTURE.read_text(encoding="utf-8"))
    assert set(fixture) == set(identity.stage_versions()), f"regenerate with {REGENERATE}"


def test_an_unchanged_output_under_a_new_input_or_version_asks_to_regenerate_never_to_bump():
    now = {"real": {"input": "a", "output": "b"}}
    assert _verdict("silver.games", 1, {"version": 1, **now}, now) is None
    changed = {"real": {"input": "a", "output": "c"}}
    assert "bump VERSION in vectra_pipeline/silver/games.py" in _verdict("silver.games", 1, {"version": 1, **now}, changed)
    assert "regenerate" in _verdict("silver.games", 2, {"version": 1, **now}, changed)  # bumped: record it
    upstream = {"real": {"input": "z", "output": "c"}}
    assert "bump" not in _verdict("silver.games", 1, {"version": 1, **now}, upstream)


def test_every_stage_module_declares_a_version_and_every_asset_runs_at_it():
    declared = set()
    for info in pkgutil.walk_packages(vectra_pipeline.__path__, "vectra_pipeline."):
        module = importlib.import_module(info.name)
        if hasattr(module, "VERSION") and info.name.split(".")[1] in ("bronze", "silver", "gold", "datasets"):
            declared.add(module)
    assert declared == set(identity.STAGES)
    graph = defs.get_repository_def().asset_graph
    for module, assets in identity.STAGES.items():
        for asset in assets:
            assert graph.get(dg.AssetKey(asset)).code_version == str(module.VERSION), asset
