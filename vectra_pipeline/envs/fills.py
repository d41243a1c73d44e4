"""When an order executes. ``instant`` (the default): at the tick it is sent, at that tick's price. ``recorded``: after
a delay drawn from the recording player's executed orders (silver ``actions``: ``slippage_ticks`` = execution tick −
the tick the order was sent on, with that order's ``ack_latency_ms``), at the price of the tick it executes on — so
an agent meets the latency a real click met (recorded on the simulator: median 2 ticks, p90 20).

Each draw is one recorded order, so a delay and its ack latency stay paired.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from vectra_pipeline import storage
from vectra_pipeline.datasets.registry import DatasetVersion

FILLS = ("instant", "recorded")


@dataclass(frozen=True, eq=False)
class FillModel:
    name: str
    slippage_ticks: np.ndarray  # int64 (k,): execution tick − sent tick of each recorded order
    ack_latency_ms: np.ndarray  # float64 (k,): its ack latency

    @classmethod
    def instant(cls) -> FillModel:
        return cls("instant", np.zeros(1, dtype=np.int64), np.zeros(1))

    @classmethod
    def from_actions(cls, actions: pl.DataFrame) -> FillModel:
        """The delays of silver ``actions`` rows that executed with a known ack latency (pure)."""
        executed = actions.filter(
            pl.col("slippage_ticks").is_not_null() & (pl.col("slippage_ticks") >= 0)
            & pl.col("ack_latency_ms").is_not_null() & pl.col("ack_latency_ms").is_finite() & (pl.col("ack_latency_ms") >= 0)
        )
        if executed.is_empty():
            raise ValueError("no executed order with a recorded slippage and ack latency to draw fills from: use fill='instant'")
        return cls("recorded", executed["slippage_ticks"].cast(pl.Int64).to_numpy(), executed["ack_latency_ms"].cast(pl.Float64).to_numpy())

    def draw(self, rng: np.random.Generator) -> tuple[int, float]:
        """(delay in ticks, ack latency in ms) of one order."""
        if len(self.slippage_ticks) == 1:  # nothing to choose: the generator is left untouched
            return int(self.slippage_ticks[0]), float(self.ack_latency_ms[0])
        pick = int(rng.integers(len(self.slippage_ticks)))
        return int(self.slippage_ticks[pick]), float(self.ack_latency_ms[pick])


def recorded_fills(version: DatasetVersion) -> FillModel:
    """The fills of the orders recorded on the version's days (silver ``actions`` under the version's data root)."""
    root = version.path.parents[2]  # <data>/datasets/<kind>/<id>
    dates = [d for d in version.manifest.get("partitions", []) if storage.table_path(root, "actions", d).exists()]
    if not dates:
        raise ValueError(f"fill='recorded' needs the silver actions of the version's days under {root}: none found "
                         "(a copied version travels without them); use fill='instant'")
    return FillModel.from_actions(pl.concat([storage.read_table(root, "actions", d) for d in dates], how="vertical_relaxed"))


def fill_model(fill: str | FillModel, version: DatasetVersion | None) -> FillModel:
    """``"instant"``, ``"recorded"`` (the version's recorded orders) or a :class:`FillModel`."""
    if isinstance(fill, FillModel):
        return fill
    if fill == "instant":
        return FillModel.instant()
    if fill == "recorded":
        if version is None:
            raise ValueError("fill='recorded' draws from a dataset version's recorded orders: pass dataset=PATH")
        return recorded_fills(version)
    raise ValueError(f"unknown fill {fill!r}; expected one of {', '.join(FILLS)} or a FillModel")
