"""The play page in Debian Chromium (Playwright, headless) with the real socket.io-client: it connects, plays
with the buttons, gets acks, and its screenshot shows every element."""

from __future__ import annotations

import json
import struct

import pytest
from playwright.sync_api import sync_playwright
from simdrive import seed_whose_next_games

from simulator.server import start_simulator

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
BUTTONS = ["#buy", "#sell-10", "#sell-25", "#sell-50", "#sell-100", "#sidebet", "#short-open", "#short-close"]
READOUTS = ["#phase", "#cooldown", "#tick", "#price", "#cash", "#position", "#sidebet-status", "#chart", "#amount"]


def _phase_is(page, *phases: str, timeout: float = 20_000) -> None:
    wanted = json.dumps(list(phases))
    page.wait_for_function(f"{wanted}.includes(document.querySelector('#phase').textContent)", timeout=timeout)


def _click_and_read_ack(page, selector: str, label: str) -> str:
    page.click(selector)
    page.wait_for_function(f"document.querySelector('#ack').textContent.startsWith({json.dumps(label)})", timeout=5000)
    return page.text_content("#ack")


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    wire_log = tmp_path_factory.mktemp("browser") / "wire.jsonl"
    seed = seed_whose_next_games(lambda ticks: all(80 <= t <= 300 for t in ticks), count=2, prefix="browser")
    handle = start_simulator(speed=6, seed=seed, wire_log=wire_log)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1500, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(handle.url + "/")
        page.wait_for_selector("#connection.on", timeout=10_000)
        yield handle, page, errors
        browser.close()
    handle.stop()


def test_buttons_emit_orders_and_show_acks(session):
    handle, page, errors = session
    _phase_is(page, "PRESALE")
    assert handle.engine.game.rug_tick >= 80  # the seed was chosen for it
    assert _click_and_read_ack(page, "#buy", "BUY") == "BUY: ok"
    assert _click_and_read_ack(page, "#sidebet", "SIDEBET") == "SIDEBET: ok — Side bet placed"
    _phase_is(page, "ACTIVE")
    page.wait_for_function("Number(document.querySelector('#tick').textContent) >= 2", timeout=10_000)
    assert _click_and_read_ack(page, "#sell-50", "SELL 50%") == "SELL 50%: ok"
    assert _click_and_read_ack(page, "#short-open", "SHORT") == "SHORT: ok"
    assert _click_and_read_ack(page, "#short-close", "CLOSE SHORT") == "CLOSE SHORT: ok"
    assert _click_and_read_ack(page, "#sell-100", "SELL 100%") == "SELL 100%: ok"
    assert _click_and_read_ack(page, "#sell-10", "SELL 10%") == "SELL 10%: refused — No position to sell"
    assert errors == []
    records = [json.loads(line) for line in handle.wire_log.read_text().splitlines()]
    buy = next(r for r in records if r["event"] == "buyOrder")
    frame = json.loads(buy["frame"][buy["frame"].index("["):])
    assert buy["direction"] == "in" and buy["ack_id"] is not None
    assert frame[0] == "buyOrder" and frame[1]["__trace"] is True and frame[2] == {"amount": 0.01}
    acked = [r for r in records if r["direction"] == "out" and r["frame"].startswith(f"43{buy['ack_id']}[")]
    assert acked and json.loads(acked[0]["frame"][len(f"43{buy['ack_id']}"):]) == [{"success": True}]


def test_a_rejected_order_shows_its_reason(session):
    _, page, _ = session
    page.fill("#amount", "50")
    refused = _click_and_read_ack(page, "#buy", "BUY")
    page.fill("#amount", "0.01")
    reasons = ("Amount above maximum of 5.0 SOL", "Trading is not open: wait for the next game", "Game has rugged")
    assert refused in [f"BUY: refused — {reason}" for reason in reasons]


def test_screenshot_shows_the_live_game(session, tmp_path):
    _, page, _ = session
    _phase_is(page, "ACTIVE")
    page.wait_for_function("Number(document.querySelector('#tick').textContent) >= 3", timeout=10_000)
    for selector in BUTTONS + READOUTS:
        assert page.is_visible(selector), selector
    assert page.text_content("#cash").endswith("SOL")
    assert float(page.text_content("#price").rstrip("×")) > 0
    # the chart has drawn a price line: some canvas pixels carry the line colours
    coloured = page.evaluate(
        """() => { const c = document.querySelector('#chart'); const d = c.getContext('2d')
                   .getImageData(0, 0, c.width, c.height).data; let n = 0;
                   for (let i = 0; i < d.length; i += 4) if (d[i + 1] > 150 || d[i] > 200) n++; return n; }"""
    )
    assert coloured > 50
    path = tmp_path / "play.png"
    page.screenshot(path=str(path))
    png = path.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])
    assert (width, height) == (1500, 900)
    assert len(png) > 20_000  # a real rendering, not a blank page
