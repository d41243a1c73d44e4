"""Every asset, by stage of the data path: bronze, silver and gold per day, datasets across days."""

from vectra_pipeline.defs.assets import bronze, datasets, gold, silver

ASSETS = [*bronze.assets, *silver.assets, *gold.assets, *datasets.assets]
