"""Browser source: Debian Chromium driven by Playwright, every game-socket frame taken from CDP — the I/O shell.

A CDP session is attached and ``Network.enable``d **before** the page navigates, so the Engine.IO handshake
is landed however the client connects: WebSocket frames and the long-polling bodies that come before the upgrade.
What each CDP event means is decided by the pure :class:`~capture_agent.sources.cdp.CdpTranslator`; this module
starts and attaches the browser, stamps each event with its receipt time, asks CDP for the polling bodies the
translator needs, and lands the translator's steps in order.

Order is kept with one FIFO: each event's steps are enqueued at once — a polling body as the place it will fill
when CDP answers — and a single consumer lands them in that order. Clicks on controls are reported by
``click_listener.js``, evaluated in an isolated world of every frame on every navigation, through a CDP binding
only that world has (a random name): the page can neither read nor call it. Its clock is the page's
(``performance.timeOrigin + now()``). Chromium is started the way a person's is: the profile's extensions (a
wallet) stay on, ``navigator.webdriver`` is false. Headers and cookies are never read into a row or a log line;
frames pass the writer's redaction.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import shutil
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

from capture_agent.errors import VectraError
from capture_agent.live.origin import is_loopback
from capture_agent.protocol.client import Backoff, FirstJoin
from capture_agent.redact import redact_url
from capture_agent.sources.cdp import Body, CdpTranslator, Click, Fetch, Frame, Lifecycle, Settle, Step
from capture_agent.sources.recorder import Recorder

log = logging.getLogger(__name__)

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = (
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",  # without these Chromium hammers the (closed) network
    "--disable-component-update",
    "--disable-sync",
    "--disable-blink-features=AutomationControlled",  # navigator.webdriver stays false, as in a person's browser
)
# The new headless mode, the only one that loads extensions (Debian's Chromium 156 has no other: the old one left
# the chrome binary in 132, and a plain --headless already means this; explicit for older builds).
HEADLESS_FLAGS = ("--disable-gpu", "--headless=new")
# Playwright's defaults that would switch off the profile's extensions (the wallet) and mark the browser automated.
IGNORED_DEFAULT_ARGS = ["--disable-extensions", "--enable-automation"]
DEFAULT_URL_FILTER = "socket.io"
DEFAULT_AMOUNT_SELECTOR = "#amount"  # the simulator's; elsewhere the numeric input nearest the clicked control
BODY_WAIT_S = 10.0  # longest wait for a polling body before it is landed as lost
STOP_GRACE_S = 0.25  # at the stop, time for events already on their way over CDP

_INVALID_SELECTORS = """selectors => selectors.filter(selector => {
  try { document.createDocumentFragment().querySelector(selector); return false; } catch (error) { return true; }
})"""


def sandbox_off() -> bool:
    """Chromium refuses to start as root with its sandbox on; anyone else keeps it (a wallet lives in this browser)."""
    return hasattr(os, "geteuid") and os.geteuid() == 0


def click_listener(binding: str, selectors: tuple[str, ...], amount_selector: str | None) -> str:
    """The click listener's source, called with its options (``click_listener.js``)."""
    script = resources.files(__package__).joinpath("click_listener.js").read_text(encoding="utf-8").strip()
    options = {"binding": binding, "selectors": list(selectors), "amountSelector": amount_selector}
    return f"{script}({json.dumps(options)});"


def check_cdp_address(url: str, *, public: bool = False) -> None:
    """--connect-cdp reaches a browser on this machine unless ``public``: DevTools is full control of that browser,
    with no TLS and no authentication."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https", "ws", "wss") or not parts.hostname:
        raise VectraError(f"--connect-cdp {url!r} is not a DevTools address such as http://127.0.0.1:9222")
    if not public and not is_loopback(parts.hostname):
        raise VectraError(
            f"--connect-cdp {redact_url(url)} is not on this machine: DevTools gives anyone on the way full control of "
            "that browser; attach over 127.0.0.1 (an SSH tunnel), or add --connect-cdp-public"
        )


@dataclass
class BrowserOptions:
    url: str | None = None  # page to open (required unless attaching to a page that is already open)
    headless: bool = False
    profile: str | None = None  # persistent user-data dir (wallet login survives restarts)
    connect_cdp: str | None = None  # attach to a running Chromium (http://127.0.0.1:9222)
    connect_cdp_public: bool = False  # allow --connect-cdp beyond loopback
    extensions: tuple[str, ...] = ()  # unpacked extension folders loaded besides the profile's own
    url_filter: str = DEFAULT_URL_FILTER
    click_selectors: tuple[str, ...] = ()  # only clicks on these controls (none: every button-like control)
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
        if self.connect_cdp:
            check_cdp_address(self.connect_cdp, public=self.connect_cdp_public)
            if self.extensions:
                raise VectraError("--extension loads into a browser Vectra starts: an attached browser keeps its own extensions")
        for folder in self.extensions:
            if "," in folder:  # Chromium's --load-extension separates folders with commas
                raise VectraError(f"--extension {folder!r}: a folder name with a comma cannot be passed to Chromium")
            if not os.path.isfile(os.path.join(folder, "manifest.json")):
                raise VectraError(f"--extension {folder}: no manifest.json there (give an unpacked extension's folder)")

    @property
    def headed(self) -> bool:
        """A window of its own: neither headless nor attached to the user's running browser."""
        return not self.headless and not self.connect_cdp


