"""Import existing recordings into the landing zone: one capture (source ``import``) per input file.

Two input kinds, told apart by their first line:

* **recordings** — JSONL in the shape of the real captures (``tests/fixtures/protocol-real``) ``{event, ts_ms, data, source, meta}``: each
  record's wire frame is rebuilt with :func:`capture_agent.protocol.recordings.frame_from_record`; connection
  markers (``connect``…) become ``connection`` rows;
* **raw frames** — one frame's text per line, as copied from DevTools or logged by another tool.

Every non-blank line becomes exactly one row, in file order. A line that cannot be rebuilt (not JSON, not an
object, …) is landed verbatim as the row's payload with the reason in ``detail.import.error``; nothing is
dropped. Provenance (file, line, sha256, the record's ``source`` and ``meta``) is in ``detail.import``.
Files of per-game records (``games.jsonl``: no ``event`` field) are refused with one clear line.
An identical file already imported completely is not imported twice. When the segments leave for an object store
(an ``s3://`` data root lands in a cache and deletes each uploaded segment), a ledger in the cache
(``_imports.jsonl``, a line per complete import, fsynced) remembers what was imported.
"""

from __future__ import annotations

import gzip
import hashlib
import math
import os
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import orjson

from capture_agent.errors import VectraError
from capture_agent.landing.recovery import recover
from capture_agent.landing.schema import Direction, Source, Transport
from capture_agent.landing.segments import parse_segment_name, published_segments, read_segment_column, segment_paths
from capture_agent.landing.writer import LandingWriter
from capture_agent.protocol.engineio import RECORD_SEPARATOR
from capture_agent.protocol.recordings import MARKER_EVENTS, direction_of, frame_from_record
from capture_agent.protocol.socketio import decode_frame

RECORDINGS = "recordings"
RAW_FRAMES = "raw frames"
_MARKER_LIFECYCLE = {"connect": "connected", "disconnect": "disconnected", "connect_error": "connect_error"}
_GAME_KEYS = {"gameId", "prices", "kind", "rug_tick", "peakPrice", "serverSeed"}
IMPORTS_LEDGER = "_imports.jsonl"


@dataclass
class ImportResult:
    path: Path
    capture_id: str
    rows: int
    segments: list[Path] = field(default_factory=list)
    kind: str = RECORDINGS
    flagged: int = 0  # rows with a problem noted in detail.import: not rebuilt (landed verbatim), bad meta, bad frame
    blank_lines: int = 0  # empty lines: nothing to land
    already_imported: bool = False
    sha256: str = ""  # the file's


def _open_binary(path: Path):
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


def _lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """(1-based line number, line without its line ending), blank lines included."""
    with _open_binary(path) as handle:
        for number, line in enumerate(handle, start=1):
            yield number, line.rstrip(b"\r\n") if line.endswith(b"\n") else line


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with _open_binary(path) as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def sniff_kind(path: Path) -> str:
    """RECORDINGS or RAW_FRAMES from the first non-blank line; per-game files raise :class:`VectraError`."""
    try:
        first = next((line for _, line in _lines(path) if line.strip()), None)
    except (OSError, EOFError, gzip.BadGzipFile) as error:
        raise VectraError(f"cannot read {path}: {error}") from None
    if first is None:
        return RAW_FRAMES
    try:
        value = orjson.loads(first)
    except orjson.JSONDecodeError:
        return RAW_FRAMES
    if not isinstance(value, dict):
        return RAW_FRAMES
    if "event" in value:
        return RECORDINGS
    keys = ", ".join(sorted(value)[:6])
    if _GAME_KEYS & value.keys():
        raise VectraError(
            f"{path} holds per-game records (keys {keys}…), not frames: it is a games file, not a recording; "
            "nothing was imported"
        )
    raise VectraError(
        f"{path} holds JSON objects without an 'event' field (keys {keys}…): not a recording of frames; "
        "nothing was imported"
    )


