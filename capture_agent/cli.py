"""``vectra``: one entry point, one module per subcommand.

The agent's own commands are registered in :mod:`capture_agent.commands`; other packages (the pipeline) register
theirs under the ``vectra.commands`` entry-point group, read only when the chosen command is not the agent's own.
Only the chosen command's module is imported, after the optional part it needs is checked (one line saying what
to install when it is missing), and heavy libraries are imported inside ``run``: ``vectra capture`` starts fast
and never loads the pipeline.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from importlib.metadata import entry_points

from capture_agent.commands import COMMANDS, Command
from capture_agent.errors import VectraError
from capture_agent.extras import require

ENTRY_POINT_GROUP = "vectra.commands"


def available_commands(chosen: str | None = None) -> dict[str, Command]:
    """The agent's commands, and every registered package's unless ``chosen`` is the agent's own."""
    commands = dict(COMMANDS)
    if chosen in commands:
        return commands
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        try:
            registry = entry.load()
        except Exception as error:  # noqa: BLE001 - a broken install is one line, not a traceback
            raise VectraError(
                f"the commands registered as {entry.value} cannot be loaded ({type(error).__name__}: {error}); "
                "reinstall with scripts/setup.sh"
            ) from error
        for name, command in registry.items():
            if name in commands:
                raise VectraError(f"vectra {name} is registered twice ({commands[name].module}, {command.module})")
            commands[name] = command
    return commands


def _chosen_command(argv: list[str]) -> str | None:
    return next((token for token in argv if not token.startswith("-")), None)


class _OneLineErrors(argparse.ArgumentParser):
    """argparse prints usage and then the error; users get one line that says where help is."""

    def error(self, message: str):  # type: ignore[override]
        print(f"{self.prog}: error: {message} (see `{self.prog} --help`)", file=sys.stderr)
        raise SystemExit(2)


def build_parser(argv: list[str]) -> argparse.ArgumentParser:
    parser = _OneLineErrors(
        prog="vectra",
        description="Capture rugs.fun play verbatim and turn it into versioned training datasets.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    chosen = _chosen_command(argv)
    for name, command in available_commands(chosen).items():
        sub = subparsers.add_parser(name, help=command.help, description=command.help)
        if name == chosen:
            if command.extra:
                require(command.extra, command.needs)
            module = importlib.import_module(command.module)
            module.add_arguments(sub)
            sub.set_defaults(run=module.run)
    return parser


def _redacted(error: BaseException) -> str:
    """An error's text as one line with secrets masked: it may quote a URL, a header or a frame."""
    from capture_agent.redact import redact_text

    return redact_text(" ".join(str(error).split()))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        parser = build_parser(argv)
        args = parser.parse_args(argv)
        return int(args.run(args) or 0)
    except VectraError as error:
        print(f"vectra: error: {_redacted(error)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("vectra: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as error:  # noqa: BLE001 - the user gets one line, developers opt into the traceback
        if os.environ.get("VECTRA_DEBUG"):
            raise
        print(
            f"vectra: internal error: {type(error).__name__}: {_redacted(error)} (set VECTRA_DEBUG=1 for the traceback)",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
