"""Browser source: Debian Chromium driven by Playwright, every game-socket frame taken from CDP.

A CDP session is attached and ``Network.enable``d **before** the page navigates, so the Engine.IO handshake
is landed however the client connects: WebSocket frames (``Network.webSocketFrameSent/Received`` with the
browser's timestamps and opcodes) and the long-polling bodies that come before the upgrade (POST bodies from
``Network.requestWillBeSent``, GET bodies via ``Network.getResponseBody`` after ``Network.loadingFinished``).
Sockets and requests are selected by a URL filter (``socket.io``).

Order is kept with one FIFO: each CDP event enqueues its row at once — a response body as the task that
fetches it — and a single consumer lands them in that order. Clicks on the trade controls are reported by an
injected listener through an exposed binding, with the page's clock (``performance.timeOrigin + now()``).

``browser_ts`` is epoch seconds: CDP's monotonic timestamps are shifted by ``wallTime − timestamp`` taken from
the request events that carry both, so frames and clicks share one clock for latency downstream.
Headers and cookies are never read into a row or a log line; frames pass the writer's redaction.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from capture_agent.errors import VectraError
from capture_agent.landing.schema import Direction, Transport
from capture_agent.protocol.client import Backoff, FirstJoin
from capture_agent.protocol.engineio import EngineType
from capture_agent.protocol.socketio import SocketType, decode_frame
from capture_agent.redact import redact_url
from capture_agent.sources.recorder import Recorder

log = logging.getLogger(__name__)

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = (
    "--no-sandbox",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",  # without these Chromium hammers the (closed) network
    "--disable-component-update",
    "--disable-sync",
)
HEADLESS_FLAGS = ("--disable-gpu",)
DEFAULT_URL_FILTER = "socket.io"
# The simulator play page's trade controls; rugs.fun's own need --click-selectors.
DEFAULT_CLICK_SELECTORS = (
    "#buy",
    "#sell-10",
    "#sell-25",
    "#sell-50",
    "#sell-100",
    "#sidebet",
    "#short-open",
    "#short-close",
)
DEFAULT_AMOUNT_SELECTOR = "#amount"
CLICK_BINDING = "__vectraClick"
BODY_WAIT_S = 10.0  # longest wait for a polling body before it is landed as lost
STOP_GRACE_S = 0.25  # at the stop, time for events already on their way over CDP

_CLICK_LISTENER = """
(() => {
  if (window.__vectraClickListener) return;
  window.__vectraClickListener = true;
  const selectors = %(selectors)s, amountSelector = %(amount)s, binding = %(binding)s;
  document.addEventListener("click", (event) => {
    const ts_ms = performance.timeOrigin + performance.now();  // before anything else: the click's own time
    const target = event.target instanceof Element ? event.target : null;
    if (!target || typeof window[binding] !== "function") return;
    for (const selector of selectors) {
      const control = target.closest(selector);
      if (!control) continue;
      const amount = amountSelector ? document.querySelector(amountSelector) : null;
      window[binding]({
        selector, ts_ms, trusted: event.isTrusted,
        id: control.id || null,
        text: (control.textContent || "").trim().slice(0, 60),
        amount: amount && "value" in amount ? amount.value : null,
      });
      return;
    }
  }, true);  // capture phase: runs before the page's own handler emits the order
})();
"""


@dataclass
class BrowserOptions:
    url: str | None  # page to open (required unless attaching to a page that is already open)
    headless: bool = False
    profile: str | None = None  # persistent user-data dir (wallet login survives restarts)
    connect_cdp: str | None = None  # attach to a running Chromium (http://127.0.0.1:9222)
    url_filter: str = DEFAULT_URL_FILTER
    click_selectors: tuple[str, ...] = DEFAULT_CLICK_SELECTORS
    amount_selector: str | None = DEFAULT_AMOUNT_SELECTOR
    reload_stale: bool = True  # reload a page whose socket predates the attach (else wait, visibly)
    give_up_after_s: float | None = 30.0  # a page never loaded within this long ends the capture; None: retry forever
    say: Callable[[str], None] = field(default=lambda text: print(text, flush=True))
    # Called with the page once CDP is attached, before it navigates (e.g. to install routes).
    prepare_page: Callable[[Any], Awaitable[None]] | None = None


@dataclass
class _Socket:
    url: str
    sid: str | None


@dataclass
class _Poll:
    socket: _Socket
    body: asyncio.Future | None = None  # set when its response arrives; resolved with getResponseBody's answer


def _settle(future: asyncio.Future, task: asyncio.Task) -> None:
    if future.done():
        return
    if task.cancelled():
        future.set_exception(ConnectionError("the response body request was cancelled"))
    elif task.exception() is not None:
        future.set_exception(task.exception())
    else:
        future.set_result(task.result())


class BrowserSource:
    """``await start()`` opens the browser and page (CDP attached first); ``await run()`` lands frames until
    the page closes or the task is cancelled; ``await close()`` releases the browser (never the user's own)."""

    def __init__(self, recorder: Recorder, options: BrowserOptions) -> None:
        self.recorder = recorder
        self.options = options
        self.page = None
        self.losses = 0  # rows the browser could not give us (e.g. an evicted response body): shown as drops
        self._playwright = None
        self._browser = None
        self._context = None
        self._cdp = None
        self._queue: asyncio.Queue = asyncio.Queue()
        self._sockets: dict[str, _Socket] = {}  # CDP request id → game WebSocket
        self._polls: dict[str, _Poll] = {}  # CDP request id → Engine.IO polling GET in flight
        self._clock_offset_s: float | None = None  # epoch − CDP monotonic
        self._other_sockets: set[str] = set()  # WebSockets the URL filter leaves out
        self._stale_sockets: dict[str, _Socket] = {}  # sockets opened before the attach
        self._page_closed = asyncio.Event()
        self._owns_browser = True
        self._closing = False
        self._consumer: asyncio.Task | None = None

    # --- lifecycle -----------------------------------------------------------------------------------------

    async def start(self) -> None:
        from playwright.async_api import Error as PlaywrightError
        from playwright.async_api import async_playwright

        options = self.options
        if not options.headless and not options.connect_cdp and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
            raise VectraError("no display for a headed browser: run from a desktop session, or add --headless")
        if not options.connect_cdp and not os.path.exists(CHROMIUM):
            raise VectraError(f"Chromium not found at {CHROMIUM}: install it with `apt-get install -y chromium`")
        self._consumer = asyncio.get_running_loop().create_task(self._drain())
        self._playwright = await async_playwright().start()
        chromium = self._playwright.chromium
        args = list(CHROMIUM_FLAGS) + (list(HEADLESS_FLAGS) if options.headless else [])
        try:
            if options.connect_cdp:
                self._owns_browser = False
                self._browser = await chromium.connect_over_cdp(options.connect_cdp)
                contexts = self._browser.contexts
                self._context = contexts[0] if contexts else await self._browser.new_context()
            elif options.profile:
                self._context = await chromium.launch_persistent_context(
                    options.profile, executable_path=CHROMIUM, headless=options.headless, args=args
                )
            else:
                self._browser = await chromium.launch(executable_path=CHROMIUM, headless=options.headless, args=args)
                self._context = await self._browser.new_context()
        except PlaywrightError as error:
            await self.close()
            where = options.connect_cdp or CHROMIUM
            raise VectraError(f"cannot start or reach the browser ({where}): {str(error).splitlines()[0]}") from error

        await self._context.expose_binding(CLICK_BINDING, self._on_click)
        listener = _CLICK_LISTENER % {
            "selectors": json.dumps(list(options.click_selectors)),
            "amount": json.dumps(options.amount_selector),
            "binding": json.dumps(CLICK_BINDING),
        }
        await self._context.add_init_script(script=listener)

        page, already_open = self._pick_page()
        if page is None:
            page = await self._context.new_page()
        self.page = page
        page.on("close", lambda _page: self._page_closed.set())
        if already_open:  # landed before Network.enable, so it precedes the old socket's first frame
            detail = {"page": redact_url(page.url), "reload": options.reload_stale}
            self._enqueue(self._land_connection, ("socket_predates_attach", detail, None))
        await self._attach(page)
        if options.prepare_page is not None:
            await options.prepare_page(page)
        if already_open:
            await page.evaluate(listener)
            await self._handle_stale_page(page)
        elif options.url:
            await self._open(page, options.url)
        else:
            raise VectraError("--url is required unless --connect-cdp attaches to a page that is already open")

    async def _open(self, page, url: str) -> None:
        """Load the page, retrying with backoff (each failure lands a ``page_load_failed`` row); a page never
        loaded within ``give_up_after_s`` ends the capture with the reason."""
        from playwright.async_api import Error as PlaywrightError

        first_join = FirstJoin(self.options.give_up_after_s, time.monotonic())
        backoff = Backoff()
        while True:
            left = first_join.remaining(time.monotonic())
            try:
                await page.goto(url, wait_until="domcontentloaded", timeout=None if left is None else max(left, 0.1) * 1000)
                return
            except PlaywrightError as error:
                reason = str(error).splitlines()[0]
            self._enqueue(self._land_connection, ("page_load_failed", {"error": reason, "attempt": backoff.attempt + 1}, None))
            left = first_join.remaining(time.monotonic())
            if left is not None and left <= 0:
                raise VectraError(
                    f"cannot open {redact_url(url)} within {first_join.window_s:g} s ({backoff.attempt + 1} attempts): "
                    f"{reason} (--give-up-after SECONDS waits longer, --retry-forever never gives up)"
                )
            delay = backoff.next_delay()
            await asyncio.sleep(delay if left is None else min(delay, left))

    def _pick_page(self):
        """(page, already_open): with --connect-cdp, the user's page showing --url (or the only page)."""
        pages = [page for page in self._context.pages if not page.is_closed()]
        url = self.options.url
        if self.options.connect_cdp:
            matching = [p for p in pages if url and p.url.startswith(url)] or (pages if not url else [])
            for page in matching:
                if page.url not in ("about:blank", ""):
                    return page, True
        blank = [p for p in pages if p.url in ("about:blank", "")]
        return (blank[0] if blank else None), False

    async def _handle_stale_page(self, page) -> None:
        where = redact_url(page.url)
        if self.options.reload_stale:
            self.options.say(
                f"attached to {where} after it opened its game socket: its handshake was not visible — "
                "reloading the page so the capture starts from the handshake (--no-reload to wait instead)"
            )
            await page.reload(wait_until="domcontentloaded")
        else:
            self.options.say(
                f"attached to {where} after it opened its game socket: frames of that socket are landed as they "
                "come, flagged socket_predates_attach; waiting for the page to open a new socket (reload it to "
                "capture a fresh handshake)"
            )

    async def _attach(self, page) -> None:
        cdp = await self._context.new_cdp_session(page)
        self._cdp = cdp
        handlers = {
            "Network.requestWillBeSent": self._on_request,
            "Network.responseReceived": self._on_response,
            "Network.loadingFinished": self._on_loading_finished,
            "Network.loadingFailed": self._on_loading_failed,
            "Network.webSocketCreated": self._on_ws_created,
            "Network.webSocketWillSendHandshakeRequest": self._on_ws_handshake,
            "Network.webSocketHandshakeResponseReceived": self._on_ws_handshake_response,
            "Network.webSocketFrameSent": lambda p: self._on_ws_frame(p, Direction.OUT),
            "Network.webSocketFrameReceived": lambda p: self._on_ws_frame(p, Direction.IN),
            "Network.webSocketFrameError": self._on_ws_error,
            "Network.webSocketClosed": self._on_ws_closed,
        }
        for name, handler in handlers.items():
            cdp.on(name, handler)
        # Generous buffers so polling bodies are still there when getResponseBody asks for them.
        await cdp.send("Network.enable", {"maxTotalBufferSize": 256 * 2**20, "maxResourceBufferSize": 64 * 2**20})

    async def run(self) -> None:
        """Wait until the page closes (or cancellation); the consumer lands rows meanwhile."""
        await self._page_closed.wait()
        self.options.say("the page was closed: stopping the capture")
        self._enqueue(self._land_connection, ("page_closed", {}, None))

    async def close(self) -> None:
        """Stop taking events, land everything already queued (bodies being fetched included), then let go."""
        if self._consumer is not None and not self._closing:
            # frames Chromium received just before the stop are still on their way over CDP: let them in
            await asyncio.sleep(STOP_GRACE_S)
        self._closing = True
        try:
            if self._consumer is not None:
                try:
                    await asyncio.wait_for(self._queue.join(), timeout=5)
                except TimeoutError:
                    log.error("%d browser events could not be landed before closing", self._queue.qsize())
                    self.losses += self._queue.qsize()
                self._consumer.cancel()
            if self._cdp is not None:
                try:
                    await self._cdp.detach()
                except Exception:  # noqa: BLE001 - the page may be gone already
                    pass
            if self._context is not None and self._owns_browser:
                await self._context.close()
            if self._browser is not None:
                await self._browser.close()  # for --connect-cdp this only disconnects
        except Exception:  # noqa: BLE001 - closing a browser that died under us
            pass
        finally:
            if self._playwright is not None:
                await self._playwright.stop()
                self._playwright = None

    # --- the one queue -----------------------------------------------------------------------------------

    def _enqueue(self, land: Callable, args: tuple, pending: Awaitable | None = None) -> None:
        if self._closing:  # after the stop: the capture has ended
            if pending is not None and hasattr(pending, "cancel"):
                pending.cancel()
            return
        self._queue.put_nowait((land, args, pending))

    async def _drain(self) -> None:
        while True:
            land, args, pending = await self._queue.get()
            try:
                if pending is not None:
                    try:
                        # bounded: a body that never comes must not hold back every later frame
                        result = await asyncio.wait_for(asyncio.shield(pending), timeout=BODY_WAIT_S)
                    except TimeoutError:
                        result = TimeoutError(f"no response body within {BODY_WAIT_S:g} s")
                    except asyncio.CancelledError as error:
                        if asyncio.current_task().cancelling():
                            raise  # the consumer itself is being stopped
                        result = error
                    except Exception as error:  # noqa: BLE001 - a body Chromium no longer has
                        result = error
                    land(*args, result)
                else:
                    land(*args)
            except Exception:  # noqa: BLE001 - one bad row must not stop the capture; it is logged
                log.exception("could not land a browser event")
                self.losses += 1
            finally:
                self._queue.task_done()

    def _land_connection(self, event: str, detail: dict, socket_id: str | None) -> None:
        self.recorder.connection(event, detail, socket_id=socket_id)

    def _land_frame(self, direction, transport, payload, url, socket_id, opcode, browser_ts, wall_ns, mono_ns) -> None:
        packets = decode_frame(payload)
        self.recorder.frame(
            direction,
            transport,
            payload,
            url=url,
            socket_id=socket_id,
            opcode=opcode,
            browser_ts=browser_ts,
            recv_wall_ns=wall_ns,
            recv_mono_ns=mono_ns,
            packets=packets,
        )
        if direction is Direction.IN:
            for packet in packets:
                if packet.engine_type is EngineType.MESSAGE and packet.socket_type is SocketType.CONNECT and packet.error is None:
                    socket_sid = packet.payload.get("sid") if isinstance(packet.payload, dict) else None
                    self.recorder.connection("connected", {"sid": socket_id, "socket_sid": socket_sid, "transport": str(transport)}, url=url, socket_id=socket_id)

    def _land_body(self, transport_url, socket: _Socket, browser_ts, wall_ns, mono_ns, request_id, result) -> None:
        if isinstance(result, BaseException) or result is None:
            self.losses += 1
            self.recorder.connection(
                "body_lost",
                {"request_id": request_id, "error": str(result), "url": redact_url(transport_url)},
                socket_id=socket.sid,
            )
            return
        body = result.get("body", "")
        payload: str | bytes = base64.b64decode(body) if result.get("base64Encoded") else body
        if isinstance(payload, str) and socket.sid is None:
            socket.sid = _open_sid(payload)
        self._land_frame(Direction.IN, Transport.POLLING, payload, transport_url, socket.sid, None, browser_ts, wall_ns, mono_ns)

    def _land_post(self, transport_url, sid, browser_ts, wall_ns, mono_ns, result) -> None:
        if isinstance(result, BaseException):
            self.losses += 1
            self.recorder.connection("body_lost", {"error": str(result), "url": redact_url(transport_url)}, socket_id=sid)
            return
        self._land_frame(Direction.OUT, Transport.POLLING, result.get("postData", ""), transport_url, sid, None, browser_ts, wall_ns, mono_ns)

    # --- CDP events (synchronous: only stamp and enqueue) --------------------------------------------------

    def _browser_ts(self, params: dict) -> float | None:
        if self._clock_offset_s is None and "wallTime" in params and "timestamp" in params:
            # Fixed once: re-deriving it per event adds millisecond jitter that could reorder close rows.
            self._clock_offset_s = params["wallTime"] - params["timestamp"]
        timestamp = params.get("timestamp")
        if timestamp is None or self._clock_offset_s is None:
            return None
        return timestamp + self._clock_offset_s

    def _matches(self, url: str) -> bool:
        return self.options.url_filter in url

    def _on_request(self, params: dict) -> None:
        wall_ns, mono_ns = time.time_ns(), time.monotonic_ns()
        browser_ts = self._browser_ts(params)
        request = params.get("request", {})
        url = request.get("url", "")
        if not self._matches(url) or "transport=polling" not in url:
            return
        sid = _query_sid(url)
        method = request.get("method")
        if method == "GET":
            self._polls[params["requestId"]] = _Poll(_Socket(url, sid))
        elif method == "POST":
            if "postData" in request:
                done = asyncio.get_running_loop().create_future()
                done.set_result({"postData": request["postData"]})
                pending = done
            else:  # large bodies are left out of the event; ask for them
                pending = self._cdp.send("Network.getRequestPostData", {"requestId": params["requestId"]})
                pending = asyncio.get_running_loop().create_task(pending)
            self._enqueue(self._land_post, (url, sid, browser_ts, wall_ns, mono_ns), pending)

    def _on_response(self, params: dict) -> None:
        """A polling GET's response headers: its body takes its place in the queue now.

        Chromium reports ``loadingFinished`` only after the page's handler has run — after the request the page
        sends in reaction (the ``40`` after the open packet) — so the headers mark the receipt, and the body,
        fetched once loading finishes, fills the reserved place.
        """
        poll = self._polls.get(params.get("requestId"))
        if poll is not None and poll.body is None:
            self._reserve(poll, params)

    def _reserve(self, poll: _Poll, params: dict) -> None:
        wall_ns, mono_ns = time.time_ns(), time.monotonic_ns()
        poll.body = asyncio.get_running_loop().create_future()
        args = (poll.socket.url, poll.socket, self._browser_ts(params), wall_ns, mono_ns, params["requestId"])
        self._enqueue(self._land_body, args, poll.body)

    def _on_loading_finished(self, params: dict) -> None:
        request_id = params.get("requestId")
        poll = self._polls.pop(request_id, None)
        if poll is None:
            return
        if poll.body is None:  # no responseReceived came first: the place is taken now
            self._reserve(poll, params)
        body = poll.body
        # Fetch at once (Chromium may evict the body later); the queue lands it in its reserved place.
        fetch = asyncio.get_running_loop().create_task(self._cdp.send("Network.getResponseBody", {"requestId": request_id}))
        fetch.add_done_callback(lambda task: _settle(body, task))

    def _on_loading_failed(self, params: dict) -> None:
        poll = self._polls.pop(params.get("requestId"), None)
        if poll is None:
            return
        socket = poll.socket
        detail = {
            "request_id": params.get("requestId"),
            "error": params.get("errorText"),
            "canceled": params.get("canceled", False),
            "url": redact_url(socket.url),
        }
        if poll.body is not None and not poll.body.done():
            poll.body.set_exception(ConnectionError(f"polling response failed: {params.get('errorText')}"))
        self._enqueue(self._land_connection, ("polling_failed", detail, socket.sid))

    def _on_ws_created(self, params: dict) -> None:
        url = params.get("url", "")
        if not self._matches(url):
            self._other_sockets.add(params.get("requestId"))
            return
        socket = _Socket(url, _query_sid(url))
        self._sockets[params["requestId"]] = socket
        detail = {"request_id": params["requestId"], "url": redact_url(url)}
        self._enqueue(self._land_connection, ("websocket_created", detail, socket.sid))

    def _on_ws_handshake(self, params: dict) -> None:
        self._browser_ts(params)  # carries wallTime: refresh the clock offset (its headers are never read)

    def _on_ws_handshake_response(self, params: dict) -> None:
        socket = self._sockets.get(params.get("requestId"))
        if socket is None:
            return
        status = params.get("response", {}).get("status")
        detail = {"request_id": params["requestId"], "status": status}
        self._enqueue(self._land_connection, ("websocket_open", detail, socket.sid))

    def _on_ws_frame(self, params: dict, direction: Direction) -> None:
        wall_ns, mono_ns = time.time_ns(), time.monotonic_ns()
        request_id = params.get("requestId")
        socket = self._sockets.get(request_id)
        if socket is None:
            if request_id in self._other_sockets:
                return
            # Never announced by webSocketCreated: the socket predates the attach, its URL (so the filter)
            # is unknown. Its frames are kept, flagged once, rather than lost.
            socket = self._stale_sockets.get(request_id)
            if socket is None:
                socket = self._stale_sockets[request_id] = _Socket("", f"cdp:{request_id}")  # its sid is unknown
                self._enqueue(self._land_connection, ("socket_predates_attach", {"request_id": request_id}, None))
        response = params.get("response", {})
        opcode = response.get("opcode")
        data = response.get("payloadData", "")
        payload: str | bytes = base64.b64decode(data) if opcode == 2 else data
        if isinstance(payload, str) and socket.sid is None and direction is Direction.IN:
            socket.sid = _open_sid(payload)
        self._enqueue(
            self._land_frame,
            (direction, Transport.WEBSOCKET, payload, socket.url or None, socket.sid, opcode, self._browser_ts(params), wall_ns, mono_ns),
        )

    def _on_ws_error(self, params: dict) -> None:
        socket = self._sockets.get(params.get("requestId"))
        if socket is None:
            return
        detail = {"request_id": params["requestId"], "error": params.get("errorMessage")}
        self._enqueue(self._land_connection, ("websocket_error", detail, socket.sid))

    def _on_ws_closed(self, params: dict) -> None:
        request_id = params.get("requestId")
        socket = self._sockets.pop(request_id, None) or self._stale_sockets.pop(request_id, None)
        if socket is None:
            return
        detail = {"request_id": params["requestId"], "reason": "websocket closed", "sid": socket.sid}
        self._enqueue(self._land_connection, ("disconnected", detail, socket.sid))

    def _on_click(self, source: Any, detail: dict) -> None:
        wall_ns = time.time_ns()
        if not isinstance(detail, dict):
            detail = {"raw": repr(detail)}
        ts_ms = detail.get("ts_ms")
        browser_ts = ts_ms / 1000.0 if isinstance(ts_ms, (int, float)) else None
        detail = {**detail, "agent_wall_ns": wall_ns}
        self._enqueue(self._land_click, (detail, browser_ts))

    def _land_click(self, detail: dict, browser_ts: float | None) -> None:
        self.recorder.click(detail, browser_ts=browser_ts)


def _query_sid(url: str) -> str | None:
    values = parse_qs(urlsplit(url).query).get("sid")
    return values[0] if values else None


def _open_sid(text: str) -> str | None:
    """The Engine.IO sid of a frame or polling body that starts with the open packet ``0{…}``."""
    if not text.startswith("0{"):
        return None
    for packet in decode_frame(text):
        if packet.engine_type is EngineType.OPEN and isinstance(packet.payload, dict):
            sid = packet.payload.get("sid")
            return sid if isinstance(sid, str) else None
    return None
