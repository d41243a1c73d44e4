"""``vectra ui``: the Dagster UI (and daemon: sensor, nightly schedule) on the repo's workspace, behind a guard.

dagster-webserver checks neither ``Host`` nor ``Origin``, so any web page the user opens could launch runs or wipe
assets through it (cross-site requests, DNS rebinding). ``vectra ui`` therefore starts ``dagster dev`` on a
private loopback port that browsers refuse to contact, and listens on the user's address itself: a small aiohttp
proxy that forwards HTTP and the GraphQL WebSocket and refuses what :mod:`vectra_pipeline.ui_guard` refuses (403).
aiohttp serves, proxies and speaks WebSocket on both sides in one library, already installed; dagster's own
starlette/uvicorn would still need an HTTP and a WebSocket client for the upstream side.

It also sets what ``dagster dev`` needs — ``DAGSTER_HOME`` (the data root's own instance, :mod:`vectra_pipeline.instance`,
so the UI shows that root alone), ``VECTRA_DATA`` (the assets' data root) and ``VECTRA_AUTOMATION`` (sensors and the
nightly schedule on, unless ``--no-automation``) — and registers every landing day as a partition. The URL is printed
once Dagster answers behind the guard; a port already taken fails before Dagster starts. Ctrl-C / SIGTERM stop
both: ``dagster dev`` runs in its own session with default signal handlers (started in the background of a
non-interactive shell it would ignore SIGINT and SIGTERM) and gets one SIGINT from here, then SIGKILL for anything
left after 30 s.

``--upstream http://HOST:PORT`` runs the guard alone in front of a dagster-webserver that is already running — a
deployment's (docs/DEPLOY.md), where the webserver, the daemon and the code server are separate processes — so the
bare webserver is never what a browser reaches.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import socket
import sys
from pathlib import Path
from urllib.parse import urlsplit

from capture_agent.config import DATA_ENV, add_data_argument
from capture_agent.errors import VectraError
from capture_agent.live.origin import Origin, OriginPolicy, is_loopback, parse_allowed_origins
from vectra_pipeline.commands.build import set_allocators
from vectra_pipeline.ui_guard import GuardedRequest, refusal

REPO = Path(__file__).resolve().parents[2]
# Ports on the "unsafe port" lists of Chromium, Firefox and WebKit (above 1024): a browser will not connect to them
# at all, so no page can reach dagster-webserver directly — not even blindly, with a guessed port.
BROWSER_BLOCKED_PORTS = (6665, 6666, 6667, 6668, 6669, 6679, 6697, 10080, 5060, 5061, 4190, 3659, 1719, 1720, 1723, 6566)
DAGSTER_STOP_S = 30
MAX_BODY = 32 * 2**20  # GraphQL requests are kilobytes; a bound keeps one client from filling memory
MAX_WS_MESSAGE = 64 * 2**20  # run-log subscriptions can be large
# Per-connection headers (RFC 9110 §7.6.1): they describe one hop and must not be forwarded.
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection",
                        "te", "trailer", "transfer-encoding", "upgrade"})


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_data_argument(parser, remote=True)
    parser.add_argument("--host", default="127.0.0.1", help="listen address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=3000, help="listen port (default 3000)")
    parser.add_argument("--public", action="store_true", help="allow a non-loopback --host (the UI can launch runs)")
    parser.add_argument(
        "--allow-origin",
        action="append",
        metavar="ORIGIN",
        help="also accept requests from pages of this origin (repeatable; docs/SECURITY.md)",
    )
    parser.add_argument("--no-automation", action="store_true",
                        help="start with the landing sensor, the day_built sensor and the nightly schedule off")
    parser.add_argument("--upstream", metavar="URL",
                        help="guard a dagster-webserver already running at this http://HOST:PORT instead of starting "
                        "Dagster (a deployment's webserver; docs/DEPLOY.md)")


def dagster_dev_command(port: int) -> list[str]:
    dagster = Path(sys.executable).with_name("dagster")
    if not dagster.exists():
        raise VectraError(f"dagster is not installed beside {sys.executable}; run `bash scripts/setup.sh`")
    return [str(dagster), "dev", "-w", str(REPO / "workspace.yaml"), "--host", "127.0.0.1", "--port", str(port)]


def private_port(exclude: int) -> int:
    """The first browser-blocked port free on 127.0.0.1 (other than ``exclude``, the guard's own)."""
    for port in BROWSER_BLOCKED_PORTS:
        if port == exclude:
            continue
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise VectraError(f"no free private port for Dagster among {BROWSER_BLOCKED_PORTS}; stop what uses them")


def upstream_url(text: str) -> str:
    """A ``--upstream`` value as the base URL the guard forwards to: ``http://HOST:PORT``, nothing else (a path,
    query or user part would be silently dropped or, worse, sent with every request)."""
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        port, parts = None, None
    if parts is None or parts.scheme != "http" or not parts.hostname or port is None or parts.username is not None \
            or parts.password is not None or parts.path not in ("", "/") or parts.query or parts.fragment:
        # the value is not echoed: a user part may hold a password
        raise VectraError("--upstream: give the webserver as http://HOST:PORT (e.g. http://127.0.0.1:3001), nothing more")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"http://{host}:{port}"


def run(args: argparse.Namespace) -> int:
    if not is_loopback(args.host) and not args.public:
        raise VectraError(f"--host {args.host} is not loopback: the UI can launch runs; add --public to mean it")
    if not 0 < args.port < 65536:
        raise VectraError(f"--port {args.port} is not a TCP port")
    allowed = parse_allowed_origins(args.allow_origin)
    if args.upstream:
        upstream = upstream_url(args.upstream)
        _log_errors_as_one_line()
        return asyncio.run(_serve(args.host, args.port, allowed, upstream))
    set_allocators()  # the daemon's and the UI's runs inherit ``vectra build``'s allocators
    from vectra_pipeline import storage
    from vectra_pipeline.build import landing_dates
    from vectra_pipeline.defs.jobs import AUTOMATION_ENV
    from vectra_pipeline.defs.partitions import register_days
    from vectra_pipeline.instance import dagster_home, open_instance

    data_dir = storage.data_root(args.data)
    home = dagster_home(data_dir)  # a remote root's instance lives in its local cache folder
    with open_instance(home) as instance, storage.store_errors(data_dir):  # the days that exist, and no others
        register_days(instance, landing_dates(data_dir))
    os.environ["DAGSTER_HOME"] = str(home)  # for dagster dev: this root's instance alone
    os.environ[DATA_ENV] = str(data_dir)
    os.environ[AUTOMATION_ENV] = "0" if args.no_automation else "1"
    upstream_port = private_port(exclude=args.port)
    command = dagster_dev_command(upstream_port)
    _log_errors_as_one_line()
    started = f"DAGSTER_HOME={home}, {DATA_ENV}={data_dir}, sensors and schedule " \
              f"{'off (--no-automation)' if args.no_automation else 'on'}; Dagster starts behind it on 127.0.0.1:{upstream_port}"
    return asyncio.run(_serve(args.host, args.port, allowed, f"http://127.0.0.1:{upstream_port}", command, started))


async def _serve(host: str, port: int, allowed: frozenset[Origin], upstream: str, command: list[str] | None = None,
                 started: str = "") -> int:
    """The guard in front of ``upstream``; with ``command``, that command (``dagster dev``) is started behind it and
    stopped with it."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):  # before dagster starts, so it inherits default handlers
        loop.add_signal_handler(signum, stop.set)
    guard = dagster = None
    try:
        guard = await Guard.start(host, port, allowed, upstream)
        shown = f"http://{f'[{host}]' if ':' in host else host}:{guard.port}/"
        waits = {loop.create_task(stop.wait())}
        if command is None:
            print(f"vectra ui: guarding the dagster-webserver at {upstream} — the URL follows once it answers", flush=True)
        else:
            dagster = await asyncio.create_subprocess_exec(*command, cwd=REPO, start_new_session=True)
            print(f"vectra ui: {started} — the URL follows once it answers", flush=True)
            waits.add(exited := loop.create_task(dagster.wait()))
        announce = loop.create_task(_announce_when_ready(guard.proxy, shown))
        done, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        for task in (announce, *pending):
            task.cancel()
        if dagster is not None and exited in done:
            raise VectraError(f"dagster dev stopped by itself (exit code {dagster.returncode}); its messages are above")
        print("vectra ui: stopping" + (" Dagster" if dagster is not None else ""), flush=True)
        return 0
    finally:
        if dagster is not None:
            await _stop_dagster(dagster)
        if guard is not None:
            await guard.close()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)


class Guard:
    """The guard's listening side: an aiohttp server whose one handler is a :class:`GuardProxy`."""

    def __init__(self, runner, proxy: GuardProxy, port: int) -> None:
        self.runner, self.proxy, self.port = runner, proxy, port

    @classmethod
    async def start(cls, host: str, port: int, allowed: frozenset[Origin], upstream: str) -> Guard:
        from aiohttp import ClientSession, ClientTimeout, DummyCookieJar, web

        session = ClientSession(
            auto_decompress=False,  # bodies pass through as dagster encoded them
            cookie_jar=DummyCookieJar(),  # cookies belong to the browser, not to the proxy
            skip_auto_headers=("Accept", "Accept-Encoding", "User-Agent", "Content-Type"),
            timeout=ClientTimeout(total=None, sock_connect=5),
        )
        proxy = GuardProxy(session, upstream)
        app = web.Application(client_max_size=MAX_BODY)
        app.router.add_route("*", "/{tail:.*}", proxy.handle)
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=3)
        await runner.setup()
        try:
            await web.TCPSite(runner, host, port).start()
        except OSError as error:
            await runner.cleanup()
            await session.close()
            raise VectraError(f"cannot listen on {host}:{port} ({error.strerror}); choose another --port") from error
        bound_port = runner.addresses[0][1]
        proxy.policy = OriginPolicy.for_listener([host, *(a[0] for a in runner.addresses)], bound_port, allowed)
        return cls(runner, proxy, bound_port)

    async def close(self) -> None:
        await self.runner.cleanup()
        await self.proxy.session.close()


