"""Provably-fair price paths (docs/PROTOCOL.md §5), bit-exact with the rugs.fun verify page.

The PRNG is a port of David Bau's ``seedrandom`` (ARC4 keystream, RC4-drop-256, 52-bit doubles) seeded
with ``f"{server_seed}-{game_id}"``. :func:`price_path` and :func:`price_paths` run the compiled replay
(``_price_replay.c``, built by ``scripts/setup.sh``); :func:`reference_price_path` is the pure-Python replay, the
specification the compiled one is tested against bit for bit, and the fallback when it is not built. No clock.
"""

from __future__ import annotations

import functools
import hashlib
import math
from collections.abc import Iterable
from dataclasses import dataclass

from capture_agent.protocol import _price_replay

_WIDTH = 256
_MASK = _WIDTH - 1
_CHUNKS = 6
_START_DENOM = _WIDTH**_CHUNKS
_SIGNIFICANCE = 2**52
_OVERFLOW = 2**53
_BLOCK = 1024  # keystream bytes generated at a time

RUG_PROB = 0.005
DRIFT_MIN = -0.02
DRIFT_MAX = 0.03
BIG_MOVE_CHANCE = 0.125
BIG_MOVE_MIN = 0.15
BIG_MOVE_MAX = 0.25
GOD_CANDLE_CHANCE = 0.00001
GOD_CANDLE_MOVE = 10.0
GOD_CANDLE_CEILING = 100.0
MAX_ITERATIONS = 5000
VERSIONS = ("v1", "v2", "v3")
_VERSION_CODES = {version: code for code, version in enumerate(VERSIONS, start=1)}


def _utf16_units(seed: str) -> bytes:
    """The seed as JS sees it: UTF-16 code units, lone surrogates included (JS strings may hold them)."""
    return seed.encode("utf-16-le", "surrogatepass")


