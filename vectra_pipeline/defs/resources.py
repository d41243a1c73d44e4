"""Resources: where the data lives (``VECTRA_DATA`` / ``--data``, as for every vectra command)."""

import os
from pathlib import Path

import dagster as dg

from capture_agent.config import DATA_ENV, default_data_dir
from vectra_pipeline import storage


class VectraPaths(dg.ConfigurableResource):
    """The data root (a local folder or ``s3://bucket/prefix``): landing/, bronze/, silver/, gold/ and datasets/ live
    under it."""

    data_dir: str

    @property
    def root(self) -> Path:
        return storage.location(self.data_dir)


def default_paths() -> VectraPaths:
    named = os.environ.get(DATA_ENV, "")
    return VectraPaths(data_dir=named if named.startswith("s3://") else str(default_data_dir().resolve()))


resources = {"paths": default_paths()}
