"""The pipeline's ``vectra`` subcommands, one module each: registered with the CLI through the ``vectra.commands``
entry point (``pyproject.toml``) — the light agent does not name them. Each needs the ``pipeline`` extra."""

from __future__ import annotations

from capture_agent.commands import Command

_PIPELINE = ("dagster", "polars", "duckdb")

COMMANDS: dict[str, Command] = {
    "demo": Command(
        "vectra_pipeline.commands.demo", "run the whole chain on the embedded simulator and query the result", "pipeline", _PIPELINE
    ),
    "build": Command("vectra_pipeline.commands.build", "materialise the pipeline (bronze → datasets) in-process", "pipeline", _PIPELINE),
    "evaluate": Command(
        "vectra_pipeline.commands.evaluate",
        "score hold, random and rule policies on a version's test split and on fresh Sim-v0 games",
        "pipeline",
        ("polars", "gymnasium"),
    ),
    "datasets": Command(
        "vectra_pipeline.commands.datasets", "list the published dataset versions by kind, or show one (counts, splits, card)",
        "pipeline", ("polars",),
    ),
    "query": Command(
        "vectra_pipeline.commands.query", "run SQL on the DuckDB warehouse: a table on a terminal, CSV, JSON or Parquet for scripts",
        "pipeline", ("duckdb",),
    ),
    "game": Command(
        "vectra_pipeline.commands.game", "look at one game: its price path with a player's fills and the rug (PNG and terminal)",
        "pipeline", ("duckdb", "PIL"),
    ),
    "ui": Command(
        "vectra_pipeline.commands.ui",
        "open the Dagster UI (assets, lineage, sensor, nightly schedule) on 127.0.0.1",
        "pipeline",
        ("dagster", "dagster_webserver", "aiohttp"),
    ),
}
