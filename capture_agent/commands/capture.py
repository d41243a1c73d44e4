"""``vectra capture``: record every frame of a game socket into the landing zone, with a live status.

Sources: ``browser`` (Chromium via Playwright + CDP), ``direct`` (raw Engine.IO WebSocket client) and
``simulator`` (starts the embedded simulator and captures it, directly or ``--via browser``). Any WAL left
by a crashed run is recovered first. Ctrl-C / SIGTERM land what is queued, publish and exit 0;
``--duration`` / ``--max-frames`` stop by themselves.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import time
from pathlib import Path

from capture_agent.config import add_data_argument
from capture_agent.errors import VectraError

SOURCES = ("browser", "direct", "simulator")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--source", choices=SOURCES, required=True, help="where the frames come from")
    parser.add_argument("--url", help="game page (browser) or Socket.IO server http(s)://host:port (direct)")
    add_data_argument(parser)
    timing = parser.add_argument_group("landing and stopping")
    timing.add_argument("--fsync-ms", type=float, default=100.0, metavar="MS", help="WAL fsync interval (default 100)")
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
    browser.add_argument("--profile", type=Path, metavar="DIR", help="persistent Chromium profile (keeps a wallet login)")
    browser.add_argument("--connect-cdp", metavar="URL", help="attach to a running Chromium, e.g. http://127.0.0.1:9222")
    browser.add_argument("--no-reload", action="store_true", help="attached to an open page: wait instead of reloading")
    browser.add_argument("--url-filter", default="socket.io", help="capture sockets/requests whose URL contains this")
    browser.add_argument(
        "--click-selectors",
        metavar="CSS,CSS",
        help="trade controls whose clicks are recorded (default: the simulator page's buttons)",
    )
    browser.add_argument("--amount-selector", default="#amount", help="input whose value is recorded with a click")
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
    _validate(args)
    return asyncio.run(_capture(args))


def _validate(args: argparse.Namespace) -> None:
    if args.source in ("browser", "direct") and not args.url and not (args.source == "browser" and args.connect_cdp):
        raise VectraError(f"--source {args.source} needs --url (e.g. --url http://127.0.0.1:8000)")
    if args.source == "simulator" and args.url:
        raise VectraError("--source simulator starts its own server: drop --url (or use --source direct --url …)")
    if args.via and args.source != "simulator":
        raise VectraError("--via only applies to --source simulator (use --source browser or direct directly)")
    if args.autoplay and not (args.source == "simulator" and args.via == "browser"):
        raise VectraError("--autoplay trades: it only drives the simulator's page (--source simulator --via browser)")
    if args.profile and args.connect_cdp:
        raise VectraError("--profile and --connect-cdp exclude each other: an attached browser keeps its own profile")
    if args.fsync_ms <= 0:
        raise VectraError("--fsync-ms must be positive")
    if args.duration is not None and args.duration <= 0:
        raise VectraError("--duration must be positive")
    if args.max_frames is not None and args.max_frames <= 0:
        raise VectraError("--max-frames must be positive")
    if args.give_up_after <= 0:
        raise VectraError("--give-up-after must be positive (--retry-forever never gives up)")
    headed = (args.source == "browser" or args.via == "browser") and not args.headless and not args.connect_cdp
    if headed and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        raise VectraError("no display for a headed browser: run from a desktop session, or add --headless")
    if args.speed <= 0:
        raise VectraError("--speed must be positive")
    if args.bots < 0:
        raise VectraError("--bots must be 0 or more")
    if args.allow_origin and not args.serve:
        raise VectraError("--allow-origin opens the live feed to another page: it needs --serve")
    if args.serve:
        from capture_agent.live.feed import parse_bind
        from capture_agent.live.origin import parse_allowed_origins

        parse_bind(args.serve, public=args.serve_public)
        parse_allowed_origins(args.allow_origin)
    parse_query(args.query)
    if args.source == "direct":
        from capture_agent.sources.direct import websocket_url

        websocket_url(args.url)


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


class FrameLimit:
    """Observer that asks the capture to stop after ``limit`` frames."""

    def __init__(self, limit: int, stop: asyncio.Event) -> None:
        self.limit = limit
        self.frames = 0
        self.stop = stop

    def observe(self, captured) -> None:
        from capture_agent.landing.schema import RecordType

        if captured.record_type is RecordType.FRAME:
            self.frames += 1
            if self.frames >= self.limit:
                self.stop.set()


def _say(text: str) -> None:
    print(f"vectra capture: {text}", file=sys.stderr, flush=True)


async def _capture(args: argparse.Namespace) -> int:
    from capture_agent.landing.recovery import recover
    from capture_agent.landing.schema import Source
    from capture_agent.landing.writer import LandingWriter
    from capture_agent.live.state import LiveState
    from capture_agent.live.status import health, show_status, use_rich_live
    from capture_agent.redact import redact_url
    from capture_agent.sources.recorder import Recorder

    recovery = recover(args.data)
    if recovery.published:
        _say(f"recovered {len(recovery.published)} segment(s) from the WAL of an earlier run that did not close")
    if line := recovery.report():
        _say(line)

    simulator = None
    url = args.url
    via = args.source
    if args.source == "simulator":
        from capture_agent.extras import load_simulator

        simulator = load_simulator("server").start_simulator(speed=args.speed, seed=args.seed, bots=args.bots)
        url = simulator.url
        via = args.via or "direct"
        _say(f"simulator at {url} (speed {args.speed}, {args.bots} bots), captured via {via}")

    writer = LandingWriter(args.data, Source(args.source), fsync_interval_s=args.fsync_ms / 1000.0)
    label = args.source if args.source != "simulator" else f"simulator via {via}"
    state = LiveState(label)
    recorder = Recorder(writer, [state])
    stop = asyncio.Event()
    if args.max_frames:
        recorder.observers.append(FrameLimit(args.max_frames, stop))

    source = _make_source(args, via, url, recorder)

    def figures() -> dict:
        return health(state.snapshot(time.monotonic_ns()), writer.stats, source_losses=getattr(source, "losses", 0))

    feed = None
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    tasks: list[asyncio.Task] = []
    exit_code = 0
    try:
        if args.serve:
            from capture_agent.live.feed import FeedServer, parse_bind
            from capture_agent.live.origin import parse_allowed_origins

            feed = FeedServer(figures, allowed_origins=parse_allowed_origins(args.allow_origin))
            await feed.start(*parse_bind(args.serve, public=args.serve_public))
            recorder.observers.append(feed)
            _say(f"live feed on ws://{feed.host}:{feed.port}/feed, monitor http://{feed.host}:{feed.port}/")
        _say(f"capture {writer.capture_id} → {args.data}/landing ({redact_url(url or args.connect_cdp or '')})")
        if hasattr(source, "start"):
            await source.start()
        source_task = loop.create_task(source.run(), name="source")
        tasks.append(loop.create_task(show_status(figures, rich_live=use_rich_live(args.no_status)), name="status"))
        if args.autoplay:
            from capture_agent.extras import load_simulator

            play = load_simulator("scripted_player").play
            tasks.append(loop.create_task(play(source.page, say=_say), name="autoplay"))
        stop_task = loop.create_task(stop.wait(), name="stop")
        waiters = [source_task, stop_task]
        if args.duration:
            waiters.append(loop.create_task(asyncio.sleep(args.duration), name="duration"))
        done, _ = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        for waiter in waiters:
            if waiter is not source_task:
                waiter.cancel()
        if source_task in done:
            source_task.result()  # a source that fails raises here (VectraError → one line, exit 2)
        else:
            source_task.cancel()
            await asyncio.gather(source_task, return_exceptions=True)
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if hasattr(source, "close"):
            await source.close()
        if feed is not None:
            await feed.stop()
        final = figures()
        writer.close()
        if simulator is not None:
            simulator.stop()
        stats = writer.stats
        _say(
            f"stopped: capture {writer.capture_id}, {stats.rows} rows ({stats.frames_in} in, {stats.frames_out} out), "
            f"{stats.segments_published} segment(s), {stats.bytes_published} bytes published, drops {final['drops']}"
        )
        if final["drops"]:
            _say(f"WARNING: {final['drops']} row(s) were lost — see the log above")
            exit_code = 1
    return exit_code


def _make_source(args: argparse.Namespace, via: str, url: str | None, recorder):
    give_up_after_s = None if args.retry_forever else args.give_up_after
    if via == "direct":
        from capture_agent.sources.direct import DEFAULT_QUERY, DirectOptions, DirectSource

        query = parse_query(args.query)
        options = DirectOptions(
            url=url, query=query if query is not None else dict(DEFAULT_QUERY), origin=args.origin, give_up_after_s=give_up_after_s
        )
        return DirectSource(recorder, options)
    from capture_agent.sources.browser import DEFAULT_CLICK_SELECTORS, BrowserOptions, BrowserSource

    selectors = DEFAULT_CLICK_SELECTORS
    if args.click_selectors:
        selectors = tuple(s.strip() for s in args.click_selectors.split(",") if s.strip())
    options = BrowserOptions(
        url=url,
        headless=args.headless,
        profile=str(args.profile) if args.profile else None,
        connect_cdp=args.connect_cdp,
        url_filter=args.url_filter,
        click_selectors=selectors,
        amount_selector=args.amount_selector or None,
        reload_stale=not args.no_reload,
        give_up_after_s=give_up_after_s,
        say=_say,
    )
    return BrowserSource(recorder, options)
