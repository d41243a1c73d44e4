"""Browser source: Debian Chromium driven by Playwright, every game-socket frame taken from CDP — the I/O shell.

A CDP session is attached and ``Network.enable``d **before** the page navigates, so the Engine.IO handshake
is landed however the client connects: WebSocket frames and the long-polling bodies that come before the upgrade.
What each CDP event means is decided by the pure :class:`~capture_agent.sources.cdp.CdpTranslator`; this module
starts and attaches the browser, stamps each event with its receipt time, asks CDP for the polling bodies the
translator needs, and lands the translator's steps in order.

Order is kept with one FIFO: each event's steps are enqueued at once — a polling body as the place it will fill
when CDP answers — and a single consumer lands them in that order. Clicks on the trade controls are reported by an
injected listener through an exposed binding, with the page's clock (``performance.timeOrigin + now()``).
Headers and cookies are never read into a row or a log line; frames pass the writer's redaction.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from capture_agent.errors import VectraError
from capture_agent.protocol.client import Backoff, FirstJoin
from capture_agent.redact import redact_url
from capture_agent.sources.cdp import Body, CdpTranslator, Click, Fetch, Frame, Lifecycle, Settle, Step
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
    url: str | None = None  # page to open (required unless attaching to a page that is already open)
    headless: bool = False
    profile: str | None = None  # persistent user-data dir (wallet login survives restarts)
    connect_cdp: str | None = None  # attach to a running Chromium (http://127.0.0.1:9222)
    url_filter: str = DEFAULT_URL_FILTER
    click_selectors: tuple[str, ...] = DEFAULT_CLICK_SELECTORS
    amount_selector: str | None = DEFAULT_AMOUNT_SELECTOR
    reload_stale: bool = True  # reload a page whose socket predates the attach (else wait, visibly)
    give_up_after_s: float | None = 30.0  # a page never loaded within this long ends the capture; None: retry forever
    say: Callable[[str], None] | None = None  # what the source tells the user (None: print)
    # Called with the page once CDP is attached, before it navigates (e.g. to install routes).
    prepare_page: Callable[[Any], Awaitable[None]] | None = None

    def __post_init__(self) -> None:
        if self.profile and self.connect_cdp:
            raise VectraError("--profile and --connect-cdp exclude each other: an attached browser keeps its own profile")
        if self.give_up_after_s is not None and self.give_up_after_s <= 0:
            raise VectraError("--give-up-after must be positive (--retry-forever never gives up)")

    @property
    def headed(self) -> bool:
        """A window of its own: neither headless nor attached to the user's running browser."""
        return not self.headless and not self.connect_cdp


