"""Clicks without selectors: every button-like control is recorded by its accessible name, visible text and CSS path.

1. A hand-made page shaped like a modern web app — a ``div[role=button]`` with an ``aria-label``, a CSS-clickable
   ``div`` (``cursor: pointer``) around spans, no ids, a numeric amount field beside them, a one-time code field
   and a chat box elsewhere, a link carrying a token, an iframe — that also tampers with its own JavaScript world
   (``Element.prototype.matches``, ``JSON.stringify``) and forges a click. Each click lands with the right labels,
   no input value but the amount ever lands, the page cannot see the listener's binding, and the listener
   survives a reload. ``--click-selectors`` narrows what is recorded; a selector Chromium cannot parse is one line.
2. The simulator page driven by its scripted player, no selectors given: every click lands with its button's name,
   the kind read from that name alone is the order's, and the ``actions`` table links each click to its order.
"""

from __future__ import annotations

import asyncio
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from capture_kit import RunningCapture, capture_session, landed_rows, wait_for
from hypothesis import given
from hypothesis import strategies as st

from capture_agent.errors import VectraError
from capture_agent.landing.schema import RecordType
from capture_agent.landing.segments import read_landing
from capture_agent.protocol.rules import ORDER_KINDS
from capture_agent.session import SimulatorOptions
from capture_agent.sources.browser import BrowserOptions
from vectra_pipeline.silver.actions import click_kind

PAGE = b"""<!doctype html><html><head><title>app</title><style>.clickable { cursor: pointer }</style></head><body>
<main>
  <div class="trade">
    <input inputmode="decimal" value="0.25" aria-label="bet amount">
    <div role="button" aria-label="Place buy order"><span>BUY</span></div>
    <div class="clickable"><span>SELL</span> <b>25%</b></div>
    <button id="half">1/2</button>
  </div>
  <div class="auth">
    <input inputmode="decimal" autocomplete="one-time-code" name="otp" value="918273">
    <button>Verify</button>
  </div>
  <input type="text" id="chat" value="zq-my-private-message">
  <a href="/help?token=zq-link-token" onclick="event.preventDefault()">Help</a>
  <input type="submit" value="Go">
  <details><summary>More</summary></details>
  <p id="plain">just text</p>
  <iframe srcdoc="<button>In frame</button>"></iframe>
</main>
<script>
  // a hostile page: what a listener living in the page's own world would rely on is broken
  Element.prototype.matches = () => false;
  JSON.stringify = () => '{"forged": true}';
</script>
</body></html>"""


