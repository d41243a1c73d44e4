"""The optional parts of the light agent, loaded when a command needs them.

The simulator is a package of its own (``simulator/``), installed with the ``simulator`` extra, which also brings
the libraries its server runs on. A command that needs it asks here, so a missing piece is one line that says how
to install it, never a traceback.
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

from capture_agent.errors import VectraError

_SERVER_LIBRARIES = ("socketio", "uvicorn")  # the server imports them lazily: check before it is needed


def load_simulator(module: str) -> ModuleType:
    """``simulator.<module>``, or a :class:`VectraError` naming the install command when the simulator (or, for its
    ``server``, python-socketio or uvicorn) is not installed."""
    needed = ("simulator", *(_SERVER_LIBRARIES if module == "server" else ()))
    missing = [name for name in needed if importlib.util.find_spec(name) is None]
    if missing:
        raise VectraError(
            f"the simulator is not installed ({', '.join(missing)} missing): "
            "pip install 'vectra[simulator]' (scripts/setup.sh installs every extra)"
        )
    return importlib.import_module(f"simulator.{module}")
