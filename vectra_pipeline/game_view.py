"""One game, looked at: its price path with a player's fills, side bets and the rug — as a PNG (pillow) and as
terminal text (rich). Pure: a :class:`GameView` of plain values in, PNG bytes or renderables out; reading the tables
is ``vectra game``'s business (``commands/game.py``), attaching recent games to Dagster the ``player_games`` asset's.

The chart: price (log scale: a 50× game and its 0.01 rug remainder share one picture) over ticks; ▲ buys, ▼ sells,
◆ short opens and closes at the tick and price they filled; each side bet's 40-tick window shaded (green when it
won, grey otherwise); the rug a red line.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field

import polars as pl

FILL_COLOURS = {"buy": (46, 160, 90), "sell": (200, 60, 60), "short_open": (214, 150, 40), "short_close": (214, 150, 40)}
BACKGROUND, GRID, PATH, RUG, TEXT = (17, 20, 28), (45, 50, 64), (120, 170, 255), (235, 70, 70), (220, 224, 232)
MARKS = {"buy": "▲", "sell": "▼", "short_open": "◆", "short_close": "◇"}


@dataclass(frozen=True)
class Fill:
    type: str  # buy | sell | short_open | short_close
    tick: int
    price: float
    amount: float  # SOL


@dataclass(frozen=True)
class SideBet:
    start_tick: int
    end_tick: int
    amount: float
    status: str  # placed | won | lost


@dataclass(frozen=True)
class GameView:
    game_id: str
    prices: list[float]  # by tick, from tick 0 (a missing tick is NaN)
    rug_tick: int | None
    player: str | None = None  # whose fills these are
    fills: list[Fill] = field(default_factory=list)
    sidebets: list[SideBet] = field(default_factory=list)
    pnl: float | None = None  # the player's P&L in the game (player_games.pnl)


def _log(price: float) -> float:
    return math.log10(max(price, 1e-4))


def png(view: GameView, width: int = 1200, height: int = 520) -> bytes:
    """The chart as PNG bytes."""
    from PIL import Image, ImageDraw, ImageFont

    image = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default()
    left, right, top, bottom = 70, width - 20, 40, height - 40
    known = [p for p in view.prices if p == p and p > 0]  # NaN != NaN
    ticks = max(len(view.prices) - 1, view.rug_tick or 0, max((f.tick for f in view.fills), default=0), 1)
    low = _log(min(known + [f.price for f in view.fills if f.price > 0], default=1.0))
    high = _log(max(known + [f.price for f in view.fills], default=1.0))
    low, high = min(low, -0.1), max(high, 0.1)

    def x(tick: float) -> float:
        return left + (right - left) * tick / ticks

    def y(price: float) -> float:
        return bottom - (bottom - top) * (_log(price) - low) / (high - low)

    for exponent in range(math.floor(low), math.ceil(high) + 1):  # decades, and 2× / 5× between them
        for step in (1, 2, 5):
            price = step * 10.0**exponent
            if low <= _log(price) <= high:
                draw.line([(left, y(price)), (right, y(price))], fill=GRID)
                draw.text((6, y(price) - 6), f"{price:g}x", fill=TEXT, font=font)
    for bet in view.sidebets:
        shade = (30, 70, 45) if bet.status == "won" else (40, 44, 56)
        draw.rectangle([x(bet.start_tick), top, x(min(bet.end_tick, ticks)), bottom], fill=shade)
    points = [(x(t), y(p)) for t, p in enumerate(view.prices) if p == p and p > 0]
    if len(points) > 1:
        draw.line(points, fill=PATH, width=2)
    if view.rug_tick is not None:
        draw.line([(x(view.rug_tick), top), (x(view.rug_tick), bottom)], fill=RUG, width=2)
        draw.text((x(view.rug_tick) - 30, top - 16), f"rug {view.rug_tick}", fill=RUG, font=font)
    for fill in view.fills:
        if fill.price > 0:
            _marker(draw, fill.type, x(fill.tick), y(fill.price))
    title = f"game {view.game_id}" + (f" | {view.player}" if view.player else "")
    title += f" | P&L {view.pnl:+.4f} SOL" if view.pnl is not None else ""
    draw.text((left, 12), title, fill=TEXT, font=font)
    draw.text((left, bottom + 14), f"tick 0 … {ticks}", fill=TEXT, font=font)
    legend = "green up: buy   red down: sell   orange: short   shaded: side bet window   red line: rug"
    draw.text((right - 6 * len(legend), bottom + 14), legend, fill=TEXT, font=font)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def _marker(draw, kind: str, cx: float, cy: float, r: float = 7) -> None:
    colour = FILL_COLOURS.get(kind, TEXT)
    if kind == "buy":
        shape = [(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)]
    elif kind == "sell":
        shape = [(cx, cy + r), (cx - r, cy - r), (cx + r, cy - r)]
    else:
        shape = [(cx, cy - r), (cx + r, cy), (cx, cy + r), (cx - r, cy)]
    draw.polygon(shape, fill=colour, outline=(255, 255, 255))


def terminal_chart(view: GameView, width: int = 72, rows: int = 12) -> list[str]:
    """The price path as ``rows`` lines of ``width`` columns (log scale), the fills marked on the line below it."""
    ticks = max(len(view.prices) - 1, view.rug_tick or 0, 1)
    columns: list[list[float]] = [[] for _ in range(width)]
    for tick, price in enumerate(view.prices):
        if price == price and price > 0 and tick != view.rug_tick:  # the rug remainder would flatten the rest
            columns[min(width - 1, tick * width // (ticks + 1))].append(_log(price))
    values = [v for column in columns for v in column] or [0.0]
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    grid = [[" "] * width for _ in range(rows)]
    for index, column in enumerate(columns):
        if column:
            level = round((max(column) - low) / span * (rows - 1))
            grid[rows - 1 - level][index] = "•"
    if view.rug_tick is not None:
        grid[rows - 1][min(width - 1, view.rug_tick * width // (ticks + 1))] = "x"
    lines = ["".join(row) for row in grid]
    marks = [" "] * width
    for fill in view.fills:
        marks[min(width - 1, fill.tick * width // (ticks + 1))] = MARKS.get(fill.type, "?")
    return [*lines, "".join(marks)]


def fills_table(view: GameView):
    """A rich table of the player's fills and side bets, in tick order."""
    from rich.table import Table

    table = Table(title=f"{view.player or 'player'} in {view.game_id}", title_justify="left")
    for name, justify in (("tick", "right"), ("what", "left"), ("price", "right"), ("SOL", "right")):
        table.add_column(name, justify=justify, no_wrap=True)
    events = [(f.tick, f"{MARKS.get(f.type, '')} {f.type}", f"{f.price:.4f}", f"{f.amount:.6f}") for f in view.fills]
    events += [(b.start_tick, f"side bet → {b.end_tick} ({b.status})", "", f"{b.amount:.6f}") for b in view.sidebets]
    for tick, what, price, amount in sorted(events, key=lambda e: e[0]):
        table.add_row(str(tick), what, price, amount)
    if view.rug_tick is not None:
        table.add_row(str(view.rug_tick), "[red]rug[/]", f"{view.prices[view.rug_tick]:.4f}" if view.rug_tick < len(view.prices) else "", "")
    return table


