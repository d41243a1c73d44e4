"""Hostile payloads through the whole pure chain: one bad frame never stops the day.

A simulated session (one client with orders, acks, sidebets and player updates, landed with the real
:class:`LandingWriter`) is the good day; its frames and those of the real captures are the templates. A mutant is a
template with one place of its JSON replaced by something hostile — integers past 32 and 64 bits, doubles beyond
the integer range, lone surrogates, "²" and 12-digit tick keys, 600- to 100,000-level nesting, NaN/Infinity
literals, 5,000-digit numbers, wrong types, objects holding every protocol key with a hostile value — or with its
head damaged (ack ids past 64 bits, truncation). A sweep puts each hostile value at every place of every template;
hypothesis adds random combinations. Each mutant is a capture of its own (with the frames that give it meaning: the
recording player's playerUpdate, the order an ack answers) and its gameHistory entries get game ids of their own,
so every first-receipt path reads it. Every silver stage must run, every frame must become at least one events row
(nothing dropped), decode problems must say why, and the good day's observed ticks must not change.
"""

from __future__ import annotations

import re

import polars as pl
import pytest
import realdata
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pipeline_kit import land_session, run_chain

from capture_agent.landing.importer import import_files
from capture_agent.landing.schema import Source
from capture_agent.landing.segments import read_landing
from capture_agent.landing.writer import LandingWriter
from capture_agent.protocol import engineio, jsjson, socketio
from vectra_pipeline.bronze.frames import landing_frame

START_MS = 1_766_275_200_000  # 2025-12-21 00:00 UTC
DATE = "2025-12-21"

# JSON text that no Python value dumps to: spliced into the frame text in place of a marker string
RAW_LITERALS = (
    "NaN", "Infinity", "-Infinity", "1e400", "-1e400", "-0", "1.0", "1E2", "9" * 5000, str(2**64), str(-(2**63) - 1),
    '"\\ud800"', '"x\\udfff"', '"\\ud83d\\ude00"', "[" * 600 + "]" * 600, "[" * 5000 + "]" * 5000,
    '{"a":' * 900 + "1" + "}" * 900, "[" * 100_000 + "]" * 100_000,
)  # fmt: skip
WIDE_INTS = (2**31 - 1, 2**31, -(2**31) - 1, 2**53 + 1, 2**63 - 1, 2**63, 2**64 - 1, 2**64, 2**70, -(2**63) - 1)
MARKER = "\ue000raw{}\ue000"


@pytest.fixture(scope="module")
def good_day(tmp_path_factory) -> pl.DataFrame:
    data_dir = tmp_path_factory.mktemp("good")
    with LandingWriter(data_dir, Source.SIMULATOR, capture_id="good") as writer:
        land_session(writer, "hostile-payloads", START_MS)
    return landing_frame(read_landing(data_dir, [DATE]))


@pytest.fixture(scope="module")
def good_chain(good_day):
    return run_chain(good_day)


@pytest.fixture(scope="module")
def templates(good_day, tmp_path_factory) -> list[tuple[str, str]]:
    """(direction, frame text): the first frame of every kind (event, head, top-level keys) of the good day and of
    the real captures."""
    real_dir = tmp_path_factory.mktemp("real")
    import_files(real_dir, realdata.event_files())
    rows = pl.concat([good_day, landing_frame(read_landing(real_dir))], how="diagonal_relaxed").filter(pl.col("payload_text").is_not_null())
    picked: dict[tuple, tuple[str, str]] = {}
    for direction, text in rows.select("direction", "payload_text").iter_rows():
        packet = socketio.decode_frame(text)[0]
        shape = tuple(sorted(packet.payload)) if isinstance(packet.payload, dict) else type(packet.payload).__name__
        picked.setdefault((direction, packet.event, text[:2], shape), (direction, text))
    return list(picked.values())


def _keys(value) -> set[str]:
    if isinstance(value, dict):
        return set(value).union(*map(_keys, value.values()))
    if isinstance(value, list):
        return set().union(*map(_keys, value))
    return set()


@pytest.fixture(scope="module")
def vocabulary(templates) -> list[str]:
    """Every object key of the templates: hostile objects use the protocol's own keys, so the stages read them."""
    return sorted(set().union(*(_keys(list(socketio.decode_frame(text)[0].args)) for _, text in templates)))


def _raw(literal: str) -> str:
    return MARKER.format(RAW_LITERALS.index(literal))


SWEEP_VALUES = (
    2**31, 2**64, 2**70, -1, 1.5, "x", "\ud800", None, [], {},
    _raw("[" * 600 + "]" * 600), _raw("9" * 5000), _raw("1e400"), _raw("NaN"),
)  # fmt: skip
SWEEP_EVERY_KEY = (2**40, 2**64, "x", None)  # an object holding every protocol key with this value
HOSTILE_KEYS = {"²": 1.0, "9" * 12: 1.0, "": 1.0, "-1": 1.0, "\ud800": 1.0}