def check_files(paths: list[Path]) -> list[str]:
    """The kind of each file; raises :class:`VectraError` for a missing, unreadable or per-game file."""
    for path in paths:
        if not Path(path).is_file():
            raise VectraError(f"{path} is not a file")
    return [sniff_kind(Path(path)) for path in paths]


def import_files(
    data_dir: Path,
    paths: list[Path],
    *,
    again: bool = False,
    on_progress: Callable[[int], None] | None = None,
    agent_id: str | None = None,
    ledger: bool = False,
) -> list[ImportResult]:
    """Import each file as its own capture; ``again`` re-imports files already landed; ``agent_id`` goes into the
    capture ids and ``ledger`` keeps the imports' record (both: a cache uploading to a shared bucket)."""
    paths = [Path(p) for p in paths]
    kinds = check_files(paths)  # refuse bad files before landing anything
    recover(data_dir)
    results = []
    for path, kind in zip(paths, kinds):
        result = _import_one(Path(data_dir), path, kind, again, on_progress, agent_id, ledger)
        if ledger and not result.already_imported:
            _record_import(Path(data_dir), result)
        results.append(result)
    return results


def _record_import(data_dir: Path, result: ImportResult) -> None:
    """One ledger line for a complete import: written only once its last segment is published, so an import cut
    short is never taken for a complete one."""
    line = orjson.dumps({
        "sha256": result.sha256, "capture_id": result.capture_id, "rows": result.rows,
        "segments": [p.relative_to(data_dir).as_posix() for p in result.segments],
    }) + b"\n"
    fd = os.open(data_dir / IMPORTS_LEDGER, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            line = b"\n" + line  # after a line a crash tore: never glue ours to it
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)


def _ledger_import(data_dir: Path, digest: str) -> ImportResult | None:
    """The newest import of the same bytes the ledger knows (lines a crash or damage cut short are skipped)."""
    try:
        lines = (data_dir / IMPORTS_LEDGER).read_bytes().splitlines()
    except FileNotFoundError:
        return None
    for line in reversed(lines):
        try:
            entry = orjson.loads(line)
            if entry["sha256"] == digest:
                segments = [data_dir / key for key in entry["segments"]]
                return ImportResult(Path(), entry["capture_id"], int(entry["rows"]), segments, already_imported=True)
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            continue
    return None


def _previous_import(data_dir: Path, digest: str) -> ImportResult | None:
    """The newest complete import of the same bytes (a crashed import, closed by a gap row, does not count)."""
    marker = f"-import-{digest[:12]}-"
    captures = sorted({parsed[0] for path in segment_paths(data_dir) if (parsed := parse_segment_name(path)) and marker in parsed[0]})
    for capture_id in reversed(captures):
        parts = published_segments(data_dir, capture_id)
        if not any("gap" in read_segment_column(part.path, "event") for part in parts):
            return ImportResult(Path(), capture_id, sum(part.rows for part in parts), [p.path for p in parts], already_imported=True)
    return None


def _import_one(
    data_dir: Path, path: Path, kind: str, again: bool, on_progress: Callable[[int], None] | None, agent_id: str | None,
    ledger: bool,
) -> ImportResult:
    digest = file_digest(path)
    if not again:
        previous = _previous_import(data_dir, digest) or (_ledger_import(data_dir, digest) if ledger else None)
        if previous is not None:
            previous.path, previous.kind = path, kind
            if on_progress:
                on_progress(path.stat().st_size)
            return previous
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    agent = f"-{agent_id}" if agent_id else ""
    capture_id = f"{stamp}-import-{digest[:12]}{agent}-{secrets.token_hex(2)}"  # the digest finds earlier imports
    provenance = {"file": path.name, "sha256": digest, "kind": kind}
    result = ImportResult(path, capture_id, 0, kind=kind, sha256=digest)
    land = _land_record if kind == RECORDINGS else _land_raw_frame
    with LandingWriter(data_dir, Source.IMPORT, capture_id=capture_id) as writer:
        for number, line in _lines(path):
            if on_progress:
                on_progress(len(line) + 1)
            if not line.strip():
                result.blank_lines += 1
                continue
            flagged = land(writer, line, {**provenance, "line": number})
            result.rows += 1
            result.flagged += flagged
    result.segments = [s.path for s in published_segments(data_dir, capture_id)]
    return result


