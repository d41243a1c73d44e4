"""Asset metadata: row counts, a markdown preview, a price-path sparkline."""

from __future__ import annotations

import dagster as dg
import polars as pl

_BARS = "▁▂▃▄▅▆▇█"
# Metadata key of one-line notes an asset has for the person who ran the build (a rejected file, nothing to train
# on): ``vectra build`` prints them under its summary.
NOTES = "vectra/notes"


def notes(lines: list[str]) -> dict:
    return {NOTES: dg.MetadataValue.json(lines)} if lines else {}


def preview(frame: pl.DataFrame, rows: int = 5, columns: int = 10, width: int = 40) -> dg.MetadataValue:
    """The first rows as a markdown table (long values cut)."""
    head = frame.head(rows).select(frame.columns[:columns])
    lines = ["| " + " | ".join(head.columns) + " |", "|" + "---|" * len(head.columns)]
    for row in head.iter_rows():
        cells = ["" if v is None else str(v).replace("|", "\\|").replace("\n", " ")[:width] for v in row]
        lines.append("| " + " | ".join(cells) + " |")
    return dg.MetadataValue.md("\n".join(lines))


def sparkline(prices: list[float], width: int = 80) -> str:
    """A one-line unicode sparkline of a price path (log scale, resampled to ``width``)."""
    import math

    if not prices:
        return ""
    step = max(1, math.ceil(len(prices) / width))
    points = [math.log(max(p, 1e-6)) for p in prices[::step]]
    low, high = min(points), max(points)
    span = (high - low) or 1.0
    return "".join(_BARS[min(len(_BARS) - 1, int((p - low) / span * (len(_BARS) - 1)))] for p in points)


def price_paths(game_ticks: pl.DataFrame, games: int = 5) -> dg.MetadataValue:
    """Sparklines of the partition's longest games."""
    lengths = game_ticks.group_by("game_id").agg(pl.len().alias("n"), pl.col("price").max().alias("peak"))
    longest = lengths.sort(["n", "game_id"], descending=[True, False]).head(games)
    lines = []
    for game_id, count, peak in longest.iter_rows():
        prices = game_ticks.filter(pl.col("game_id") == game_id).sort("tick")["price"].to_list()
        lines.append(f"`{game_id}` {count} ticks, peak {peak:.2f}x  \n`{sparkline(prices)}`")
    return dg.MetadataValue.md("\n\n".join(lines) or "no games")


def counts(frame: pl.DataFrame, column: str) -> dg.MetadataValue:
    return dg.MetadataValue.json({str(k): v for k, v in frame.group_by(column).len().sort(column).iter_rows()})