def check_display(options: BrowserOptions) -> None:
    """A headed browser needs a desktop session: say so before anything starts."""
    if options.headed and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        raise VectraError("no display for a headed browser: run from a desktop session, or add --headless")


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
        self._say = options.say or (lambda text: print(text, flush=True))
        self._translator = CdpTranslator(options.url_filter)
        self._playwright = None
        self._browser = None
        self._context = None
        self._cdp = None
        self._queue: asyncio.Queue = asyncio.Queue()
        self._bodies: dict[Body, asyncio.Future] = {}  # polling bodies waiting in the queue for CDP's answer
        self._page_closed = asyncio.Event()
        self._owns_browser = True
        self._closing = False
        self._consumer: asyncio.Task | None = None

    # --- lifecycle -----------------------------------------------------------------------------------------

    async def start(self) -> None:
        from playwright.async_api import Error as PlaywrightError
        from playwright.async_api import async_playwright

        options = self.options
        check_display(options)
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
            self._enqueue(Lifecycle("socket_predates_attach", detail))
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
            self._enqueue(Lifecycle("page_load_failed", {"error": reason, "attempt": backoff.attempt + 1}))
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
            self._say(
                f"attached to {where} after it opened its game socket: its handshake was not visible — "
                "reloading the page so the capture starts from the handshake (--no-reload to wait instead)"
            )
            await page.reload(wait_until="domcontentloaded")
        else:
            self._say(
                f"attached to {where} after it opened its game socket: frames of that socket are landed as they "
                "come, flagged socket_predates_attach; waiting for the page to open a new socket (reload it to "
                "capture a fresh handshake)"
            )

    async def _attach(self, page) -> None:
        cdp = await self._context.new_cdp_session(page)
        self._cdp = cdp
        for method in self._translator.methods:
            cdp.on(method, lambda params, method=method: self.on_cdp_event(method, params))
        # Generous buffers so polling bodies are still there when getResponseBody asks for them.
        await cdp.send("Network.enable", {"maxTotalBufferSize": 256 * 2**20, "maxResourceBufferSize": 64 * 2**20})

    async def run(self) -> None:
        """Wait until the page closes (or cancellation); the consumer lands rows meanwhile."""
        await self._page_closed.wait()
        self._say("the page was closed: stopping the capture")
        self._enqueue(Lifecycle("page_closed", {}))

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

    # --- CDP events and clicks (synchronous: only stamp, translate and enqueue) -------------------------------

    def on_cdp_event(self, method: str, params: dict) -> None:
        steps = self._translator.event(method, params, time.time_ns(), time.monotonic_ns())
        for step in steps:
            self._follow(step)

    def _on_click(self, source: Any, detail: Any) -> None:
        self._enqueue(self._translator.click(detail, time.time_ns()))

    def _follow(self, step: Step) -> None:
        if isinstance(step, Body):
            if not self._closing:
                self._bodies[step] = asyncio.get_running_loop().create_future()
                self._enqueue(step)
        elif isinstance(step, Fetch):
            answer = self._bodies.get(step.body)
            if answer is not None:  # nothing waits for a body whose place was already given up
                fetch = asyncio.get_running_loop().create_task(self._cdp.send(step.method, step.params))
                fetch.add_done_callback(lambda task: _settle(answer, task))
        elif isinstance(step, Settle):
            answer = self._bodies.get(step.body)
            if answer is not None and not answer.done():
                if isinstance(step.result, BaseException):
                    answer.set_exception(step.result)
                else:
                    answer.set_result(step.result)
        else:
            self._enqueue(step)

    # --- the one queue -----------------------------------------------------------------------------------

    def _enqueue(self, step: Frame | Lifecycle | Click | Body) -> None:
        if self._closing:  # after the stop: the capture has ended
            return
        self._queue.put_nowait(step)

    async def _drain(self) -> None:
        while True:
            step = await self._queue.get()
            try:
                if isinstance(step, Body):
                    result = await self._answer(step)
                    for fact in self._translator.body(step, result):
                        self._land(fact)
                else:
                    self._land(step)
            except Exception:  # noqa: BLE001 - one bad row must not stop the capture; it is logged
                log.exception("could not land a browser event")
                self.losses += 1
            finally:
                self._queue.task_done()

    async def _answer(self, body: Body) -> dict | BaseException:
        """CDP's answer for a body, or why there is none; bounded: a body that never comes must not hold back
        every later frame."""
        answer = self._bodies[body]
        try:
            return await asyncio.wait_for(asyncio.shield(answer), timeout=BODY_WAIT_S)
        except TimeoutError:
            return TimeoutError(f"no response body within {BODY_WAIT_S:g} s")
        except asyncio.CancelledError as error:
            if asyncio.current_task().cancelling():
                raise  # the consumer itself is being stopped
            return error
        except Exception as error:  # noqa: BLE001 - a body Chromium no longer has
            return error
        finally:
            del self._bodies[body]

    def _land(self, fact: Frame | Lifecycle | Click) -> None:
        if isinstance(fact, Frame):
            self.recorder.frame(fact.meta, fact.payload, packets=fact.packets)
        elif isinstance(fact, Click):
            self.recorder.click(fact.detail, browser_ts=fact.browser_ts)
        else:
            if fact.lost:
                self.losses += 1
            self.recorder.connection(fact.event, fact.detail, url=fact.url, socket_id=fact.socket_id)
