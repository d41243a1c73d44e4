"""The light agent's ``vectra`` subcommands, one module each, registered here: name → :class:`Command`.

A command module exposes ``add_arguments(parser)`` and ``run(args) -> int`` (parse the arguments, build the
library's options, call it, print): it is imported only when chosen, and imports what it needs beyond the agent's
own dependencies inside ``run``. Another package adds its commands with a registry of the same shape, named in the
``vectra.commands`` entry-point group (``pyproject.toml``); the CLI reads it only for a command that is not the
agent's own, so ``vectra capture`` never touches the pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Command:
    module: str  # imported only when the command is chosen
    help: str  # the one line ``vectra --help`` shows
    extra: str | None = None  # the optional part it needs (``pip install 'vectra[extra]'``)
    needs: tuple[str, ...] = ()  # modules of that extra, checked before the command module is imported


COMMANDS: dict[str, Command] = {
    "simulate": Command("capture_agent.commands.simulate", "serve a protocol-faithful rugs.fun simulator with a play page"),
    "capture": Command("capture_agent.commands.capture", "record every frame of a game socket into the landing zone"),
    "browser": Command(
        "capture_agent.commands.browser", "start your own Chromium/Chrome with a loopback-only DevTools port to capture"
    ),
    "import": Command("capture_agent.commands.import_frames", "turn JSONL recordings or raw frame files into landing data"),
    "synth": Command("capture_agent.commands.synth", "write a synthetic landing capture of N frames (benchmarks)"),
    "decode": Command("capture_agent.commands.decode", "decode Engine.IO/Socket.IO frames (one per line) to JSON records"),
    "prices": Command("capture_agent.commands.prices", "print the seed-determined price path of a game (provably fair)"),
}
