"""The dataset card: a generated ``README.md`` in every version folder — what is inside, counts, whose behaviour,
action and reward semantics, coverage, per-feature statistics for normalisation, the episode-return summary, how to
load it, and its lineage. Pure: the manifest (and part B's ``scores.json`` beside the version, when present) in,
Markdown out; :class:`FeatureStats` gathers the statistics from a version's written rows, one day at a time.
"""

from __future__ import annotations

import json
import math

import numpy as np
import polars as pl

from vectra_pipeline.datasets.kinds import kind_of
from vectra_pipeline.datasets.splits import SPLITS
from vectra_pipeline.gold.action_space import Action
from vectra_pipeline.gold.rewards import episode_return

CARD = "README.md"
QUALITY_FLAGS = {"player": ", `player_state_known`, `player_state_carried`", "crowd": ", `on_board`, `state_known`"}
RETURN_CHUNK_ROWS = 500_000  # rows whose rewards are held at a time for the episode returns
SCORES = "scores.json"  # written beside a version's files by `vectra evaluate` (part B), read when present


class FeatureStats:
    """Per-feature count, mean, std (population), min and max over the **train** rows, and per-split episode returns
    (sum of an episode's rewards), accumulated a day at a time from the version's rows as written."""

    def __init__(self, features: tuple[str, ...], key: tuple[str, ...] = ("game_id",)) -> None:
        self.features, self.key = features, key
        self._parts: list[tuple[str, int, float, float, float, float]] = []  # feature, n, Σx, Σx², min, max of a day
        self._returns: list[pl.DataFrame] = []

    def add_day(self, day: pl.LazyFrame, rows: int) -> None:
        """One day (``rows`` rows) of the version's rows as written — sorted by episode, then tick — read a column at a
        time for the features and a chunk of rows at a time for the returns (memory: a column or a chunk, not the day)."""
        train = day.select("split").collect()["split"] == "train"
        for f in self.features:
            # numpy's pairwise sum over the day's contiguous train column: the same values give the same bits (a sum
            # per run of games would round differently)
            values = day.select(f).collect()[f].filter(train).cast(pl.Float64).to_numpy()
            if len(values):
                self._parts.append((f, len(values), float(values.sum()), float((values * values).sum()), float(values.min()), float(values.max())))
        unfinished = None  # the last episode of a chunk may go on in the next one: its rows are carried over
        for start in range(0, rows, RETURN_CHUNK_ROWS):
            chunk = day.slice(start, RETURN_CHUNK_ROWS).select("split", *self.key, "is_final", "reward").collect()
            if unfinished is not None:
                chunk = pl.concat([unfinished, chunk])
            if start + RETURN_CHUNK_ROWS < rows:
                last = chunk.row(-1, named=True)
                tail = int(chunk.select(pl.all_horizontal(pl.col(k) == last[k] for k in self.key).sum()).item())
                chunk, unfinished = chunk.head(chunk.height - tail), chunk.tail(tail)
            self._returns.append(chunk.filter(~pl.col("is_final")).group_by("split", *self.key, maintain_order=True)
                                 .agg(episode_return(pl.col("reward")).alias("episode_return")))

    def features_summary(self) -> dict[str, dict]:
        totals: dict[str, list] = {}
        for f, n, total, squares, low, high in self._parts:
            seen = totals.setdefault(f, [0, 0.0, 0.0, math.inf, -math.inf])
            seen[0] += n
            seen[1] += total
            seen[2] += squares
            seen[3], seen[4] = min(seen[3], low), max(seen[4], high)
        summary = {}
        for f in self.features:  # spec order
            if f in totals:
                n, total, squares, low, high = totals[f]
                mean = total / n
                summary[f] = {"mean": mean, "std": math.sqrt(max(squares / n - mean * mean, 0.0)), "min": low, "max": high}
        return summary

    def returns_summary(self) -> dict[str, dict]:
        if not self._returns:
            return {}
        returns = pl.concat(self._returns).sort("split", *self.key)  # a fixed order: float sums, byte-identical manifests
        summary = {}
        for split in SPLITS:
            values = returns.filter(pl.col("split") == split)["episode_return"].to_numpy()
            if len(values):
                summary[split] = {"episodes": len(values), "mean": float(values.mean()), "median": float(np.median(values)),
                                  "min": float(values.min()), "max": float(values.max())}
        return summary


def _number(value: float) -> str:
    return f"{value:.6g}"


def _loading(manifest: dict) -> list[str]:
    kind, version = manifest["kind"], manifest["id"]
    lines = [
        "## How to load it", "",
        "polars / DuckDB (the Parquet files; `split` is a column):", "",
        "```python",
        "import polars as pl",
        'rows = pl.read_parquet("observations.parquet").filter(pl.col("split") == "train")',
        "```", "",
        "```sql",
        "SELECT split, count(*) FROM 'observations.parquet' GROUP BY split;",
        "```", "",
        "Hugging Face `datasets` (Parquet):", "",
        "```python",
        "from datasets import load_dataset",
        'ds = load_dataset("parquet", data_files={"all": "observations.parquet"})["all"]',
        'train = ds.filter(lambda row: row["split"] == "train")',
        "```", "",
        "Vectra's registry (any kind):", "",
        "```python",
        "from vectra_pipeline.datasets.registry import load_version, read_observations",
        f'version = load_version("<data>/datasets/{kind}/{version}")',
        'train = read_observations(version, "train")',
        "```",
    ]
    if kind == "player":
        lines += [
            "", "numpy transitions and Minari (the player kind; `minari/` holds the export once written):", "",
            "```python",
            "from vectra_pipeline.exports.numpy import load_transitions",
            f'transitions = load_transitions("<data>/datasets/player/{version}", "train")',
            "from vectra_pipeline.exports.minari import load_minari",
            f'dataset = load_minari("<data>/datasets/player/{version}", "train")',
            "```",
        ]
    return lines


