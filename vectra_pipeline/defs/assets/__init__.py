"""Every asset, by stage of the data path: bronze, silver and gold per day, datasets across days.

Each asset that is a table of the schema registry carries its columns and their descriptions as
``dagster/column_schema`` (the asset page's "Columns"); ``training_dataset`` carries those of the version's
observations file. Attached here, once, so the stage modules never repeat the registry.
"""

import dagster as dg

from vectra_pipeline.defs.assets import bronze, datasets, gold, player, silver
from vectra_pipeline.schema import TABLES

# The registry table an asset is, when its name is not a table's.
TABLE_OF_ASSET = {"training_dataset": "dataset_observations"}


def column_schema(table_name: str) -> dg.TableSchema:
    table = TABLES[table_name]
    return dg.TableSchema(columns=[dg.TableColumn(c.name, str(c.dtype), description=c.doc) for c in table.columns])


def _with_column_schema(spec: dg.AssetSpec) -> dg.AssetSpec:
    name = spec.key.to_user_string()
    table = TABLE_OF_ASSET.get(name, name)
    if table not in TABLES:
        return spec
    return spec.merge_attributes(metadata={"dagster/column_schema": column_schema(table)})


ASSETS = list(dg.map_asset_specs(_with_column_schema, [*bronze.assets, *silver.assets, *gold.assets, *player.assets, *datasets.assets]))
