"""``vectra prices``: replay a provably-fair game from its revealed seed."""

from __future__ import annotations

import argparse
import json
import re

from capture_agent.errors import VectraError
from capture_agent.protocol.fairness import VERSIONS, price_path, seed_hash

_GAME_ID = re.compile(r"^\d{8}-[0-9a-f]{16}$")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", required=True, help="the revealed serverSeed")
    parser.add_argument("--game-id", required=True, help="gameId, e.g. 20251217-cc4486eb5e354cd5")
    parser.add_argument("--version", default="v3", choices=VERSIONS, help="price algorithm (default v3)")


def run(args: argparse.Namespace) -> int:
    if not args.seed:
        raise VectraError("--seed must not be empty")
    if not _GAME_ID.match(args.game_id):
        raise VectraError(f"--game-id {args.game_id!r} is not of the form YYYYMMDD-<16 hex digits>")
    path = price_path(args.seed, args.game_id, args.version)
    print(
        json.dumps(
            {
                "game_id": path.game_id,
                "version": path.version,
                "server_seed_hash": seed_hash(args.seed),
                "prices": list(path.prices),
                "rug_tick": path.rug_tick,
                "peak": path.peak,
            }
        )
    )
    return 0
