"""Hypothesis strategies for frames with planted secrets, as an attacker (or a careless server) would send them.

A case is ``(payload, secrets)``: the frame (text, or bytes for a binary frame that is text) and the texts that
must never be seen again once it is captured — each planted string, and for numbers and number arrays their
JSON text. Secrets sit anywhere: under secret keys of any casing and separator with values of every JSON
type, as bare JWTs and signatures in any string, in credential exchanges (CONNECT, ``authenticate``), nested at
random depth, in frames of both directions, valid or cut short, alone or several to a polling body.
"""

from __future__ import annotations

import base64
import string
from dataclasses import dataclass

from hypothesis import strategies as st

from capture_agent.protocol.engineio import RECORD_SEPARATOR
from capture_agent.protocol.jsjson import dumps
from capture_agent.protocol.socketio import encode_ack, encode_connect, encode_event, trace_arg

SECRET_NAMES = (
    ("token",), ("access", "token"), ("refresh", "token"), ("id", "token"), ("privy", "token"), ("x", "privy", "token"),
    ("auth", "token"), ("secret",), ("client", "secret"), ("secret", "key"), ("private", "key"), ("api", "key"),
    ("password",), ("passwd",), ("passphrase",), ("signature",), ("wallet", "signature"), ("signed", "message"),
    ("cookie",), ("set", "cookie"), ("authorization",), ("session",), ("session", "id"), ("credentials",),
    ("mnemonic",), ("seed", "phrase"), ("jwt",), ("sig",), ("otp",), ("pin",), ("auth",),
)
AUTH_EVENTS = (("authenticate",), ("login",), ("sign", "in"), ("verify", "signature"), ("connect", "wallet"), ("link", "wallet"))
PUBLIC_KEYS = ("gameId", "price", "tickCount", "username", "level", "pnl", "amount", "coinAddress", "message", "data", "id")
PUBLIC_EVENTS = ("gameStateUpdate", "playerUpdate", "standard/newTrade", "newChatMessage", "buyOrder", "x")
BASE58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
B64URL = string.ascii_letters + string.digits + "-_"


def _case(word: str, style: str) -> str:
    return {"lower": word.lower(), "upper": word.upper(), "title": word.title()}[style]


@st.composite
def spelling(draw, words: tuple[str, ...]) -> str:
    """``words`` as a key or event name could be written: any casing per word (or per letter), any separator."""
    separator = draw(st.sampled_from(["", "_", "-"]))
    style = draw(st.sampled_from(["camel", "lower", "upper", "title", "letters"]))
    if style == "camel":
        parts = [words[0].lower(), *(w.title() for w in words[1:])]
    elif style == "letters":
        parts = ["".join(c.upper() if draw(st.booleans()) else c for c in w) for w in words]
    else:
        parts = [_case(w, style) for w in words]
    return separator.join(parts)


def _text(alphabet: str, low: int, high: int):
    return st.text(alphabet=alphabet, min_size=low, max_size=high)


# Secret values. Strings carry a "zq" tag no filler can produce; numbers are longer than any filler number.
secret_strings = _text("0123456789abcdef", 10, 16).map(lambda s: f"zq{s}")
secret_ints = st.integers(10**9, 10**15)
secret_floats = st.integers(10**8, 10**12).map(lambda n: n + 0.5)
secret_arrays = st.lists(st.integers(0, 255), min_size=8, max_size=64)  # a keypair as JSON, shorter or longer
# Signed JWTs: the signature alone has 43 (HMAC-SHA256) to 86 (ES256, Privy's) characters.
jwts = st.tuples(_text(B64URL, 17, 40), _text(B64URL, 10, 60), _text(B64URL, 43, 86)).map(lambda p: f"eyJ{p[0]}.{p[1]}.{p[2]}")
# A 64-byte signature written with digits only is vanishingly rare ((9/58)^86, (10/16)^128): the redactor reads a
# run of digits alone as a number, so the planted signatures hold a letter (or the 0x of a hex literal).
base58_signatures = _text(BASE58, 86, 88).filter(lambda s: not s.isdigit())
hex_signatures = st.tuples(st.sampled_from(["", "0x"]), _text("0123456789abcdefABCDEF", 128, 128)).map("".join).filter(
    lambda s: not s.isdigit())
bare_secrets = st.one_of(jwts, base58_signatures, hex_signatures)

filler_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-999, 999), st.sampled_from([0.5, 1.25, 0.002, 1e-7]),
    _text(string.ascii_letters + " ", 0, 12),
)


@dataclass
class Plant:
    """A value being built and the secret texts planted in it so far."""

    value: object
    secrets: list[str]


