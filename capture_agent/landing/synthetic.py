"""A synthetic landing capture of N frames from the simulator engine (benchmarks, demos, pipeline tests).

The frames are what an observing client receives from a speed-1 simulator (``wire_frames``), stamped with the
engine's own clock from midnight UTC of ``date``, and written through the real :class:`LandingWriter` (WAL, fsync
thread, segments), as fast as the engine produces them. Needs the ``simulator`` extra.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from capture_agent.errors import VectraError

DEFAULT_SEED = "vectra-synthetic"
SYNTH_URL = "ws://simulator.invalid/socket.io/?EIO=4&transport=websocket"


@dataclass
class SynthResult:
    capture_id: str
    rows: int
    segments: list[Path]
    seconds: float
    first_ms: int
    last_ms: int


def write_synthetic_capture(
    data_dir: Path,
    frames: int,
    seed: str = DEFAULT_SEED,
    date: str | None = None,
    *,
    on_progress: Callable[[int], None] | None = None,
    agent_id: str | None = None,
) -> SynthResult:
    """Land ``frames`` simulator frames as one capture (source ``synthetic``) starting at ``date`` 00:00 UTC;
    ``agent_id`` goes into the capture id (an upload to a shared bucket)."""
    from capture_agent.extras import load_simulator
    from capture_agent.landing.recovery import recover
    from capture_agent.landing.schema import Direction, Source, Transport
    from capture_agent.landing.segments import published_segments
    from capture_agent.landing.writer import LandingWriter

    if frames < 1:
        raise VectraError("--frames must be at least 1")
    wire_frames = load_simulator("engine.observer").wire_frames
    start_ms = midnight_ms(date)
    recover(data_dir)
    started = time.perf_counter()
    first_ms = last_ms = start_ms
    with LandingWriter(data_dir, Source.SYNTHETIC, agent_id=agent_id) as writer:
        land = writer.frame
        for index, (time_ms, text) in enumerate(itertools.islice(wire_frames(seed, start_ms), frames)):
            land(
                Direction.IN,
                Transport.WEBSOCKET,
                text,
                url=SYNTH_URL,
                recv_wall_ns=time_ms * 1_000_000,
                recv_mono_ns=(time_ms - start_ms) * 1_000_000,
            )
            if index == 0:
                first_ms = time_ms
            last_ms = time_ms
            if on_progress is not None and index % 1000 == 999:
                on_progress(1000)
        rows = writer.stats.rows
        capture_id = writer.capture_id
    if on_progress is not None:
        on_progress(rows % 1000)
    segments = [s.path for s in published_segments(data_dir, capture_id)]
    return SynthResult(capture_id, rows, segments, time.perf_counter() - started, first_ms, last_ms)


def midnight_ms(day: str | None) -> int:
    if day is None:
        chosen = datetime.now(UTC).date()
    else:
        try:
            chosen = date.fromisoformat(day)
        except ValueError:
            raise VectraError(f"--date {day!r} is not a date of the form YYYY-MM-DD") from None
    return int(datetime(chosen.year, chosen.month, chosen.day, tzinfo=UTC).timestamp() * 1000)
