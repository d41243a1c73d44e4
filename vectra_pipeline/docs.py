"""``docs/TABLES.md`` and ``docs/FEATURES.md``, generated: the tables from the schema registry, the features from the
feature spec and the module docstrings of the gold, datasets and export modules.

    python -m vectra_pipeline.docs            # write both files
    python -m vectra_pipeline.docs --check    # exit 1 naming the stale file (a test runs the same comparison)

Nothing imports this module: it reads the others, so the documentation never creates an import cycle.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from types import ModuleType

from vectra_pipeline import datasets, storage
from vectra_pipeline.datasets import card, contents, kinds, splits
from vectra_pipeline.envs import baselines, replay, sim
from vectra_pipeline.exports import minari, numpy
from vectra_pipeline.gold import action_space, carry, crowd, episodes, market, observations, rewards
from vectra_pipeline.gold.feature_spec import (
    CROWD_PLAYER,
    DROPPED_SEED_FEATURES,
    FEATURE_SPEC_VERSION,
    FEATURES,
    FLOAT64_FEATURES,
    KIND_FEATURES,
    feature_names,
)
from vectra_pipeline.schema import TABLES, Table

DOCS = Path(__file__).resolve().parents[1] / "docs"
COMMAND = "python -m vectra_pipeline.docs"

TABLE_NOTES = """## Notes

- **One day, one partition.** Every bronze, silver and gold table is computed from one UTC date's landing files
  only, so a game that spans midnight appears in both days (`partial_end`, then `partial_start` or `history_only`
  with the revealed path). Deduplicate on `game_id` across dates when you need one row per game (prefer the row
  with `completeness = 'complete'`, then the one with `fair_verified`); dataset versions keep each game once.
- **Nothing is dropped.** Malformed frames and contract violations stay in `events` (`contract_ok = false`)
  and are listed in `quarantine` with the rule and the raw frame; rows from sources known to be incomplete
  (hand transcriptions, payloads lost by the original capture tool) are `explained`. The warning check
  `unexplained_quarantine` names every unexplained contract violation (rows that break a contract stay out of
  the tables built from events, so the day still builds). Frames that could not be decoded or
  stored (rule `decode`: malformed, nested too deeply, lone surrogates, values beyond their column) are bad
  input, not a protocol change: the day builds, and the warning check `undecodable_frames` counts them. Unknown
  event names are kept in `events` and counted in the asset metadata and the `unknown_events` check.
- **Phase, frame shape and rug tick** come from `capture_agent/protocol/game.py` only.
- **DuckDB:** `vectra query "SELECT …"` (or `duckdb <data>/warehouse.duckdb`) — one view per bronze, silver and
  gold table over `date=*/*.parquet` with `hive_partitioning = true`, and the `datasets` view over the versions'
  manifests.
