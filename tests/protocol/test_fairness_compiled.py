"""The compiled price replay against the pure-Python reference, bit for bit: every real seed in every version, random
and hostile seeds (any unicode, lone surrogates, seeds longer than the 256-byte key); its build (deterministic,
idempotent, concurrent, failing in one line) and the fallback to the reference when the library is missing."""

from __future__ import annotations

import logging
import random
import shutil
from array import array
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from price_engines import setup_required
from realdata import event_records, seeded_games

from capture_agent.protocol import _price_replay, fairness
from capture_agent.protocol.fairness import VERSIONS, price_path, price_paths, reference_price_path

VERIFY_PAGE = ("fedde170f25570df546c5c16de6f571b8253221f9307e977c4f5354a5aa078a4", "20250701-55b97a42871f441f")


def _real_seeds() -> list[tuple[str, str]]:
    """(server seed, game id) of every revealed seed in the real data, the verify page's vector included."""
    seeds = {(game["serverSeed"], game["gameId"]) for game in seeded_games()} | {VERIFY_PAGE}
    for _, record in event_records():
        data = record["data"]
        if record["event"] != "gameStateUpdate" or not isinstance(data, dict):
            continue
        for entry in data.get("gameHistory") or []:
            if seed := (entry.get("provablyFair") or {}).get("serverSeed"):
                seeds.add((seed, entry["id"]))
        if data.get("highestTodayServerSeed"):  # the Feb 2026 god-candle game
            seeds.add((data["highestTodayServerSeed"], data["highestTodayGameId"]))
    return sorted(seeds)


REAL_SEEDS = _real_seeds()


@pytest.fixture
def use_compiled(compiled_replay, monkeypatch):
    monkeypatch.setattr(fairness, "_compiled", lambda: compiled_replay)
    return compiled_replay


@pytest.fixture
def fresh_loader():
    """The library is looked up again by the test and again after it (the lookup is cached per process)."""
    fairness._compiled.cache_clear()
    yield
    fairness._compiled.cache_clear()


def _bits(prices) -> bytes:
    return array("d", prices).tobytes()  # == on floats would let -0.0 pass for 0.0


def _assert_bit_exact(games: list[tuple[str, str, str]]) -> list[fairness.PricePath]:
    """price_paths of the batch equals the reference game by game, bit for bit; returns the compiled paths."""
    compiled = price_paths(games)
    assert len(compiled) == len(games)
    for game, path in zip(games, compiled, strict=True):
        reference = reference_price_path(*game)
        assert (path.game_id, path.version) == (reference.game_id, reference.version)
        assert _bits(path.prices) == _bits(reference.prices), game
    return compiled


def _has_god_candle(prices) -> bool:
    return any(prices[k] == prices[k - 1] * 10 for k in range(1, len(prices)))


def test_every_real_seed_replays_bit_exactly_in_every_version(use_compiled):
    assert len(REAL_SEEDS) >= 67  # 56 seeded games, 10 Feb 2026 history entries, the verify page's vector
    paths = _assert_bit_exact([(seed, game_id, version) for seed, game_id in REAL_SEEDS for version in VERSIONS])
    assert any(path.version == "v3" and _has_god_candle(path.prices) for path in paths)  # the real 50x jump


def test_random_seeds_replay_bit_exactly(use_compiled):
    rng = random.Random(20250701)
    games = [(rng.randbytes(32).hex(), f"2025{rng.randrange(101, 1232):04d}-{rng.randbytes(8).hex()}", version)
             for version in VERSIONS for _ in range(200)]
    paths = _assert_bit_exact(games)
    assert max(path.rug_tick for path in paths) > 1000  # long games too, beyond the batch's typical reservation


# Any code point, and lone surrogates on purpose (JS strings hold them; the seed is mixed as UTF-16 code units).
# Joined from a list: st.text over a one_of alphabet almost never draws the surrogate branch.
any_text = st.lists(st.one_of(st.characters(exclude_categories=()),
                              st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF, categories=["Cs"])),
                    max_size=40).map("".join)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(any_text, any_text, st.sampled_from(VERSIONS)), min_size=1, max_size=6))
def test_any_unicode_seed_and_id_replay_bit_exactly(use_compiled, games):
    _assert_bit_exact(games)


def test_lone_surrogates_are_mixed_as_their_code_units(use_compiled):
    # '\ud83d\ude00' as two code points is, to JS, the very string '😀'; a lone half is one code unit of its own.
    assert _bits(price_path("\ud83d\ude00", "id").prices) == _bits(price_path("😀", "id").prices)
    assert _bits(price_path("\ud83d", "id").prices) != _bits(price_path("\ude00", "id").prices)
    _assert_bit_exact([("\ud83d", "id", "v3"), ("x\udfff", "\ud800", "v1")])


def test_seeds_around_the_256_byte_key_fold(use_compiled):
    """mixkey folds code unit j into key[j % 256]: seeds of 255..513 units and more, with a 2-unit character
    straddling each boundary."""
    games = []
    for units in (1, 254, 255, 256, 257, 511, 512, 513, 4000):
        games.append(("s" * units, "", "v3"))
        games.append(("é" * (units - 1) + "😀", "20250101-0000000000000000", "v2"))
        games.append(("\ud800" * units, "\udfff", "v1"))
    _assert_bit_exact(games)


