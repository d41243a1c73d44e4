"""The games the simulated server plays: a server-seed chain derived from the simulator seed, game ids dated by the
sim clock, provably-fair price paths (``fairness.price_path``) and a drawn rug remainder. Pure."""

from __future__ import annotations

import datetime as dt
import hashlib
import random
from dataclasses import dataclass, field

from capture_agent.protocol.fairness import price_path, seed_hash
from capture_agent.protocol.rules import GAME_VERSION, draw_rug_remainder, rug_tick_of_path


@dataclass(slots=True)
class Game:
    index: int
    game_id: str
    server_seed: str
    seed_hash: str
    prices: list[float]  # prices[0..rug_tick], the last one the rug remainder
    cooldown_at: int
    trade_count: int = 0
    global_sidebets: list[dict] = field(default_factory=list)

    @property
    def rug_tick(self) -> int:
        return rug_tick_of_path(len(self.prices))


def utc_day(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y%m%d")


def chain_seed(seed: str, index: int) -> str:
    """The n-th server seed of the chain derived from the simulator seed (64 hex like the real ones)."""
    return hashlib.sha256(f"vectra-sim:{seed}:server-seed:{index}".encode()).hexdigest()


def chain_game_id(seed: str, index: int, at_ms: int) -> str:
    """``YYYYMMDD-<16 hex>`` with the UTC date of the sim clock."""
    return f"{utc_day(at_ms)}-{hashlib.sha256(f'vectra-sim:{seed}:game:{index}'.encode()).hexdigest()[:16]}"


def chain_game(seed: str, index: int, at_ms: int, rng: random.Random) -> Game:
    """Game ``index`` of the chain, dated ``at_ms`` (its cooldown start), with its rug remainder drawn from ``rng``."""
    server_seed = chain_seed(seed, index)
    game_id = chain_game_id(seed, index, at_ms)
    path = list(price_path(server_seed, game_id, GAME_VERSION).prices)
    path.append(draw_rug_remainder(rng, path[-1]))
    return Game(index, game_id, server_seed, seed_hash(server_seed), path, at_ms)