def view_of(game_id: str, tables: dict[str, pl.DataFrame], player: str | None = None) -> GameView | None:
    """The view of ``game_id`` from the partition's ``game_ticks``, ``games``, ``trades``, ``sidebets`` and
    ``player_games`` (other games' rows are ignored) for ``player`` — id or username; None: the recording player.
    None when the game has no ticks."""
    ticks = tables["game_ticks"].filter(pl.col("game_id") == game_id, pl.col("tick") >= 0).sort("tick")
    if ticks.is_empty():
        return None
    prices = [float("nan")] * (int(ticks["tick"].max()) + 1)
    for tick, price in ticks.select("tick", "price").iter_rows():
        prices[tick] = float("nan") if price is None else price
    rug = tables["games"].filter(pl.col("game_id") == game_id)["rug_tick"].max()

    def theirs(frame: pl.DataFrame) -> pl.DataFrame:
        mine = pl.col("is_own") if player is None else (pl.col("player_id") == player) | (pl.col("username") == player)
        return frame.filter(pl.col("game_id") == game_id, mine.fill_null(False))

    trades = theirs(tables["trades"]).sort("tick", "seq")
    bets = theirs(tables["sidebets"]).sort("start_tick")
    pnl = theirs(tables["player_games"])["pnl"].sum() if not theirs(tables["player_games"]).is_empty() else None
    name = player or next((u or p for u, p in trades.select("username", "player_id").iter_rows()), None)
    return GameView(
        game_id, prices, rug, name,
        [Fill(k, t, p or 0.0, a) for k, t, p, a in trades.select("type", "tick", "price", "amount").iter_rows()],
        [SideBet(st, e, a, s) for st, e, a, s in bets.select("start_tick", "end_tick", "bet_amount", "status").iter_rows()],
        pnl,
    )


def recent_games(games: pl.DataFrame, trades: pl.DataFrame, count: int = 3) -> list[str]:
    """The last ``count`` games seen in which the recording player traded; the last games seen when they never did."""
    own = set(trades.filter(pl.col("is_own").fill_null(False))["game_id"].to_list())
    seen = games.filter(pl.col("last_seen_ns").is_not_null()).sort("last_seen_ns", descending=True)["game_id"].to_list()
    played = [g for g in seen if g in own]
    return (played or seen)[:count]


def metadata_markdown(views: list[GameView], width: int = 800, height: int = 340) -> str:
    """Markdown with each view's chart inline (a PNG data URI: the Dagster UI shows it on the materialisation)."""
    import base64

    parts = []
    for view in views:
        encoded = base64.b64encode(png(view, width, height)).decode("ascii")
        who = f" — {view.player}" if view.player else ""
        parts.append(f"**{view.game_id}**{who}, {len(view.fills)} fills\n\n![game {view.game_id}](data:image/png;base64,{encoded})")
    return "\n\n".join(parts) or "no games"
