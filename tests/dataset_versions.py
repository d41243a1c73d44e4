"""Dataset versions to run the environments and exports on: player versions published from synthetic silver, and a
hand-built version that follows only the contract between the dataset kinds and their readers (``game_id``,
``tick``, ``split``, ``action``, ``action_amount``, ``reward`` and the manifest's features) — what a crowd version
looks like to an environment."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

from vectra_pipeline import storage
from vectra_pipeline.datasets.contents import DatasetParams
from vectra_pipeline.datasets.publish import publish
from vectra_pipeline.datasets.registry import DatasetVersion, load_version, read_observations
from vectra_pipeline.gold.feature_spec import PLAYER_FEATURES
from vectra_pipeline.gold.lookahead import gold_from_silver
from vectra_pipeline.synthetic import synthetic_silver

DATE = "2025-12-10"
CONTRACT = ("game_id", "tick", "split", "action", "action_amount", "reward")


def player_version(data: Path, games: int, seed: int, fractions=(0.6, 0.2, 0.2), gapped_every: int | None = None
                   ) -> tuple[DatasetVersion, dict[str, pl.DataFrame]]:
    """A player version of ``games`` synthetic games published under ``data`` (and the silver it came from)."""
    extra = {"gapped_every": gapped_every} if gapped_every else {}
    tables = synthetic_silver(games, seed=seed, **extra)
    episodes, observations = gold_from_silver(tables)
    tag = pl.lit(DATE).alias("partition")
    version, _ = publish(data, [DATE], episodes.with_columns(tag), observations.with_columns(tag), [],
                         DatasetParams(split_fractions=fractions))
    return version, tables


def contract_version(source: DatasetVersion, folder: Path, version_id: str = "c0ffee00c0ffee00",
                     players: tuple[str, ...] = ()) -> DatasetVersion:
    """A hand-built version of ``source``'s rows reduced to the contract: no recorded account (no ``equity``,
    ``player_state_known``), no ``terminated``/``is_final`` columns, the market features only. With ``players``,
    every game holds one trajectory per player (``player_id``, as a crowd version): the first player's rows are
    the source's, each next one's are holds with the rewards negated."""
    features = [name for name in source.manifest["feature_spec"]["features"] if name not in PLAYER_FEATURES]
    rows = read_observations(source).select(*CONTRACT, *features)
    if players:
        first, *others = players
        rows = pl.concat([rows.with_columns(pl.lit(first).alias("player_id")), *(
            rows.with_columns(pl.lit(other).alias("player_id"), pl.lit(0, dtype=rows["action"].dtype).alias("action"),
                              pl.lit(None, dtype=pl.Float64).alias("action_amount"), -pl.col("reward"))
            for other in others)]).sort("game_id", "tick")  # the players' rows interleaved, as the registry reads them
    folder.mkdir(parents=True)
    rows.write_parquet(folder / storage.TABLES["dataset_observations"].file)
    kind = "crowd" if players else "market"  # the crowd's rows are keyed by player, the market's by game
    manifest = {"id": version_id, "name": kind, "kind": kind, "partitions": [DATE], "code_version": "test",
                "feature_spec": {"version": "test", "features": features}}
    (folder / storage.MANIFEST).write_text(json.dumps(manifest))
    return load_version(folder)
