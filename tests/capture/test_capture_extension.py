"""The browser source starts Chromium the way a person's runs: extensions on, no automation marks.

A tiny Manifest V3 extension, built here, has a content script that reports to this test's loopback HTTP server
from the simulator's play page. A headless capture loads it with ``extensions=`` (``--extension``; a temporary
profile, since extensions need one) and must land every frame all the same, checked against the simulator's wire
log. The running Chromium's own command line is read from ``/proc``: Playwright's ``--disable-extensions`` is gone.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from capture_kit import RunningCapture, capture_session, landed_rows, wait_for
from test_capture_browser import UPGRADE_PROBES, assert_same_packets, packets
from test_capture_direct import wire_records

from capture_agent.errors import VectraError
from capture_agent.redact import redact_frame
from capture_agent.sources.browser import IGNORED_DEFAULT_ARGS, BrowserOptions, chromium_args
from simulator.server import start_simulator

CONTENT_SCRIPT = """
const report = new URLSearchParams({page: location.href, webdriver: String(navigator.webdriver)});
fetch("http://127.0.0.1:%d/ran?" + report, {mode: "no-cors"});
"""


def build_extension(folder: Path, report_port: int) -> Path:
    folder.mkdir()
    manifest = {
        "manifest_version": 3, "name": "vectra test probe", "version": "1.0",
        "content_scripts": [{"matches": ["http://127.0.0.1/*"], "js": ["probe.js"], "run_at": "document_idle"}],
    }  # fmt: skip
    (folder / "manifest.json").write_text(json.dumps(manifest))
    (folder / "probe.js").write_text(CONTENT_SCRIPT % report_port)
    return folder


class Reports(BaseHTTPRequestHandler):
    received: list[dict] = []

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.received.append({key: values[0] for key, values in parse_qs(urlsplit(self.path).query).items()})
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


def chromium_command_line(profile: str) -> list[str]:
    """The browser process's arguments (not its helpers'), found by its user-data dir."""
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            args = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        if f"--user-data-dir={profile}" in args and not any(arg.startswith("--type=") for arg in args):
            return args
    raise AssertionError(f"no Chromium runs with the profile {profile}")


def test_extension_dirs_are_checked_and_loaded_without_switching_the_profiles_own_off(tmp_path):
    with pytest.raises(VectraError, match="no manifest.json"):
        BrowserOptions(url="http://127.0.0.1:1", extensions=(str(tmp_path),))
    with pytest.raises(VectraError, match="keeps its own extensions"):
        BrowserOptions(connect_cdp="http://127.0.0.1:9222", extensions=(str(tmp_path),))
    (tmp_path / "manifest.json").write_text("{}")
    args = chromium_args(BrowserOptions(url="http://127.0.0.1:1", headless=True, extensions=(str(tmp_path),)))
    assert f"--load-extension={tmp_path}" in args and "--headless=new" in args
    # --disable-extensions-except would switch off what the profile has installed (the wallet)
    assert not [arg for arg in args if arg.startswith("--disable-extensions")]
    assert set(IGNORED_DEFAULT_ARGS) == {"--disable-extensions", "--enable-automation"}


@pytest.mark.browser
def test_an_unpacked_extension_runs_on_the_page_during_a_headless_capture_and_every_frame_is_landed(tmp_path):
    Reports.received = []
    reports = ThreadingHTTPServer(("127.0.0.1", 0), Reports)
    threading.Thread(target=reports.serve_forever, daemon=True).start()
    extension = build_extension(tmp_path / "probe", reports.server_address[1])
    simulator = start_simulator(speed=10, bots=4, wire_log=tmp_path / "wire.jsonl")
    try:
        stop_ns, seen = asyncio.run(_capture(tmp_path / "data", simulator.url, extension))
    finally:
        simulator.stop()
        reports.shutdown()
        reports.server_close()

    # the content script ran on the capture's page, which a page script sees as a person's browser
    assert {report["page"].rstrip("/") for report in Reports.received} == {simulator.url}
    assert {report["webdriver"] for report in Reports.received} == {"false"}
    assert seen["webdriver"] is False
    args, profile = seen["args"], seen["profile"]
    assert f"--load-extension={extension}" in args and "--headless=new" in args
    assert "--disable-extensions" not in args and "--enable-automation" not in args
    assert not Path(profile).exists()  # the temporary profile is gone with the browser

    # every frame is still landed: nothing missing, nothing twice, in order, both directions
    rows = landed_rows(tmp_path / "data")
    wire = wire_records(tmp_path / "wire.jsonl")
    (connected,) = [r for r in rows if r["record_type"] == "connection" and r["event"] == "connected"]
    sid = connected["socket_id"]
    sent = [(r["t_ns"], r["frame"]) for r in wire if r["sid"] == sid and r["direction"] == "out"]
    assert_same_packets(packets(rows, sid, "in"), sent, stop_ns)
    received = [redact_frame(r["frame"]) for r in wire if r["sid"] == sid and r["direction"] == "in"]
    assert [text for _, text in packets(rows, sid, "out") if text not in UPGRADE_PROBES] == received


async def _capture(data: Path, url: str, extension: Path) -> tuple[int, dict]:
    capture = RunningCapture(capture_session(data, BrowserOptions(url=url, headless=True, extensions=(str(extension),))))
    try:
        source = (await capture.started()).source
        await wait_for(lambda: Reports.received and capture.stats.frames_in > 60, 60)
        seen = {
            "webdriver": await source.page.evaluate("navigator.webdriver"),
            "profile": source.profile_dir,
            "args": chromium_command_line(source.profile_dir),
        }
        stop_ns = time.time_ns()
    finally:
        await capture.stop()
    return stop_ns, seen
