"""The game's rules, once: each value rule gives the same numbers on one account (floats) and on columns (numpy),
and the account rules, the simulator's settlement and the pipeline's rewards agree because they share them."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from capture_agent.protocol import rules, trading
from capture_agent.protocol.rules import (
    PHASE_RANK,
    PRE_GAME_PHASES,
    SIDEBET_PAYOUT,
    SIDEBET_WINDOW,
    SOL_COIN,
    Phase,
    lamports,
    short_value,
    sidebet_value,
)
from vectra_pipeline.gold import rewards

BOUNDED = settings(max_examples=300, deadline=None)
sol = st.floats(min_value=0.0, max_value=1e4, allow_nan=False)
price = st.floats(min_value=1e-6, max_value=1e4, allow_nan=False)
tick = st.integers(min_value=0, max_value=2000)
rug = st.integers(min_value=-1, max_value=2000)  # < 0: not rugged (yet)
account = st.tuples(sol, sol, price, price, sol, tick, tick, rug)  # amount, short, entry, price, cash, start, at, rug


@BOUNDED
@given(st.lists(account, min_size=1, max_size=30))
def test_value_rules_give_the_same_numbers_on_floats_and_on_columns(accounts) -> None:
    amount, short, entry, mark, cash, start, at, rug_tick = (np.array(column) for column in zip(*accounts))
    end = start + SIDEBET_WINDOW
    columns = (
        lamports(mark),
        short_value(short, entry, mark),
        sidebet_value(amount, end, at, rug_tick),
        rules.equity(cash, amount, mark, sidebet_value(amount, end, at, rug_tick), short_value(short, entry, mark)),
    )
    for i, (a, s, e, p, c, b, t, r) in enumerate(accounts):
        one = (
            lamports(p),
            short_value(s, e, p),
            sidebet_value(a, b + SIDEBET_WINDOW, t, r),
            rules.equity(c, a, p, sidebet_value(a, b + SIDEBET_WINDOW, t, r), short_value(s, e, p)),
        )
        assert [column[i] for column in columns] == list(one)  # exactly: one definition, one arithmetic


@BOUNDED
@given(st.floats(min_value=0.0, max_value=1e6, allow_nan=False))
def test_lamports_truncate_as_the_simulator_always_did(value: float) -> None:
    assert lamports(value) == math.floor(value * 1e9 + 1e-6) / 1e9


@BOUNDED
@given(amount=st.floats(min_value=0.001, max_value=5.0), entry=price, close=price)
def test_closing_a_short_pays_its_value_and_the_pipeline_marks_it_the_same(amount, entry, close) -> None:
    player = trading.Player("p", "p", 1, cash=10.0)
    trading.open_short(player, amount, entry, 3)
    marked = float(rewards.short_value(amount, entry, close))  # what the reward counts while the short is open
    fill = trading.close_short(player, close, 9)
    assert fill.amount == short_value(amount, entry, close) == marked
    assert marked >= 0 and marked == lamports(marked)
    assert marked == pytest.approx(max(0.0, amount * (2 - close / entry)), abs=2e-9)


@BOUNDED
@given(start=tick, rug_tick=tick, bet=st.floats(min_value=0.001, max_value=5.0))
def test_a_side_bet_settles_as_its_value_says(start, rug_tick, bet) -> None:
    """The simulator settles a bet at the rug (win) or after its window (loss); the rewards' value rule must pay the
    same at the tick the outcome is known."""
    player = trading.Player("p", "p", 1, cash=10.0)
    placed = trading.place_sidebet(player, bet, "g", start, 1.0, 0, SOL_COIN)
    won = placed.wins(rug_tick)
    assert won is (rug_tick <= start + SIDEBET_WINDOW)  # inclusive window
    known_at = rug_tick if won else placed.end_tick + 1
    rugged = rug_tick if rug_tick <= known_at else -1  # a later rug is not known yet
    _, payout = trading.settle_sidebet(player, won)
    assert payout == (bet * SIDEBET_PAYOUT if won else 0.0)
    assert float(rewards.sidebet_value(True, bet, placed.end_tick, known_at, rugged)) == payout
    assert float(rewards.sidebet_value(True, bet, placed.end_tick, start, -1)) == bet  # undecided: the stake


def test_phases_are_listed_once_in_lifecycle_order() -> None:
    assert list(PHASE_RANK) == ["cooldown", "presale", "active", "rugged"] == [phase.value for phase in Phase]
    assert PRE_GAME_PHASES == ("cooldown", "presale")


def test_the_rug_remainder_bound_is_the_protocols() -> None:
    assert rules.rug_remainder_bound(5.0) == 0.02  # capped
    assert rules.rug_remainder_bound(0.5) == pytest.approx(0.01)  # 2 % of the price before
    assert rules.rug_tick_of_path(len([1.0, 0.98, 0.97, 0.0194])) == 3


def test_known_events_cover_every_event_the_rules_name() -> None:
    strings = {name: value for name, value in vars(rules).items() if name.isupper() and isinstance(value, str)}
    named = {value for name, value in strings.items() if name not in ("SOL_COIN", "GAME_VERSION")}
    assert named <= rules.KNOWN_EVENTS
    # every order but the side bet executes as a trade of its kind
    assert set(rules.TRADE_TYPES) == set(rules.ORDER_KINDS.values()) - {"sidebet"}
