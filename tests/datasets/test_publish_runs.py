"""A dataset version written a run of games at a time (memory: one run, not a day) holds the bytes of the version
written a day at a time: the observation file's row groups end where a day's did, the manifest's feature statistics
and episode returns are the same floats (summed over each whole day, even on values whose sums depend on the order
of addition) — over two days, for each kind synthetic silver gives, and for any cut of a day into parts."""

from __future__ import annotations

import dataclasses
import hashlib
import math
from functools import partial

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vectra_pipeline import local_files, storage
from vectra_pipeline.datasets import card, contents
from vectra_pipeline.datasets.contents import DatasetParams
from vectra_pipeline.datasets.kinds import KINDS
from vectra_pipeline.datasets.publish import publish
from vectra_pipeline.datasets.registry import read_observations
from vectra_pipeline.gold.lookahead import gold_tables
from vectra_pipeline.parquet_format import PARQUET
from vectra_pipeline.synthetic import synthetic_silver

DAYS = ("2025-12-10", "2025-12-11")
_ORIGINAL_RUNS = contents.version_row_runs
LANDING = [{"path": "landing/x.parquet", "bytes": 1, "sha256": "ab"}]


def _hashes(folder) -> dict[str, str]:
    return {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in sorted(folder.iterdir()) if path.is_file()}


@pytest.fixture(scope="module")
def gold():
    tables = gold_tables(synthetic_silver(14, seed=9))
    games = sorted(tables["episodes"]["game_id"].unique().to_list())
    second_day = set(games[::2])  # every other game on the second day: each day's games interleave the other's
    day = pl.when(pl.col("game_id").is_in(second_day)).then(pl.lit(DAYS[1])).otherwise(pl.lit(DAYS[0])).alias("partition")
    return {name: frame.with_columns(day) for name, frame in tables.items() if "game_id" in frame.columns}


@pytest.mark.parametrize("kind", ["player", "market"])
def test_runs_of_one_game_or_a_few_publish_the_bytes_of_whole_days(gold, kind, tmp_path, monkeypatch):
    spec, folders = KINDS[kind], {}
    monkeypatch.setattr(local_files, "PARQUET", dataclasses.replace(PARQUET, row_group_size=50))  # several groups a day
    for rows in (1, 300, 10**9):  # a game a run, a few games, the whole day
        monkeypatch.setattr(contents, "version_row_runs", partial(_ORIGINAL_RUNS, run_rows=rows))
        version, created = publish(tmp_path / str(rows), list(DAYS), gold[spec.episodes], gold[spec.observations],
                                   LANDING, DatasetParams(kind=kind))
        assert created and version.manifest["counts"]["rows"] > 100
        folders[rows] = _hashes(version.path)
    assert {"manifest.json", "README.md"} <= set(folders[10**9])
    day_rows = read_observations(version)["partition"].value_counts().sort("partition")["count"].to_list()
    assert len(day_rows) == 2 and storage.parquet_row_group_rows(version.path / "observations.parquet") == [
        size for rows in day_rows for size in [50] * (rows // 50) + ([rows % 50] if rows % 50 else [])]  # days end groups
    assert folders[1] == folders[10**9] and folders[300] == folders[10**9]


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cuts=st.lists(st.lists(st.integers(0, 400), max_size=6), min_size=2, max_size=2), group=st.sampled_from([7, 64, 1000]))
def test_a_day_added_in_any_parts_writes_the_bytes_of_the_day_appended(gold, tmp_path_factory, monkeypatch, cuts, group):
    monkeypatch.setattr(local_files, "PARQUET", dataclasses.replace(PARQUET, row_group_size=group))
    rows = gold["observations"].with_columns(pl.lit("train").alias("split")).sort("partition", "game_id", "tick")
    days = [rows.filter(pl.col("partition") == day) for day in DAYS]
    whole, parts = tmp_path_factory.mktemp("whole"), tmp_path_factory.mktemp("parts")
    appender = local_files.DatasetFileAppender("dataset_observations", whole)
    for day in days:
        appender.append(day)
    appender.close()
    appender = local_files.DatasetFileAppender("dataset_observations", parts)
    for day, day_cuts in zip(days, cuts):
        bounds = [0, *sorted(min(c, day.height) for c in day_cuts), day.height]
        for start, end in zip(bounds, bounds[1:]):
            appender.add(day.slice(start, end - start))
        appender.flush()
    appender.close()
    assert appender.rows == rows.height
    assert _hashes(parts) == _hashes(whole)



# magnitudes far apart: a float sum of these keeps or loses the small ones depending on the order it adds them in
ORDER_SENSITIVE = (1e16, -1e16, 3.0, 1.0, 0.1, -0.7, 1e-9, 2.5e15)


def _whole_day_figures(version, spec) -> tuple[dict, dict]:
    """The card's figures by their definition: each day's train column summed at once by numpy, the days then added
    in date order; an episode's return its rewards added one after another in tick order (plain Python floats)."""
    rows = read_observations(version)
    parts, returns = {f: [] for f in spec.features}, []
    for (_,), day in sorted(rows.partition_by("partition", as_dict=True, maintain_order=True).items()):
        train = day.filter(pl.col("split") == "train")
        for f in spec.features:
            values = train[f].cast(pl.Float64).to_numpy()
            parts[f].append((len(values), float(values.sum()), float((values * values).sum())))
        transitions = day.filter(~pl.col("is_final")).sort(*spec.key, "tick")
        for (split, *key), episode in transitions.group_by("split", *spec.key, maintain_order=True):
            total = 0.0
            for reward in episode["reward"].to_list():
                total += reward
            returns.append((split, key, total))
    returns.sort(key=lambda episode: episode[:2])  # the card's order
    sums = {f: (sum(p[0] for p in ps), sum((p[1] for p in ps), 0.0), sum((p[2] for p in ps), 0.0)) for f, ps in parts.items()}
    return sums, {s: np.array([total for split, _, total in returns if split == s]) for s in ("train", "val", "test")}


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kind=st.sampled_from(["player", "market"]), runs=st.lists(st.integers(1, 900), min_size=2, max_size=3, unique=True),
       seed=st.integers(0, 2**32 - 1), group=st.sampled_from([13, 64, 10_000]), chunk=st.sampled_from([7, 150, 500_000]))
