"""A scripted player for the simulator's play page: the demo's "person" who clicks the trade buttons.

Trading is state-changing, so this only ever drives the embedded simulator's page, and only when a caller
opts in (``vectra capture --source simulator --via browser --autoplay``, which ``vectra demo`` runs). The policy is
pure — it sees what the page shows (game id, phase, tick) and says which controls to click — and plays a
varied, deterministic mix per game so that every action kind reaches the data: presale and in-game buys,
partial and full sells, side bets and shorts. The page edge reads the DOM and clicks like a person would.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from capture_agent.protocol.rules import Phase


@dataclass(frozen=True, slots=True)
class Click:
    selector: str
    amount: str | None = None  # typed into #amount before the click


@dataclass(frozen=True, slots=True)
class PageView:
    """What the play page shows; ``phase`` is the page's label of protocol.rules.Phase."""

    game_id: str
    phase: Phase
    tick: int | None


@dataclass
class _GamePlan:
    index: int
    done: set[str] = field(default_factory=set)


class ScriptedPlayer:
    """Decides the clicks for each view of the page; each planned step fires once per game."""

    def __init__(self) -> None:
        self._game_id: str | None = None
        self._game = _GamePlan(index=-1)
        self._games_seen = 0

    def decide(self, view: PageView) -> list[Click]:
        if view.game_id != self._game_id:
            self._game_id = view.game_id
            self._game = _GamePlan(index=self._games_seen)
            self._games_seen += 1
        plan = self._game
        clicks: list[Click] = []

        def step(name: str, due: bool, click: Click) -> None:
            if due and name not in plan.done:
                plan.done.add(name)
                clicks.append(click)

        tick = view.tick if view.phase is Phase.ACTIVE else None
        presale_buyer = plan.index % 2 == 0
        step("presale_buy", presale_buyer and view.phase is Phase.PRESALE, Click("#buy", "0.1"))
        if tick is None:
            return clicks
        # Odd games buy in-game; so does any game whose presale the player missed (joined mid-game).
        step("buy", "presale_buy" not in plan.done and tick >= 2, Click("#buy", "0.05"))
        step("sidebet", plan.index % 3 == 0 and tick >= 3, Click("#sidebet", "0.01"))
        step("short_open", plan.index % 4 == 1 and tick >= 5, Click("#short-open", "0.02"))
        step("sell_25", tick >= 8, Click("#sell-25"))
        step("add", plan.index % 5 == 2 and tick >= 10, Click("#buy", "0.03"))
        step("sell_50", tick >= 14, Click("#sell-50"))
        step("short_close", "short_open" in plan.done and tick >= 16, Click("#short-close"))
        step("sell_100", tick >= 24, Click("#sell-100"))
        return clicks


_READ_PAGE = """() => [document.getElementById('game-id').textContent,
                      document.getElementById('phase').textContent,
                      document.getElementById('tick').textContent]"""


def read_view(game_id: str, phase_label: str, tick_text: str) -> PageView | None:
    """The page's texts as a view; None while the page shows placeholders (not connected yet)."""
    try:
        phase = Phase(phase_label.strip().lower())
    except ValueError:
        return None
    tick = int(tick_text) if tick_text.strip().isdigit() else None
    return PageView(game_id.strip(), phase, tick) if game_id.strip() else None


async def play(page, *, poll_s: float = 0.05, say: Callable[[str], None] = print) -> int:
    """Drive the play page until cancelled or the page goes away; returns the number of clicks made."""
    from playwright.async_api import Error as PlaywrightError

    player = ScriptedPlayer()
    clicks = 0
    try:
        while True:
            view = read_view(*await page.evaluate(_READ_PAGE))
            for click in player.decide(view) if view else ():
                if click.amount is not None:
                    await page.fill("#amount", click.amount)
                await page.click(click.selector, timeout=2000)
                clicks += 1
            await asyncio.sleep(poll_s)
    except PlaywrightError as error:
        say(f"scripted player stopped after {clicks} clicks: {str(error).splitlines()[0]}")
    return clicks