class _OneLine(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        error = record.exc_info[1] if record.exc_info else None
        return f"vectra ui: {record.getMessage()}" + (f" ({type(error).__name__}: {error})" if error else "")


def _log_errors_as_one_line() -> None:
    """aiohttp logs a failing request with a traceback; users get one line (VECTRA_DEBUG=1 keeps tracebacks)."""
    if os.environ.get("VECTRA_DEBUG"):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_OneLine())
    logger = logging.getLogger("aiohttp")
    logger.addHandler(handler)
    logger.propagate = False


async def _announce_when_ready(proxy: GuardProxy, shown: str) -> None:
    from aiohttp import ClientError

    while True:
        try:
            async with proxy.session.get(f"{proxy.upstream}/server_info") as response:
                if response.status == 200:
                    print(f"vectra ui: ready — open {shown}", flush=True)
                    return
        except (ClientError, OSError):
            pass
        await asyncio.sleep(0.5)


async def _stop_dagster(process: asyncio.subprocess.Process) -> None:
    """SIGINT to dagster's whole session (what a terminal's Ctrl-C does), SIGKILL for whatever outlives it."""
    for signum, wait_s in ((signal.SIGINT, DAGSTER_STOP_S), (signal.SIGKILL, 10)):
        try:
            os.killpg(process.pid, signum)
        except ProcessLookupError:
            return
        try:
            await asyncio.wait_for(process.wait(), wait_s)
        except TimeoutError:
            continue
        if signum == signal.SIGINT:  # dagster dev is gone: end stragglers of its session, if any
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return


