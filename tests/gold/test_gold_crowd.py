"""The crowd kind against the simulator's ground truth: every bot's fills, recorded by the engine at the one place a
fill becomes a trade (``_record_fill``), and every bot's position on the engine's accounts after each tick, must be
what the crowd trajectories say — the actions with their amounts at their ticks, the board positions (the accounts
when each tick's frame went out), and no position change left unexplained (the simulator's feed shows every
trade)."""

from __future__ import annotations

import sys
from pathlib import Path

import polars as pl
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "pipeline"))

from pipeline_kit import SimulatedClient, run_chain  # noqa: E402

from capture_agent.landing.schema import Source  # noqa: E402
from capture_agent.landing.segments import read_landing  # noqa: E402
from capture_agent.landing.writer import LandingWriter  # noqa: E402
from vectra_pipeline.datasets.contents import DatasetParams  # noqa: E402
from vectra_pipeline.datasets.publish import publish  # noqa: E402
from vectra_pipeline.datasets.registry import read_observations  # noqa: E402
from vectra_pipeline.gold.action_space import Action, nearest_sell  # noqa: E402
from vectra_pipeline.gold.lookahead import SILVER_INPUTS, gold_tables  # noqa: E402

START_MS = 1_766_275_200_000  # 2025-12-21 00:00 UTC
STEP_MS = 50
KINDS = {"buy": Action.BUY, "short_open": Action.SHORT_OPEN, "short_close": Action.SHORT_CLOSE}


@pytest.fixture(scope="module")
def crowd(tmp_path_factory):
    from simulator.engine.lifecycle import SimulatorEngine

    data_dir = tmp_path_factory.mktemp("crowd")
    engine = SimulatorEngine("crowd-truth", START_MS, bots=6)
    fills, positions = [], {}
    record = engine._record_fill

    def recording(player, fill, trace_id):  # the engine's own record of every fill, before it is broadcast
        fills.append({"game_id": engine.game.game_id, "player_id": player.id, "kind": fill.type, "tick": fill.tick,
                      "amount": fill.amount, "qty": fill.qty, "qty_before": player.position_qty + (fill.qty if fill.type == "sell" else -fill.qty if fill.type == "buy" else 0.0)})
        record(player, fill, trace_id)

    engine._record_fill = recording
    tick_frame = engine._active_tick

    def accounts_at_tick(tick):  # the engine's accounts when the tick's frame (and board) went out
        tick_frame(tick)
        for bot in engine.bots:
            positions[(engine.game.game_id, bot.id, tick)] = bot.position_qty

    engine._active_tick = accounts_at_tick
    games: set[str] = set()
    with LandingWriter(data_dir, Source.SIMULATOR, capture_id="crowd-truth") as writer:
        client = SimulatedClient(engine, writer, "observer")
        now = START_MS
        client.land(engine.connect("observer", now))
        while len(games) < 4 and now < START_MS + 30 * 60_000:
            now += STEP_MS
            client.land(engine.advance(now))
            if engine.phase == "active":
                games.add(engine.game.game_id)
    chain = run_chain(read_landing(data_dir, ["2025-12-21"]))
    tables = {name: getattr(chain, name) for name in SILVER_INPUTS} | {"frames": chain.frames_with_text}
    return gold_tables(tables), pl.DataFrame(fills), positions


def test_every_bot_fill_is_a_crowd_action_with_its_amount_at_its_tick(crowd):
    gold, fills, _ = crowd
    rows = gold["crowd_observations"]
    complete = gold["market_episodes"].filter(pl.col("terminated") & (pl.col("first_tick") == 0))["game_id"]
    truth = fills.filter(pl.col("game_id").is_in(complete.to_list()))
    assert truth.height >= 20 and truth["player_id"].n_unique() >= 3
    first_of_tick = truth.group_by("game_id", "player_id", "tick", maintain_order=True).first()
    checked = 0
    for fill in first_of_tick.iter_rows(named=True):
        row = rows.filter((pl.col("game_id") == fill["game_id"]) & (pl.col("player_id") == fill["player_id"]) & (pl.col("tick") == fill["tick"]))
        if row.is_empty() or row["is_final"][0]:  # a fill on the rug tick has no transition to label
            continue
        row = row.row(0, named=True)
        expected = KINDS.get(fill["kind"]) or nearest_sell(fill["qty"] / fill["qty_before"] * 100.0)
        assert row["action"] == expected, fill
        if fill["kind"] in ("buy", "short_open"):
            assert row["action_amount"] == pytest.approx(fill["amount"]), fill
        checked += 1
    assert checked >= 20
    labelled = rows.filter(pl.col("action") > 0).join(truth.select("game_id", "player_id", "tick").unique(), on=["game_id", "player_id", "tick"], how="anti")
    assert labelled.filter(pl.col("action") != Action.SIDEBET).is_empty()  # nothing invented: every trade label is a fill


def test_board_positions_are_the_engine_accounts_and_nothing_is_unexplained(crowd):
    gold, _, positions = crowd
    rows = gold["crowd_observations"].filter(pl.col("on_board") > 0)
    checked = 0
    for row in rows.select("game_id", "player_id", "tick", "position_qty").iter_rows(named=True):
        key = (row["game_id"], row["player_id"], row["tick"])
        if key in positions:
            assert row["position_qty"] == pytest.approx(positions[key], rel=1e-9, abs=1e-12), key
            checked += 1
    assert checked >= 100
    assert gold["crowd_observations"]["unexplained_qty"].null_count() == gold["crowd_observations"].height
    episodes = gold["crowd_episodes"]
    assert (episodes["unexplained_changes"] == 0).all() and episodes.filter(pl.col("in_training")).height >= 6


def test_crowd_rewards_sum_to_the_pnl_change(crowd):
    gold, _, _ = crowd
    episodes = gold["crowd_episodes"].filter(pl.col("in_training"))
    assert episodes.height > 0
    for episode in episodes.iter_rows(named=True):
        assert episode["episode_return"] == pytest.approx((episode["end_pnl"] or 0.0) - (episode["start_pnl"] or 0.0), abs=1e-9)


def test_the_crowd_dataset_splits_by_game_and_keeps_each_trajectory_whole(crowd, tmp_path):
    gold, _, _ = crowd
    tag = pl.lit("2025-12-21").alias("partition")
    version, _ = publish(tmp_path, ["2025-12-21"], gold["crowd_episodes"].with_columns(tag), gold["crowd_observations"].with_columns(tag),
                         [{"path": "landing/x.parquet", "bytes": 1, "sha256": "ab"}], DatasetParams(kind="crowd"))
    assert version.path.parent.name == "crowd"
    rows = read_observations(version)
    assert rows.select("game_id", "player_id", "tick").equals(rows.select("game_id", "player_id", "tick").sort("game_id", "player_id", "tick"))
    assert (rows.group_by("game_id").agg(pl.col("split").n_unique())["split"] == 1).all()  # a game's players share its split
    trained = gold["crowd_episodes"].filter(pl.col("in_training"))
    assert rows.select("game_id", "player_id").n_unique() == trained.height
    assert rows.filter(pl.col("is_final")).height == trained.height  # one final row per trajectory
    card = (version.path / "README.md").read_text()
    assert "one per game, player" in card and "0 board position changes no trade seen explains" in card
