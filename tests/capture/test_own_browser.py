"""``vectra browser`` starts a browser whose DevTools listen on loopback only; a capture attached to its page — whose
socket opened before the attach — loses nothing sent after the attach, with and without reload; Ctrl-C closes it.

"Nothing lost" is checked against the simulator's wire log: every packet the server sent or read from a moment
just after the attach to a moment just before the stop is landed (the page's own frames as redaction leaves them).
"""

from __future__ import annotations

import asyncio
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from pathlib import Path

import pytest
from capture_kit import RunningCapture, capture_session, landed_rows, wait_for
from test_capture_direct import wire_records

from capture_agent.cli import main
from capture_agent.errors import VectraError
from capture_agent.own_browser import browser_command, capture_line, check_debug_address
from capture_agent.protocol.engineio import RECORD_SEPARATOR
from capture_agent.redact import redact_frame
from capture_agent.sources.browser import BrowserOptions
from simulator.server import start_simulator

REPO = Path(__file__).resolve().parents[2]
ATTACH_MARGIN_NS = 250_000_000  # a packet on the wire at the very moment of the attach may fall on either side
IN_FLIGHT_NS = 1_000_000_000  # sent just before the stop, still on its way on loaded shared cores
LINE = re.compile(r"^vectra capture --source browser --connect-cdp http://127\.0\.0\.1:(\d+) --url (\S+)$")


def test_the_devtools_port_stays_on_loopback_and_a_busy_port_is_one_line(tmp_path, capsys):
    for address in ("0.0.0.0", "192.168.1.20", "::", "localhost"):
        with pytest.raises(VectraError, match="loopback|this machine only"):
            check_debug_address(address)
    check_debug_address("127.0.0.1")
    check_debug_address("::1")
    command = browser_command("/usr/bin/chromium", tmp_path, "127.0.0.1", 9333, "https://rugs.fun/")
    assert "--remote-debugging-address=127.0.0.1" in command and "--remote-debugging-port=9333" in command
    assert command[-1] == "https://rugs.fun/" and f"--user-data-dir={tmp_path}" in command
    assert capture_line("127.0.0.1", 9333, "https://rugs.fun/") == (
        "vectra capture --source browser --connect-cdp http://127.0.0.1:9333 --url https://rugs.fun/"
    )

    handlers = [signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)]
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        cases = (
            (["--port", str(port)], f"port {port} on 127.0.0.1 is already in use"),
            (["--address", "0.0.0.0"], "listens on this machine only"),
            (["--browser", str(tmp_path / "no-such-browser")], "no such executable"),
        )
        for extra, message in cases:
            assert main(["browser", "--profile", str(tmp_path / "profile"), *extra]) == 2
            error = capsys.readouterr().err
            assert message in error and len(error.strip().splitlines()) == 1
    assert not (tmp_path / "profile").exists()  # refused before anything started
    assert [signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)] == handlers


def test_connect_cdp_stays_on_this_machine_unless_said_otherwise():
    for url in ("http://127.0.0.1:9222", "http://localhost:9222", "http://[::1]:9222", "ws://127.0.0.1:9222/devtools/browser/x"):
        BrowserOptions(connect_cdp=url)
    for url in ("http://10.0.0.5:9222", "http://127.0.0.1.nip.io:9222", "http://capture-box:9222"):
        with pytest.raises(VectraError, match="--connect-cdp-public"):
            BrowserOptions(connect_cdp=url)
        BrowserOptions(connect_cdp=url, connect_cdp_public=True)
    with pytest.raises(VectraError, match="not a DevTools address"):
        BrowserOptions(connect_cdp="127.0.0.1:9222")


def landed_packets(rows: list[dict]) -> Counter:
    """(wire direction, packet) of every landed frame, polling bodies split: the server's "out" is our "in"."""
    landed: Counter = Counter()
    for row in rows:
        if row["record_type"] == "frame" and row["payload_text"] is not None:
            parts = row["payload_text"].split(RECORD_SEPARATOR) if row["transport"] == "polling" else [row["payload_text"]]
            landed.update(("out" if row["direction"] == "in" else "in", part) for part in parts)
    return landed


def assert_nothing_lost(wire: list[dict], rows: list[dict], attach_ns: int, stop_ns: int) -> None:
    expected = Counter(
        (r["direction"], r["frame"] if r["direction"] == "out" else redact_frame(r["frame"]))
        for r in wire
        if attach_ns + ATTACH_MARGIN_NS <= r["t_ns"] <= stop_ns - IN_FLIGHT_NS
    )
    assert sum(expected.values()) > 20  # the window held a real stretch of play
    missing = expected - landed_packets(rows)
    assert not missing, f"sent after the attach, never landed: {[(d, text[:80], n) for (d, text), n in list(missing.items())[:5]]}"


class Lines:
    """A process's output lines, read by a thread so that waiting for one has a deadline."""

    def __init__(self, stream) -> None:
        self.lines: queue.Queue = queue.Queue()
        threading.Thread(target=lambda: [self.lines.put(line.rstrip("\n")) for line in stream], daemon=True).start()

    def next(self, timeout: float = 60) -> str:
        return self.lines.get(timeout=timeout)


