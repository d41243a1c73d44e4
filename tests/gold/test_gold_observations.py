"""Episodes, features and observations: a real game checked by hand, look-ahead by perturbation, labels, rewards."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
import realdata
from gold_kit import expected_market

from vectra_pipeline.gold.action_space import Action, action_code_expr, nearest_sell
from vectra_pipeline.gold.carry import reward_violations
from vectra_pipeline.gold.feature_spec import FEATURE_NAMES, FEATURES
from vectra_pipeline.gold.lookahead import gold_from_silver, look_ahead_violations, perturb_after
from vectra_pipeline.gold.policy import EpisodePolicy
from vectra_pipeline.schema import conform, empty
from vectra_pipeline.synthetic import synthetic_silver

DEFAULT_POLICY = EpisodePolicy()


def _gold(tables: dict[str, pl.DataFrame], policy: EpisodePolicy = DEFAULT_POLICY) -> tuple[pl.DataFrame, pl.DataFrame]:
    return gold_from_silver(tables, policy)


@pytest.fixture(scope="module")
def synthetic():
    tables = synthetic_silver(24, seed=3, gapped_every=5)
    return tables, *_gold(tables)


# -- a real game from games.jsonl, every feature recomputed here by hand ------------------------------------------

def _real_game_with_winning_sidebet() -> tuple[dict, dict]:
    for game in realdata.games():
        if game["kind"] != "gameHistory" or len(game["prices"]) < 60:
            continue
        for bet in game.get("globalSidebets", []):
            if bet["type"] == "placed" and bet["startedAtTick"] <= game["rug_tick"] <= bet["end"]:
                return game, bet
    raise AssertionError("games.jsonl has no gameHistory game with a winning sidebet")


def _real_tables(game: dict, bet: dict) -> dict[str, pl.DataFrame]:
    prices, rug, gid, player = [float(p) for p in game["prices"]], game["rug_tick"], game["gameId"], bet["playerId"]
    ticks = pl.DataFrame({
        "game_id": [gid] * len(prices), "tick": list(range(len(prices))), "price": [float(p) for p in prices],
        "price_source": ["history"] * len(prices), "phase": ["active"] * rug + ["rugged"],
        "is_rug_tick": [t == rug for t in range(len(prices))],
    })
    games = pl.DataFrame({"game_id": [gid], "rug_tick": [rug], "rug_price": [prices[-1]], "peak": [game["peakMultiplier"]],
                          "completeness": ["history_only"], "history_only": [True], "server_seed": [game["serverSeed"]],
                          "fair_verified": [True]})
    # The bettor's state as a recorder would have seen it: 10 SOL before, the bet open from its start tick.
    state = pl.DataFrame({
        "capture_id": ["c", "c"], "seq": [1, 2], "player_id": [player, player], "game_id": [gid, gid],
        "tick": [0, bet["startedAtTick"]], "cash": [10.0, 10.0 - bet["betAmount"]], "position_qty": [0.0, 0.0],
        "avg_cost": [0.0, 0.0], "cumulative_pnl": [0.0, 0.0], "total_invested": [0.0, 0.0],
        "sidebet_active": [False, True], "sidebet_start_tick": [None, bet["startedAtTick"]],
        "sidebet_end_tick": [None, bet["end"]], "sidebet_amount": [None, float(bet["betAmount"])], "source": ["playerUpdate"] * 2,
    })
    return {"games": conform(games, "games"), "game_ticks": conform(ticks, "game_ticks"), "trades": empty("trades"),
            "sidebets": empty("sidebets"), "player_state": conform(state, "player_state"), "actions": empty("actions")}


def test_real_episode_features_match_hand_computation():
    game, bet = _real_game_with_winning_sidebet()
    episodes, obs = _gold(_real_tables(game, bet), EpisodePolicy(train_completeness=frozenset({"history_only"})))
    rug, start, end, stake = game["rug_tick"], bet["startedAtTick"], bet["end"], float(bet["betAmount"])
    episode = episodes.row(0, named=True)
    assert (episode["terminated"], episode["truncated"], episode["in_training"]) == (True, False, True)
    assert (episode["first_tick"], episode["last_tick"], episode["transitions"]) == (0, rug, rug)
    assert obs.height == rug + 1 and obs["tick"].to_list() == list(range(rug + 1))

    for expected, actual in zip(expected_market(game["prices"]), obs.iter_rows(named=True)):
        t = expected["game_tick"]
        for name, value in expected.items():
            dtype = next(f.dtype for f in FEATURES if f.name == name) if name in FEATURE_NAMES else "float64"
            tolerance = 1e-6 * max(1.0, abs(value)) if dtype == "float32" else 1e-12 * max(1.0, abs(value))
            assert actual[name] == pytest.approx(value, abs=tolerance), (name, t)
        # The sidebet row carries no receipt time, so it is visible from the tick after its start (timeline rule).
        open_now = t >= start + 1
        assert actual["sidebet_active"] == (1.0 if open_now else 0.0), t
        assert actual["sidebet_ticks_left"] == (max(0, end - t) if open_now else 0.0), t
        assert actual["player_state_known"] == (1.0 if t >= 1 else 0.0), t
        # equity: 0 while no state is visible; then 10 SOL — the stake replaces the cash it came from — and the
        # won bet pays 5x on the rug tick.
        expected_equity = 0.0 if t == 0 else 10.0 - stake + 5 * stake if t == rug else 10.0
        assert actual["equity"] == pytest.approx(expected_equity, abs=1e-9), t

    rewards = obs["reward"].to_list()
    assert rewards[rug] is None and obs["is_final"][rug]
    assert rewards[rug - 1] == pytest.approx(4 * stake)  # the win, paid on the transition into the rug frame
    assert all(r == pytest.approx(0.0, abs=1e-12) for r in rewards[: rug - 1])
    assert obs["terminated"].to_list() == [False] * (rug - 1) + [True, False]
    assert not obs["truncated"].any()


# -- look-ahead -----------------------------------------------------------------------------------------------------

def test_no_look_ahead_features_unchanged_when_the_future_changes(synthetic):
    tables, episodes, obs = synthetic
    game = episodes.filter(pl.col("in_training") & (pl.col("transitions") > 40))["game_id"][0]
    cut = 25
    _, perturbed = _gold(perturb_after(tables, game, cut))
    before = obs.filter((pl.col("game_id") == game) & (pl.col("tick") <= cut)).select("tick", *FEATURE_NAMES)
    after = perturbed.filter((pl.col("game_id") == game) & (pl.col("tick") <= cut)).select("tick", *FEATURE_NAMES)
    assert before.height == cut + 1
    assert before.equals(after)
    later = perturbed.filter((pl.col("game_id") == game) & (pl.col("tick") == cut + 1))
    assert later["price"][0] != obs.filter((pl.col("game_id") == game) & (pl.col("tick") == cut + 1))["price"][0]
    games = episodes.filter(pl.col("in_training"))["game_id"].to_list()[:4]
    assert look_ahead_violations(tables, games) == {}


def test_look_ahead_check_catches_a_leaky_feature(synthetic, monkeypatch):
    """The check is not vacuous: a feature computed from the next tick's price is reported."""
    from vectra_pipeline.gold import market

    tables, episodes, _ = synthetic
    honest = market.price_features

    def leaky(ticks):
        return honest(ticks).with_columns(pl.col("price").shift(-1).over("game_id").fill_null(0.0).alias("peak_price"))

    monkeypatch.setattr(market, "price_features", leaky)
    game = episodes.filter(pl.col("in_training"))["game_id"][0]
    assert look_ahead_violations(tables, [game]) == {game: ["peak_price"]}


