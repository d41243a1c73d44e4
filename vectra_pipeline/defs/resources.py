"""Resources: where the data lives (``VECTRA_DATA`` / ``--data``, as for every vectra command)."""


from pathlib import Path

import dagster as dg

from capture_agent.config import default_data_dir
from vectra_pipeline import storage


class VectraPaths(dg.ConfigurableResource):
    """The data root: landing/, bronze/, silver/, gold/ and warehouse.duckdb live under it."""

    data_dir: str

    @property
    def root(self) -> Path:
        return storage.location(self.data_dir)


def default_paths() -> VectraPaths:
    return VectraPaths(data_dir=str(default_data_dir().resolve()))


resources = {"paths": default_paths()}
