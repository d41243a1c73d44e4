"""Lifecycle order and timing (docs/PROTOCOL.md §2), provable fairness of every revealed game, and wire_frames."""

from __future__ import annotations

import itertools
import re

import pytest
from simdrive import START_MS, Driver

from capture_agent.protocol import socketio
from capture_agent.protocol.fairness import price_path, seed_hash
from capture_agent.protocol.game import FrameShape, frame_shape, phase, rug_tick
from capture_agent.protocol.rules import PHASE_RANK
from simulator.engine.lifecycle import SimulatorEngine
from simulator.engine.observer import OBSERVER_ID, wire_frames
from simulator.engine.wire import WireEncoder

GAME_ID = re.compile(r"^(\d{8})-[0-9a-f]{16}$")


def _frames(speed: float, games: int, seed: str = "lifecycle") -> list[tuple[int, dict]]:
    """(time, broadcast gameStateUpdate payload) through ``games`` complete games (the snapshot left out)."""
    driver = Driver(seed, speed=speed)
    geneses = 0
    while geneses <= games:
        for emission in driver.step():
            if emission.event == "gameStateUpdate" and frame_shape(emission.args[0]) is FrameShape.GENESIS:
                geneses += 1
    return [(e.at_ms, e.args[0]) for e in driver.received if e.event == "gameStateUpdate" and e.target is None]


def _games(frames: list[tuple[int, dict]]) -> list[list[tuple[int, dict]]]:
    """Split at each genesis; drop the part before the first one and the last, unfinished game."""
    starts = [i for i, (_, f) in enumerate(frames) if frame_shape(f) is FrameShape.GENESIS]
    return [frames[a:b] for a, b in zip(starts, starts[1:])]


@pytest.fixture(scope="module")
def speed1() -> list[tuple[int, dict]]:
    return _frames(1.0, games=3)


def _expected_shapes(rug: int) -> list[FrameShape]:
    return (
        [FrameShape.GENESIS]
        + [FrameShape.COOLDOWN] * 49  # 14900 … 10100
        + [FrameShape.PRESALE_OPENING]
        + [FrameShape.PRESALE] * 100
        + [FrameShape.TICK0, FrameShape.FULL]
        + [FrameShape.ACTIVE] * (rug - 1)
        + [FrameShape.RUG, FrameShape.RUG_HISTORY]
    )


def test_each_game_runs_the_lifecycle_in_order(speed1):
    games = _games(speed1)
    assert len(games) >= 3
    for game in games:
        shapes = [frame_shape(f) for _, f in game]
        rug = rug_tick(next(f for _, f in game if frame_shape(f) is FrameShape.RUG))
        assert shapes == _expected_shapes(rug)


def test_each_game_passes_through_the_phases_in_the_rules_order(speed1):
    """``rules.PHASE_RANK`` is the order the game's frames walk: cooldown, presale, active, rugged, never back."""
    for game in _games(speed1):
        ranks = [PHASE_RANK[phase(f)] for _, f in game]
        assert ranks == sorted(ranks) and set(ranks) == set(PHASE_RANK.values())


def test_cooldown_timers_step_by_100_and_presale_opens_at_10000(speed1):
    for game in _games(speed1):
        short = [f for _, f in game if frame_shape(f) in (FrameShape.COOLDOWN, FrameShape.PRESALE)]
        assert [f["cooldownTimer"] for f in short] == list(range(14900, 0, -100))
        assert all(f["allowPreRoundBuys"] is (f["cooldownTimer"] <= 10000) for f in short)
        assert len(short[0]) == 7
        opening = next(f for _, f in game if frame_shape(f) is FrameShape.PRESALE_OPENING)
        assert (opening["cooldownTimer"], opening["active"], opening["tickCount"], len(opening)) == (10000, False, 0, 21)


def test_speed_1_timing(speed1):
    for game in _games(speed1):
        times = {frame_shape(f): t for t, f in reversed(game)}  # first time of each shape
        genesis = game[0][0]
        short_times = [t for t, f in game if frame_shape(f) in (FrameShape.COOLDOWN, FrameShape.PRESALE)]
        assert {b - a for a, b in zip(short_times, short_times[1:])} == {100}
        assert times[FrameShape.TICK0] - genesis == 15000
        ticks = [(t, f["tickCount"]) for t, f in game if frame_shape(f) is FrameShape.ACTIVE]
        assert all(t - times[FrameShape.TICK0] == 250 * k for t, k in ticks)
        rug_at = times[FrameShape.RUG]
        assert 770 <= times[FrameShape.RUG_HISTORY] - rug_at <= 1390