"""


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _where(table: Table) -> str:
    if table.partitioned:
        return f"`{storage.table_pattern(table.name)}`"
    if table.name == "datasets":
        return f"a DuckDB view over `<data>/{storage.DATASETS_DIR}/<name>/<id>/{table.file}`"
    return f"`<data>/{storage.DATASETS_DIR}/<name>/<id>/{table.file}`"


def tables_markdown() -> str:
    """docs/TABLES.md."""
    lines = [
        "# Tables",
        "",
        f"Generated from `vectra_pipeline/schema.py` (`{COMMAND}`); do not edit.",
        "",
        "Bronze, silver and gold tables hold one file per UTC date of the landing partition, and one DuckDB view "
        "each in `<data>/warehouse.duckdb` (the `date` column comes from the folder); dataset tables are the files "
        "of a dataset version. Times are integer ns since the Unix epoch, UTC; money is SOL; prices are "
        "multipliers of 1.0.",
        "",
        "The same descriptions are in the warehouse (`COMMENT ON VIEW`/`COLUMN`: `SELECT table_name, column_name, "
        "comment FROM duckdb_columns()`) and on every table asset in the Dagster UI (its Columns).",
        "",
    ]
    for table in TABLES.values():
        lines += [f"## `{table.name}` ({table.stage})", "", table.doc, "", f"Where: {_where(table)}. Key: `{', '.join(table.key)}`", ""]
        lines += ["| column | type | meaning |", "|---|---|---|"]
        lines += [f"| `{c.name}` | {c.dtype} | {_cell(c.doc)} |" for c in table.columns]
        lines.append("")
    return "\n".join(lines) + "\n" + TABLE_NOTES


def _body(module: ModuleType) -> str:
    """A module docstring without its first line (the title)."""
    return module.__doc__.strip().split("\n", 1)[1].strip()


def features_markdown() -> str:
    """docs/FEATURES.md."""
    lines = [
        "# Gold features",
        "",
        f"Generated from `vectra_pipeline/gold/feature_spec.py` and the modules named below (`{COMMAND}`); do not edit.",
        "",
        f"Feature spec version **{FEATURE_SPEC_VERSION}** (part of every dataset id).",
        "",
        "## No look-ahead",
        "",
        "A feature at tick t uses only data the player had when tick t's frame arrived. Trades, player-state "
        "updates, acks and executions are placed on the frame clock: an event received at wall time r with game "
        "tick k is visible at max(k, first tick whose frame arrived at or after r); without a usable receipt time "
        "it is visible from k+1. So a trade executed at tick t and broadcast after t's frame counts at t+1. The "
        "player's own actions count from the tick after they were sent (the action at t is the label, not a "
        "feature). The asset check `observations_no_look_ahead` perturbs everything after a cut tick and checks the earlier "
        "rows are unchanged.",
        "",
        "## Types",
        "",
        "Observation rows keep each feature's dtype below: float32 except "
        + ", ".join(f"`{n}`" for n in FLOAT64_FEATURES)
        + " (float64: exact prices and money). Exports (Minari, the replay env, the numpy loader) cast the "
        "vector to float32 in this order. Unknown values are 0 (never NaN/inf), flagged by `tick_observed` and "
        "`player_state_known`.",
        "",
        "## Features (vector order)",
        "",
        "| # | name | dtype | unit | formula | source | group | seed | why | version |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for i, f in enumerate(FEATURES):
        lines.append(f"| {i} | `{f.name}` | {f.dtype} | {f.unit} | {f.formula} | {f.source} | {f.group} | {f.seed} | {f.why} | {f.version} |")
    lines += ["", "## Features per dataset kind", "",
              "The table above is the **player** kind's vector. The **market** kind's vector is its market, flow and "
              "market-quality features; the **crowd** kind's is the market kind's followed by one leaderboard player's "
              "state and actions:", ""]
    lines += [f"- `{kind}` ({len(names)}): " + ", ".join(f"`{n}`" for n in names) for kind, names in
              ((kind, feature_names(kind)) for kind in KIND_FEATURES)]
    lines += ["", "| name | dtype | unit | formula | source | why |", "|---|---|---|---|---|---|"]
    lines += [f"| `{f.name}` | {f.dtype} | {f.unit} | {f.formula} | {f.source} | {f.why} |" for f in CROWD_PLAYER]
    lines += ["", "## Seed features dropped", "", "| seed feature | why |", "|---|---|"]
    lines += [f"| {name} | {why} |" for name, why in DROPPED_SEED_FEATURES]
    sections = (("Actions", action_space), ("Reward", rewards), ("Observation rows", observations), ("Episodes", episodes),
                ("The account carried across games", carry), ("The market kind", market), ("The crowd kind", crowd),
                ("Training datasets", datasets), ("Dataset kinds", kinds), ("Splits", splits), ("What a version holds", contents),
                ("The dataset card", card),
                ("Numpy batches", numpy), ("Replay environment", replay), ("Simulated environment", sim), ("Minari", minari),
                ("Baselines", baselines))
    for title, module in sections:
        lines += ["", f"## {title}", "", f"(`{module.__name__}`)", "", _body(module)]
    return "\n".join(lines) + "\n"


GENERATED = {"TABLES.md": tables_markdown, "FEATURES.md": features_markdown}


def stale(folder: Path = DOCS) -> list[str]:
    """The generated files whose committed text differs from what the code generates now."""
    return [name for name, render in GENERATED.items() if not (folder / name).is_file() or (folder / name).read_text(encoding="utf-8") != render()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write docs/TABLES.md and docs/FEATURES.md from the code.")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 when a committed file is stale")
    args = parser.parse_args(argv)
    if args.check:
        names = stale()
        for name in names:
            print(f"docs/{name} is stale: run {COMMAND}", file=sys.stderr)
        return 1 if names else 0
    for name, render in GENERATED.items():
        (DOCS / name).write_text(render(), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
