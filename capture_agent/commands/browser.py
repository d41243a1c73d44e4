"""``vectra browser``: start your own Chromium/Chrome with a loopback-only DevTools port, then capture it.

It prints the ``vectra capture --connect-cdp …`` line to run next (on stdout, alone: scripts can read it) and
stays in the foreground; Ctrl-C (or SIGTERM, SIGHUP) closes the browser it started, and only that one. Closing the
browser's window ends it too.
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

from capture_agent.errors import VectraError

_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from capture_agent.own_browser import DEFAULT_ADDRESS, DEFAULT_PORT, DEFAULT_URL

    parser.add_argument("--browser", metavar="PATH", help="the browser to start (default: chromium, else google-chrome)")
    parser.add_argument(
        "--profile", type=Path, metavar="DIR", help="its profile (default: Vectra's own, in ~/.local/share/vectra)"
    )
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"DevTools port (default {DEFAULT_PORT}; 0: any free one)")
    parser.add_argument("--address", default=DEFAULT_ADDRESS, help=f"DevTools address, loopback only (default {DEFAULT_ADDRESS})")
    parser.add_argument("--url", default=DEFAULT_URL, help=f"page to open (default {DEFAULT_URL})")
    parser.add_argument("--headless", action="store_true", help="no window (servers, tests)")


class _StopRequested(Exception):
    pass


def _stop_requested(signum, _frame) -> None:
    raise _StopRequested(signal.Signals(signum).name)


def run(args: argparse.Namespace) -> int:
    from capture_agent.own_browser import capture_line, default_profile, find_browser, start_browser

    if not 0 <= args.port <= 65535:
        raise VectraError(f"--port {args.port} is out of range (0–65535)")
    executable = find_browser(args.browser)
    profile = (args.profile or default_profile()).expanduser()
    browser = None
    previous = {signum: signal.signal(signum, _stop_requested) for signum in _STOP_SIGNALS}
    try:
        browser = start_browser(executable, profile, address=args.address, port=args.port, url=args.url, headless=args.headless)
        version = browser.wait_ready()
        say(f"{version} (pid {browser.process.pid}) with profile {profile}; DevTools on {browser.url}, this machine only")
        say("sign in (wallet) in that browser if you want your own trades, then run in another terminal:")
        print(capture_line(browser.address, browser.port, args.url), flush=True)
        say("Ctrl-C here closes this browser")
        code = browser.process.wait()
        browser.stop()  # its helper processes, if any outlived it
        say(f"the browser was closed (exit code {code})")
        return 0
    except _StopRequested as stop:
        for signum in _STOP_SIGNALS:
            signal.signal(signum, signal.SIG_IGN)  # a second Ctrl-C must not leave it half closed
        if browser is not None:
            browser.stop()
        say(f"{stop}: closed the browser it started")
        return 0
    except BaseException:
        if browser is not None:
            browser.stop()
        raise
    finally:
        for signum, handler in previous.items():  # run in-process (tests, a library caller): leave no trace
            signal.signal(signum, handler)


def say(text: str) -> None:
    print(f"vectra browser: {text}", file=sys.stderr, flush=True)