def test_trade_received_after_its_tick_frame_counts_at_the_next_tick(synthetic):
    tables, episodes, obs = synthetic
    complete = episodes.filter(pl.col("completeness") == "complete").select("game_id")
    trades = tables["trades"].join(complete, on="game_id")  # flow counts every player's trades, own ones too
    frames = tables["game_ticks"].select("game_id", "tick", pl.col("recv_wall_ns").alias("frame_ns"))
    # received after its tick's frame → the next tick; received before it (presale buys at tick 0) → that tick
    placed = trades.join(frames, on=["game_id", "tick"])
    late = (pl.col("recv_wall_ns") > pl.col("frame_ns")).cast(pl.Int32)
    assert placed.select(late.sum()).item() > 500 and placed.select((1 - late).sum()).item() >= 3
    expected = placed.group_by("game_id", (pl.col("tick") + late).alias("tick")).agg(pl.len().alias("n"))
    got = obs.join(complete, on="game_id").join(expected, on=["game_id", "tick"], how="left")
    assert got["n"].sum() > 500
    assert got["flow_trade_count"].to_list() == got["n"].fill_null(0).cast(pl.Float32).to_list()


# -- episodes, labels, rewards -------------------------------------------------------------------------------------

def test_episodes_policy_gaps_are_never_stitched(synthetic):
    tables, episodes, obs = synthetic
    gapped = episodes.filter(pl.col("completeness") == "gapped")
    assert gapped.height >= 3
    assert not gapped["in_training"].any()
    assert gapped["exclusion_reason"].str.starts_with("completeness gapped").all()
    for row in gapped.iter_rows(named=True):
        rows = obs.filter(pl.col("game_id") == row["game_id"])
        assert rows["tick"].max() == row["first_gap_tick"] - 1 == row["last_tick"]  # stops before the gap
        assert rows.filter(pl.col("truncated")).height == 1 and not rows["terminated"].any()
    complete = episodes.filter(pl.col("completeness") == "complete")
    assert complete["in_training"].all() and complete["terminated"].all()
    assert episodes.height == tables["games"].height  # kept and counted