def _mix_key(seed: str) -> list[int]:
    """seedrandom's ``mixkey``: fold the seed's UTF-16 code units into a key of at most 256 bytes."""
    key: list[int] = []
    smear = 0
    units = _utf16_units(seed)
    for j in range(len(units) // 2):
        code = units[2 * j] | (units[2 * j + 1] << 8)
        slot = j & _MASK
        if slot < len(key):
            smear ^= key[slot] * 19
            key[slot] = (smear + code) & _MASK
        else:  # JS: undefined * 19 is NaN, and x ^ NaN == x
            key.append((smear + code) & _MASK)
    return key


class SeedRandom:
    """``seedrandom(seed)`` with the default ARC4 generator: call the instance for the next double in [0, 1).

    Keystream bytes are generated a block at a time (one tight loop) into a buffer the draws read from, instead of
    a method call per byte: a price path takes ~7 bytes a draw and ~1,000 draws.
    """

    __slots__ = ("_s", "_i", "_j", "_buffer", "_position")

    def __init__(self, seed: str) -> None:
        key = _mix_key(seed) or [0]
        s = list(range(_WIDTH))
        j = 0
        for i in range(_WIDTH):
            t = s[i]
            j = (j + key[i % len(key)] + t) & _MASK
            s[i] = s[j]
            s[j] = t
        self._s, self._i, self._j = s, 0, 0
        self._keystream(_WIDTH)  # RC4-drop-256
        self._buffer, self._position = b"", 0

    def _keystream(self, count: int) -> bytes:
        """The next ``count`` ARC4 keystream bytes."""
        s, i, j = self._s, self._i, self._j
        out = bytearray(count)
        for k in range(count):
            i = (i + 1) & _MASK
            t = s[i]
            j = (j + t) & _MASK
            u = s[j]
            s[i] = u
            s[j] = t
            out[k] = s[(u + t) & _MASK]
        self._i, self._j = i, j
        return bytes(out)

    def _refill(self) -> None:
        self._buffer = self._buffer[self._position :] + self._keystream(_BLOCK)
        self._position = 0

    def __call__(self) -> float:
        if self._position + _CHUNKS > len(self._buffer):
            self._refill()
        buffer, position = self._buffer, self._position
        n = int.from_bytes(buffer[position : position + _CHUNKS], "big")
        position += _CHUNKS
        d = _START_DENOM
        x = 0
        while n < _SIGNIFICANCE:
            n = (n + x) * _WIDTH
            d *= _WIDTH
            if position == len(buffer):
                self._position = position
                self._refill()
                buffer, position = self._buffer, 0
            x = buffer[position]
            position += 1
        self._position = position
        while n >= _OVERFLOW:
            n //= 2
            d //= 2
            x >>= 1
        return (n + x) / d


def seed_hash(server_seed: str) -> str:
    """``serverSeedHash`` as announced before the game: SHA-256 hex of the seed string."""
    return hashlib.sha256(server_seed.encode()).hexdigest()


def verify_seed(server_seed: str, server_seed_hash: str) -> bool:
    return seed_hash(server_seed) == server_seed_hash.lower()


@dataclass(frozen=True, slots=True)
class PricePath:
    """The seed-determined part of a game: ``prices[0..rug_tick-1]``; the rug remainder is not in it."""

    game_id: str
    version: str
    prices: tuple[float, ...]

    @property
    def rug_tick(self) -> int:
        return len(self.prices)

    @property
    def peak(self) -> float:
        return max(self.prices)


def _check_version(version: str) -> None:
    if version not in VERSIONS:
        raise ValueError(f"unknown price algorithm version {version!r}; expected one of {', '.join(VERSIONS)}")


def reference_price_path(server_seed: str, game_id: str, version: str = "v3") -> PricePath:
    """The verify page's algorithm in pure Python, step for step (docs/PROTOCOL.md §5)."""
    _check_version(version)
    rng = SeedRandom(f"{server_seed}-{game_id}")
    god_candles = version == "v3"
    capped_volatility = version != "v1"
    price = 1.0
    prices = [price]
    for _ in range(MAX_ITERATIONS):
        if rng() < RUG_PROB:
            break
        if god_candles and rng() < GOD_CANDLE_CHANCE and price <= GOD_CANDLE_CEILING:
            price *= GOD_CANDLE_MOVE
            prices.append(price)
            continue
        if rng() < BIG_MOVE_CHANCE:
            size = BIG_MOVE_MIN + rng() * (BIG_MOVE_MAX - BIG_MOVE_MIN)
            change = size if rng() > 0.5 else -size
        else:
            drift = DRIFT_MIN + rng() * (DRIFT_MAX - DRIFT_MIN)
            root = math.sqrt(price)
            volatility = 0.005 * (min(10.0, root) if capped_volatility else root)
            change = drift + volatility * (2 * rng() - 1)
        price = max(0.0, price * (1 + change))
        prices.append(price)
    return PricePath(game_id=game_id, version=version, prices=tuple(prices))


@functools.cache
def _compiled() -> _price_replay.CompiledReplay | None:
    return _price_replay.load()  # warns once when it is absent: the reference replays instead


def compiled_replay_active() -> bool:
    """Whether prices replay through the compiled library (else through the pure-Python reference)."""
    return _compiled() is not None


def price_paths(games: Iterable[tuple[str, str, str]]) -> list[PricePath]:
    """:func:`price_path` of every ``(server_seed, game_id, version)``, in one compiled call for the batch."""
    games = list(games)
    for _, _, version in games:
        _check_version(version)
    compiled = _compiled()
    if compiled is None:
        return [reference_price_path(*game) for game in games]
    seeds = [_utf16_units(f"{server_seed}-{game_id}") for server_seed, game_id, _ in games]
    paths = compiled.replay(seeds, bytes(_VERSION_CODES[version] for _, _, version in games))
    return [PricePath(game_id=game_id, version=version, prices=prices)
            for (_, game_id, version), prices in zip(games, paths, strict=True)]


def price_path(server_seed: str, game_id: str, version: str = "v3") -> PricePath:
    """Replay the verify page's algorithm. ``prices[k]`` is the price at tick k; the game rugs at tick len(prices)."""
    return price_paths([(server_seed, game_id, version)])[0]
