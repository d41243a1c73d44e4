"""``vectra game GAME_ID``: one game's price path with a player's fills, side bets and the rug — drawn in the
terminal and written as a PNG (``vectra_pipeline.game_view``). The player is the recording player unless
``--player`` names another (player id or username). Reads the warehouse views, like ``vectra query``.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from capture_agent.config import RemoteRoot, add_data_argument
from capture_agent.errors import VectraError, first_line


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("game_id", metavar="GAME_ID", help="the game's id (vectra query \"SELECT game_id FROM games\")")
    parser.add_argument("--player", help="player id or username (default: the recording player)")
    parser.add_argument("--png", type=Path, metavar="FILE", help="where to write the chart (default: game-GAME_ID.png)")
    add_data_argument(parser, remote=True)


TABLES = ("game_ticks", "games", "trades", "sidebets", "player_games")


def load_view(root: Path | RemoteRoot, game_id: str, player: str | None):
    """The :class:`~vectra_pipeline.game_view.GameView` of ``game_id`` for ``player`` (None: the recording player)."""
    import duckdb

    from vectra_pipeline import warehouse
    from vectra_pipeline.game_view import view_of

    if not game_id.strip():
        raise VectraError('no GAME_ID given: vectra game GAME_ID (the ids: vectra query "SELECT game_id FROM games")')
    with warehouse.connect(root, require_tables=True) as connection:
        try:
            tables = {name: connection.execute(f'SELECT * FROM "{name}" WHERE game_id = $game', {"game": game_id}).pl()
                      for name in TABLES}
        except duckdb.CatalogException as error:  # a table this root has not built (yet)
            raise VectraError(f"{first_line(error)}; run `vectra build --data {root}`") from None
    view = view_of(game_id, tables, player)
    if view is None:
        raise VectraError(f'no ticks of game {game_id!r} under {root} (the ids: vectra query "SELECT game_id FROM games")')
    return view


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.markup import escape

    from vectra_pipeline import storage
    from vectra_pipeline.game_view import fills_table, png, terminal_chart

    view = load_view(args.data, args.game_id, args.player)
    console = Console()
    for line in terminal_chart(view, width=max(20, min(console.width - 2, 120))):
        console.print(escape(line), highlight=False, soft_wrap=True)
    console.print(fills_table(view))
    if not view.fills and not view.sidebets:
        who = "the recording player" if args.player is None else repr(args.player)
        console.print(f"{who} did not trade in this game; players who did: vectra query "
                      f"\"SELECT player_id, username, pnl FROM player_games WHERE game_id = '{escape(args.game_id)}'\"",
                      soft_wrap=True, highlight=False)
    if view.pnl is not None:
        console.print(f"P&L {view.pnl:+.6f} SOL (player_games)")
    target = args.png or Path(f"game-{''.join(c if c.isalnum() or c in '-_' else '_' for c in args.game_id)}.png")
    try:
        temp = storage.temp_path(target)  # renamed into place: a killed run never leaves half a PNG
        temp.write_bytes(png(view))
        os.replace(temp, target)
    except OSError as error:
        raise VectraError(f"cannot write {target}: {error.strerror or error}") from None
    console.print(f"chart: {escape(str(target))}", soft_wrap=True)
    return 0
