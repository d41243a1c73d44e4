"""``vectra``'s commands: every registered module imports and builds its parser, ``--help`` lists them all, the agent's
own commands never read the pipeline, and a missing extra or a broken registration is one line."""

from __future__ import annotations

import argparse
import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from capture_agent import cli
from capture_agent.commands import COMMANDS, Command
from capture_agent.errors import VectraError

REPO = Path(__file__).resolve().parents[2]
AGENT = {"simulate", "capture", "browser", "import", "synth", "decode", "prices"}
PIPELINE = {"demo", "build", "datasets", "evaluate", "query", "ui", "game"}


def _python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)


def test_every_registered_command_imports_and_builds_its_parser():
    commands = cli.available_commands()
    assert set(commands) == AGENT | PIPELINE  # the pipeline's come from its entry point, not from the agent
    assert set(COMMANDS) == AGENT
    for name, command in commands.items():
        module = importlib.import_module(command.module)
        parser = argparse.ArgumentParser(prog=f"vectra {name}")
        module.add_arguments(parser)
        assert callable(module.run), name
        assert parser.format_help().startswith(f"usage: vectra {name}")


def test_help_lists_every_command_with_its_line():
    result = subprocess.run([sys.executable, "-m", "capture_agent.cli", "--help"], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    listed = " ".join(result.stdout.split())  # argparse wraps long help lines
    for name, command in cli.available_commands().items():
        assert f" {name} {command.help}" in listed, name


def test_the_agents_own_commands_never_load_the_pipeline():
    code = (
        "import json, sys\n"
        "from capture_agent.cli import main\n"
        "try:\n"
        "    main(['capture', '--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(json.dumps(sorted({name.split('.')[0] for name in sys.modules})))"
    )
    result = _python(code)
    assert result.returncode == 0, result.stderr
    loaded = set(json.loads(result.stdout.splitlines()[-1]))
    assert "capture_agent" in loaded and not loaded & {"vectra_pipeline", "dagster", "polars", "duckdb", "simulator"}


def test_a_pipeline_command_without_the_pipeline_says_what_to_install(tmp_path):
    hide = "import sys; sys.modules['dagster'] = None\nfrom capture_agent.cli import main\n"
    result = _python(hide + f"sys.exit(main(['build', '--data', {str(tmp_path)!r}]))")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "vectra: error: the pipeline is not installed (dagster missing): pip install 'vectra[pipeline]' "
        "(scripts/setup.sh installs every extra)"
    ]
    listed = _python(hide + "main(['--help'])")
    assert listed.returncode == 0 and " build " in listed.stdout  # still listed, with what it needs said on use


def test_a_broken_or_clashing_registration_is_one_clear_line(monkeypatch, capsys):
    class Entry:
        def __init__(self, value, load):
            self.value, self.load = value, load

    def failing():
        raise ImportError("No module named 'vectra_pipeline.commands'")

    monkeypatch.setattr(cli, "entry_points", lambda group: [Entry("vectra_pipeline.commands:COMMANDS", failing)])
    assert cli.main(["build"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot be loaded" in err and "scripts/setup.sh" in err
    assert cli.main(["prices", "--seed", "s", "--game-id", "20251217-cc4486eb5e354cd5"]) == 0  # the agent's own still run

    clash = {"capture": Command("elsewhere.capture", "another capture")}
    monkeypatch.setattr(cli, "entry_points", lambda group: [Entry("elsewhere:COMMANDS", lambda: clash)])
    with pytest.raises(VectraError, match="registered twice"):
        cli.available_commands()
