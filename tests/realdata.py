"""Access to the real rugs.fun captures for tests.

Reads ``../shared/protocol-real`` when it sits beside the repo (so new real files placed there are tested
too), otherwise the gzipped copy in ``tests/fixtures/protocol-real`` — CI passes either way.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "protocol-real"
FIXTURES = REPO / "tests" / "fixtures" / "protocol-real"

# Files holding one event record per line ({event, ts_ms, data, source, meta}); the rest hold games.
GAME_FILES = ("games.jsonl", "game_summaries_2025-07.jsonl")


def real_files() -> list[Path]:
    """Every real JSONL file, from shared/ when present, else the fixtures copy."""
    if SHARED.is_dir() and any(SHARED.glob("*.jsonl")):
        return sorted(SHARED.glob("*.jsonl"))
    return fixture_files()


def fixture_files() -> list[Path]:
    """The committed copy only: for tests that pin fingerprints of their input, which new real files must not move."""
    return sorted(FIXTURES.glob("*.jsonl.gz"))


def _name(path: Path) -> str:
    return path.name.removesuffix(".gz")


def _lines(path: Path) -> Iterator[str]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as handle:
        yield from (line for line in handle if line.strip())


def event_files(files: list[Path] | None = None) -> list[Path]:
    return [p for p in (real_files() if files is None else files) if _name(p) not in GAME_FILES]


def event_records(path: Path | None = None) -> Iterator[tuple[str, dict]]:
    """(file name, record) for every event line of one file or of all event files."""
    for file in [path] if path else event_files():
        for line in _lines(file):
            yield _name(file), json.loads(line)


def games() -> list[dict]:
    """The records of games.jsonl (gameHistory, highestTodayPrices, godCandle… kinds)."""
    path = next(p for p in real_files() if _name(p) == "games.jsonl")
    return [json.loads(line) for line in _lines(path)]


def seeded_games() -> list[dict]:
    return [g for g in games() if g.get("serverSeed")]


def frames_of_a_day(count: int, day: str = "2025-12-12") -> list[tuple[int, str]]:
    """(receipt ns, frame text) of the first ``count`` frames of the real capture of ``day``."""
    from capture_agent.protocol.recordings import frame_from_record

    out = []
    for _, record in event_records(next(p for p in event_files() if day in p.name)):
        frame = frame_from_record(record)
        if frame is not None:
            out.append((record["ts_ms"] * 1_000_000, frame))
        if len(out) == count:
            break
    return out