def test_a_batch_bigger_than_its_buffer_resumes_where_it_stopped(use_compiled, monkeypatch):
    games = [(f"seed-{k}", f"20250101-{k:016x}", VERSIONS[k % 3]) for k in range(60)]
    whole = price_paths(games)
    monkeypatch.setattr(_price_replay, "_TYPICAL_PATH", 0)  # room for one game per call: 60 calls
    assert [_bits(p.prices) for p in price_paths(games)] == [_bits(p.prices) for p in whole]
    assert price_paths([]) == []


def test_threads_replay_at_once_without_sharing_buffers(use_compiled):
    batches = [[(f"thread-{t}", f"20250101-{k:016x}", "v3") for k in range(40)] for t in range(4)]
    expected = [[_bits(reference_price_path(*game).prices) for game in batch] for batch in batches]
    with ThreadPoolExecutor(4) as pool:  # the ctypes call releases the GIL: the replays really overlap
        results = list(pool.map(price_paths, batches))
    assert [[_bits(p.prices) for p in batch] for batch in results] == expected


def test_the_compiled_replay_is_active_when_built(fresh_loader):
    built = _price_replay.library_path().exists()
    if setup_required():
        assert built, "scripts/setup.sh must build the compiled price replay"
    assert fairness.compiled_replay_active() == built
    if built:
        assert fairness._compiled().path == _price_replay.library_path()


@pytest.mark.parametrize(("state", "problem"), [
    ("absent", "is not built"),
    ("stale", "is older than its source"),
    ("damaged", "cannot be loaded"),
])
def test_without_a_usable_library_prices_replay_in_python_and_it_says_so_once(
        state, problem, tmp_path, monkeypatch, caplog, fresh_loader):
    monkeypatch.setattr(_price_replay, "BUILD_DIR", tmp_path)
    if state == "stale":
        (tmp_path / "libvectra_price_replay-0123456789abcdef.so").write_bytes(b"an older build")
    elif state == "damaged":
        _price_replay.library_path().write_bytes(b"\x7fELF but not a library")
    games = [(*VERIFY_PAGE, version) for version in VERSIONS]
    with caplog.at_level(logging.WARNING, logger=_price_replay.__name__):
        paths = [price_path(*game) for game in games] + price_paths(games)
        assert not fairness.compiled_replay_active()
    warnings = [record.getMessage() for record in caplog.records if record.name == _price_replay.__name__]
    assert len(warnings) == 1 and "\n" not in warnings[0]
    assert problem in warnings[0] and "scripts/setup.sh" in warnings[0]
    assert [p.peak for p in paths] == [3.8474620187013504, 3.8474620187013504, 4.38082767954252] * 2


def test_build_is_deterministic_idempotent_and_clears_older_builds(tmp_path, monkeypatch):
    stale = tmp_path / "a" / "libvectra_price_replay-0123456789abcdef.so"
    stale.parent.mkdir()
    stale.write_bytes(b"an older build")
    first = _price_replay.build(tmp_path / "a")
    assert first == _price_replay.library_path(tmp_path / "a") and not stale.exists()
    before = first.stat()
    assert _price_replay.build(tmp_path / "a") == first
    assert (first.stat().st_ino, first.stat().st_mtime_ns) == (before.st_ino, before.st_mtime_ns)  # not rebuilt
    # Another checkout elsewhere builds the same bytes under the same name.
    elsewhere = tmp_path / "another-checkout" / "protocol"
    elsewhere.mkdir(parents=True)
    monkeypatch.setattr(_price_replay, "SOURCE", Path(shutil.copy(_price_replay.SOURCE, elsewhere)))
    second = _price_replay.build(tmp_path / "b")
    assert second.name == first.name and second.read_bytes() == first.read_bytes()
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == [first.name]  # no partial file left
    second.write_bytes(b"\x7fELF damaged")  # a damaged library is built again, not trusted for being there
    assert _price_replay.build(tmp_path / "b") == second and second.read_bytes() == first.read_bytes()
    library = _price_replay.CompiledReplay(second)
    assert _bits(library.replay([fairness._utf16_units("-".join(VERIFY_PAGE))], b"\x03")[0]) == \
        _bits(reference_price_path(*VERIFY_PAGE, "v3").prices)


def test_concurrent_builds_publish_one_complete_library(tmp_path):
    with ThreadPoolExecutor(4) as pool:
        built = set(pool.map(lambda _: _price_replay.build(tmp_path), range(4)))
    assert built == {_price_replay.library_path(tmp_path)}
    assert [p.name for p in tmp_path.iterdir()] == [next(iter(built)).name]
    assert _price_replay.CompiledReplay(next(iter(built))).replay([b"a\x00"], b"\x01")


@pytest.mark.parametrize("failure", ["no compiler", "compile error"])
def test_a_failed_build_says_what_to_do_in_one_line(failure, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(_price_replay, "BUILD_DIR", tmp_path / "build")
    if failure == "no compiler":
        monkeypatch.setenv("CC", str(tmp_path / "no-such-cc"))
    else:
        broken = tmp_path / "_price_replay.c"
        broken.write_text("int vectra_price_paths(void) { return }\n")
        monkeypatch.setattr(_price_replay, "SOURCE", broken)
    assert _price_replay.main() == 1
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1
    assert "cannot build the compiled price replay" in err and "install gcc and libc6-dev" in err
    assert ("no-such-cc" if failure == "no compiler" else "error") in err
    assert [p.name for p in (tmp_path / "build").iterdir()] == []  # nothing half-built is left to load
