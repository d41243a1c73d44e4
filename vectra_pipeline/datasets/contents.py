"""What goes into a dataset version — the datasets stage. Pure: gold frames and parameters in, the version's
episodes, observation rows, counts and manifest out (``datasets.publish`` writes them).

- **episodes**: every episode of the covered days, each game once — a game seen on two days (it crossed midnight
  UTC) keeps the day with more ticks, the other copy is counted — with the episode policy applied and its split
  (``datasets.splits``), or ``excluded``;
- **observation rows**: those of the train/val/test episodes, one day at a time (memory stays at one day however
  many days a version spans), sorted by (partition, game_id, tick);
- **counts** and the **manifest** (lineage: days, input files and hashes, stage versions, parameters, splits and
  their games, files); nothing in a version holds a timestamp, so a rebuild is byte-identical.

Zero episodes the policy trains on (a first short session, no complete game yet) is a normal outcome, not a
failure: nothing is published for nothing (:func:`reason_not_to_publish`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import polars as pl

from vectra_pipeline.datasets.kinds import DEFAULT_KIND, Kind, kind_of
from vectra_pipeline.datasets.splits import EXCLUDED, METHOD, SPLITS, assign_splits, splits_note
from vectra_pipeline.gold.action_space import Action
from vectra_pipeline.gold.feature_spec import FEATURE_SPEC_VERSION
from vectra_pipeline.gold.policy import EpisodePolicy, apply_policy

VERSION = 5  # bump when a version's files or manifest would change for the same inputs (tests/pipeline/test_stage_versions.py)

RUN_ROWS = 130_000  # observation rows a run holds (two row groups): tens of MB, not the day's GB; runs of 100 games
# read a market day's row groups 4 times over (≈ 200 rows a game: 1.4 → 0.2 CPU-s at 1M frames)

NOTHING_TO_TRAIN = "no complete game yet: nothing to train on"


@dataclass(frozen=True)
class DatasetParams:
    """A version's parameters (all part of its id); ``policy`` None = the kind's default policy."""

    kind: str = DEFAULT_KIND
    split_seed: int = 0
    split_fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)
    policy: EpisodePolicy = field(default=None)  # type: ignore[assignment] - filled in __post_init__

    def __post_init__(self) -> None:
        if self.policy is None:
            object.__setattr__(self, "policy", kind_of(self.kind).policy)

    @property
    def name(self) -> str:
        """The dataset's folder name under ``<data>/datasets/``: its kind."""
        return self.kind

    @property
    def spec(self) -> Kind:
        return kind_of(self.kind)

    def as_dict(self) -> dict:
        return {
            "kind": self.kind,
            "split_seed": self.split_seed,
            "split_fractions": list(self.split_fractions),
            "policy": self.policy.as_dict(),
        }


def best_partitions(episodes: pl.DataFrame, key: tuple[str, ...] = ("game_id",)) -> tuple[pl.DataFrame, int]:
    """An episode (``key``) seen in two partitions (a game crossing midnight UTC) keeps the partition with more ticks;
    the other is counted."""
    best = (episodes.sort(*key, "ticks", "partition", descending=[*(False for _ in key), True, False])
            .unique(list(key), keep="first", maintain_order=True))
    return best, episodes.height - best.height


def reason_not_to_publish(episodes: pl.DataFrame, params: DatasetParams | None = None) -> str | None:
    """Why no dataset version is published for these episodes (all partitions, with ``partition``), or None to publish.

    The one place that decides it.
    """
    params = params or DatasetParams()
    best, _ = best_partitions(episodes, params.spec.key)
    if apply_policy(best, params.policy).filter(pl.col("in_training")).is_empty():
        return f"{NOTHING_TO_TRAIN} ({best.height} episode{'' if best.height == 1 else 's'}, none the policy trains on; no dataset version published)"
    return None


def version_episodes(episodes: pl.DataFrame, params: DatasetParams) -> tuple[pl.DataFrame, int]:
    """(the version's episodes with ``split``, sorted by game; episodes dropped as another day's copy of a game)."""
    best, duplicates = best_partitions(episodes, params.spec.key)
    split = params.split_fractions
    return assign_splits(apply_policy(best, params.policy).sort(*params.spec.key), params.split_seed, split), duplicates


def version_rows(observations: pl.LazyFrame, episodes: pl.DataFrame, date: str, key: tuple[str, ...] = ("game_id",)) -> pl.DataFrame:
    """One day's observation rows that go into the version (its train/val/test episodes of that day), with
    ``partition`` and ``split``, sorted by (episode ``key``, tick)."""
    kept = episodes.filter((pl.col("split") != EXCLUDED) & (pl.col("partition") == date)).select(*key, "split")
    rows = observations.drop("partition", "split", strict=False).collect()
    # the split found by the key columns alone: an inner join gathered every column of the rows (1M-frame day's crowd
    # rows: ≈ 3.5 → 2.9 CPU-s with their counts)
    split = rows.select(key).join(kept, on=list(key), how="left", maintain_order="left")["split"]
    return rows.with_columns(split, pl.lit(date).alias("partition")).filter(pl.col("split").is_not_null()).sort(*key, "tick")


