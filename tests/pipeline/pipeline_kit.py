"""Shared helpers for the pipeline tests: real captures imported into a landing zone, and the pure chain."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl
import realdata

from capture_agent.landing.importer import import_files
from capture_agent.landing.segments import read_landing, segment_paths
from vectra_pipeline.bronze.frames import build_frames, payloads_in_memory, with_payloads
from vectra_pipeline.silver.actions import build_actions
from vectra_pipeline.silver.contracts import ContractResult
from vectra_pipeline.silver.events import build_events
from vectra_pipeline.silver.game_history import build_game_history
from vectra_pipeline.silver.games import build_games
from vectra_pipeline.silver.player_state import build_player_state
from vectra_pipeline.silver.sidebets import build_sidebets
from vectra_pipeline.silver.ticks import build_cooldowns, build_game_ticks
from vectra_pipeline.silver.trades import build_trades


def import_real(data_dir: Path, files: list[Path] | None = None) -> list[str]:
    """Every real event file (of ``files``, default all of them) imported, one capture each; returns the landing dates."""
    import_files(data_dir, realdata.event_files(files))
    return sorted({p.parent.name.removeprefix("date=") for p in segment_paths(data_dir)})


@dataclass
class Chain:
    frames: pl.DataFrame  # bronze: an index, no frame text
    frames_with_text: pl.DataFrame  # bronze with the text of the frames silver decodes, read back (with_payloads)
    contracts: ContractResult
    game_history: pl.DataFrame
    game_ticks: pl.DataFrame
    cooldowns: pl.DataFrame
    games: pl.DataFrame
    trades: pl.DataFrame
    sidebets: pl.DataFrame
    player_state: pl.DataFrame
    actions: pl.DataFrame

    @property
    def events(self) -> pl.DataFrame:
        return self.contracts.events

    @property
    def quarantine(self) -> pl.DataFrame:
        return self.contracts.quarantine


def run_chain(landing) -> Chain:
    """The pure stages, in asset order, on one partition's landing rows."""
    frames, _ = build_frames(landing)
    frames_with_text = with_payloads(frames, payloads_in_memory(landing))
    result = build_events(frames_with_text)
    events = result.events
    history = build_game_history(events)
    ticks = build_game_ticks(events, history)
    games = build_games(events, ticks, history)
    trades = build_trades(events)
    state = build_player_state(events, trades)
    return Chain(
        frames=frames,
        frames_with_text=frames_with_text,
        contracts=result,
        game_history=history,
        game_ticks=ticks,
        cooldowns=build_cooldowns(events),
        games=games,
        trades=trades,
        sidebets=build_sidebets(events, games, history),
        player_state=state,
        actions=build_actions(frames, events, trades, state),
    )


def chains_by_date(data_dir: Path, dates: list[str]) -> dict[str, Chain]:
    return {date: run_chain(read_landing(data_dir, [date])) for date in dates}


def trace(n: int) -> dict:
    """A trace argument with ids derived from ``n`` (distinct per order)."""
    from capture_agent.protocol import socketio

    return socketio.trace_arg(f"{n:032x}", f"{n:016x}")


class SimulatedClient:
    """One client of a sans-I/O ``SimulatorEngine`` whose frames are landed as a capture agent would land them:
    what the engine sends it (broadcasts and its own frames), its orders with their ack ids, and the acks 3 ms
    later. Times are the engine's clock (ms), so the silver tables can be compared with the engine to the tick."""

    ACK_DELAY_MS = 3

    def __init__(self, engine, writer, client_id: str = "me") -> None:
        from simulator.engine.wire import WireEncoder

        self.engine, self.writer, self.client_id = engine, writer, client_id
        self._encoder = WireEncoder()

    def land(self, emissions) -> None:
        from capture_agent.landing.schema import Direction, Transport

        for emission in emissions:
            if emission.target in (None, self.client_id):
                frame = self._encoder.encode(emission.event, emission.args)
                self.writer.frame(Direction.IN, Transport.WEBSOCKET, frame, recv_wall_ns=emission.at_ms * 1_000_000)

    def send(self, now: int, event: str, args: tuple, ack_id: int, *, lose_ack: bool = False):
        """Land the order, ask the engine, land its reply and (unless lost) the ack; returns (order seq, reply)."""
        from capture_agent.landing.schema import Direction, Transport
        from capture_agent.protocol import socketio

        seq = self.writer.frame(
            Direction.OUT, Transport.WEBSOCKET, socketio.encode_event(event, *args, ack_id=ack_id), recv_wall_ns=now * 1_000_000
        )
        reply = self.engine.request(self.client_id, event, args, now)
        self.land(reply.emissions)
        if not lose_ack:
            ack_ns = (now + self.ACK_DELAY_MS) * 1_000_000
            self.writer.frame(Direction.IN, Transport.WEBSOCKET, socketio.encode_ack(ack_id, *reply.ack), recv_wall_ns=ack_ns)
        return seq, reply


SESSION_ORDERS = (("buyOrder", {"amount": 0.05}), ("requestSidebet", {"amount": 0.01, "xPayout": 5}), ("sellOrder", {"percentage": 50}))


def land_session(writer, seed: str, start_ms: int, games: int = 3, client_id: str = "me", bots: int = 4) -> None:
    """An authenticated simulator session landed as a capture agent sees it: ``games`` complete games from the
    connect snapshot on (and the start of the next), with a buy, a sidebet and a sell (each acked) in every game."""
    from simulator.engine.lifecycle import SimulatorEngine

    engine = SimulatorEngine(seed, start_ms, bots=bots)
    client = SimulatedClient(engine, writer, client_id)
    now = start_ms
    client.land(engine.connect(client_id, now))
    client.send(now, "authenticate", (trace(1),), 1)
    sent: set = set()
    played: set = set()
    ack_id = 10
    while len(played) <= games and now < start_ms + (games + 1) * 5 * 60_000:
        now += 50
        client.land(engine.advance(now))
        if engine.phase == "active":
            played.add(engine.game.game_id)
            for index, (event, payload) in enumerate(SESSION_ORDERS):
                if engine.tick == 2 + 2 * index and (engine.game.game_id, event) not in sent:
                    sent.add((engine.game.game_id, event))
                    ack_id += 1
                    client.send(now, event, (trace(ack_id), payload), ack_id)


def assert_assets_write_one_write(folder: Path, date: str, inputs: dict[str, pl.DataFrame],
                                  expected: dict[str, pl.DataFrame]) -> None:
    """``inputs`` written as ``date``'s partitions under ``folder/built``, the assets of ``expected``'s tables
    materialised through Dagster: each of their partitions must be byte for byte one ``write_table`` of its expected
    frame (an asset that builds and appends piece by piece writes what one write of the whole day writes)."""
    import dagster as dg

    from vectra_pipeline import storage
    from vectra_pipeline.defs.assets import ASSETS
    from vectra_pipeline.defs.partitions import daily
    from vectra_pipeline.defs.resources import VectraPaths

    built, one_write = folder / "built", folder / "expected"
    for name, frame in inputs.items():
        storage.write_table(built, name, date, frame)
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(daily.name, [date])
    result = dg.materialize(ASSETS, selection=list(expected), partition_key=date, instance=instance,
                            resources={"paths": VectraPaths(data_dir=str(built))})  # fmt: skip
    assert result.success
    for name, frame in expected.items():
        storage.write_table(one_write, name, date, frame)
        made = storage.table_path(built, name, date).read_bytes()
        assert made == storage.table_path(one_write, name, date).read_bytes(), (name, date)