class App(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.end_headers()
        self.wfile.write(PAGE)

    def log_message(self, *args) -> None:
        pass


class Clicks:
    """Observer: the click details as they are landed."""

    def __init__(self) -> None:
        self.details: list[dict] = []

    def observe(self, captured) -> None:
        if captured.record_type is RecordType.CLICK:
            self.details.append(captured.detail)


@pytest.fixture
def app_url():
    server = ThreadingHTTPServer(("127.0.0.1", 0), App)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


@pytest.mark.browser
def test_every_button_like_click_lands_with_its_labels_and_never_an_input_value(tmp_path, app_url):
    async def scenario():
        clicks = Clicks()
        capture = RunningCapture(capture_session(tmp_path / "all", BrowserOptions(url=app_url, headless=True), observers=[clicks]))
        try:
            source = (await capture.started()).source
            page = source.page
            await page.wait_for_load_state("load")
            for target in ("text=BUY", "text=SELL", "#half", "text=Verify", "#chat", "text=Help", "input[type=submit]",
                           "summary", "#plain"):  # fmt: skip
                await page.click(target)
            await page.frame_locator("iframe").locator("button").click()
            await page.evaluate("document.getElementById('half').click()")  # a click the page forges
            seen_by_page = await page.evaluate(
                "binding => [typeof window[binding], Object.getOwnPropertyNames(window).filter(k => /vectra/i.test(k))]",
                source.click_binding,
            )
            await wait_for(lambda: len(clicks.details) == 9, 20)
            await page.reload(wait_until="load")
            await page.click("#half")
            await wait_for(lambda: len(clicks.details) == 10, 20)
        finally:
            await capture.stop()
        return seen_by_page

    assert asyncio.run(scenario()) == ["undefined", []]  # the binding lives in the listener's world only
    rows = [r for r in landed_rows(tmp_path / "all") if r["record_type"] == "click"]
    details = [r["detail"] for r in rows]
    labels = [(d["tag"], d["role"], d["name"], d["text"]) for d in details]
    assert labels == [
        ("div", "button", "Place buy order", "BUY"),
        ("div", None, "SELL 25%", "SELL 25%"),  # the CSS-clickable div, not the span clicked inside it
        ("button", "button", "1/2", "1/2"),
        ("button", "button", "Verify", "Verify"),
        ("a", "link", "Help", "Help"),
        ("input", "button", "Go", "Go"),
        ("summary", "button", "More", "More"),
        ("button", "button", "In frame", "In frame"),
        ("button", "button", "1/2", "1/2"),  # forged by the page: landed, flagged untrusted
        ("button", "button", "1/2", "1/2"),  # after the reload
    ]
    assert [d["trusted"] for d in details] == [True] * 8 + [False, True]
    assert [d["path"] for d in details[:4]] == [
        "body > main:nth-of-type(1) > div:nth-of-type(1) > div:nth-of-type(1)",
        "body > main:nth-of-type(1) > div:nth-of-type(1) > div:nth-of-type(2)",
        "#half",
        "body > main:nth-of-type(1) > div:nth-of-type(2) > button:nth-of-type(1)",
    ]
    # the amount is the numeric field beside the control; the one-time code next to "Verify" is never taken
    assert [d["amount"] for d in details[:8]] == ["0.25"] * 7 + [None]  # the iframe has no amount field
    assert {d["amount_field"] for d in details[:7]} == {"body > main:nth-of-type(1) > div:nth-of-type(1) > input:nth-of-type(1)"}
    landed = json.dumps(details)
    assert "918273" not in landed and "zq-my-private-message" not in landed and "zq-link-token" not in landed
    assert all(isinstance(r["browser_ts"], float) for r in rows)  # the page's clock
    # the kind downstream, from the labels alone: the real site's buttons have no known ids
    assert [click_kind(d) for d in details[:3]] == ["buy", "sell", None]


@pytest.mark.browser
def test_click_selectors_narrow_what_is_recorded_and_a_bad_one_is_one_line(tmp_path, app_url):
    async def scenario():
        clicks = Clicks()
        options = BrowserOptions(url=app_url, headless=True, click_selectors=("#half", "[role=button]"))
        capture = RunningCapture(capture_session(tmp_path / "narrow", options, observers=[clicks]))
        try:
            page = (await capture.started()).source.page
            await page.wait_for_load_state("load")
            for target in ("text=SELL", "#half", "text=Verify", "text=BUY"):
                await page.click(target)
            await wait_for(lambda: len(clicks.details) == 2, 20)
        finally:
            await capture.stop()
        bad = RunningCapture(capture_session(tmp_path / "bad", BrowserOptions(url=app_url, headless=True, click_selectors=("div[",))))
        with pytest.raises(VectraError) as raised:
            await asyncio.wait_for(bad.task, 60)
        return clicks.details, str(raised.value)

    details, error = asyncio.run(scenario())
    assert [(d["selector"], d["name"]) for d in details] == [("#half", "1/2"), ("[role=button]", "Place buy order")]
    assert error == "'div[' is not a CSS selector the browser accepts (--click-selectors, --amount-selector)"


@pytest.mark.browser
def test_the_scripted_players_clicks_land_with_names_and_link_to_their_orders_without_selectors(tmp_path):
    from pipeline.pipeline_kit import run_chain  # the silver stages the build runs, in asset order

    async def scenario():
        clicks = Clicks()
        options = SimulatorOptions(speed=20, bots=4, via=BrowserOptions(headless=True), autoplay=True)
        capture = RunningCapture(capture_session(tmp_path, options, observers=[clicks]))
        try:
            await capture.started()
            kinds = lambda: {click_kind(d) for d in clicks.details}  # noqa: E731
            await wait_for(lambda: len(clicks.details) >= 12 and {"buy", "sell"} <= kinds(), 120)
        finally:
            await capture.stop()

    asyncio.run(scenario())
    rows = landed_rows(tmp_path)
    clicks = [r for r in rows if r["record_type"] == "click"]
    orders = [r for r in rows if r["record_type"] == "frame" and r["direction"] == "out" and r["event"] in ORDER_KINDS]
    assert all(c["detail"]["trusted"] and c["detail"]["selector"] is None for c in clicks)
    names = {c["detail"]["path"]: c["detail"]["name"] for c in clicks}
    assert names.items() <= {"#buy": "BUY", "#sell-25": "SELL 25%", "#sell-50": "SELL 50%", "#sell-100": "SELL 100%",
                             "#sidebet": "SIDEBET 5× / 40 ticks", "#short-open": "SHORT", "#short-close": "CLOSE SHORT"}.items()
    # the kind read from the button's name alone (no id, no path) is the one its id gives
    assert all(click_kind({"name": c["detail"]["name"]}) == click_kind(c["detail"]) is not None for c in clicks)
    # each click is followed by its own order (the page sends one per click), and actions links the two; only a
    # click in the last moment before the stop may have its order sent after the capture ended
    assert len(clicks) - len(orders) in (0, 1) and (len(clicks) == len(orders) or clicks[-1]["seq"] > orders[-1]["seq"])
    for click, order in zip(clicks, orders):
        assert click["seq"] < order["seq"] and click_kind(click["detail"]) == ORDER_KINDS[order["event"]]
    actions = run_chain(read_landing(tmp_path)).actions.sort("seq")
    assert actions.height == len(orders)
    assert actions["click_seq"].to_list() == [c["seq"] for c in clicks[: len(orders)]]
    assert actions["bet_adjust_clicks"].to_list() == ["[]"] * actions.height


@given(st.text(max_size=60), st.sampled_from(["id", "selector", "name", "text"]))
def test_a_click_kind_is_read_from_any_label_without_failing(label, key):
    kind = click_kind({key: label})
    assert kind in (None, *ORDER_KINDS.values())


@pytest.mark.parametrize(
    ("detail", "kind"),
    [
        ({"name": "Buy"}, "buy"), ({"text": "SELL 25%"}, "sell"), ({"name": "Side Bet"}, "sidebet"),
        ({"text": "SIDEBET 5× / 40 ticks"}, "sidebet"), ({"name": "Short"}, "short_open"), ({"text": "Close short"}, "short_close"),
        ({"id": "sellButton"}, "sell"), ({"id": "short_close"}, "short_close"),
        ({"name": "25%"}, None), ({"text": "1/2"}, None), ({"name": "Buyer list"}, None), ({"name": "X2"}, None),
        ({"id": "half", "name": "Sell all"}, "sell"),  # an id that names nothing leaves the name to decide
        ({"id": "buy", "name": "Sell"}, "buy"),  # the id, most specific, wins
    ],
)  # fmt: skip
def test_a_click_kind_comes_from_the_words_of_its_labels(detail, kind):
    assert click_kind(detail) == kind
