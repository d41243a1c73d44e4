"""Frames a hostile or broken Socket.IO server could send, for the capture's "lands first, never raises" tests.

Two forms of the same kinds: a hypothesis strategy (``hostile_frames``) for the in-process property tests, and a
seeded generator (``seeded_frames``) for the loopback server test, where every frame costs a real WebSocket send.
A frame is a :class:`Hostile`: its kind, its payload and whether it travels as a text or a binary message (a
text message may hold bytes that are not UTF-8: what a broken server can put on the wire).

Neither form produces a frame that ends the Engine.IO session on purpose (a close packet ``1``, a namespace
disconnect ``41`` or refusal ``44``): after one of those the client rightly stops reading that connection, so
"every frame sent is landed" would not hold for the frames behind it. Reconnection is tested elsewhere.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from hypothesis import strategies as st

MB = 1 << 20


@dataclass(frozen=True)
class Hostile:
    kind: str
    payload: str | bytes
    text: bool  # sent as a text message (bytes that are not UTF-8 included) or as a binary one

    @property
    def wire(self) -> bytes:
        return self.payload.encode("utf-8") if isinstance(self.payload, str) else self.payload


# Around the int64 and uint64 edges, then far past them: every size of ack id the codec and writer must survive.
EDGE_INTEGERS = (0, 2**53 + 1, 2**63 - 1, 2**63, 2**63 + 1, 2**64 - 1, 2**64, 2**64 + 1, 10**20, 10**21, 10**40)
ENGINE_UNKNOWN = "789abcdefxyz!#%&~ "  # no Engine.IO packet starts with these (b is base64, kept: its own kind)
SOCKET_UNKNOWN = "789x/-"
POLLING_PARTS = ("2", "2probe", '42["a",1]', "b!!", "bAAE=", "9", "43[1]", "4", "0[1]", "6", '451-["b",{"_placeholder":true}]')
INVALID_UTF8 = (b"\xff", b"\xfe", b"\xc0\xaf", b"\xed\xa0\x80", b"\xed\xbf\xbf", b"\xf8\x88\x80\x80\x80", b"\xe2\x82", b"\x80")


def not_utf8(data: bytes) -> bytes:
    """``data``, made invalid UTF-8 if the inserted sequence happened to complete a character."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return data
    return data + b"\xff"  # 0xff never occurs in UTF-8


def ends_session(text: str) -> bool:
    return any(part.startswith(("1", "41", "44")) for part in text.split("\x1e"))


def _nested(depth: int, opener: str, closed: bool) -> str:
    openers, closers = {"[": ("[", "]"), "{": ('{"a":', "}")}[opener]
    core = openers * depth + "1" + (closers * depth if closed else "")
    return f'42["deep",{core}]'


def _ack(digits: str, socket_digit: str) -> str:
    return f'4{socket_digit}{digits}["x",1]' if socket_digit == "2" else f"4{socket_digit}{digits}[1]"


# --- hypothesis -------------------------------------------------------------------------------------------

_digits = st.integers(1, 5000).flatmap(lambda n: st.text("0123456789", min_size=n, max_size=n))
_wide = st.sampled_from(EDGE_INTEGERS).map(str) | st.integers(19, 400).flatmap(
    lambda n: st.text("0123456789", min_size=n, max_size=n).map(lambda d: "9" + d)
)
_numbers = _wide | st.sampled_from(["NaN", "Infinity", "-Infinity", "1e400", "-1e400", "1e-400", "-0", "0.1e99999"])
_json_text = st.recursive(
    _numbers | st.sampled_from(['"\\ud800"', '"\\udfff x"', '"ok"', "null", "true", '"\\u0000"']),
    lambda inner: st.lists(inner, max_size=3).map(lambda items: "[" + ",".join(items) + "]")
    | st.lists(inner, max_size=3).map(lambda items: "{" + ",".join(f'"k{i}":{v}' for i, v in enumerate(items)) + "}"),
    max_leaves=6,
)


@st.composite
def _text_frame(draw) -> Hostile:
    kind = draw(
        st.sampled_from(["deep", "ack", "numbers", "unknown_engine", "unknown_socket", "binary_count", "polling", "random"])
    )
    if kind == "deep":
        text = _nested(draw(st.integers(900, 100_000)), draw(st.sampled_from("[{")), draw(st.booleans()))
    elif kind == "ack":
        text = _ack(draw(_digits | _wide), draw(st.sampled_from("23")))
    elif kind == "numbers":
        text = f'42["wide",{draw(_json_text)}]'
    elif kind == "unknown_engine":
        text = draw(st.sampled_from(ENGINE_UNKNOWN)) + draw(st.text(max_size=40))
    elif kind == "unknown_socket":
        text = "4" + draw(st.sampled_from(SOCKET_UNKNOWN)) + draw(st.text(max_size=40))
    elif kind == "binary_count":
        text = f'45{draw(_digits)}-["bin",{{"_placeholder":true,"num":0}}]'
    elif kind == "polling":
        text = "\x1e".join(draw(st.lists(st.sampled_from(POLLING_PARTS), max_size=5)))
    else:
        text = draw(st.text(max_size=200))  # lone surrogates included: what a JS string can hold
    return Hostile(kind, text, True)