def test_speed_20_scales_every_period():
    frames = _frames(20.0, games=2, seed="fast")
    for game in _games(frames):
        times = {frame_shape(f): t for t, f in reversed(game)}
        rug = rug_tick(next(f for _, f in game if frame_shape(f) is FrameShape.RUG))
        assert times[FrameShape.TICK0] - game[0][0] == 750  # 15 s / 20
        assert abs(times[FrameShape.RUG] - times[FrameShape.TICK0] - rug * 250 / 20) <= 1


def test_prices_partial_windows_and_rug_frames(speed1):
    for game in _games(speed1):
        active = [f for _, f in game if frame_shape(f) is FrameShape.ACTIVE]
        rug1 = next(f for _, f in game if frame_shape(f) is FrameShape.RUG)
        rug2 = next(f for _, f in game if frame_shape(f) is FrameShape.RUG_HISTORY)
        for frame in active + [rug1]:
            window = frame["partialPrices"]
            assert window["endTick"] == frame["tickCount"]
            assert window["startTick"] == max(0, frame["tickCount"] - 4)
            assert list(window["values"]) == [str(k) for k in range(window["startTick"], window["endTick"] + 1)]
            assert window["values"][str(frame["tickCount"])] == frame["price"]
        assert rug1["active"] is True and rug1["rugged"] is True and "gameHistory" not in rug1
        previous = rug1["partialPrices"]["values"][str(rug1["tickCount"] - 1)]
        assert 0 < rug1["price"] <= min(0.02, 0.02 * previous)
        assert rug2["partialPrices"] == rug1["partialPrices"] and rug2["price"] == rug1["price"]
        assert 1 <= rug2["tickCount"] - rug1["tickCount"] <= 3
        assert rug1["gameId"] not in [entry["id"] for entry in rug2["gameHistory"]]


def test_next_genesis_reveals_the_game_and_it_is_provably_fair(speed1):
    frames = speed1
    starts = [i for i, (_, f) in enumerate(frames) if frame_shape(f) is FrameShape.GENESIS]
    for a, b in zip(starts, starts[1:]):
        game = [f for _, f in frames[a:b]]
        genesis_next = frames[b][1]
        game_id, announced = game[0]["gameId"], game[0]["provablyFair"]["serverSeedHash"]
        assert all(f["provablyFair"] == {"serverSeedHash": announced, "version": "v3"} for f in game)
        assert genesis_next["gameId"] != game_id and genesis_next["provablyFair"]["serverSeedHash"] != announced
        history = genesis_next["gameHistory"]
        assert len(history) == 10 and history[0]["id"] == game_id
        assert [h["timestamp"] for h in history] == sorted((h["timestamp"] for h in history), reverse=True)
        revealed = history[0]
        seed = revealed["provablyFair"]["serverSeed"]
        assert seed_hash(seed) == announced == revealed["provablyFair"]["serverSeedHash"]
        assert list(price_path(seed, game_id, "v3").prices) == revealed["prices"][:-1]
        assert revealed["peakMultiplier"] == max(revealed["prices"])
        ticks = {f["tickCount"]: f["price"] for f in game if frame_shape(f) is FrameShape.ACTIVE}
        assert all(revealed["prices"][k] == price for k, price in ticks.items())
        for entry in genesis_next["gameHistory"]:  # every revealed seed in the history, not only the newest
            assert seed_hash(entry["provablyFair"]["serverSeed"]) == entry["provablyFair"]["serverSeedHash"]
            assert list(price_path(entry["provablyFair"]["serverSeed"], entry["id"]).prices) == entry["prices"][:-1]


def test_game_ids_carry_the_utc_date_and_seeds_never_leak(speed1):
    for _, frame in speed1:
        match = GAME_ID.match(frame["gameId"])
        assert match and match.group(1) == "20251212"
        assert "serverSeed" not in frame["provablyFair"]


