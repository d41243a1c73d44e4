"""``vectra game GAME_ID`` and the charts behind it: the price path with a player's fills, side bets and the rug,
as a PNG whose pixels show them and as terminal text; one-line errors for what cannot be shown; the same charts on
the ``player_games`` materialisation in Dagster."""

from __future__ import annotations

import base64
import io

import polars as pl
import pytest
from PIL import Image

from capture_agent.cli import main
from vectra_pipeline import schema, storage
from vectra_pipeline.game_view import (
    FILL_COLOURS,
    PATH,
    RUG,
    Fill,
    GameView,
    SideBet,
    metadata_markdown,
    png,
    recent_games,
    terminal_chart,
    view_of,
)
from vectra_pipeline.gold.player_games import build_player_games

DAY, GAME, OTHER = "2025-12-10", "20251210-aaaa", "20251210-bbbb"


def _tables() -> dict[str, pl.DataFrame]:
    prices = [1.0 + 0.05 * t for t in range(60)] + [0.01]
    ticks = [{"game_id": GAME, "tick": t, "price": p, "phase": "ACTIVE"} for t, p in enumerate(prices)]
    ticks += [{"game_id": OTHER, "tick": t, "price": 1.0, "phase": "ACTIVE"} for t in range(5)]
    games = [{"game_id": GAME, "rug_tick": 60, "rug_price": 0.01, "last_seen_ns": 2}, {"game_id": OTHER, "last_seen_ns": 3}]
    trades = [
        {"trade_id": "1", "game_id": GAME, "player_id": "me", "username": "Me", "is_own": True, "type": "buy", "tick": 10,
         "price": 1.5, "qty": 2 / 1.5, "amount": 2.0, "seq": 1},
        {"trade_id": "2", "game_id": GAME, "player_id": "me", "username": "Me", "is_own": True, "type": "sell", "tick": 40,
         "price": 3.0, "qty": 2 / 1.5, "amount": 4.0, "seq": 2},
        {"trade_id": "3", "game_id": GAME, "player_id": "you", "username": "You", "is_own": False, "type": "buy", "tick": 5,
         "price": 1.25, "qty": 1.0, "amount": 1.25, "seq": 3},
    ]
    sidebets = [{"game_id": GAME, "player_id": "me", "username": "Me", "start_tick": 20, "end_tick": 60, "bet_amount": 0.1,
                 "x_payout": 5.0, "status": "won", "payout": 0.5, "is_own": True}]
    tables = {
        "game_ticks": schema.conform(pl.DataFrame(ticks), "game_ticks"),
        "games": schema.conform(pl.DataFrame(games), "games"),
        "trades": schema.conform(pl.DataFrame(trades), "trades"),
        "sidebets": schema.conform(pl.DataFrame(sidebets), "sidebets"),
    }
    tables["player_games"] = build_player_games(tables["trades"], tables["sidebets"], tables["games"])
    return tables


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    data = tmp_path_factory.mktemp("game")
    for name, frame in _tables().items():
        storage.write_table(data, name, DAY, frame)
    return data


def _image(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data)).convert("RGB")


def _has(image: Image.Image, colour: tuple[int, int, int]) -> bool:
    return any(c == colour for _, c in image.getcolors(maxcolors=1 << 20))


def test_the_png_shows_the_path_the_fills_and_the_rug():
    view = view_of(GAME, _tables())
    assert (view.player, view.rug_tick, [f.type for f in view.fills]) == ("Me", 60, ["buy", "sell"])
    assert [b.status for b in view.sidebets] == ["won"] and view.pnl == pytest.approx(2.0 + 0.4)
    image = _image(png(view, 900, 400))
    assert image.size == (900, 400)
    for colour in (PATH, RUG, FILL_COLOURS["buy"], FILL_COLOURS["sell"]):
        assert _has(image, colour), colour
    bare = _image(png(GameView(GAME, view.prices, 60), 900, 400))  # without the player: no fill markers
    assert not _has(bare, FILL_COLOURS["buy"]) and not _has(bare, FILL_COLOURS["sell"])


def test_the_terminal_chart_marks_fills_and_the_rug_where_they_happened():
    view = view_of(GAME, _tables())
    lines = terminal_chart(view, width=61, rows=8)
    assert len(lines) == 9 and all(len(line) == 61 for line in lines)
    assert lines[-1][10] == "▲" and lines[-1][40] == "▼" and lines[-2][60] == "x"
    assert lines[0].rstrip().endswith("•")  # the path rises to the top (the rug remainder does not flatten it)


def test_another_player_and_odd_paths():
    tables = _tables()
    you = view_of(GAME, tables, "You")
    assert [f.tick for f in you.fills] == [5] and you.sidebets == [] and you.player == "You"
    assert view_of("nope", tables) is None
    odd = GameView("g", [float("nan"), 0.0, 1.0, 2.0, float("nan")], None,
                   fills=[Fill("short_open", 2, 0.0, 1.0)], sidebets=[SideBet(0, 40, 1.0, "placed")])
    assert _image(png(odd)).size == (1200, 520) and len(terminal_chart(odd)) == 13  # gaps and a 0 price never raise


def test_recent_games_prefer_the_recording_players_and_attach_as_images():
    tables = _tables()
    assert recent_games(tables["games"], tables["trades"]) == [GAME]  # OTHER is later but not played
    no_own = tables["trades"].with_columns(pl.lit(False).alias("is_own"))
    assert recent_games(tables["games"], no_own) == [OTHER, GAME]
    text = metadata_markdown([view_of(GAME, tables)])
    encoded = text.split("data:image/png;base64,")[1].split(")")[0]
    assert _image(base64.b64decode(encoded)).size == (800, 340)
    assert metadata_markdown([]) == "no games"


def test_vectra_game_prints_and_writes_the_chart(root, tmp_path, capsys):
    target = tmp_path / "chart.png"
    assert main(["game", GAME, "--data", str(root), "--png", str(target)]) == 0
    out = capsys.readouterr().out
    assert "▲ buy" in out and "▼ sell" in out and "side bet → 60 (won)" in out and "P&L +2.400000 SOL" in out
    assert _image(target.read_bytes()).size == (1200, 520) and not list(tmp_path.glob(".*tmp"))
    assert main(["game", GAME, "--player", "nobody", "--data", str(root), "--png", str(target)]) == 0
    assert "'nobody' did not trade in this game" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        ([GAME, "--data", "{root}/empty"], "run `vectra build"),
        (["nope", "--data", "{root}"], "no ticks of game 'nope'"),
        (["", "--data", "{root}"], "no GAME_ID given"),
        (["x' OR 1=1 --", "--data", "{root}"], "no ticks of game"),  # a parameter, never SQL
        ([GAME, "--data", "{root}", "--png", "{root}/no/such/dir/x.png"], "cannot write"),
    ],
)
def test_what_cannot_be_shown_is_one_line(root, capsys, argv, says):
    assert main(["game", *(a.format(root=root) for a in argv)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and says in err and "Traceback" not in err