def test_card_sums_are_the_whole_days_whatever_the_runs(gold, tmp_path_factory, monkeypatch, kind, runs, seed, group, chunk):
    """The card's feature statistics and episode returns on values whose sums change in the last bit with the order
    of addition: runs of any number of rows (whole games), on any row groups, the returns read back in chunks of any size (an
    episode cut between chunks), give the card and manifest of the whole days."""
    spec = KINDS[kind]
    rng = np.random.default_rng(seed)
    observations = gold[spec.observations]
    hostile = {name: pl.Series(rng.choice(ORDER_SENSITIVE, observations.height) * rng.uniform(0.5, 2.0, observations.height))
               for name in ("price", "volatility_20", "reward")}
    observations = observations.with_columns(pl.Series(name, values).cast(observations[name].dtype) for name, values in hostile.items())
    monkeypatch.setattr(local_files, "PARQUET", dataclasses.replace(PARQUET, row_group_size=group))
    monkeypatch.setattr(card, "RETURN_CHUNK_ROWS", chunk)
    folders = {}
    for run in [*runs, 10**9]:
        monkeypatch.setattr(contents, "version_row_runs", partial(_ORIGINAL_RUNS, run_rows=run))
        version, _ = publish(tmp_path_factory.mktemp(f"runs-{run}"), list(DAYS), gold[spec.episodes], observations, LANDING,
                             DatasetParams(kind=kind))
        folders[run] = {name: digest for name, digest in _hashes(version.path).items() if name in ("manifest.json", "README.md")}
    assert len(folders[10**9]) == 2 and all(hashes == folders[10**9] for hashes in folders.values())
    sums, returns = _whole_day_figures(version, spec)
    stats = version.manifest["feature_stats"]
    for name in ("price", "volatility_20"):
        n, total, squares = sums[name]
        mean = total / n
        assert (stats[name]["mean"], stats[name]["std"]) == (mean, math.sqrt(max(squares / n - mean * mean, 0.0)))
    for split, values in returns.items():
        figures = version.manifest["episode_returns"][split]
        assert (figures["episodes"], figures["mean"], figures["median"]) == (len(values), float(values.mean()), float(np.median(values)))


def _version_rows_by_definition(observations: pl.DataFrame, episodes: pl.DataFrame, date: str, key: tuple[str, ...]) -> pl.DataFrame:
    """The day's rows of its train/val/test episodes, each with its episode's split: an inner join, sorted."""
    kept = episodes.filter((pl.col("split") != "excluded") & (pl.col("partition") == date)).select(*key, "split")
    rows = observations.drop("partition", "split", strict=False).join(kept, on=list(key), how="inner")
    return rows.with_columns(pl.lit(date).alias("partition")).sort(*key, "tick")


@settings(max_examples=40, deadline=None)
@given(data=st.data(), two_keys=st.booleans(), stale_columns=st.booleans())
def test_version_rows_are_the_kept_episodes_rows_whatever_their_order(data, two_keys, stale_columns):
    """The split is found by the key columns alone and the rows filtered: on rows in any order, with episodes kept,
    excluded, of another day or absent, and rows carrying a stale partition/split, the version's rows of the day are
    exactly the inner join's, sorted by (key, tick), column for column."""
    key = ("game_id", "player_id") if two_keys else ("game_id",)
    names = st.sampled_from(["g1", "g2", "g3", "g4"]), st.sampled_from(["a", "b", "c"])
    keys = st.tuples(*names[: len(key)])
    episode_keys = data.draw(st.lists(keys, unique=True, max_size=10))
    episodes = pl.DataFrame(
        [(*k, data.draw(st.sampled_from(["train", "val", "test", "excluded"])), data.draw(st.sampled_from([DAYS[0], DAYS[1]])))
         for k in episode_keys],
        schema={**{name: pl.String for name in key}, "split": pl.String, "partition": pl.String}, orient="row",
    )
    row_keys = data.draw(st.lists(st.tuples(keys, st.integers(0, 30), st.floats(-1e6, 1e6)), unique_by=lambda r: (r[0], r[1]), max_size=60))
    observations = pl.DataFrame([(*k, tick, value) for k, tick, value in row_keys],
                                schema={**{name: pl.String for name in key}, "tick": pl.Int32, "reward": pl.Float64}, orient="row")
    if stale_columns:
        observations = observations.with_columns(pl.lit("stale").alias("split"), pl.lit("1999-01-01").alias("partition"))
    built = contents.version_rows(observations.lazy(), episodes, DAYS[0], key)
    expected = _version_rows_by_definition(observations, episodes, DAYS[0], key)
    assert built.columns == expected.columns and built.schema == expected.schema
    assert built.equals(expected)