def listening(port: int) -> set[str]:
    """The local addresses that listen on ``port`` (IPv4 and IPv6), from /proc/net."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, port_hex = local.rsplit(":", 1)
            if state == "0A" and int(port_hex, 16) == port:
                found.add(address)
    return found


@pytest.mark.browser
def test_vectra_browser_prints_a_working_line_and_attaching_loses_nothing_after_the_attach(tmp_path):
    simulator = start_simulator(speed=10, bots=2, wire_log=tmp_path / "wire.jsonl")
    profile = tmp_path / "profile"
    command = [sys.executable, "-m", "capture_agent.cli", "browser", "--headless", "--port", "0", "--profile", str(profile),
               "--url", simulator.url]  # fmt: skip
    browser = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = Lines(browser.stdout), Lines(browser.stderr)
        line = out.next()
        port_text, url = LINE.match(line).groups()
        assert url == simulator.url
        port = int(port_text)
        assert listening(port) == {"0100007F"}  # 127.0.0.1, and nothing else
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/version", timeout=10) as answer:
            assert b"webSocketDebuggerUrl" in answer.read()
        wire = tmp_path / "wire.jsonl"
        asyncio.run(wait_for(lambda: wire.exists() and len(wire_records(wire)) > 40, 60))  # the page plays already

        # 1. --no-reload, through the library: the old socket's frames from the attach on, and the page's clicks
        attach_ns, stop_ns, clicks = asyncio.run(_attach_without_reload(tmp_path / "wait", simulator.url, port, wire))
        rows = landed_rows(tmp_path / "wait")
        assert rows[0]["event"] == "socket_predates_attach" and rows[0]["detail"]["reload"] is False
        assert_nothing_lost(wire_records(wire), rows, attach_ns, stop_ns)
        assert [c["detail"]["name"] for c in clicks] == ["BUY"]  # the listener reached the document already open

        # 2. the printed line itself, run as it is (it reloads the page): from the handshake on
        result = subprocess.run(
            [sys.executable, "-m", "capture_agent.cli", *line.split()[1:], "--data", str(tmp_path / "reload"),
             "--duration", "4", "--no-status"],
            cwd=REPO, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert "reloading the page" in result.stderr
        rows = landed_rows(tmp_path / "reload")
        frames = [r for r in rows if r["record_type"] == "frame"]
        assert rows[0]["event"] == "socket_predates_attach" and rows[0]["detail"]["reload"] is True
        assert any(r["payload_text"].startswith("0{") and r["direction"] == "in" for r in frames)  # the new handshake
        assert_nothing_lost(wire_records(wire), rows, frames[0]["recv_wall_ns"], frames[-1]["recv_wall_ns"])

        # 3. the captures came and went; the browser is still the player's, until Ctrl-C closes it
        assert browser.poll() is None
        pid = _browser_pid(profile)
        browser.send_signal(signal.SIGINT)
        assert browser.wait(timeout=60) == 0
        said = [err.next(5) for _ in range(4)]
        assert said[-1] == "vectra browser: SIGINT: closed the browser it started", said
        assert not _alive(pid) and not listening(port)
        assert profile.is_dir()  # the profile is the player's: kept
    finally:
        if browser.poll() is None:
            browser.kill()
            browser.wait()
        simulator.stop()


def checkable(wire: Path, attach_ns: int) -> int:
    """How many packets the wire log holds that the check after a stop now would cover."""
    end_ns = time.time_ns() - IN_FLIGHT_NS
    return sum(attach_ns + ATTACH_MARGIN_NS <= r["t_ns"] <= end_ns for r in wire_records(wire))


async def _attach_without_reload(data: Path, url: str, port: int, wire: Path) -> tuple[int, int, list]:
    attached: list[int] = []

    async def mark_attach(_page) -> None:  # called once CDP is attached and Network enabled
        attached.append(time.time_ns())

    options = BrowserOptions(url=url, connect_cdp=f"http://127.0.0.1:{port}", reload_stale=False, prepare_page=mark_attach,
                             say=lambda _text: None)  # fmt: skip
    capture = RunningCapture(capture_session(data, options))
    try:
        session = await capture.started()
        page = session.source.page
        await page.wait_for_function("document.getElementById('phase').textContent !== '–'", timeout=20000)
        await page.click("#buy")
        await wait_for(lambda: checkable(wire, attached[0]) > 60, 60, interval=0.2)
        stop_ns = time.time_ns()
    finally:
        await capture.stop()
    clicks = [r for r in landed_rows(data) if r["record_type"] == "click"]
    return attached[0], stop_ns, clicks


def _browser_pid(profile: Path) -> int:
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if f"--user-data-dir={profile}".encode() in args and not any(a.startswith(b"--type=") for a in args):
            return int(pid)
    raise AssertionError("the browser is not running")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