@st.composite
def _byte_frame(draw) -> Hostile:
    data = draw(st.binary(max_size=300))
    if draw(st.booleans()):
        return Hostile("random_bytes", data, False)
    at = draw(st.integers(0, len(data)))
    return Hostile("invalid_utf8", not_utf8(data[:at] + draw(st.sampled_from(INVALID_UTF8)) + data[at:]), True)


hostile_frames = st.one_of(_text_frame(), _byte_frame()).filter(
    lambda frame: not (isinstance(frame.payload, str) and ends_session(frame.payload))
)


# --- seeded ----------------------------------------------------------------------------------------------


def seeded_frames(seed: int, count: int, *, huge_bytes: int = 16 * MB, deepest: int = 100_000) -> list[Hostile]:
    """``count`` mixed hostile frames from ``seed``, plus one of each extreme: a ``huge_bytes`` text frame and a
    binary one, nesting ``deepest`` levels, every ack id edge and a 5,000-digit ack id."""
    rng = random.Random(seed)
    frames = [
        Hostile("huge_text", f'42["gameStateUpdate",{{"blob":"{"x" * huge_bytes}"}}]', True),
        Hostile("huge_binary", rng.randbytes(huge_bytes), False),
        Hostile("deep", _nested(deepest, "[", True), True),
        Hostile("deep", _nested(deepest, "{", False), True),
        Hostile("ack", _ack("9" * 5000, "3"), True),
        *(Hostile("ack", _ack(str(n), digit), True) for n in EDGE_INTEGERS for digit in "23"),
        *(Hostile("numbers", f'42["wide",{n}]', True) for n in ("NaN", "Infinity", "-Infinity", "1" + "0" * 5000)),
    ]
    makers = [_seeded_deep, _seeded_ack, _seeded_numbers, _seeded_unknown, _seeded_bytes, _seeded_invalid_utf8, _seeded_text,
              _seeded_polling, _seeded_ping]
    while len(frames) < count + 5:
        frame = rng.choice(makers)(rng)
        if not (isinstance(frame.payload, str) and ends_session(frame.payload)):
            frames.append(frame)
    rng.shuffle(frames)
    return frames


def _seeded_deep(rng: random.Random) -> Hostile:
    return Hostile("deep", _nested(rng.randint(900, 20_000), rng.choice("[{"), rng.random() < 0.7), True)


def _seeded_ack(rng: random.Random) -> Hostile:
    digits = str(rng.choice(EDGE_INTEGERS) + rng.randint(-2, 2)) if rng.random() < 0.5 else str(rng.getrandbits(rng.randint(1, 400)))
    return Hostile("ack", _ack(digits.lstrip("-"), rng.choice("23")), True)


def _seeded_numbers(rng: random.Random) -> Hostile:
    pieces = [str(rng.getrandbits(rng.randint(60, 300))), "NaN", "Infinity", "-Infinity", "1e400", '"\\ud800"', "-0"]
    body = ",".join(rng.choice(pieces) for _ in range(rng.randint(1, 5)))
    return Hostile("numbers", f'42["wide",{{"a":[{body}]}}]', True)


def _seeded_unknown(rng: random.Random) -> Hostile:
    if rng.random() < 0.5:
        return Hostile("unknown_engine", rng.choice(ENGINE_UNKNOWN) + _random_text(rng, 30), True)
    return Hostile("unknown_socket", "4" + rng.choice(SOCKET_UNKNOWN) + _random_text(rng, 30), True)


def _seeded_bytes(rng: random.Random) -> Hostile:
    return Hostile("random_bytes", rng.randbytes(rng.randint(0, 4096)), False)


def _seeded_invalid_utf8(rng: random.Random) -> Hostile:
    data = bytearray(rng.randbytes(rng.randint(0, 200)))
    data[rng.randint(0, len(data)) : rng.randint(0, len(data))] = rng.choice(INVALID_UTF8)
    return Hostile("invalid_utf8", not_utf8(bytes(data)), True)


def _seeded_polling(rng: random.Random) -> Hostile:
    return Hostile("polling", "\x1e".join(rng.choice(POLLING_PARTS) for _ in range(rng.randint(0, 6))), True)


def _seeded_ping(rng: random.Random) -> Hostile:
    """A ping, with data or not: the agent answers each with its pong (its own frames interleave)."""
    return Hostile("ping", "2" + _random_text(rng, 20).replace("\x1e", ""), True)


def _seeded_text(rng: random.Random) -> Hostile:
    return Hostile("random_text", _random_text(rng, 300), True)


def _random_text(rng: random.Random, longest: int) -> str:
    """Valid UTF-8 text of any code point but surrogates (a text message carries UTF-8)."""
    points = (rng.choice((rng.randint(0x20, 0x7E), rng.randint(0, 0xD7FF), rng.randint(0xE000, 0x10FFFF))) for _ in range(rng.randint(0, longest)))
    return "".join(map(chr, points))
