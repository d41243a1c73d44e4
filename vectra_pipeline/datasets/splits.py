"""Train / val / test by game: a pure function of the game id and the seed, so a game never changes split between
versions built with the same parameters and no game's ticks are ever split across two of them.

``sha256("<seed>:<game_id>")``'s first 8 bytes / 2⁶⁴ against the cumulative fractions of train, val, test.
"""

from __future__ import annotations

import hashlib

import polars as pl

SPLITS = ("train", "val", "test")
EXCLUDED = "excluded"
METHOD = "sha256('<seed>:<game_id>') first 8 bytes / 2^64 against cumulative fractions train, val, test"


def split_of(game_id: str, seed: int, fractions: tuple[float, float, float]) -> str:
    u = int.from_bytes(hashlib.sha256(f"{seed}:{game_id}".encode()).digest()[:8], "big") / 2**64
    bound = 0.0
    for name, fraction in zip(SPLITS, fractions):
        bound += fraction
        if u < bound:
            return name
    return SPLITS[-1]


def assign_splits(episodes: pl.DataFrame, seed: int, fractions: tuple[float, float, float]) -> pl.DataFrame:
    """``split`` for every episode: its game's split when ``in_training``, else ``excluded``."""
    splits = [split_of(g, seed, fractions) for g in episodes["game_id"].to_list()]
    return episodes.with_columns(
        pl.when(pl.col("in_training")).then(pl.Series("split", splits, dtype=pl.String)).otherwise(pl.lit(EXCLUDED)).alias("split")
    )