_MAX_NS = (1 << 63) - 1


def _wall_ns(ts_ms, where: dict) -> int:
    if isinstance(ts_ms, (int, float)) and not isinstance(ts_ms, bool) and math.isfinite(ts_ms):
        ns = int(round(ts_ms * 1_000_000))
        if 0 <= ns <= _MAX_NS:
            return ns
        where["recv_wall_ns"] = f"import time: ts_ms {ts_ms!r} is not a time"
        return time.time_ns()
    where["recv_wall_ns"] = "import time: the record has no ts_ms"
    return time.time_ns()


def _land_verbatim(writer: LandingWriter, line: bytes, where: dict, error: str) -> int:
    where["error"] = error
    where["recv_wall_ns"] = "import time"
    try:
        payload: str | bytes = line.decode("utf-8")
    except UnicodeDecodeError:
        payload = line
    writer.frame(Direction.IN, Transport.WEBSOCKET, payload, opcode=None, detail={"import": where})
    return 1


def _land_record(writer: LandingWriter, line: bytes, where: dict) -> int:
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError as error:
        return _land_verbatim(writer, line, where, f"line is not JSON ({error})")
    if not isinstance(record, dict) or not isinstance(record.get("event"), str):
        return _land_verbatim(writer, line, where, "line is not a record with an 'event' name")
    meta = record.get("meta")
    if meta is not None and not isinstance(meta, dict):
        where["meta_error"] = f"meta is {type(meta).__name__}, not an object: read as empty"
        where["meta_raw"] = meta
        meta = {}
        record = {**record, "meta": meta}  # the recordings helpers expect an object
    meta = meta or {}
    where["source"] = record.get("source")
    where["meta"] = {key: value for key, value in meta.items() if key != "trace"}  # the trace is in the frame
    wall_ns = _wall_ns(record.get("ts_ms"), where)
    direction = direction_of(record)
    event = record["event"]
    if event in MARKER_EVENTS:
        where["marker"] = event
        writer.connection(_MARKER_LIFECYCLE[event], detail={"import": where}, recv_wall_ns=wall_ns)
        return 0
    try:
        frame = frame_from_record(record)
    except Exception as error:  # noqa: BLE001 - a record the rebuild cannot handle is kept verbatim, not dropped
        frame = None
        where["error"] = f"frame could not be rebuilt: {type(error).__name__}: {error}"
    if frame is None:
        where.setdefault("error", "frame could not be rebuilt from the record")
        writer.frame(direction, Transport.WEBSOCKET, line.decode("utf-8"), opcode=None, recv_wall_ns=wall_ns, detail={"import": where})
        return 1
    problems = [packet.error for packet in decode_frame(frame) if packet.error]
    if problems:
        where["frame_error"] = "; ".join(problems)  # e.g. an ack whose id the source hid: kept, not invented
    writer.frame(direction, Transport.WEBSOCKET, frame, recv_wall_ns=wall_ns, detail={"import": where})
    return 1 if problems or "meta_error" in where else 0


def _land_raw_frame(writer: LandingWriter, line: bytes, where: dict) -> int:
    try:
        payload = line.decode("utf-8")
    except UnicodeDecodeError:
        where["assumed"] = "direction in, receipt time = import time (a raw frame file says neither)"
        where["error"] = "line is not UTF-8 text: kept as bytes"
        writer.frame(Direction.IN, Transport.WEBSOCKET, line, opcode=None, detail={"import": where})
        return 1
    # Packets joined by the record separator only travel in long-polling bodies.
    transport = Transport.POLLING if RECORD_SEPARATOR in payload else Transport.WEBSOCKET
    where["assumed"] = f"direction in, transport {transport} (from the text), receipt time = import time"
    writer.frame(Direction.IN, transport, payload, detail={"import": where})
    return 0

