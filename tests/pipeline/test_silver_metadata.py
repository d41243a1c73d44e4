"""game_ticks' metadata, aggregated from its partition as read (not the day's ticks held), is the metadata of the
whole table: row and game counts, price sources, the longest games' sparklines — on every real capture day."""

from __future__ import annotations

import dagster as dg

from vectra_pipeline import storage
from vectra_pipeline.defs.assets import ASSETS
from vectra_pipeline.defs.metadata import counts, price_paths
from vectra_pipeline.defs.partitions import daily
from vectra_pipeline.defs.resources import VectraPaths


def test_game_ticks_metadata_is_the_whole_tables(tmp_path, real_chains):
    checked = 0
    for date, chain in real_chains.items():
        root = tmp_path / date
        for table in ("events", "game_history"):
            storage.write_table(root, table, date, getattr(chain, table))
        instance = dg.DagsterInstance.ephemeral()
        instance.add_dynamic_partitions(daily.name, [date])
        result = dg.materialize(ASSETS, selection=["game_ticks"], partition_key=date, instance=instance,
                                resources={"paths": VectraPaths(data_dir=str(root))})  # fmt: skip
        (materialization,) = result.asset_materializations_for_node("game_ticks")
        metadata = {name: value.value for name, value in materialization.metadata.items()}
        ticks = chain.game_ticks
        assert metadata["dagster/row_count"] == ticks.height
        assert metadata["games"] == ticks["game_id"].n_unique()
        assert metadata["price_sources"] == counts(ticks, "price_source").value
        assert metadata["price_paths"] == price_paths(ticks).value
        checked += ticks["game_id"].n_unique() > 5  # a day with more games than sparklines: the longest chosen
    assert checked