def version_row_runs(observations: pl.LazyFrame, episodes: pl.DataFrame, date: str, key: tuple[str, ...] = ("game_id",),
                     run_rows: int = RUN_ROWS) -> Iterator[pl.DataFrame]:
    """:func:`version_rows` of one day a run of games at a time (about ``run_rows`` rows by the episodes' ticks; a
    game is never cut), in the same order (the rows are sorted by game first): memory one run's rows, not the day's.
    Nothing when the day holds no kept episode."""
    kept = episodes.filter((pl.col("split") != EXCLUDED) & (pl.col("partition") == date))
    games = (
        kept.group_by("game_id").agg(pl.col("ticks").fill_null(0).cast(pl.Int64).sum().alias("_rows")).sort("game_id")
        .with_columns(((pl.col("_rows").cum_sum() - pl.col("_rows")) // max(run_rows, 1)).alias("_run"))
    )
    for run in games.partition_by("_run", maintain_order=True):
        first, last, in_run = run["game_id"][0], run["game_id"][-1], run["game_id"].to_list()
        # the gold day is sorted by game: the range lets row-group statistics skip the other runs' rows
        in_run = pl.col("game_id").is_between(pl.lit(first), pl.lit(last)) & pl.col("game_id").is_in(in_run)
        yield version_rows(observations.filter(in_run), kept.filter(in_run), date, key)


def empty_row_counts() -> dict:
    return {**{split: {"rows": 0, "transitions": 0} for split in SPLITS}, "actions_not_hold": 0}


def add_row_counts(counts: dict, rows: pl.DataFrame) -> None:
    """Add one day's version rows to ``counts`` (:func:`empty_row_counts`)."""
    per_split = rows.group_by("split").agg(pl.len().alias("rows"), (~pl.col("is_final")).sum().alias("transitions"))
    for split, split_rows, transitions in per_split.iter_rows():  # one pass: a filter per split copied its rows
        counts[split]["rows"] += split_rows
        counts[split]["transitions"] += transitions
    counts["actions_not_hold"] += int((rows["action"].fill_null(0) != 0).sum())


def counts(episodes: pl.DataFrame, rows: dict, duplicates: int) -> dict:
    """The manifest's counts, from the version's episodes and the row counts of every day."""
    excluded = episodes.filter(pl.col("split") == EXCLUDED)
    reasons = excluded.group_by(pl.col("exclusion_reason").str.replace(r" at tick \d+$", "")).len().sort("exclusion_reason")
    per_split = {split: {"episodes": int(episodes.filter(pl.col("split") == split).height), **rows[split]} for split in SPLITS}
    return {
        **coverage_counts(episodes),
        "episodes_total": int(episodes.height),
        "episodes_in_training": int(episodes.filter(pl.col("split") != EXCLUDED).height),
        "episodes_excluded": int(excluded.height),
        "excluded_by_reason": {r: int(n) for r, n in reasons.iter_rows()},
        "splits_note": splits_note(int(episodes.filter(pl.col("split") != EXCLUDED).height)),
        "duplicate_episodes_dropped": duplicates,
        "rows": sum(rows[s]["rows"] for s in SPLITS),
        "transitions": sum(rows[s]["transitions"] for s in SPLITS),
        "actions_not_hold": rows["actions_not_hold"],
        "per_split": per_split,
    }


def coverage_counts(episodes: pl.DataFrame) -> dict:
    """The trade feed's coverage over the version's games (market, crowd), the carried starts (player) and the
    unexplained position changes (crowd) of the version's train/val/test episodes."""
    counted = {}
    if "trade_count_rise" in episodes.columns:
        rising = episodes.unique("game_id").filter(pl.col("trade_count_rise") > 0)  # crowd: a game per player
        seen, rise = int(rising["trades_seen"].sum()), int(rising["trade_count_rise"].sum())
        counted["coverage"] = {"games": rising.height, "trades_seen": seen, "trade_count_rise": rise, "share": seen / rise if rise else 0.0}
    if "previous_game_id" in episodes.columns:
        counted["carried_starts"] = int(episodes.filter(pl.col("previous_game_id").is_not_null() & (pl.col("split") != EXCLUDED)).height)
    if "unexplained_changes" in episodes.columns:
        counted["unexplained_changes"] = int(episodes.filter(pl.col("split") != EXCLUDED)["unexplained_changes"].sum())
    return counted


def manifest(identity: dict, params: DatasetParams, partitions: list[str], inputs: list[dict], gold_files: list[dict],
             episodes: pl.DataFrame, version_counts: dict, files: dict, stats: dict | None = None) -> dict:
    """The version's manifest.json: ``identity`` (id, code version, stage versions) and its lineage."""
    return {
        **identity,
        "name": params.name,
        "kind": params.kind,
        "feature_spec": {
            "version": FEATURE_SPEC_VERSION,
            "features": list(params.spec.features),
            "float64_features": list(params.spec.float64_features),
        },
        "actions": {a.name.lower(): int(a) for a in Action},
        "parameters": params.as_dict(),
        "partitions": sorted(partitions),
        "inputs": {"landing": sorted(inputs, key=lambda f: f["path"]), "gold": sorted(gold_files, key=lambda f: f["path"])},
        "splits": {
            "seed": params.split_seed,
            "fractions": list(params.split_fractions),
            "method": METHOD,
            "games": {s: episodes.filter(pl.col("split") == s)["game_id"].unique(maintain_order=True).to_list() for s in SPLITS},
        },
        "counts": version_counts,
        "files": files,
        **(stats or {}),
    }