def chromium_args(options: BrowserOptions) -> list[str]:
    """Chromium's switches beyond Playwright's own defaults (minus :data:`IGNORED_DEFAULT_ARGS`).

    Extensions are added with ``--load-extension`` alone: ``--disable-extensions-except`` would switch off the ones
    installed in the profile, the wallet among them."""
    args = [*CHROMIUM_FLAGS, *(HEADLESS_FLAGS if options.headless else ())]
    if options.extensions:
        args.append("--load-extension=" + ",".join(os.path.abspath(folder) for folder in options.extensions))
    return args


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
        # Unguessable, and only ever present in the listener's isolated world: the page can neither read nor spoof it.
        self.click_binding = f"vectra_{secrets.token_hex(8)}"
        self._click_world = f"vectra-clicks-{secrets.token_hex(8)}"
        self._translator = CdpTranslator(options.url_filter, self.click_binding)
        self.profile_dir: str | None = None  # the user-data dir of the Chromium it started with a profile
        self._temp_profile: str | None = None  # made for --extension without --profile; removed at close
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
        launch = {
            "executable_path": CHROMIUM,
            "headless": options.headless,
            "args": chromium_args(options),
            "ignore_default_args": IGNORED_DEFAULT_ARGS,
            "chromium_sandbox": not sandbox_off(),
        }
        try:
            if options.connect_cdp:
                self._owns_browser = False
                self._browser = await chromium.connect_over_cdp(options.connect_cdp)
                contexts = self._browser.contexts
                self._context = contexts[0] if contexts else await self._browser.new_context()
            elif options.profile or options.extensions:  # extensions need a persistent profile: a temporary one
                if not options.profile:
                    self._temp_profile = tempfile.mkdtemp(prefix="vectra-chromium-")
                self.profile_dir = options.profile or self._temp_profile
                self._context = await chromium.launch_persistent_context(self.profile_dir, **launch)
            else:
                self._browser = await chromium.launch(**launch)
                self._context = await self._browser.new_context()
        except PlaywrightError as error:
            await self.close()
            where = options.connect_cdp or CHROMIUM
            raise VectraError(f"cannot start or reach the browser ({where}): {str(error).splitlines()[0]}") from error

        page, already_open = self._pick_page()
        if page is None:
            page = await self._context.new_page()
        self.page = page
        page.on("close", lambda _page: self._page_closed.set())
        await self._check_selectors(page)
        if already_open:  # landed before Network.enable, so it precedes the old socket's first frame
            detail = {"page": redact_url(page.url), "reload": options.reload_stale}
            self._enqueue(Lifecycle("socket_predates_attach", detail))
        await self._attach(page)
        if options.prepare_page is not None:
            await options.prepare_page(page)
        if already_open:
            if not options.reload_stale:
                await self._listen_in_open_frames()
            await self._handle_stale_page(page)
        elif options.url:
            await self._open(page, options.url)
        else:
            raise VectraError("--url is required unless --connect-cdp attaches to a page that is already open")

    async def _check_selectors(self, page) -> None:
        """A selector the browser cannot parse is one line now, not an error row on every click."""
        from playwright.async_api import Error as PlaywrightError

        options = self.options
        selectors = [*options.click_selectors, *([options.amount_selector] if options.amount_selector else [])]
        try:
            invalid = await page.evaluate(_INVALID_SELECTORS, selectors) if selectors else []
        except PlaywrightError:  # an attached page navigating right now: the listener reports a bad one per click
            invalid = []
        if invalid:
            raise VectraError(f"{invalid[0]!r} is not a CSS selector the browser accepts (--click-selectors, --amount-selector)")

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
        # The click listener, in every frame of every document from now on; its binding exists in its world only.
        options = self.options
        await cdp.send("Runtime.enable")
        await cdp.send("Page.enable")
        await cdp.send("Runtime.addBinding", {"name": self.click_binding, "executionContextName": self._click_world})
        listener = click_listener(self.click_binding, options.click_selectors, options.amount_selector)
        await cdp.send("Page.addScriptToEvaluateOnNewDocument", {"source": listener, "worldName": self._click_world})

    async def _listen_in_open_frames(self) -> None:
        """The documents already open when we attached (--no-reload) get the listener too, in the same world."""
        from playwright.async_api import Error as PlaywrightError

        listener = click_listener(self.click_binding, self.options.click_selectors, self.options.amount_selector)
        tree = await self._cdp.send("Page.getFrameTree")
        for frame_id in _frame_ids(tree["frameTree"]):
            try:
                world = await self._cdp.send("Page.createIsolatedWorld", {"frameId": frame_id, "worldName": self._click_world})
                await self._cdp.send("Runtime.evaluate", {"expression": listener, "contextId": world["executionContextId"]})
            except PlaywrightError as error:  # a frame that went away meanwhile
                log.warning("no click listener in a frame that closed: %s", str(error).splitlines()[0])

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
            if self._temp_profile is not None:
                shutil.rmtree(self._temp_profile, ignore_errors=True)
                self._temp_profile = None

    # --- CDP events, clicks included (synchronous: only stamp, translate and enqueue) ---------------------------

    def on_cdp_event(self, method: str, params: dict) -> None:
        steps = self._translator.event(method, params, time.time_ns(), time.monotonic_ns())
        for step in steps:
            self._follow(step)

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


def _frame_ids(tree: dict) -> list[str]:
    """Every frame id of a ``Page.getFrameTree`` answer, the main frame first."""
    ids = [tree["frame"]["id"]]
    for child in tree.get("childFrames", ()):
        ids.extend(_frame_ids(child))
    return ids
