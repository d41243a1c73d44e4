"""The player kind's steps read only what can hold their rows — player_state and actions the captures with an own
playerUpdate / an order, episodes the own trades and side bets, player_games' charts their games' rows — and
player_games is built a run of games at a time (a game per run, or the day in one). Each writes byte for byte the one
write of the pure stage on the whole day's tables: on every real capture day a player recorded, the simulated
session, and that session as a public socket saw it (no order, no recording player: no player state, action or
observation, episodes without a player)."""

from __future__ import annotations

import sys
from pathlib import Path

import polars as pl
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "pipeline"))

from pipeline_kit import Chain, assert_assets_write_one_write, chains_by_date, import_real  # noqa: E402

from vectra_pipeline.defs.assets import player as player_assets  # noqa: E402
from vectra_pipeline.gold.lookahead import SILVER_INPUTS, gold_tables  # noqa: E402
from vectra_pipeline.gold.player_games import build_player_games  # noqa: E402
from vectra_pipeline.silver.actions import ORDERS, build_actions  # noqa: E402
from vectra_pipeline.silver.player_state import OWN_UPDATES, build_player_state  # noqa: E402
from vectra_pipeline.silver.sidebets import build_sidebets  # noqa: E402
from vectra_pipeline.silver.trades import build_trades  # noqa: E402

INPUTS = ("events", "frames", "trades", "sidebets", "games", "game_ticks", "market_episodes", "market_observations")
BUILT = ("player_state", "actions", "episodes", "observations", "player_games")


def _public(chain: Chain) -> dict[str, pl.DataFrame]:
    """The silver tables of the session as a socket that neither ordered nor was logged in would have them."""
    events = chain.events.filter(~ORDERS.fill_null(False) & ~OWN_UPDATES.fill_null(False))
    trades = build_trades(events)
    state = build_player_state(events, trades)
    tables = {name: getattr(chain, name) for name in SILVER_INPUTS} | {"events": events, "trades": trades, "player_state": state}
    tables["sidebets"] = build_sidebets(events, chain.games, chain.game_history)
    tables["actions"] = build_actions(chain.frames, events, trades, state)
    return tables


@pytest.fixture(scope="module")
def days(tmp_path_factory, simulated_session) -> list[dict[str, pl.DataFrame]]:
    data_dir = tmp_path_factory.mktemp("player-reads")
    session = simulated_session[0]
    # of the real days those a player recorded (each day is a Dagster run: the rest are the public one's case)
    recorded = [chain for chain in chains_by_date(data_dir, import_real(data_dir)).values() if chain.actions.height]
    assert recorded
    chains = [*recorded, session]
    days = [{name: getattr(chain, name) for name in SILVER_INPUTS} for chain in chains] + [_public(session)]
    for tables, chain in zip(days, [*chains, session], strict=True):
        tables |= gold_tables(tables)  # without frames: no boards (the crowd kind's, not read here)
        tables["player_games"] = build_player_games(tables["trades"], tables["sidebets"], tables["games"])
        tables["frames"] = chain.frames  # the clicks actions reads
    return days


@pytest.mark.parametrize("run_rows", [1, 10**9])
def test_player_kind_steps_write_the_whole_days_tables(tmp_path, days, monkeypatch, run_rows):
    monkeypatch.setattr(player_assets, "RUN_ROWS", run_rows)  # player_games: a game per run, or the day in one
    recorded, public = days[-2], days[-1]
    assert all(recorded[name].height > 0 for name in BUILT)
    assert all(public[name].height == 0 for name in ("player_state", "actions", "observations"))
    assert public["episodes"].height > 0 and public["episodes"]["player_id"].is_null().all() and public["player_games"].height > 0
    assert public["trades"].height > 0 and not public["trades"]["is_own"].any()
    for index, tables in enumerate(days):  # the partition's name is any day
        assert_assets_write_one_write(tmp_path / str(index), "2025-12-20", {name: tables[name] for name in INPUTS},
                                      {name: tables[name] for name in BUILT})
