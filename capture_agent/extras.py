"""The optional parts of Vectra, checked when a command needs them.

The simulator (``simulator/``, the ``simulator`` extra, which also brings the libraries its server runs on) and the
pipeline (``vectra_pipeline/``, the ``pipeline`` extra: Dagster, polars, DuckDB…) are installed apart from the
light agent; so is object-store support (the ``s3`` extra: s3fs) for an ``s3://`` data root. A command that needs one asks here first, so a missing piece is one line that says how to install it,
never a traceback.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Iterable
from types import ModuleType

from capture_agent.errors import VectraError

_SERVER_LIBRARIES = ("socketio", "uvicorn")  # the server imports them lazily: check before it is needed


def require(extra: str, modules: Iterable[str], *, what: str | None = None) -> None:
    """A :class:`VectraError` naming the install command when one of ``modules`` (of the ``extra``) is missing;
    ``what`` names the part for the user when the extra's own name would not read well."""
    missing = [name for name in modules if importlib.util.find_spec(name) is None]
    if missing:
        raise VectraError(
            f"the {what or extra} is not installed ({', '.join(missing)} missing): "
            f"pip install 'vectra[{extra}]' (scripts/setup.sh installs every extra)"
        )


def load_simulator(module: str) -> ModuleType:
    """``simulator.<module>``, once the simulator (and, for its ``server``, python-socketio and uvicorn) is there."""
    require("simulator", ("simulator", *(_SERVER_LIBRARIES if module == "server" else ())))
    return importlib.import_module(f"simulator.{module}")
