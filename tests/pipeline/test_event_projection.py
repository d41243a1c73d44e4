"""Each silver stage after decoding reads only its columns of ``events`` (``EVENT_COLUMNS``) and no gameStateUpdate
JSON but what it needs: on every real capture day and a simulated session, its output on the projected events is
exactly its output on the whole events (a column a stage reads but its list lacks fails here, not in a build)."""

from __future__ import annotations

import pytest
from pipeline_kit import chains_by_date, import_real

from vectra_pipeline.defs.assets.silver import stage_events
from vectra_pipeline.silver.actions import build_actions
from vectra_pipeline.silver.game_history import build_game_history
from vectra_pipeline.silver.games import build_games
from vectra_pipeline.silver.player_state import build_player_state
from vectra_pipeline.silver.sidebets import build_sidebets
from vectra_pipeline.silver.ticks import build_cooldowns, build_game_ticks
from vectra_pipeline.silver.trades import build_trades


@pytest.fixture(scope="module")
def chains(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("projection")
    return list(chains_by_date(data_dir, import_real(data_dir)).values())


def _as(stage, chain, state_json=False):
    return stage_events(chain.events.lazy(), stage, state_json).collect()


STAGES = {
    "game_history": lambda c: build_game_history(_as("game_history", c, state_json=True)),
    "game_ticks": lambda c: build_game_ticks(_as("ticks", c, state_json=True), c.game_history),
    "cooldowns": lambda c: build_cooldowns(_as("cooldowns", c)),
    "games": lambda c: build_games(_as("games", c), c.game_ticks, c.game_history),
    "trades": lambda c: build_trades(_as("trades", c)),
    "sidebets": lambda c: build_sidebets(_as("sidebets", c), c.games, c.game_history),
    "player_state": lambda c: build_player_state(_as("player_state", c), c.trades),
    "actions": lambda c: build_actions(c.frames, _as("actions", c), c.trades, c.player_state),
}


@pytest.mark.parametrize("table", list(STAGES))
def test_a_stage_on_its_projected_events_gives_its_whole_output(chains, table):
    assert sum(getattr(chain, table).height for chain in chains) > 0
    for chain in chains:
        assert STAGES[table](chain).equals(getattr(chain, table)), table
