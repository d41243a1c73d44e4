"""``vectra``: one entry point, one module per subcommand.

A subcommand module exposes ``add_arguments(parser)`` and ``run(args) -> int``; its one-line help is here. Only the
chosen module is imported, and heavy libraries (Dagster, DuckDB, Playwright) are imported inside ``run``, so
``vectra capture`` starts fast and never loads the pipeline.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from capture_agent.errors import VectraError

COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("vectra_pipeline.commands.demo", "run the whole chain on the embedded simulator and query the result"),
    "simulate": ("capture_agent.commands.simulate", "serve a protocol-faithful rugs.fun simulator with a play page"),
    "capture": ("capture_agent.commands.capture", "record every frame of a game socket into the landing zone"),
    "import": ("capture_agent.commands.import_frames", "turn JSONL recordings or raw frame files into landing data"),
    "synth": ("capture_agent.commands.synth", "write a synthetic landing capture of N frames (benchmarks)"),
    "build": ("vectra_pipeline.commands.build", "materialise the pipeline (bronze → datasets) in-process"),
    "query": ("vectra_pipeline.commands.query", "run SQL against the DuckDB warehouse and print a table"),
    "ui": ("vectra_pipeline.commands.ui", "open the Dagster UI (assets, lineage, sensor, nightly schedule) on 127.0.0.1"),
    "decode": ("capture_agent.commands.decode", "decode Engine.IO/Socket.IO frames (one per line) to JSON records"),
    "prices": ("capture_agent.commands.prices", "print the seed-determined price path of a game (provably fair)"),
}


def _chosen_command(argv: list[str]) -> str | None:
    for token in argv:
        if not token.startswith("-"):
            return token if token in COMMANDS else None
    return None


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
    for name, (module_name, help_text) in COMMANDS.items():
        sub = subparsers.add_parser(name, help=help_text, description=help_text)
        if name == chosen:
            module = importlib.import_module(module_name)
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
