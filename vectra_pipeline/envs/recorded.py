"""A version's episodes as every reader sees them: the replay environment, the numpy loader and the Minari export.

They work on any dataset kind whose observation rows carry ``game_id``, ``tick``, ``split``, ``action``,
``action_amount``, ``reward`` and the manifest's feature columns (``price`` among them for the environments), one
contiguous run of ticks per episode — a game, or a player in a game when the rows carry ``player_id`` (the crowd
kind). The episode structure is derived here, once, the way the observation rows define it:

- the last row of a game is its final observation (``is_final``): no action, no reward, not a transition;
- the game ends at the rug when its rows say so (a ``terminated`` row), or — rows without that column — when its
  last row is the rug frame (``phase_code`` = rugged); otherwise the recording stopped first;
- the transition into the final row is ``terminated`` (the rug) or ``truncated`` (the recording stopped), never both.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import polars as pl

from capture_agent.config import DATA_ENV, default_data_dir
from capture_agent.protocol.rules import PHASE_RANK, Phase
from vectra_pipeline import storage
from vectra_pipeline.datasets.kinds import kind_of
from vectra_pipeline.datasets.registry import (
    DatasetVersion,
    as_version,
    feature_names,
    games_of_split,
    load_version,
    read_observations,
)
from vectra_pipeline.envs.agents import Game

_RUGGED = float(PHASE_RANK[Phase.RUGGED.value])
VERSION_ID = re.compile(r"[0-9a-f]{16}")
EPISODE_KEY = ("game_id", "player_id")
GAMES_PER_BATCH = 100  # about 130k crowd rows (≈ 70 MB) a batch; the market and player kinds hold far fewer per game


def find_version(reference: str | Path, data_dir: Path) -> DatasetVersion:
    """A version from a folder, or from its id under ``data_dir`` (any kind)."""
    path = storage.location(reference)
    if storage.is_published(path):
        return load_version(path)
    if VERSION_ID.fullmatch(str(reference)):
        for name in storage.dataset_names(data_dir):
            folder = storage.version_path(data_dir, name, str(reference))
            if storage.is_published(folder):
                return load_version(folder)
        raise ValueError(f"no dataset version {reference} under {data_dir}")
    raise ValueError(f"{reference} is neither a dataset version folder nor a version id")


def resolve_version(dataset: DatasetVersion | Path | str) -> DatasetVersion:
    """The ``dataset`` of an environment: a version, its folder, or its id. An id (what a Minari dataset's
    ``env_spec`` holds, so that it stays valid wherever the data moves) is looked up beside the Minari datasets being
    read (``MINARI_DATASETS_PATH`` = ``<version>/minari``), then under the data root (``VECTRA_DATA``)."""
    if isinstance(dataset, DatasetVersion):
        return dataset
    minari_root = os.environ.get("MINARI_DATASETS_PATH")
    if minari_root and VERSION_ID.fullmatch(str(dataset)):
        beside = Path(minari_root).parent
        if storage.is_published(beside) and load_version(beside).id == dataset:
            return load_version(beside)
    try:
        return find_version(dataset, default_data_dir())
    except ValueError as missing:
        raise ValueError(f"{missing}: pass dataset=<version folder>, or set {DATA_ENV} to the data root that holds it") from None


def episode_key(rows: pl.DataFrame) -> list[str]:
    """The columns naming an episode: a game (``game_id``), or a player in a game when the rows hold several
    trajectories per game (``player_id``: the crowd kind)."""
    return [c for c in EPISODE_KEY if c in rows.columns]


def episode_rows(version: DatasetVersion | Path | str, split: str | None) -> pl.DataFrame:
    """The rows of a split (all splits: None), sorted by episode and tick, with ``is_final``, ``terminated`` and
    ``truncated`` derived as the module says."""
    version = as_version(version)
    return _with_episode_ends(version, read_observations(version, split))


def episode_row_batches(version: DatasetVersion | Path | str, split: str | None,
                        games_per_batch: int = GAMES_PER_BATCH) -> Iterator[pl.DataFrame]:
    """:func:`episode_rows` a run of ``games_per_batch`` games at a time, in the same order and with the same values
    (every episode lies within one game): memory one run's rows, not the split's."""
    version = as_version(version)
    games = games_of_split(version, split)
    for start in range(0, len(games), games_per_batch):
        yield _with_episode_ends(version, read_observations(version, split, games=games[start:start + games_per_batch]))


def _with_episode_ends(version: DatasetVersion, rows: pl.DataFrame) -> pl.DataFrame:
    key = episode_key(rows)
    rows = rows.sort(*key, "tick")
    if "terminated" in rows.columns:
        reaches_rug = pl.col("terminated").fill_null(False).any().over(key)
    elif "phase_code" in feature_names(version):
        reaches_rug = pl.col("phase_code").last().over(key) == _RUGGED
    else:
        reaches_rug = pl.lit(False)
    rows = rows.with_columns(reaches_rug.alias("_reaches_rug"), (pl.col("tick") == pl.col("tick").max().over(key)).alias("is_final"))
    into_final = pl.col("is_final").shift(-1).over(key).fill_null(False)
    return rows.with_columns(
        (into_final & pl.col("_reaches_rug")).alias("terminated"),
        (into_final & ~pl.col("_reaches_rug")).alias("truncated"),
    ).drop("_reaches_rug")


def _start_equity(episode: pl.DataFrame) -> float | None:
    """The recorded player's equity at its first known row (its wealth when the game began), when the rows have it."""
    if not {"player_state_known", "equity"} <= set(episode.columns):
        return None
    known = episode.filter(pl.col("player_state_known") > 0)["equity"]
    return float(known[0]) if len(known) and np.isfinite(known[0]) and known[0] > 0 else None


