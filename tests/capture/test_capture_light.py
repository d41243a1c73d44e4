"""The capture agent stays light: it imports without Dagster, polars or the simulator, and a command that needs the
simulator says in one line how to install it when it is missing. Each check runs in a fresh interpreter."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
HEAVY = ("dagster", "polars", "socketio", "engineio", "uvicorn", "simulator", "vectra_pipeline")


def _loaded_after(code: str) -> set[str]:
    """Top-level packages a fresh interpreter holds after running ``code``."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted({{name.split('.')[0] for name in sys.modules}})))"
    result = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return set(json.loads(result.stdout.splitlines()[-1]))


def test_the_agent_imports_none_of_the_pipeline_or_the_simulator() -> None:
    loaded = _loaded_after(
        "import capture_agent.cli, capture_agent.session, capture_agent.sources.direct, capture_agent.sources.browser, "
        "capture_agent.landing.writer, capture_agent.live.feed, capture_agent.protocol.rules, "
        "capture_agent.protocol.trading, capture_agent.protocol.client"
    )
    assert "capture_agent" in loaded  # the probe ran
    assert not loaded & set(HEAVY), loaded & set(HEAVY)


def test_every_pipeline_module_imports_without_the_simulator() -> None:
    """The game's rules live in the protocol core: nothing under vectra_pipeline reaches into the simulator."""
    loaded = _loaded_after(
        "import importlib, pkgutil, vectra_pipeline\n"
        "for module in pkgutil.walk_packages(vectra_pipeline.__path__, 'vectra_pipeline.'):\n"
        "    importlib.import_module(module.name)"
    )
    assert "dagster" in loaded  # the walk reached the definitions
    assert "simulator" not in loaded


@pytest.mark.parametrize(
    ("missing", "argv"),
    [
        ("simulator", ["synth", "--frames", "5", "--data", "{tmp}"]),
        ("socketio", ["simulate", "--port", "0"]),
        ("uvicorn", ["capture", "--source", "simulator", "--data", "{tmp}", "--max-frames", "1", "--no-status"]),
    ],
)
def test_a_command_without_the_simulator_extra_says_how_to_install_it(missing, argv, tmp_path) -> None:
    # a None entry in sys.modules makes the package unimportable, as if it were not installed
    args = [arg.replace("{tmp}", str(tmp_path)) for arg in argv]
    code = f"import sys; sys.modules[{missing!r}] = None\nfrom capture_agent.cli import main\nsys.exit(main({args!r}))"
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert missing in lines[0] and "pip install 'vectra[simulator]'" in lines[0]
