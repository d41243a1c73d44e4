"""A free TCP port on loopback (the OS picks it): for a server a test starts on it, or a port nothing listens on."""

from __future__ import annotations

import socket


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
