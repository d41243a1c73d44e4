"""``vectra capture``: record every frame of a game socket into the landing zone, with a live status.

Sources: ``browser`` (Chromium via Playwright + CDP), ``direct`` (raw Engine.IO WebSocket client) and
``simulator`` (starts the embedded simulator and captures it, directly or ``--via browser``). Any WAL left
by a crashed run is recovered first. Ctrl-C / SIGTERM land what is queued, publish and exit 0;
``--duration`` / ``--max-frames`` stop by themselves. With ``--data s3://bucket/prefix`` the capture lands in a local
cache (``--cache``) and every published segment is uploaded once, in the background (docs/DEPLOY.md).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from capture_agent.config import add_cache_argument, add_data_argument
from capture_agent.errors import VectraError

SOURCES = ("browser", "direct", "simulator")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from capture_agent.sources.browser import DEFAULT_AMOUNT_SELECTOR

    parser.add_argument("--source", choices=SOURCES, required=True, help="where the frames come from")
    parser.add_argument("--url", help="game page (browser) or Socket.IO server http(s)://host:port (direct)")
    add_data_argument(parser, remote=True)
    add_cache_argument(parser)
    timing = parser.add_argument_group("landing and stopping")
    timing.add_argument("--fsync-ms", type=float, default=100.0, metavar="MS", help="WAL fsync interval (default 100)")
    timing.add_argument(
        "--segment-seconds", type=float, default=900.0, metavar="SECONDS",
        help="publish a landing segment at least this often (default 900); rows are safe in the WAL meanwhile",
    )
    timing.add_argument("--duration", type=float, metavar="SECONDS", help="stop after this long")
    timing.add_argument("--max-frames", type=int, metavar="N", help="stop after N frames (in + out)")
    timing.add_argument(
        "--give-up-after",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="fail when the server (direct) or page (browser) was never reached within this long (default 30); "
        "a capture that connected once keeps reconnecting",
    )
    timing.add_argument("--retry-forever", action="store_true", help="never give up on a server never reached")
    browser = parser.add_argument_group("browser source")
    browser.add_argument("--headless", action="store_true", help="no window (tests, servers); headed by default")
    browser.add_argument(
        "--profile", type=Path, metavar="DIR", help="persistent Chromium profile: its extensions (a wallet) and login stay"
    )
    browser.add_argument(
        "--extension",
        action="append",
        metavar="DIR",
        help="also load this unpacked extension (repeatable; a temporary profile when there is no --profile)",
    )
    browser.add_argument(
        "--connect-cdp", metavar="URL", help="attach to a running Chromium (see `vectra browser`), e.g. http://127.0.0.1:9222"
    )
    browser.add_argument("--connect-cdp-public", action="store_true", help="allow --connect-cdp beyond this machine")
    browser.add_argument("--no-reload", action="store_true", help="attached to an open page: wait instead of reloading")
    browser.add_argument("--url-filter", default="socket.io", help="capture sockets/requests whose URL contains this")
    browser.add_argument(
        "--click-selectors",
        metavar="CSS,CSS",
        help="record only clicks on these controls (default: every button, link and button-like control)",
    )
    browser.add_argument(
        "--amount-selector",
        default=DEFAULT_AMOUNT_SELECTOR,
        help="input whose value is recorded with a click (default #amount, the simulator's; when nothing matches, the "
        "numeric input nearest the clicked control)",
    )
    direct = parser.add_argument_group("direct source")
    direct.add_argument(
        "--query",
        action="append",
        metavar="KEY=VALUE",
        help="Socket.IO query parameter (repeatable; default frontend-version=1.0)",
    )
    direct.add_argument("--origin", help="Origin header (default https://rugs.fun for rugs.fun, else the server's own)")
    sim = parser.add_argument_group("simulator source")
    sim.add_argument("--speed", type=float, default=1.0, help="simulator speed factor (default 1 = live)")
    sim.add_argument("--bots", type=int, default=8, help="simulated players (default 8)")
    sim.add_argument("--seed", default="vectra", help="simulator seed (default vectra)")
    sim.add_argument("--via", choices=("direct", "browser"), help="capture the simulator with (default direct)")
    sim.add_argument(
        "--autoplay",
        action="store_true",
        help="with --via browser: a scripted player clicks BUY/SELL/SIDEBET/SHORT, so the capture has own actions",
    )
    live = parser.add_argument_group("live views")
    live.add_argument("--serve", metavar="HOST:PORT", help="live feed + /health + monitor page, e.g. 127.0.0.1:9000")
    live.add_argument("--serve-public", action="store_true", help="allow --serve on a non-loopback address")
    live.add_argument(
        "--allow-origin",
        action="append",
        metavar="ORIGIN",
        help="with --serve: also serve pages of this origin, e.g. http://127.0.0.1:5173 (repeatable; docs/SECURITY.md)",
    )
    live.add_argument("--no-status", action="store_true", help="no live table; a one-line log every few seconds")


def run(args: argparse.Namespace) -> int:
    from capture_agent.session import CaptureSession

    options = capture_options(args)
    session = CaptureSession(options, say=say)
    try:
        result = asyncio.run(session.run())
    finally:
        if session.result is not None:  # a source that failed still published what it landed: say so first
            say(f"stopped: {session.result.summary()}")
            if session.result.uploads is not None:
                say(session.result.uploads.summary(options.upload))
    if result.drops:
        say(f"WARNING: {result.drops} row(s) were lost — see the log above")
        return 1
    return 1 if result.uploads is not None and not result.uploads.complete else 0


def say(text: str) -> None:
    print(f"vectra capture: {text}", file=sys.stderr, flush=True)


def capture_options(args: argparse.Namespace):
    """The arguments as the library's typed options; what they cannot express is refused here, in one line."""
    from capture_agent.landing.upload import landing_dirs
    from capture_agent.live.feed import parse_bind
    from capture_agent.live.origin import parse_allowed_origins
    from capture_agent.session import AUTOPLAY_NEEDS_THE_PAGE, CaptureOptions, FeedOptions, SimulatorOptions, StatusView
    from capture_agent.sources.browser import BrowserOptions
    from capture_agent.sources.direct import DEFAULT_QUERY, DirectOptions

    if args.via and args.source != "simulator":
        raise VectraError("--via only applies to --source simulator (use --source browser or direct directly)")
    if args.autoplay and args.source != "simulator":
        raise VectraError(AUTOPLAY_NEEDS_THE_PAGE)
    if args.give_up_after <= 0:
        raise VectraError("--give-up-after must be positive (--retry-forever never gives up)")
    if args.allow_origin and not args.serve:
        raise VectraError("--allow-origin opens the live feed to another page: it needs --serve")
    give_up_after_s = None if args.retry_forever else args.give_up_after
    url = None if args.source == "simulator" else args.url
    if args.source == "direct" or (args.source == "simulator" and args.via != "browser"):
        query = parse_query(args.query)
        connection = DirectOptions(
            url=url, query=dict(DEFAULT_QUERY) if query is None else query, origin=args.origin, give_up_after_s=give_up_after_s
        )
    else:
        parse_query(args.query)  # refused in one line even where it does not apply, as always
        selectors = tuple(s.strip() for s in (args.click_selectors or "").split(",") if s.strip())
        connection = BrowserOptions(
            url=url,
            headless=args.headless,
            profile=str(args.profile) if args.profile else None,
            connect_cdp=args.connect_cdp,
            connect_cdp_public=args.connect_cdp_public,
            extensions=tuple(args.extension or ()),
            url_filter=args.url_filter,
            click_selectors=selectors,
            amount_selector=args.amount_selector or None,
            reload_stale=not args.no_reload,
            give_up_after_s=give_up_after_s,
        )
    source = connection
    if args.source == "simulator":
        if args.url:
            raise VectraError("--source simulator starts its own server: drop --url (or use --source direct --url …)")
        source = SimulatorOptions(speed=args.speed, bots=args.bots, seed=args.seed, via=connection, autoplay=args.autoplay)
    feed = None
    if args.serve:
        host, port = parse_bind(args.serve, public=args.serve_public)
        feed = FeedOptions(host, port, public=args.serve_public, allowed_origins=parse_allowed_origins(args.allow_origin))
    data_dir, upload = landing_dirs(args.data, args.cache)
    return CaptureOptions(
        data_dir,
        source,
        fsync_interval_s=args.fsync_ms / 1000.0,
        segment_max_seconds=args.segment_seconds,
        duration_s=args.duration,
        max_frames=args.max_frames,
        feed=feed,
        status=StatusView.LOG if args.no_status else StatusView.LIVE,
        handle_signals=True,
        upload=upload,
    )


def parse_query(pairs: list[str] | None) -> dict[str, str] | None:
    if not pairs:
        return None
    query = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise VectraError(f"--query {pair!r} is not KEY=VALUE")
        query[key] = value
    return query
