"""Every asset check, by stage: silver, gold, datasets."""

from vectra_pipeline.defs.checks import datasets, gold, silver

CHECKS = [*silver.checks, *gold.checks, *datasets.checks]
