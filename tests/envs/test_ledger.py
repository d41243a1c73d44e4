"""The vectorised ledger the baselines play on: on generated games, start balances and hostile actions (every kind,
amounts at and past the rules' bounds, NaN, ±inf, more than the balance), every account ends every step bit for bit
where the environments' own account (:class:`Agents`, one ``Desk`` per game) ends — equity, balance, position and the
account features a policy reads."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from capture_agent.protocol.rules import MAX_TRADE, MIN_TRADE
from vectra_pipeline.envs.agents import Agents, Game
from vectra_pipeline.envs.fills import FillModel
from vectra_pipeline.envs.ledger import Ledger, Table
from vectra_pipeline.gold.action_space import N_ACTIONS

NAMES = ("price", "return_5", "cash", "position_qty", "avg_cost", "position_pnl_pct", "balance_at_risk",
         "sidebet_active", "sidebet_amount", "sidebet_ticks_left", "short_amount", "short_unrealized_pnl")
ACCOUNT = NAMES[2:]
AMOUNTS = st.one_of(
    st.floats(0.0, 6.0),
    st.sampled_from([0.0, MIN_TRADE, np.nextafter(MIN_TRADE, 0.0), MAX_TRADE, np.nextafter(MAX_TRADE, 9.0), 0.3,
                     float("nan"), float("inf"), -float("inf"), -1.0]),
)


@st.composite
def games(draw) -> Game:
    rows = draw(st.integers(2, 70))
    gaps = draw(st.lists(st.integers(1, 3), min_size=rows - 1, max_size=rows - 1))
    ticks = np.concatenate([[0], np.cumsum(gaps)]).astype(np.int64)
    prices = np.array(draw(st.lists(st.floats(1e-3, 50.0), min_size=rows, max_size=rows)))
    market = draw(st.lists(st.floats(-1.0, 1.0, width=32), min_size=rows, max_size=rows))
    features = np.zeros((rows, len(NAMES)))
    features[:, 0], features[:, 1] = prices, market
    start = draw(st.sampled_from([None, 0.0005, 0.05, 1.0, 250.0]))
    return Game(f"g{rows}", ticks, prices, features, terminated=draw(st.booleans()), start_equity=start)


@settings(max_examples=60, deadline=None)
@given(played=st.lists(games(), min_size=1, max_size=6), data=st.data())
def test_every_account_steps_bit_for_bit_like_the_environments_accounts(played, data):
    n = len(played)
    agents = Agents(NAMES, n)
    for i, game in enumerate(played):
        agents.begin(i, game, game.opening_cash(), FillModel.instant(), np.random.default_rng(0))
    table = Table(played, NAMES, ["return_5"])
    ledger = Ledger(table, np.array([game.opening_cash() for game in played]))
    steps = table.rows - 1
    for step in range(int(steps.max())):
        active = steps > step
        kinds = np.array(data.draw(st.lists(st.integers(0, N_ACTIONS - 1), min_size=n, max_size=n)), dtype=np.int64)
        amounts = np.array(data.draw(st.lists(AMOUNTS, min_size=n, max_size=n)))
        assert np.array_equal(table.market["return_5"][active, step], agents.observations()[active, 1])
        agents.step(kinds, amounts, list(np.flatnonzero(active)))
        ledger.step(kinds, amounts, active)
        features = ledger.features()
        assert np.array_equal(features["equity"][active], agents.equity[active])
        assert np.array_equal(ledger.cash[active], [agents.desks[i].player.cash for i in np.flatnonzero(active)])
        observed = np.stack([features[name] for name in ACCOUNT], axis=1).astype(np.float32)
        assert np.array_equal(observed[active], agents.observations()[active, 2:])
    assert all(desk.done for desk in agents.desks)


def test_a_rug_settles_position_short_and_sidebet_like_the_environment():
    """One game, every account open at once before the rug: the forced sell, the short closed, the bet paid."""
    ticks, prices = np.arange(6, dtype=np.int64), np.array([1.0, 1.2, 1.5, 0.9, 2.0, 0.02])
    game = Game("rug", ticks, prices, np.zeros((6, len(NAMES))), terminated=True)
    agents, table = Agents(NAMES, 1), Table([game], NAMES)
    agents.begin(0, game, 10.0, FillModel.instant(), np.random.default_rng(0))
    ledger = Ledger(table, np.array([10.0]))
    for kind, amount in [(1, 0.5), (7, 0.25), (6, 0.1), (0, 0.0), (0, 0.0)]:
        agents.step(np.array([kind]), np.array([amount]), [0])
        ledger.step(np.array([kind]), np.array([amount]), np.array([True]))
        assert ledger.features()["equity"][0] == agents.equity[0]
    assert not ledger.sidebet[0] and not ledger.short[0] and ledger.qty[0] == 0.0
    assert ledger.cash[0] == agents.desks[0].player.cash > 10.0  # the 5× sidebet paid more than the rest lost