def test_observations_are_finite_and_labelled(synthetic):
    tables, episodes, obs = synthetic
    matrix = obs.select(FEATURE_NAMES).to_numpy()
    assert np.isfinite(matrix).all()
    transitions = obs.filter(~pl.col("is_final"))
    assert transitions["action"].null_count() == 0 and transitions["reward"].null_count() == 0
    assert set(transitions["action"].unique().to_list()) <= set(range(len(Action)))
    # each episode: exactly one final row; one terminal-or-truncated transition
    per_game = obs.group_by("game_id").agg(pl.col("is_final").sum(), (pl.col("terminated") | pl.col("truncated")).sum().alias("ends"))
    assert (per_game["is_final"] == 1).all() and (per_game["ends"] == 1).all()
    # labelled actions equal the recorded ones (first per tick)
    sent = tables["actions"].filter(pl.col("phase") != "presale").select("game_id", "tick", "kind", "percentage")
    labelled = sent.join(transitions.select("game_id", "tick", "action"), on=["game_id", "tick"], how="inner")
    assert labelled.height > 50
    assert labelled.select((action_code_expr(pl.col("kind"), pl.col("percentage")) == pl.col("action")).all()).item()
    # the episode's rewards add up to its equity change
    for game in episodes.filter(pl.col("in_training"))["game_id"].to_list()[:5]:
        rows = obs.filter(pl.col("game_id") == game).sort("tick")
        known = rows.filter(pl.col("player_state_known") > 0)
        assert rows["reward"].sum() == pytest.approx(known["equity"][-1] - known["equity"][0], abs=1e-9)


def test_action_codes():
    kinds = pl.DataFrame({"kind": ["buy", "sell", "sell", "sell", "sell", "sell", "sidebet", "short_open", "short_close", "sell", "dance"],
                          "percentage": [None, 10.0, 25.0, 50.0, 100.0, 30.0, None, None, None, None, None]})
    codes = kinds.select(action_code_expr(pl.col("kind"), pl.col("percentage")).alias("code"))["code"].to_list()
    assert codes == [1, 2, 3, 4, 5, 3, 6, 7, 8, 5, None]
    assert [nearest_sell(p) for p in (10, 17.5, 20, 37.5, 75, 99, None)] == [
        Action.SELL_10, Action.SELL_25, Action.SELL_25, Action.SELL_50, Action.SELL_100, Action.SELL_100, Action.SELL_100]


