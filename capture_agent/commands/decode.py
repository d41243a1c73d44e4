"""``vectra decode [FILE]``: decode Engine.IO/Socket.IO frames, one per line, into JSON records.

Each input line is one WebSocket message or one long-polling body; only the line break is removed. Every packet
becomes one JSON line with its input ``line`` number, so a polling body gives several. Lines pasted from DevTools,
HAR or CDP are read too (:mod:`capture_agent.protocol.pasted`).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from capture_agent.errors import VectraError
from capture_agent.protocol.jsjson import dumps
from capture_agent.protocol.pasted import decode_line, packet_record


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", nargs="?", default="-", help="file of frames, one per line (default: stdin, also '-')")


def _lines(stream: BinaryIO) -> Iterator[bytes]:
    for line in stream:
        if line.endswith(b"\r\n"):
            yield line[:-2]
        elif line.endswith(b"\n"):
            yield line[:-1]
        else:
            yield line


def _open(path: str) -> BinaryIO:
    if path == "-":
        return sys.stdin.buffer
    file = Path(path)
    if not file.exists():
        raise VectraError(f"{path}: no such file; give a file of frames, one per line, or pipe them on stdin")
    if file.is_dir():
        raise VectraError(f"{path} is a directory; give a file of frames, one per line")
    try:
        return file.open("rb")
    except OSError as error:
        raise VectraError(f"{path}: cannot read ({error.strerror})") from None


def run(args: argparse.Namespace) -> int:
    stream = _open(args.file)
    out = sys.stdout
    try:
        for number, data in enumerate(_lines(stream), start=1):
            packets, cleaned = decode_line(data)
            out.write("".join(dumps(packet_record(packet, number, cleaned)) + "\n" for packet in packets))
    finally:
        if stream is not sys.stdin.buffer:
            stream.close()
    out.flush()
    return 0
