"""Train / val / test by game: a pure function of the game ids and the seed, so no game's ticks are ever split
across two of them and the same games with the same parameters always land in the same splits.

Each game's draw is ``sha256("<seed>:<game_id>")``'s first 8 bytes / 2⁶⁴, placed against the cumulative fractions
of train, val, test. With at least ``MIN_GAMES_FOR_ALL_SPLITS`` (3) eligible games **every split is non-empty**
(every split given a positive fraction: a fraction of 0 asks for an empty split): while one is empty, the game of the largest split whose draw lies nearest to the empty split's interval moves there
(ties: the smaller game id) — so in a small dataset a game's split can depend on the others; in a large one nothing
moves. With fewer eligible games some split stays empty, and the manifest's ``splits_note`` says so.
"""

from __future__ import annotations

import hashlib

import polars as pl

SPLITS = ("train", "val", "test")
EXCLUDED = "excluded"
MIN_GAMES_FOR_ALL_SPLITS = len(SPLITS)
METHOD = ("sha256('<seed>:<game_id>') first 8 bytes / 2^64 against cumulative fractions train, val, test; with >= 3 "
          "games, an empty split takes the nearest game of the largest split")


def draw(game_id: str, seed: int) -> float:
    return int.from_bytes(hashlib.sha256(f"{seed}:{game_id}".encode()).digest()[:8], "big") / 2**64


def _intervals(fractions: tuple[float, float, float]) -> dict[str, tuple[float, float]]:
    bounds, low = {}, 0.0
    for name, fraction in zip(SPLITS, fractions):
        bounds[name] = (low, low + fraction)
        low += fraction
    return bounds


def split_of(game_id: str, seed: int, fractions: tuple[float, float, float]) -> str:
    u = draw(game_id, seed)
    for name, (_, high) in _intervals(fractions).items():
        if u < high:
            return name
    return SPLITS[-1]


def _distance(u: float, interval: tuple[float, float]) -> float:
    low, high = interval
    return max(low - u, u - high, 0.0)


def split_games(game_ids: list[str], seed: int, fractions: tuple[float, float, float]) -> dict[str, str]:
    """game → split for the eligible games (see the module docstring)."""
    draws = {g: draw(g, seed) for g in game_ids}
    chosen = {g: split_of(g, seed, fractions) for g in game_ids}
    if len(game_ids) < MIN_GAMES_FOR_ALL_SPLITS:
        return chosen
    intervals = _intervals(fractions)
    for empty, fraction in zip(SPLITS, fractions):
        if fraction <= 0 or empty in chosen.values():
            continue
        sizes = {s: sum(1 for v in chosen.values() if v == s) for s in SPLITS}
        donor = max(SPLITS, key=lambda s: (sizes[s], -SPLITS.index(s)))
        if sizes[donor] < 2:  # nothing to spare (fewer games than positive fractions)
            break
        moved = min((g for g, s in chosen.items() if s == donor), key=lambda g: (_distance(draws[g], intervals[empty]), g))
        chosen[moved] = empty
    return chosen


def splits_note(eligible_games: int) -> str | None:
    """What the manifest and card say when a split had to stay empty (None when every split has games)."""
    if eligible_games >= MIN_GAMES_FOR_ALL_SPLITS:
        return None
    return (f"only {eligible_games} game{'' if eligible_games == 1 else 's'} eligible: some splits are empty "
            f"(every split gets games from {MIN_GAMES_FOR_ALL_SPLITS} eligible games on)")


def assign_splits(episodes: pl.DataFrame, seed: int, fractions: tuple[float, float, float]) -> pl.DataFrame:
    """``split`` for every episode: its game's split when ``in_training``, else ``excluded``."""
    eligible = sorted(set(episodes.filter(pl.col("in_training"))["game_id"].to_list()))
    chosen = split_games(eligible, seed, fractions)
    # per episode, not per game: in the crowd kind one game holds trajectories in and out of training
    splits = [chosen[g] if kept else EXCLUDED for g, kept in zip(episodes["game_id"].to_list(), episodes["in_training"].to_list())]
    return episodes.with_columns(pl.Series("split", splits, dtype=pl.String))
