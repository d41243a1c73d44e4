"""A scripted player for the simulator's play page: real clicks, so the capture has the user's own actions.

Simulator only (the CLI refuses it elsewhere): it trades. Each round it buys, sells in steps, and sometimes
places a sidebet or opens and closes a short, with short random pauses, through Playwright clicks that the
page's click listener records like a person's. :func:`plan_round` (pure) decides; :func:`autoplay` clicks.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable

PHASE_ACTIVE = "document.getElementById('phase') && document.getElementById('phase').textContent === 'ACTIVE'"
PHASE_OVER = "document.getElementById('phase') && document.getElementById('phase').textContent !== 'ACTIVE'"


def plan_round(rng: random.Random) -> list[tuple[str, float]]:
    """(selector, pause before the click in seconds) for one round, in click order."""
    plan = [("#buy", rng.uniform(0.0, 0.3))]
    if rng.random() < 0.5:
        plan.append(("#sidebet", rng.uniform(0.1, 0.4)))
    plan += [("#sell-50", rng.uniform(0.2, 0.8)), ("#sell-100", rng.uniform(0.2, 0.8))]
    if rng.random() < 0.25:
        plan += [("#short-open", rng.uniform(0.1, 0.4)), ("#short-close", rng.uniform(0.2, 0.8))]
    return plan


async def autoplay(page, *, seed: str = "vectra-autoplay", say: Callable[[str], None] = print) -> None:
    """Play round after round until cancelled or the page goes away."""
    from playwright.async_api import Error as PlaywrightError

    rng = random.Random(seed)
    clicks = 0
    try:
        while True:
            await page.wait_for_function(PHASE_ACTIVE, timeout=0, polling=50)
            for selector, pause in plan_round(rng):
                await asyncio.sleep(pause)
                if not await page.evaluate(PHASE_ACTIVE):
                    break  # the round ended (rug): the rest of the plan waits for the next one
                await page.click(selector, timeout=2000)
                clicks += 1
            await page.wait_for_function(PHASE_OVER, timeout=0, polling=50)
    except PlaywrightError as error:
        say(f"autoplay stopped after {clicks} clicks: {str(error).splitlines()[0]}")
