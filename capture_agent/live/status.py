"""Live status of a running capture: a rich table on a terminal, a periodic one-line log otherwise.

The figures come from :class:`~capture_agent.live.state.LiveState` (what the frames say) and the landing
writer's stats (what is durable). Drops are always 0; when they are not, the status says so in red.
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

from capture_agent.live.state import Snapshot

REFRESH_PER_SECOND = 4
LOG_EVERY_S = 5.0


def writer_figures(stats: Any) -> dict[str, Any]:
    """The writer's stats as plain values (the writer may expose an object or a mapping)."""
    names = ("rows", "durable_seq", "frames_in", "frames_out", "segments_published", "bytes_published", "wal_lag_s", "drops")
    get = stats.get if isinstance(stats, dict) else (lambda name, default=None: getattr(stats, name, default))
    return {name: get(name, None) for name in names}


def health(snapshot: Snapshot, stats: Any, *, source_losses: int = 0) -> dict[str, Any]:
    """The one set of figures behind the status table, the log line and the feed's /health."""
    landed = writer_figures(stats)
    return {
        "source": snapshot.source,
        "connected": snapshot.connected,
        "connection": snapshot.connection_note,
        "frames_in": snapshot.frames_in,
        "frames_out": snapshot.frames_out,
        "clicks": snapshot.clicks,
        "rate_in": snapshot.rate_in,
        "rate_out": snapshot.rate_out,
        "last_seq": snapshot.last_seq,
        "game_id": snapshot.game_id,
        "phase": snapshot.phase,
        "tick": snapshot.tick,
        "cooldown_ms": snapshot.cooldown_ms,
        "price": snapshot.price,
        "cash": snapshot.cash,
        "malformed": snapshot.malformed,
        "rows_landed": landed["rows"],
        # every row below this seq is fsynced in the WAL or published: safe from a crash even before its segment is
        "rows_safe": landed["durable_seq"],
        "segments_published": landed["segments_published"],
        "bytes_published": landed["bytes_published"],
        "wal_lag_s": landed["wal_lag_s"],
        "drops": int(landed["drops"] or 0) + source_losses,
    }


def _fmt(value: Any, spec: str = "", empty: str = "–") -> str:
    if value is None:
        return empty
    return format(value, spec) if spec else str(value)


def status_line(figures: dict[str, Any]) -> str:
    where = f"tick {figures['tick']}" if figures["tick"] is not None else f"cooldown {_fmt(figures['cooldown_ms'])} ms"
    why = f" ({figures['connection']})" if figures["connection"] else ""  # e.g. connect failed: the server's error
    line = (
        f"{figures['source']} {'connected' if figures['connected'] else f'NOT connected{why}'}"
        f" | in {figures['frames_in']} ({figures['rate_in']:.1f}/s) out {figures['frames_out']} ({figures['rate_out']:.1f}/s)"
        f" | game {_fmt(figures['game_id'])} {_fmt(figures['phase'])} {where} price {_fmt(figures['price'], '.4f')}"
        f" | rows {_fmt(figures['rows_landed'])} safe {_fmt(figures['rows_safe'])} (WAL or published)"
        f" | published {_fmt(figures['segments_published'])} segments {_fmt(figures['bytes_published'])} B"
        f" wal lag {_fmt(figures['wal_lag_s'], '.2f')} s"
    )
    if figures["drops"]:
        line += f" | DROPS {figures['drops']} — frames were lost, check the disk and the log"
    if figures["malformed"]:
        line += f" | malformed {figures['malformed']} (kept verbatim)"
    if "uploads_pending" in figures:  # an s3:// data root
        line += f" | {_uploads(figures)}"
    return line


def _uploads(figures: dict[str, Any]) -> str:
    text = f"uploads {figures['uploads_pending']} pending {figures['uploads_done']} done"
    if figures["uploads_collisions"]:
        text += f" {figures['uploads_collisions']} COLLISION(S)"
    return text


def status_table(figures: dict[str, Any]):
    from rich.table import Table
    from rich.text import Text

    table = Table(title="vectra capture", show_header=False, box=None, padding=(0, 2))
    table.add_column(style="dim")
    table.add_column()
    connected = Text("yes", style="green") if figures["connected"] else Text("no", style="bold red")
    table.add_row("source", figures["source"])
    table.add_row("connected", Text.assemble(connected, "  ", figures["connection"] or ""))
    table.add_row("frames in / out", f"{figures['frames_in']} / {figures['frames_out']}  (clicks {figures['clicks']})")
    table.add_row("frames/s in / out", f"{figures['rate_in']:.1f} / {figures['rate_out']:.1f}")
    table.add_row("game", _fmt(figures["game_id"]))
    table.add_row("phase", _fmt(figures["phase"]))
    tick = _fmt(figures["tick"]) if figures["tick"] is not None else f"cooldown {_fmt(figures['cooldown_ms'])} ms"
    table.add_row("tick", tick)
    table.add_row("price", _fmt(figures["price"], ".4f"))
    table.add_row("cash", _fmt(figures["cash"], ".4f", empty="– (no playerUpdate: not logged in)"))
    table.add_row("rows landed / safe", f"{_fmt(figures['rows_landed'])} / {_fmt(figures['rows_safe'])}  (safe: fsynced in the WAL or published)")
    table.add_row("segments / bytes published", f"{_fmt(figures['segments_published'])} / {_fmt(figures['bytes_published'])}")
    table.add_row("WAL lag", f"{_fmt(figures['wal_lag_s'], '.2f')} s")
    drops = figures["drops"]
    table.add_row(
        "drops",
        Text(f"{drops} — FRAMES LOST, check the disk and the log", style="bold white on red") if drops else Text("0", style="green"),
    )
    if "uploads_pending" in figures:
        table.add_row("uploads", Text(_uploads(figures), style="bold red" if figures["uploads_collisions"] else ""))
    if figures["malformed"]:
        table.add_row("malformed", Text(f"{figures['malformed']} (kept verbatim, flagged)", style="yellow"))
    return table


async def show_status(figures, *, rich_live: bool, log=None) -> None:
    """Render ``figures()`` until cancelled: a rich Live table, or one log line every few seconds."""
    if rich_live:
        from rich.console import Console
        from rich.live import Live

        with Live(status_table(figures()), console=Console(), refresh_per_second=REFRESH_PER_SECOND, transient=False) as live:
            while True:
                await asyncio.sleep(1 / REFRESH_PER_SECOND)
                live.update(status_table(figures()))
    write = log or (lambda line: print(line, file=sys.stderr, flush=True))
    while True:
        await asyncio.sleep(LOG_EVERY_S)
        write(f"{time.strftime('%H:%M:%S')} {status_line(figures())}")


def use_rich_live(no_status: bool) -> bool:
    return not no_status and sys.stdout.isatty()