def texts_of(value: object) -> list[str]:
    """The texts that betray a planted value once written anywhere."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, bool) or value is None:
        return []
    if isinstance(value, (int, float)):
        return [dumps(value)]
    if isinstance(value, list):
        return [dumps(value)[1:-1]]  # "12,200,3,…": the numbers in a row
    if isinstance(value, dict):
        return [text for item in value.values() for text in texts_of(item)]
    raise TypeError(type(value))


@st.composite
def secret_under_key(draw) -> Plant:
    """A secret key with a value of any JSON type (null and booleans are kept: one bit is no secret)."""
    key = draw(spelling(draw(st.sampled_from(SECRET_NAMES))))
    value = draw(
        st.one_of(
            secret_strings, secret_ints, secret_floats, secret_arrays, bare_secrets,
            st.fixed_dictionaries({"k": secret_strings, "n": secret_ints}), st.none(), st.booleans(),
        )
    )
    return Plant({key: value}, texts_of(value))


@st.composite
def bare_secret(draw) -> Plant:
    """A JWT or signature as a bare value under a public key: alone, or in prose."""
    secret = draw(bare_secrets)
    text = draw(st.sampled_from(["{}", "see {} now", "Bearer-less {}."])).format(secret)
    return Plant({draw(st.sampled_from(PUBLIC_KEYS)): text}, [secret])


@st.composite
def nested(draw, plant: Plant) -> Plant:
    """``plant`` buried 0–5 levels deep in public-looking objects and arrays."""
    value = plant.value
    for _ in range(draw(st.integers(0, 5))):
        if draw(st.booleans()):
            others = draw(st.dictionaries(st.sampled_from(PUBLIC_KEYS), filler_scalars, max_size=3))
            value = {**others, draw(st.sampled_from(("payload", "nested", "leaderboard", "x"))): value}
        else:
            value = [*draw(st.lists(filler_scalars, max_size=2)), value, *draw(st.lists(filler_scalars, max_size=2))]
    return Plant(value, plant.secrets)


@st.composite
def planted_payload(draw) -> Plant:
    plants = draw(st.lists(st.one_of(secret_under_key(), bare_secret()).flatmap(nested), min_size=1, max_size=3))
    payload = {f"part{i}": plant.value for i, plant in enumerate(plants)}
    return Plant(payload, [secret for plant in plants for secret in plant.secrets])


@st.composite
def opaque_credentials(draw) -> Plant:
    """What a credential exchange carries under public-looking keys: every value of it is secret."""
    values = draw(st.lists(st.one_of(secret_strings, secret_ints, bare_secrets), min_size=1, max_size=3))
    return Plant({draw(st.sampled_from(PUBLIC_KEYS)) + str(i): value for i, value in enumerate(values)},
                 [text for value in values for text in texts_of(value)])


@st.composite
def packet(draw) -> tuple[str, list[str]]:
    """One valid Socket.IO packet text holding planted secrets; sometimes its payload repeats its first key with
    ``null`` at the end — valid JSON whose parse keeps only the harmless last value."""
    text, secrets = draw(_packet())
    if text[0] != "4" or not text.endswith("}]") or not draw(st.booleans()):
        return text, secrets
    return text[:-2] + ',"part0":null}]', secrets


@st.composite
def _packet(draw) -> tuple[str, list[str]]:
    kind = draw(st.sampled_from(["event", "ack", "connect", "auth", "open"]))
    ack_id = draw(st.none() | st.integers(0, 10**6))
    trace = trace_arg(draw(_text("0123456789abcdef", 32, 32)), draw(_text("0123456789abcdef", 16, 16)))
    if kind in ("event", "ack", "open"):
        plant = draw(planted_payload())
        if kind == "event":
            args = [trace, plant.value] if draw(st.booleans()) else [plant.value]
            namespace = draw(st.sampled_from(["/", "/admin"]))
            return encode_event(draw(st.sampled_from(PUBLIC_EVENTS)), *args, ack_id=ack_id, namespace=namespace), plant.secrets
        if kind == "ack":
            return encode_ack(ack_id or 0, plant.value), plant.secrets
        return "0" + dumps({"sid": "open-sid", "pingInterval": 25000, **plant.value}), plant.secrets
    plant = draw(opaque_credentials())
    if kind == "connect":
        return encode_connect({"sid": "socket-sid", **plant.value} if draw(st.booleans()) else plant.value), plant.secrets
    name = draw(spelling(draw(st.sampled_from(AUTH_EVENTS))))
    return encode_event(name, trace, plant.value, ack_id=ack_id), plant.secrets


@st.composite
def cut_short(draw, case: tuple[str, list[str]]) -> tuple[str, list[str]]:
    """The packet truncated somewhere after its last planted secret: malformed, every secret still whole."""
    text, secrets = case
    end = max((text.rfind(secret) + len(secret) for secret in secrets), default=2)
    return text[: draw(st.integers(end, len(text) - 1))], secrets


@st.composite
def frame(draw) -> tuple[str | bytes, list[str], bool]:
    """``(payload, secrets, valid)``: one or more packets (a polling body), maybe cut short, maybe binary."""
    packets = draw(st.lists(packet(), min_size=1, max_size=3))
    valid = not draw(st.booleans())
    if not valid:
        packets[-1] = draw(cut_short(packets[-1]))
    text = RECORD_SEPARATOR.join(text for text, _ in packets)
    secrets = [secret for _, planted in packets for secret in planted]
    if draw(st.integers(0, 5)) == 0:
        return text.encode(), secrets, valid  # a binary frame that is text
    if len(packets) == 1 and draw(st.integers(0, 5)) == 0:
        return "b" + base64.b64encode(text.encode()).decode(), secrets, valid  # base64 in a polling body
    return text, secrets, valid
