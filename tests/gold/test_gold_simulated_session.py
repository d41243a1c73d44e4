"""Gold on a simulated authenticated session through the real chain (landing → silver → gold).

The session is the pipeline tests' one (``tests/pipeline/simulated_session.py``): the simulator engine plays
four games with a scripted player (presale buy, buy, sidebet, short, sells, short close), every frame is landed and
silver is built by the pure stages. The engine's record of each order is the truth the gold labels and equity are
compared with.
"""

from __future__ import annotations

import polars as pl
import pytest

from vectra_pipeline.gold.action_space import Action
from vectra_pipeline.gold.carry import reward_violations
from vectra_pipeline.gold.lookahead import SILVER_INPUTS, gold_from_silver, look_ahead_violations

ORDER_ACTIONS = {
    ("buyOrder", None): Action.BUY,
    ("requestSidebet", None): Action.SIDEBET,
    ("shortOrder", None): Action.SHORT_OPEN,
    ("closeShort", None): Action.SHORT_CLOSE,
    ("sellOrder", 25): Action.SELL_25,
    ("sellOrder", 100): Action.SELL_100,
}
SELL_PERCENT = {6: 25, 10: 100}  # the script's sells, by trigger tick


@pytest.fixture(scope="module")
def gold(simulated_session):
    chain, truths = simulated_session
    tables = {name: getattr(chain, name) for name in SILVER_INPUTS}
    episodes, observations = gold_from_silver(tables)
    return tables, truths, episodes, observations


def test_labels_are_the_orders_the_engine_received(gold):
    _, truths, episodes, obs = gold
    active = [t for t in truths if t.phase == "active"]
    assert len(active) >= 18
    for truth in active:
        row = obs.filter((pl.col("game_id") == truth.game_id) & (pl.col("tick") == truth.tick)).row(0, named=True)
        expected = ORDER_ACTIONS[(truth.event, SELL_PERCENT.get(truth.tick) if truth.event == "sellOrder" else None)]
        assert row["action"] == expected, (truth.event, truth.tick)
        assert row["action_ack_ok"] is truth.ack_ok
    presale = {t.game_id for t in truths if t.phase == "presale"}
    counted = episodes.filter(pl.col("game_id").is_in(presale))
    assert counted.height == len(presale) and (counted["presale_actions"] == 1).all()
    assert (episodes["actions_unplaced"] == 0).all()


def test_presale_position_is_in_the_tick_zero_state(gold):
    _, truths, _, obs = gold
    checked = 0
    for truth in (t for t in truths if t.phase == "presale" and t.ack_ok):
        row = obs.filter((pl.col("game_id") == truth.game_id) & (pl.col("tick") == 0)).row(0, named=True)
        if not row["tick_observed"]:  # the recording ended before tick 0's frame (only partialPrices showed it)
            # no frame clock places the game's own state there: the previous game's settled account is carried
            assert (row["player_state_known"], row["player_state_carried"]) == (1, 1)
            assert row["cash"] == pytest.approx(truth.cash_before, abs=1e-9) and row["position_qty"] == 0
            continue
        assert row["position_qty"] == pytest.approx(truth.qty_after)
        assert row["cash"] == pytest.approx(truth.cash_after)
        checked += 1
    assert checked >= 3


def test_final_equity_is_the_settled_account_and_rewards_add_up(gold):
    _, truths, episodes, obs = gold
    presales = [t for t in truths if t.phase == "presale"]
    checked = 0
    for before, after in zip(presales, presales[1:]):
        rows = obs.filter(pl.col("game_id") == before.game_id).sort("tick")
        final = rows.row(-1, named=True)
        assert final["is_final"] and final["position_qty"] == 0 and final["sidebet_active"] == 0 and final["short_amount"] == 0
        # the account after the rug settled is what the engine held when the next game's presale buy was sent
        assert final["equity"] == pytest.approx(after.cash_before, abs=1e-9)
        known = rows.filter(pl.col("player_state_known") > 0)
        assert rows["reward"].sum() == pytest.approx(final["equity"] - known["equity"][0], abs=1e-9)
        checked += 1
    assert checked >= 3
    assert episodes.filter(pl.col("game_id").is_in([t.game_id for t in presales[:-1]]))["terminated"].all()


def test_no_look_ahead_on_the_session(gold):
    tables, _, episodes, _ = gold
    assert look_ahead_violations(tables, episodes.filter(pl.col("ticks") >= 4)["game_id"].to_list()) == {}


def test_rewards_are_exact_across_consecutive_games(gold):
    """Every episode's rewards sum to its equity change, and each starts from the equity its previous game ended
    with; dropping the carried account (the old tick-0 'unknown') is caught by the same rule."""
    tables, _, episodes, obs = gold
    assert reward_violations(episodes, obs) == {}
    followers = episodes.filter(pl.col("previous_game_id").is_not_null())
    assert followers.height >= 3 and followers["capture_id"].n_unique() == 1
    first_rows = obs.sort("tick").group_by("game_id").first().join(followers.select("game_id"), on="game_id")
    assert (first_rows["player_state_known"] == 1).all()  # known from tick 0 in every consecutive game
    # a carried start that is not the previous game's end breaks continuity; a reward lost at a tick breaks the sum
    carried = obs.filter(pl.col("player_state_carried") > 0)["game_id"].unique().to_list()
    assert carried
    shifted = obs.with_columns(pl.when(pl.col("game_id") == carried[0]).then(pl.col("equity") + 0.5).otherwise(pl.col("equity")).alias("equity"))
    assert "continuity" in reward_violations(episodes, shifted)[carried[0]]
    victim = obs.filter(~pl.col("is_final") & (pl.col("reward") != 0)).row(0, named=True)
    lost = obs.with_columns(
        pl.when((pl.col("game_id") == victim["game_id"]) & (pl.col("tick") == victim["tick"])).then(0.0).otherwise(pl.col("reward")).alias("reward")
    )
    assert set(reward_violations(episodes, lost)[victim["game_id"]]) == {"sum"}