def test_state_without_cash_is_not_known_and_pays_no_spurious_reward(synthetic):
    """gameStatePlayerUpdate rows carry no cash before the first playerUpdate: no equity jump when cash appears; the
    account carried from the previous game stays visible until a state of this game with cash is."""
    tables, episodes, _ = synthetic
    game = episodes.filter(pl.col("in_training") & (pl.col("actions") > 0) & (pl.col("presale_actions") == 0))["game_id"][0]
    first_row = (pl.col("game_id") == game) & (pl.col("tick") == 0)
    states = tables["player_state"].with_columns(
        pl.when(first_row).then(None).otherwise(pl.col("cash")).alias("cash"),
        pl.when(first_row).then(pl.lit("gameStatePlayerUpdate")).otherwise(pl.col("source")).alias("source"),
    )
    alone = {name: frame.filter(pl.col("game_id") == game) for name, frame in {**tables, "player_state": states}.items()}
    _, obs = _gold(alone)  # no previous game: nothing to carry
    rows = obs.filter(pl.col("game_id") == game).sort("tick")
    first_known = rows.filter(pl.col("player_state_known") > 0)["tick"].min()
    assert first_known > 1  # the cash-less state at tick 0 did not make the player known
    assert rows.filter(pl.col("tick") < first_known)["equity"].abs().max() == 0
    assert rows.filter(~pl.col("is_final"))["reward"].abs().max() < 1.0  # cash is ~10 SOL: no jump to it
    episodes, carried = _gold({**tables, "player_state": states})  # the previous game's account carries over
    rows = carried.filter(pl.col("game_id") == game).sort("tick")
    assert (rows.filter(pl.col("tick") < first_known)["player_state_carried"] == 1).all()
    assert reward_violations(episodes, carried) == {}


def test_empty_partition_gives_empty_typed_tables():
    from vectra_pipeline.gold.lookahead import SILVER_INPUTS, gold_from_silver

    episodes, obs = gold_from_silver({name: empty(name) for name in SILVER_INPUTS})
    assert episodes.height == obs.height == 0
    assert obs.columns[:2] == ["game_id", "tick"] and all(obs.schema[name] in (pl.Float32, pl.Float64) for name in FEATURE_NAMES)


def test_presale_buy_is_visible_from_tick_zero(synthetic):
    """Silver gives a presale state no tick; gold places it before tick 0 of its own (upcoming) game."""
    tables, episodes, obs = synthetic
    presale = tables["actions"].filter(pl.col("phase") == "presale")
    assert presale.height >= 3 and presale["tick"].null_count() == presale.height
    for game in presale["game_id"].to_list():
        row = obs.filter((pl.col("game_id") == game) & (pl.col("tick") == 0)).row(0, named=True)
        assert row["position_qty"] > 0 and row["player_state_known"] == 1.0
        assert row["has_acted"] == 1.0 and row["ticks_since_last_action"] == 1.0 and row["last_bet_amount"] > 0
    counted = episodes.join(presale.group_by("game_id").len(), on="game_id")
    assert (counted["presale_actions"] == counted["len"]).all() and (counted["actions_unplaced"] == 0).all()


def test_several_actions_in_one_tick_label_the_first_and_count_the_rest(synthetic):
    tables, episodes, _ = synthetic
    actions = tables["actions"]
    first = actions.filter((pl.col("kind") == "buy") & (pl.col("phase") == "active")).row(0, named=True)
    later = {**first, "action_id": first["action_id"] + "-again", "seq": first["seq"] + 1000, "kind": "sidebet",
             "send_wall_ns": first["send_wall_ns"] + 10_000_000, "trade_id": None, "exec_tick": None}
    earlier = {**later, "action_id": first["action_id"] + "-before", "kind": "short_open", "send_wall_ns": first["send_wall_ns"] - 10_000_000}
    extra = pl.DataFrame([later, earlier], schema=actions.schema)
    _, obs = _gold({**tables, "actions": pl.concat([actions, extra])})
    row = obs.filter((pl.col("game_id") == first["game_id"]) & (pl.col("tick") == first["tick"])).row(0, named=True)
    assert row["action"] == Action.SHORT_OPEN and row["actions_in_tick"] == 3  # the first sent, by send time


def test_two_recording_accounts_in_one_game_pick_one_and_count_both(synthetic):
    tables, _, _ = synthetic
    game = tables["games"]["game_id"][0]
    states = tables["player_state"]
    other = states.filter(pl.col("game_id") == game).head(2).with_columns(
        pl.lit("did:privy:other").alias("player_id"), pl.lit("other-capture").alias("capture_id"), (pl.col("cash") + 500).alias("cash"))
    episodes, obs = _gold({**tables, "player_state": pl.concat([states, other])})
    row = episodes.filter(pl.col("game_id") == game).row(0, named=True)
    assert row["recording_players"] == 2 and row["player_id"] == states["player_id"][0]
    assert obs.filter(pl.col("game_id") == game)["cash"].max() < 100  # the other account's states are not mixed in
