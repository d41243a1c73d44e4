"""The play page fits common screens: at 1280 px (and narrower, stacked) the leaderboard is whole inside the
window — nothing clipped, no sideways scrolling — even with a long player name; the chart shrinks instead."""

from __future__ import annotations

import pytest

from capture_agent.sources.browser import CHROMIUM, CHROMIUM_FLAGS, HEADLESS_FLAGS
from simulator.server import start_simulator

pytestmark = pytest.mark.browser

# Appends a long row and measures in one synchronous step: play.js re-renders the leaderboard as frames arrive.
MEASURE = """() => {
  const row = document.createElement('tr');
  for (const text of ['1', 'a_player_with_a_really_long_display_name_0123456789', '+12.345678', '0.123456']) {
    const cell = document.createElement('td'); cell.textContent = text; row.appendChild(cell);
  }
  document.querySelector('#leaderboard tbody').appendChild(row);
  const box = (element) => { const r = element.getBoundingClientRect(); return {left: r.left, right: r.right, width: r.width}; };
  return {
    board: box(document.querySelector('#leaderboard')), chart: box(document.querySelector('#chart')),
    cells: [...document.querySelectorAll('#leaderboard td')].map(box),
    scroll_width: document.documentElement.scrollWidth,
  };
}"""


@pytest.fixture(scope="module")
def page_url():
    handle = start_simulator(speed=1)
    try:
        yield handle.url + "/"
    finally:
        handle.stop()


@pytest.mark.parametrize("width", [1280, 1366, 1024, 800])
def test_the_leaderboard_is_whole_inside_the_window(page_url, width):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=[*CHROMIUM_FLAGS, *HEADLESS_FLAGS])
        try:
            page = browser.new_page(viewport={"width": width, "height": 900})
            page.goto(page_url)
            seen = page.evaluate(MEASURE)
        finally:
            browser.close()
    board, chart = seen["board"], seen["chart"]
    assert board["left"] >= 0 and board["right"] <= width, (width, board)
    assert board["width"] >= 200, board  # a readable column, not a sliver
    assert seen["scroll_width"] <= width  # no sideways scrolling
    assert chart["right"] <= width and chart["width"] > 0.3 * min(width, 760), chart
    assert all(cell["right"] <= board["right"] + 0.5 for cell in seen["cells"])  # every cell inside the table, none cut