class GuardProxy:
    """aiohttp handler: judge the request (ui_guard), then forward it to dagster-webserver."""

    def __init__(self, session, upstream: str) -> None:
        self.session, self.upstream = session, upstream  # ``http://host:port``, no trailing slash
        self.policy: OriginPolicy | None = None  # set once the listening address is known

    async def handle(self, request):
        from aiohttp import ClientError, web

        path, _, query_string = request.raw_path.partition("?")
        hosts, origins = request.headers.getall("Host", []), request.headers.getall("Origin", [])
        websocket = request.headers.get("Upgrade", "").lower() == "websocket"
        body = b"" if websocket or self.policy.host_refusal(hosts) else await request.read()
        verdict = refusal(self.policy, GuardedRequest(request.method, request.path, query_string, hosts, origins,
                                                      request.headers.get("Content-Type", ""), body))
        if verdict is not None:
            return web.Response(status=403, text=f"refused by vectra ui: {verdict}\n")
        try:
            if websocket:
                return await self._websocket(request)
            return await self._http(request, body)
        except (ClientError, OSError) as error:
            return web.Response(
                status=502, text=f"vectra ui: Dagster is not answering ({type(error).__name__}); it may be starting\n"
            )

    async def _http(self, request, body: bytes):
        from aiohttp import ClientError, web

        # Host stays the guard's (dagster builds redirects from it); aiohttp sets the length of what it sends.
        skipped = HOP_BY_HOP | {"content-length", "expect"}
        headers = [(name, value) for name, value in request.headers.items() if name.lower() not in skipped]
        async with self.session.request(request.method, self.upstream + request.raw_path, headers=headers,
                                        data=body or None, allow_redirects=False) as upstream:
            response = web.StreamResponse(status=upstream.status, reason=upstream.reason)
            for name, value in upstream.headers.items():
                if name.lower() not in HOP_BY_HOP:
                    response.headers.add(name, value)
            await response.prepare(request)
            try:
                async for chunk in upstream.content.iter_any():
                    await response.write(chunk)
                await response.write_eof()
            except (ClientError, OSError):
                pass  # a side went away mid-body: the response is already under way, nothing more can be said
            return response

    async def _websocket(self, request):
        from aiohttp import WSMsgType, web

        protocols = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",") if p.strip()]
        forwarded = {name: request.headers[name] for name in ("Origin", "Cookie", "User-Agent") if name in request.headers}
        async with self.session.ws_connect(self.upstream + request.raw_path, protocols=protocols, headers=forwarded,
                                           max_msg_size=MAX_WS_MESSAGE) as upstream:
            downstream = web.WebSocketResponse(protocols=[upstream.protocol] if upstream.protocol else (),
                                               max_msg_size=MAX_WS_MESSAGE)
            await downstream.prepare(request)

            async def pump(source, sink) -> None:
                async for message in source:
                    if message.type is WSMsgType.TEXT:
                        await sink.send_str(message.data)
                    elif message.type is WSMsgType.BINARY:
                        await sink.send_bytes(message.data)

            pumps = {asyncio.ensure_future(pump(upstream, downstream)), asyncio.ensure_future(pump(downstream, upstream))}
            try:
                await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in pumps:
                    task.cancel()
                await asyncio.gather(*pumps, return_exceptions=True)
                await downstream.close(code=_sendable(upstream.close_code))
            return downstream


def _sendable(code: int | None) -> int:
    """The upstream close code if it may be sent again (1005/1006/1015 only describe a connection), else 1000."""
    return code if code is not None and (1000 <= code <= 1003 or 1007 <= code <= 1014 or 3000 <= code <= 4999) else 1000
