"""The player's own Chromium or Chrome, with its DevTools port on loopback only: what ``vectra browser`` runs.

Attaching to the browser the player uses anyway — their profile, their wallet extension, no automation marks —
is the safest way to capture a real session: Vectra never drives that browser, it only listens to one page over
CDP. This module finds the browser, builds its command line (pure), starts it in a process group of its own, waits
until ``/json/version`` answers and, when asked, stops that group and nothing else. The DevTools port is full
control of the browser for any local process, so it is bound to a loopback address, always (docs/SECURITY.md).
"""

from __future__ import annotations

import ipaddress
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from capture_agent.errors import VectraError
from capture_agent.sources.browser import CHROMIUM_FLAGS, HEADLESS_FLAGS, sandbox_off

BROWSERS = (
    "/usr/bin/chromium",
    "google-chrome",
    "google-chrome-stable",
    "chromium-browser",
    "chromium",
    "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome",
    "/Applications/Chromium.app/Contents/MacOS/Chromium",
)
DEFAULT_ADDRESS = "127.0.0.1"
DEFAULT_PORT = 9222
DEFAULT_URL = "https://rugs.fun/"
READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
ACTIVE_PORT_FILE = "DevToolsActivePort"  # where Chromium writes the port it chose for --remote-debugging-port=0


def find_browser(explicit: str | None = None) -> str:
    """The browser to start: ``explicit`` (a path or a name on PATH), else the first of :data:`BROWSERS` installed."""
    for candidate in (explicit,) if explicit else BROWSERS:
        found = shutil.which(candidate)
        if found:
            return found
    if explicit:
        raise VectraError(f"--browser {explicit}: no such executable")
    raise VectraError("no Chromium or Chrome found (looked for chromium, google-chrome, chromium-browser): "
                      "install one (`apt-get install -y chromium`) or pass --browser PATH")


def default_profile() -> Path:
    """Vectra's own browser profile, in the user's data folder: the player's everyday profile stays untouched
    (and Chrome refuses remote debugging on its default profile anyway)."""
    data_home = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(data_home) / "vectra" / "browser-profile"


def check_debug_address(address: str) -> None:
    """Only a loopback IP address: DevTools has no authentication and no TLS."""
    try:
        loopback = ipaddress.ip_address(address).is_loopback
    except ValueError:
        raise VectraError(f"--address {address!r} is not an IP address: give a loopback one such as 127.0.0.1") from None
    if not loopback:
        raise VectraError(
            f"--address {address}: the DevTools port is full control of the browser for anyone who reaches it; "
            "it listens on this machine only (127.0.0.1)"
        )


def devtools_url(address: str, port: int) -> str:
    host = f"[{address}]" if ":" in address else address
    return f"http://{host}:{port}"


def check_port_free(address: str, port: int) -> None:
    """One line now rather than a browser whose DevTools server silently failed to start."""
    if port == 0:
        return
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((address, port))
        except OSError:
            raise VectraError(
                f"port {port} on {address} is already in use (a browser already started with remote debugging?): "
                "close it or pick another with --port"
            ) from None


def browser_command(browser: str, profile: Path, address: str, port: int, url: str, *, headless: bool = False) -> list[str]:
    """The browser's command line: the profile, DevTools on ``address:port`` and the page to open."""
    command = [browser, f"--user-data-dir={profile}", f"--remote-debugging-address={address}", f"--remote-debugging-port={port}"]
    command += ["--no-first-run", "--no-default-browser-check"]
    if headless:  # servers and tests: no window, and quiet on a closed network
        command += [*CHROMIUM_FLAGS, *HEADLESS_FLAGS]
    if sandbox_off():
        command.append("--no-sandbox")
    return [*command, url]


def capture_line(address: str, port: int, url: str) -> str:
    """The command to run next, exactly."""
    return f"vectra capture --source browser --connect-cdp {devtools_url(address, port)} --url {shlex.quote(url)}"


@dataclass
class DebugBrowser:
    """A browser this process started; ``stop()`` ends its process group, which holds it and only its children."""

    process: subprocess.Popen
    profile: Path
    address: str
    port: int  # the port asked for (0: Chromium's choice, known once ready)
    log_path: Path
    version: str | None = None

    @property
    def url(self) -> str:
        return devtools_url(self.address, self.port)

    def wait_ready(self, timeout_s: float = READY_TIMEOUT_S) -> str:
        """Wait until ``/json/version`` answers; returns the browser's version. A browser that exits first (another
        one already holds the profile) or never answers is stopped and reported in one line."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise VectraError(
                    f"the browser exited at once (code {self.process.returncode}): is it already running with "
                    f"{self.profile}? close it or pass another --profile ({self._last_words()})"
                )
            if self.port == 0:
                self.port = _active_port(self.profile)
            if self.port:
                answer = _version(self.url)
                if answer is not None:
                    self.version = answer
                    return answer
            time.sleep(0.1)
        words = self._last_words()
        self.stop()
        raise VectraError(f"the browser's DevTools never answered on {self.url} within {timeout_s:g} s ({words})")

    def stop(self) -> None:
        """SIGTERM to the browser's own process group, SIGKILL to whatever is left after STOP_TIMEOUT_S."""
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while _group_alive(self.process) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _group_alive(self.process):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        self.log_path.unlink(missing_ok=True)

    def _last_words(self) -> str:
        lines = [line.strip() for line in self.log_path.read_text(errors="replace").splitlines() if line.strip()]
        return f"its last line: {lines[-1][:200]}" if lines else "it printed nothing"


def start_browser(
    browser: str, profile: Path, *, address: str = DEFAULT_ADDRESS, port: int = DEFAULT_PORT, url: str = DEFAULT_URL,
    headless: bool = False,
) -> DebugBrowser:
    """Start the browser (not yet ready: call :meth:`DebugBrowser.wait_ready`)."""
    check_debug_address(address)
    check_port_free(address, port)
    profile.mkdir(mode=0o700, parents=True, exist_ok=True)  # cookies and the wallet live here: the user's only
    (profile / ACTIVE_PORT_FILE).unlink(missing_ok=True)  # a stale one would name an earlier run's port
    log_fd, log_name = tempfile.mkstemp(prefix="vectra-browser-", suffix=".log")
    with os.fdopen(log_fd, "wb") as log_file:
        process = subprocess.Popen(
            browser_command(browser, profile, address, port, url, headless=headless),
            stdin=subprocess.DEVNULL, stdout=log_file, stderr=log_file,
            start_new_session=True,  # its own process group: Ctrl-C reaches Vectra, which closes exactly this group
        )
    return DebugBrowser(process, profile, address, port, Path(log_name))


def _version(url: str) -> str | None:
    try:
        with urllib.request.urlopen(f"{url}/json/version", timeout=2) as answer:
            return json.loads(answer.read()).get("Browser") or "unknown"
    except (OSError, ValueError, urllib.error.URLError):
        return None


def _active_port(profile: Path) -> int:
    try:
        first = (profile / ACTIVE_PORT_FILE).read_text().splitlines()[0]
    except (OSError, IndexError):
        return 0
    return int(first) if first.isdigit() else 0


def _group_alive(process: subprocess.Popen) -> bool:
    process.poll()  # reaps the leader once it exits, so it does not count as alive
    try:
        os.killpg(process.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