def _places(value, path=()):
    """Every place of a JSON value, as paths."""
    yield path
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _places(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _places(item, (*path, index))


def _replaced(value, path, new):
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {**value, head: _replaced(value[head], rest, new)}
    return [*value[:head], _replaced(value[head], rest, new), *value[head + 1 :]]


def _at(value, path):
    for step in path:
        value = value[step]
    return value


def _short(value):
    """The value with every list cut to its first item (items of a list share their shape): a small frame."""
    if isinstance(value, dict):
        return {key: _short(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_short(item) for item in value[:1]]
    return value


def _sweep(templates, vocabulary) -> list[tuple[str, str]]:
    """Each hostile value at every place of every template, hostile keys in every object, damaged heads."""
    every_key = [dict.fromkeys(vocabulary, value) for value in SWEEP_EVERY_KEY]
    out = []
    for direction, text in templates:
        packet = socketio.decode_frame(text)[0]
        if packet.error is None and packet.socket_type in (socketio.SocketType.EVENT, socketio.SocketType.ACK):
            args = [_short(arg) for arg in packet.args]
            for path in _places(args):
                if not path:
                    continue
                here = _at(args, path)
                hostile = (*SWEEP_VALUES, *every_key) if isinstance(here, (dict, list)) else SWEEP_VALUES
                out += [(direction, _text(packet, _replaced(args, path, new))) for new in hostile]
                if isinstance(here, dict):
                    out.append((direction, _text(packet, _replaced(args, path, {**here, **HOSTILE_KEYS}))))
        if text[:2] in ("42", "43"):
            body = text[2:].lstrip("0123456789")
            out += [(direction, text[:2] + digits + body) for digits in (str(2**63), str(2**64), "9" * 5000)]
        out += [(direction, text[:cut]) for cut in (1, 2, len(text) // 2, len(text) - 1)]
    return out


def _hostile_value(keys: list[str]):
    simple = st.one_of(
        st.sampled_from(WIDE_INTS),
        st.integers(),
        st.floats(),
        st.text(max_size=8),
        st.sampled_from(["\ud800", "a\udfff", "²", "", "0" * 12, "-1", "1.5"]),
        st.booleans(),
        st.none(),
        st.sampled_from(range(len(RAW_LITERALS))).map(MARKER.format),
    )
    key = st.sampled_from(keys) | st.text(max_size=4)
    return st.recursive(simple, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(key, inner, max_size=4), max_leaves=8)


def _mutated_payload(draw, value, keys: list[str]):
    """``value`` with one place (reached by a random walk that mostly goes deeper) replaced by a hostile value, or
    given hostile keys."""
    deeper = draw(st.integers(0, 5)) > 0
    if isinstance(value, dict) and value and deeper:
        key = draw(st.sampled_from(sorted(value)))
        if draw(st.integers(0, 4)) == 0:
            return {**value, draw(st.sampled_from(sorted(HOSTILE_KEYS))): draw(_hostile_value(keys))}
        return {**value, key: _mutated_payload(draw, value[key], keys)}
    if isinstance(value, list) and value and deeper:
        index = draw(st.integers(0, len(value) - 1))
        return [*value[:index], _mutated_payload(draw, value[index], keys), *value[index + 1 :]]
    return draw(_hostile_value(keys))


def _text(packet: engineio.Packet, args: list) -> str:
    """The frame text of an event/ack packet with new arguments, raw literals spliced in."""
    if packet.socket_type is socketio.SocketType.ACK:
        text = socketio.encode_ack(packet.ack_id or 0, *args)
    else:
        text = socketio.encode_event(packet.event, *args, ack_id=packet.ack_id)
    if MARKER[0] in text:
        for marker, literal in _MARKED_LITERALS:
            text = text.replace(marker, literal)
    return text


_MARKED_LITERALS = [(jsjson.dumps(MARKER.format(index)), literal) for index, literal in enumerate(RAW_LITERALS)]


@st.composite
def mutants(draw, templates, keys):
    direction, text = draw(st.sampled_from(templates))
    packet = socketio.decode_frame(text)[0]
    how = draw(st.sampled_from(["payload", "payload", "payload", "head", "truncate"]))
    if how == "payload" and packet.error is None and packet.socket_type in (socketio.SocketType.EVENT, socketio.SocketType.ACK):
        args = list(packet.args)
        index = draw(st.integers(0, len(args) - 1)) if args else 0
        args[index : index + 1] = [_mutated_payload(draw, args[index] if args else None, keys)]
        return direction, _text(packet, args)
    if how == "head" and text[:2] in ("42", "43"):
        digits = draw(st.sampled_from([str(2**63), str(2**64), str(2**70), "9" * 5000]))
        return direction, text[:2] + digits + text[2:].lstrip("0123456789")
    return direction, text[: draw(st.integers(0, len(text)))]


_HISTORY_ID = re.compile(r'("id":"\d{8}-[0-9a-f]{16})"')


def _captures(good_day: pl.DataFrame, frames: list[tuple[str, str]]) -> pl.DataFrame:
    """Each mutant as a capture of its own, received after the good day: after the recording player's first
    playerUpdate and the order an ack answers, before the ack an order gets; its gameHistory entries renamed."""
    end = good_day["recv_wall_ns"].max()
    good = good_day.filter(pl.col("record_type") == "frame").select("direction", "payload_text", "ack_id")
    player_update = good.filter(pl.col("payload_text").str.starts_with('42["playerUpdate"')).row(0)[:2]
    by_ack = {(text[:2], ack): (direction, text) for direction, text, ack in good.filter(pl.col("ack_id").is_not_null()).iter_rows()}
    rows = []
    for number, (direction, text) in enumerate(frames):
        capture = f"hostile-{number}"
        digits = re.match(r"4[23](\d{1,18})", text)
        ack = int(digits.group(1)) if digits else None
        before = [player_update] + ([by_ack[("42", ack)]] if text[:2] == "43" and ("42", ack) in by_ack else [])
        after = [by_ack[("43", ack)]] if text[:2] == "42" and direction == "out" and ("43", ack) in by_ack else []
        mutant = (direction, _HISTORY_ID.sub(rf'\1~{number}"', text))
        for seq, (way, payload) in enumerate([*before, mutant, *after]):
            rows.append((capture, seq, way, payload, seq == len(before)))
    frame = pl.DataFrame(rows, schema=["capture_id", "seq", "direction", "payload_text", "mutant"], orient="row")
    return frame.with_columns(
        pl.lit("frame").alias("record_type"),
        pl.lit("simulator").alias("source"),
        (end + 1_000_000 * (pl.int_range(pl.len()) + 1)).alias("recv_wall_ns"),
        pl.int_range(pl.len()).alias("recv_mono_ns"),
        pl.lit("websocket").alias("transport"),
        pl.lit(1, pl.Int8).alias("opcode"),
    )


def _observed(chain) -> pl.DataFrame:
    return chain.game_ticks.filter(pl.col("price_source") == "observed").select("game_id", "tick", "price").sort("game_id", "tick")


def _assert_day_survives(good_day, good_chain, frames, beside_the_good_day: bool = True):
    """The mutants alone, and (unless told otherwise) after the good day: every stage runs, nothing is dropped,
    decode problems say why, the good day's observed ticks and games stay."""
    hostile = _captures(good_day, frames)
    mutants = hostile.filter("mutant").select("capture_id", "seq")
    alone = run_chain(hostile.drop("mutant"))  # every silver stage, in asset order: none may raise
    results = [alone]
    if beside_the_good_day:
        results.append(run_chain(pl.concat([good_day, hostile.drop("mutant")], how="diagonal_relaxed")))
    for result in results:
        # the same text in two captures within 2 s is one broadcast to bronze: decoded once, the copy flagged
        copies = result.frames.filter(pl.col("duplicate_of").is_not_null()).select("capture_id", "seq")
        undecoded = mutants.join(result.events, on=["capture_id", "seq"], how="anti").join(copies, on=["capture_id", "seq"], how="anti")
        assert undecoded.is_empty(), "a frame left no events row"
        assert result.quarantine["rule"].null_count() == 0
        decode_rows = result.quarantine.filter(pl.col("rule") == "decode")
        assert decode_rows["detail"].null_count() == 0 and decode_rows["raw"].null_count() == 0
    if beside_the_good_day:
        good = _observed(good_chain)
        assert good.height > 50
        assert good.join(_observed(results[1]), on=["game_id", "tick", "price"], how="anti").is_empty()
        assert set(good_chain.games["game_id"]) <= set(results[1].games["game_id"])
    return alone


def test_every_hostile_value_at_every_place_of_every_frame(good_day, good_chain, templates, vocabulary):
    frames = _sweep(templates, vocabulary)
    assert len(frames) > 8_000
    alone = _assert_day_survives(good_day, good_chain, frames, beside_the_good_day=False)
    decode = alone.quarantine.filter(pl.col("rule") == "decode")["detail"]
    for reason in ("nested too deeply", "does not fit its 32-bit integer column", "ack id:", "lone UTF-16 surrogates", "is not JSON"):
        assert decode.str.contains(reason, literal=True).any(), reason


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_random_hostile_payloads_never_stop_the_day(good_day, good_chain, templates, vocabulary, data):
    _assert_day_survives(good_day, good_chain, data.draw(st.lists(mutants(templates, vocabulary), min_size=1, max_size=6)))


def test_the_templates_cover_every_event_the_stages_read(good_chain, templates):
    """The mutations start from every event the silver stages read (else the fuzz above proves little)."""
    events = set(good_chain.events["event"].drop_nulls())
    assert {"gameStateUpdate", "playerUpdate", "gameStatePlayerUpdate", "standard/newTrade", "currentSidebet", "buyOrder"} <= events
    assert good_chain.actions.height >= 6 and good_chain.player_state.height > 0 and good_chain.sidebets.height > 0
    heads = [text[:30] for _, text in templates]
    for head in ('42["gameStateUpdate"', '42["playerUpdate"', '42["gameStatePlayerUpdate"', '42["standard/newTrade"',
                 '42["currentSidebet"', '42["currentSidebetResult"', "43"):  # fmt: skip
        assert any(h.startswith(head) for h in heads), head
    assert any(d == "out" for d, _ in templates) and any("gameHistory" in t for _, t in templates)