def recorded_games(version: DatasetVersion | Path | str, split: str) -> list[Game]:
    """The split's episodes as games to replay, in episode order (game, then player)."""
    version = as_version(version)
    return _games(version, episode_rows(version, split))


def recorded_game_runs(version: DatasetVersion | Path | str, split: str,
                       games_per_batch: int = GAMES_PER_BATCH) -> Iterator[list[Game]]:
    """:func:`recorded_games` a run of ``games_per_batch`` games at a time (the same games, in the same order)."""
    version = as_version(version)
    for rows in episode_row_batches(version, split, games_per_batch):
        yield _games(version, rows)


def episode_lengths(version: DatasetVersion | Path | str, split: str) -> np.ndarray:
    """The number of rows of each episode of the split, in episode order (read from the key columns only)."""
    version = as_version(version)
    scan = storage.scan_dataset_file(version.path, kind_of(version.kind).dataset_observations)
    key = [c for c in EPISODE_KEY if c in scan.collect_schema().names()]
    # streamed: memory the episodes' keys, not the split's rows; episode order is the key's (read_observations sorts by it)
    return scan.filter(pl.col("split") == split).group_by(key).len().collect(engine="streaming").sort(key)["len"].to_numpy()


def _games(version: DatasetVersion, rows: pl.DataFrame) -> list[Game]:
    names = feature_names(version)
    if "price" not in names:
        raise ValueError(f"dataset {version.id} has no price feature: an environment trades at the tick prices")
    games = []
    for _, episode in rows.group_by(episode_key(rows), maintain_order=True):
        games.append(Game(
            game_id=episode["game_id"][0],
            player_id=episode["player_id"][0] if "player_id" in episode.columns else None,
            ticks=episode["tick"].to_numpy().astype(np.int64),
            prices=episode["price"].to_numpy().astype(np.float64),
            features=episode.select(names).to_numpy().astype(np.float64),
            terminated=bool(episode["terminated"].any()),
            start_equity=_start_equity(episode),
        ))
    return games