def test_connect_snapshot_has_the_whole_path_so_far():
    driver = Driver("snapshot")
    driver.until_state(lambda f: f.get("tickCount") == 30 and f.get("active") is True)
    driver.engine.connect("late", driver.now)
    snapshot = driver.engine.advance(driver.now)  # nothing new at the same instant
    assert snapshot == []
    late = [e for e in driver.engine.connect("late2", driver.now) if e.target == "late2"]
    (frame,) = [e.args[0] for e in late]
    assert frame_shape(frame) is FrameShape.SNAPSHOT and "partialPrices" not in frame
    assert frame["prices"] == driver.engine.game.prices[: frame["tickCount"] + 1]
    assert frame["price"] == frame["prices"][-1]


def test_wire_frames_is_deterministic_and_starts_like_a_socket():
    first = list(itertools.islice(wire_frames("bench", START_MS), 3000))
    again = list(itertools.islice(wire_frames("bench", START_MS), 3000))
    assert first == again
    assert list(itertools.islice(wire_frames("other", START_MS), 3000)) != first
    assert first[0][1].startswith("0{") and first[1][1].startswith("40{")
    times = [t for t, _ in first]
    assert times == sorted(times)
    packets = [socketio.decode_frame(text)[0] for _, text in first[2:]]
    assert all(p.error is None for p in packets)
    assert frame_shape(packets[1].payload) is FrameShape.SNAPSHOT or frame_shape(packets[0].payload) is FrameShape.GENESIS
    events = {p.event for p in packets if p.event}
    assert events == {"gameStateUpdate", "standard/newTrade"}  # an observer gets no private frames
    trades = [p for p in packets if p.event == "standard/newTrade"]
    assert all(p.trace_id and len(p.args) == 2 for p in trades)


def test_wire_encoder_is_byte_identical_to_the_codec():
    engine = SimulatorEngine("encoder", START_MS)
    encoder = WireEncoder()
    emissions = engine.connect(OBSERVER_ID, START_MS)
    checked = 0
    while checked < 4000:
        for emission in emissions:
            assert encoder.encode(emission.event, emission.args) == socketio.encode_event(emission.event, *emission.args)
            checked += 1
        emissions = engine.advance(engine.next_at)


def test_daily_figures_follow_the_days_games():
    driver = Driver("daily")
    genesis = next(e.args[0] for e in driver.received if e.event == "gameStateUpdate" and e.target is None)
    peaks = [entry["peakMultiplier"] for entry in genesis["gameHistory"]]  # all ten are from today
    assert genesis["averageMultiplier"] == pytest.approx(sum(peaks) / len(peaks))
    assert genesis["count2x"] == sum(p >= 2 for p in peaks) and genesis["count10x"] == sum(p >= 10 for p in peaks)
    assert genesis["highestToday"] == max(peaks)
    record = next(e for e in genesis["gameHistory"] if e["peakMultiplier"] == max(peaks))
    assert (genesis["highestTodayTimestamp"], genesis["highestTodayPrices"]) == (record["timestamp"], record["prices"])


def test_god_candle_records_follow_the_games_peak():
    from capture_agent.protocol.day_stats import DayStats

    day = DayStats("20251212")
    path = [1.0, 1.1, 0.9, 9.0, 9.2, 0.01]  # a 10x jump 0.9 → 9.0; the game peaks at 9.2 → the 2x tier
    day.add(max(path), path, 1_765_577_800_000)
    assert day.god_candles[2] == {"value": 9.2, "timestamp": 1_765_577_800_000, "prices": path, "jump": [0.9, 9.0]}
    assert 10 not in day.god_candles and 50 not in day.god_candles
    big = [1.0, 6.0, 60.0, 0.5]
    day.add(60.0, big, 1_765_577_900_000)
    assert day.god_candles[50]["jump"] == [6.0, 60.0]


def test_rug_remainders_stay_under_the_bound():
    import random

    from capture_agent.protocol.rules import draw_rug_remainder

    rng = random.Random(7)
    for previous in (0.001, 0.5, 1.0, 3.0, 250.0):
        bound = min(0.02, 0.02 * previous)
        draws = [draw_rug_remainder(rng, previous) for _ in range(2000)]
        assert all(0 < d <= bound for d in draws)
        at_bound = sum(d == bound for d in draws) / len(draws)
        assert 0.08 < at_bound < 0.25  # the real deciles put about a tenth of rugs at the bound
        assert min(draws) >= bound * 0.25
