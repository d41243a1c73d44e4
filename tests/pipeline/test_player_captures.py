"""The player kind's silver steps read only the captures that can hold their rows — ``player_state`` those with an
own playerUpdate, ``actions`` those that sent an order — and build exactly what a read of the whole day builds.

A day of several captures (the scripted session, with clicks, and three sessions of their own) where hypothesis
decides which captures keep their orders and which keep their playerUpdates (the others look like public sockets:
no order, no recording player, so no own trade), with the events partition cut into row groups of a few rows to
thousands: ``player_state_of_day`` and ``actions_of_day`` on the written partitions equal the pure stages on the whole
day's tables, and their rows come from exactly the captures hypothesis left recording. The real capture days too.
"""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pipeline_kit import land_session, run_chain

from capture_agent.landing.schema import Source
from capture_agent.landing.segments import read_landing
from capture_agent.landing.writer import LandingWriter
from vectra_pipeline import storage
from vectra_pipeline.defs.assets.silver import actions_of_day, captures_with, player_state_of_day
from vectra_pipeline.defs.resources import VectraPaths
from vectra_pipeline.silver.actions import ORDERS, build_actions
from vectra_pipeline.silver.player_state import OWN_UPDATES, build_player_state
from vectra_pipeline.silver.trades import build_trades

DATE = "2025-12-20"
START_MS = 1_766_188_800_000  # 2025-12-20 00:00 UTC
OWN_SESSIONS = ("rec-a", "rec-b", "rec-c")


@pytest.fixture(scope="module")
def day(tmp_path_factory, simulated_session) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(bronze frames, events) of a day of four captures, each with orders, acks and its own playerUpdates."""
    data_dir = tmp_path_factory.mktemp("captures")
    for index, capture in enumerate(OWN_SESSIONS):
        with LandingWriter(data_dir, Source.SIMULATOR, capture_id=capture) as writer:
            land_session(writer, f"player-captures-{index}", START_MS + index * 7_000, games=1)
    own = run_chain(read_landing(data_dir, [DATE]))
    session, _ = simulated_session
    frames = pl.concat([session.frames, own.frames]).sort("capture_id", "seq")
    events = pl.concat([session.events, own.events]).sort("capture_id", "seq", "packet_index")
    return frames, events


def _write_day(root, frames: pl.DataFrame, events: pl.DataFrame, trades: pl.DataFrame, state: pl.DataFrame, row_group_size: int) -> VectraPaths:
    path = storage.table_path(root, "events", DATE)
    path.parent.mkdir(parents=True, exist_ok=True)
    events.write_parquet(path, row_group_size=row_group_size)
    for table, frame in (("frames", frames), ("trades", trades), ("player_state", state)):
        storage.write_table(root, table, DATE, frame)
    return VectraPaths(data_dir=str(root))


def _captures(frame: pl.DataFrame) -> set[str]:
    return set(frame["capture_id"].unique())


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_reads_of_the_recording_captures_build_what_the_whole_day_builds(tmp_path_factory, day, data):
    frames, events = day
    captures = sorted(_captures(events))
    assert len(captures) == 4, captures
    ordering = set(data.draw(st.lists(st.sampled_from(captures), unique=True), label="captures that keep their orders"))
    updating = set(data.draw(st.lists(st.sampled_from(captures), unique=True), label="captures that keep their playerUpdates"))
    row_group_size = data.draw(st.sampled_from([7, 101, 997, 100_000]), label="events rows per row group")
    capture = pl.col("capture_id")
    day_events = events.filter(
        ~(ORDERS.fill_null(False) & ~capture.is_in(list(ordering))) & ~(OWN_UPDATES.fill_null(False) & ~capture.is_in(list(updating)))
    )
    trades = build_trades(day_events)
    state = build_player_state(day_events, trades)
    expected = build_actions(frames, day_events, trades, state)
    paths = _write_day(tmp_path_factory.mktemp("day"), frames, day_events, trades, state, row_group_size)

    assert captures_with(paths, DATE, ORDERS).to_list() == sorted(ordering)
    assert captures_with(paths, DATE, OWN_UPDATES).to_list() == sorted(updating)
    read_state, read_actions = player_state_of_day(paths, DATE), actions_of_day(paths, DATE)
    assert read_state.equals(state)
    assert read_actions.equals(expected)
    # the rows come from the captures left recording, and only from them: the filter decides something
    assert _captures(read_state) == updating and _captures(read_actions) == ordering
    if ordering & updating:
        assert read_actions["cash_before"].is_not_null().any()  # the player state of a capture that ordered is read


def test_a_day_no_player_recorded_has_no_capture_to_read_and_no_rows(tmp_path, day):
    frames, events = day
    public = events.filter(~ORDERS.fill_null(False) & ~OWN_UPDATES.fill_null(False))
    trades = build_trades(public)
    assert trades.height > 0 and not trades["is_own"].any()
    paths = _write_day(tmp_path, frames, public, trades, build_player_state(public, trades), 50)
    assert captures_with(paths, DATE, ORDERS).len() == 0 and captures_with(paths, DATE, OWN_UPDATES).len() == 0
    assert player_state_of_day(paths, DATE).height == 0 and actions_of_day(paths, DATE).height == 0


def test_real_capture_days_read_as_their_whole_days(tmp_path, real_chains):
    assert any(chain.actions.height for chain in real_chains.values())
    for index, (date, chain) in enumerate(real_chains.items()):
        root = tmp_path / str(index)
        for table, frame in (("events", chain.events), ("frames", chain.frames), ("trades", chain.trades), ("player_state", chain.player_state)):
            storage.write_table(root, table, date, frame)
        paths = VectraPaths(data_dir=str(root))
        assert player_state_of_day(paths, date).equals(chain.player_state), date
        assert actions_of_day(paths, date).equals(chain.actions), date