def render_card(manifest: dict, scores: dict | None = None) -> str:
    """The card of a version (see the module docstring)."""
    kind = kind_of(manifest["kind"])
    counts, splits = manifest["counts"], manifest["splits"]
    episode = ", ".join(name.removesuffix("_id") for name in kind.key)
    lines = [
        f"# Vectra {kind.name} dataset `{manifest['id']}`", "",
        f"Days {', '.join(manifest['partitions'])}; {counts['episodes_in_training']} of {counts['episodes_total']} episodes in "
        f"train/val/test, {counts['rows']:,} observation rows, {counts['transitions']:,} transitions, "
        f"{len(manifest['feature_spec']['features'])} features (spec {manifest['feature_spec']['version']}).", "",
        "## What is inside", "",
        f"- `episodes.parquet` — every episode of those days (one per {episode}), its `split` (train / val / test, by "
        "game, or `excluded` with its `exclusion_reason`) and `in_training`;",
        f"- `observations.parquet` — one row per ({episode}, tick) of the train/val/test episodes: `{'`, `'.join(kind.key)}`, `tick`, the "
        "features (docs/FEATURES.md), `action`, `action_amount`, `reward`, `terminated`, `truncated`, `is_final`, "
        "`split`. A row at tick t describes the transition t → t+1; the final row of an episode is an observation only;",
        "- `manifest.json` — lineage: input files and their sha256, stage versions, parameters, split games, counts, "
        "feature statistics.", "",
        f"**Whose behaviour:** {kind.behaviour}.", "",
        "**Actions:** `action` is a kind code — " + ", ".join(f"{int(a)} {a.name.lower()}" for a in Action)
        + "; `action_amount` is the SOL of a buy, short open or sidebet (null otherwise; a sell's size is its "
        "percentage, in the code). Several actions at one tick: the first labels it.", "",
        f"**Reward:** {kind.reward}.", "",
        "## Counts and splits", "",
        "| split | episodes | rows | transitions |", "|---|---|---|---|",
        *(f"| {s} | {counts['per_split'][s]['episodes']} | {counts['per_split'][s]['rows']:,} | {counts['per_split'][s]['transitions']:,} |" for s in SPLITS),
        "", f"Split by game: {splits['method']} (seed {splits['seed']}, fractions {splits['fractions']}).",
    ]
    if counts.get("splits_note"):
        lines += ["", f"**Note:** {counts['splits_note']}."]
    excluded = counts["excluded_by_reason"]
    lines += ["", "Excluded episodes: " + (", ".join(f"{r}: {n}" for r, n in excluded.items()) or "none") + "."]
    coverage = counts.get("coverage")
    lines += ["", "## Coverage", ""]
    if coverage:
        lines.append(f"The trade feed showed {coverage['trades_seen']:,} trades against a tradeCount rise of "
                     f"{coverage['trade_count_rise']:,} over {coverage['games']} games with a counted rise "
                     f"({_number(coverage['share'])} of the trades; per game: `trade_coverage` in episodes.parquet).")
    if counts.get("unexplained_changes") is not None:
        lines.append(f"{counts['unexplained_changes']:,} board position changes no trade seen explains (flagged in "
                     "`unexplained_qty`, counted per trajectory in `unexplained_changes`; never filled with invented trades).")
    if counts.get("carried_starts") is not None:
        lines.append(f"{counts['carried_starts']} episodes start from the account carried from their previous consecutive "
                     "game (`player_state_carried`).")
    lines.append("A value carried from an earlier frame or game, or unknown (0), is flagged by the quality features "
                 "(`tick_observed`, `stats_known`, `stats_carried`, `highest_today_known`, `highest_today_carried`, "
                 "`game_trade_count_known`" + QUALITY_FLAGS.get(kind.name, "") + ").")
    stats = manifest.get("feature_stats") or {}
    lines += ["", "## Feature statistics (train rows, for normalisation)", ""]
    if stats:
        lines += ["| feature | mean | std | min | max |", "|---|---|---|---|---|"]
        lines += [f"| {f} | {_number(s['mean'])} | {_number(s['std'])} | {_number(s['min'])} | {_number(s['max'])} |" for f, s in stats.items()]
    else:
        lines.append("No train rows.")
    returns = manifest.get("episode_returns") or {}
    lines += ["", "## Episode returns (sum of an episode's rewards)", ""]
    if returns:
        lines += ["| split | episodes | mean | median | min | max |", "|---|---|---|---|---|---|"]
        lines += [f"| {s} | {r['episodes']} | {_number(r['mean'])} | {_number(r['median'])} | {_number(r['min'])} | {_number(r['max'])} |"
                  for s, r in returns.items()]
    else:
        lines.append("No transitions.")
    if scores:
        lines += ["", "## Reference scores (`scores.json`)", "", "```json", _json(scores), "```"]
    lines += ["", *_loading(manifest), "", "## Lineage", "",
              f"{len(manifest['inputs']['landing'])} landing segment files (paths and sha256 in manifest.json), code "
              f"version `{manifest['code_version']}`, parameters `{_json(manifest['parameters'])}`.", ""]
    return "\n".join(lines)


def _json(value) -> str:
    return json.dumps(value, sort_keys=True)
