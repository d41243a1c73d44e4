"""Properties of redaction: planted secrets never survive, frames stay valid, and the pre-filter is sound —
it lets a frame skip the parse only when the full redactor would have returned it unchanged."""

from __future__ import annotations

import base64
import itertools
import string

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from planted import AUTH_EVENTS, B64URL, BASE58, PUBLIC_KEYS, SECRET_NAMES, bare_secrets, frame, spelling
from realdata import event_records

import capture_agent.redact_rules as rules
from capture_agent.protocol.engineio import RECORD_SEPARATOR
from capture_agent.protocol.recordings import frame_from_record
from capture_agent.protocol.socketio import decode_frame
from capture_agent.redact import could_hold_secret, redact_frame, redact_frame_fully, redact_payload

BOUNDED = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
REAL = [text for _, record in itertools.islice(event_records(), 300) if (text := frame_from_record(record)) is not None]


def _text(payload: str | bytes) -> str:
    return payload.decode("utf-8") if isinstance(payload, bytes) else payload


def _visible(payload: str | bytes) -> str:
    """Everything a reader of the landed payload can see, base64 packets of a polling body decoded."""
    text = _text(payload)
    decoded = [base64.b64decode(part[1:]).decode("utf-8", "replace") for part in text.split(RECORD_SEPARATOR) if part[:1] == "b"]
    return "\n".join([text, *decoded])


def _same_packets(original: str, redacted: str) -> None:
    before, after = decode_frame(original), decode_frame(redacted)
    assert len(before) == len(after)
    for old, new in zip(before, after):
        assert new.error is None, redacted
        assert (new.engine_type, new.socket_type, new.namespace, new.ack_id, new.event, new.attachments) == (
            old.engine_type, old.socket_type, old.namespace, old.ack_id, old.event, old.attachments
        )


@BOUNDED
@given(frame())
def test_planted_secrets_never_survive_and_frames_stay_what_they_were(case):
    payload, secrets, valid = case
    redacted = redact_payload(payload)
    visible = _visible(redacted)
    for secret in secrets:
        assert secret not in visible
    text, redacted_text = _text(payload), _text(redacted)
    assert redacted_text == redact_frame_fully(text)  # the pre-filter never changes the outcome
    assert redact_frame_fully(redacted_text) == redacted_text  # idempotent: landing twice lands the same
    if valid and text[:1] != "b":
        _same_packets(text, redacted_text)
    event("valid" if valid else "cut short")


# --- the pre-filter's soundness ----------------------------------------------------------------------------


@st.composite
def mutated(draw, name: str) -> str:
    """A name, or a near miss of it: a letter changed, dropped or doubled, a separator or an escape put in."""
    how = draw(st.sampled_from(["same", "same", "replace", "drop", "double", "separator", "escape", "case"]))
    if how == "same" or not name:
        return name
    i = draw(st.integers(0, len(name) - 1))
    if how == "replace":
        return name[:i] + draw(st.sampled_from(string.ascii_letters + "0_-. ")) + name[i + 1 :]
    if how == "drop":
        return name[:i] + name[i + 1 :]
    if how == "double":
        return name[:i] + name[i] + name[i:]
    if how == "separator":
        return name[:i] + draw(st.sampled_from("_-.")) + name[i:]
    if how == "escape":
        return name[:i] + f"\\u{ord(name[i]):04x}" + name[i + 1 :]
    return name.swapcase()


names = st.one_of(st.sampled_from(SECRET_NAMES), st.sampled_from(AUTH_EVENTS), st.sampled_from([(key,) for key in PUBLIC_KEYS])).flatmap(spelling).flatmap(mutated)
lengths = st.sampled_from([*range(83, 91), *range(125, 135)])  # around the shortest and longest signatures
runs = st.tuples(st.sampled_from([BASE58, "0123456789abcdefABCDEF", string.ascii_letters + string.digits]), lengths).flatmap(
    lambda spec: st.text(alphabet=spec[0], min_size=spec[1], max_size=spec[1])
)
jwt_like = st.tuples(st.text(B64URL, max_size=8), st.text(B64URL, max_size=8), st.text(B64URL, max_size=8)).map(lambda p: "eyJ" + ".".join(p))
credentials = st.tuples(st.sampled_from(["Bearer", "basic", "BEARER", "bearer:"]), st.sampled_from([" ", "  ", "\t", ""]), st.text(B64URL, max_size=14)).map("".join)
strings = st.one_of(runs, jwt_like, credentials, st.text(string.ascii_letters + " ", max_size=10), names)
values = st.one_of(
    strings.map(lambda s: f'"{s}"'), st.integers(-10**12, 10**12).map(str), st.sampled_from(["null", "true", "false", "[1,2,3]", "{}", "[", "{"]),
)
spaces = st.sampled_from(["", "", " ", "\n", "\t ", " " * 40])  # JSON's whitespace, once longer than the filter looks
pairs = st.tuples(names, spaces, values).map(lambda kv: f'"{kv[0]}"{kv[1]}:{kv[2]}')
heads = st.one_of(
    st.tuples(spaces, names, values).map(lambda snv: f'42[{snv[0]}"{snv[1]}",{snv[2]}]'),
    st.tuples(st.sampled_from(["", "/admin,"]), pairs).map(lambda np: f"40{np[0]}{{{np[1]}}}"),
    st.tuples(names, values).map(lambda nv: "b" + base64.b64encode(f'42["{nv[0]}",{{"{nv[0]}":{nv[1]}}}]'.encode()).decode()),
)
harmless = st.one_of(
    st.sampled_from(["{", "}", "[", "]", ",", ":", '"', " ", "42", "43", "4", "0", "1.5", "null", RECORD_SEPARATOR]),
    st.sampled_from(REAL).flatmap(lambda real: st.integers(0, len(real)).map(lambda cut: real[:cut])),
)
pieces = st.one_of(pairs, heads, names.map(lambda name: f'["{name}",'), values, harmless)
SOUNDNESS = settings(BOUNDED, max_examples=1000)


@SOUNDNESS
@given(st.lists(pieces, max_size=8).map("".join))
def test_the_pre_filter_lets_through_only_what_the_full_redactor_keeps(text):
    changed = redact_frame_fully(text) != text
    event("full redactor changes it" if changed else "full redactor keeps it")
    event("pre-filter: parse" if could_hold_secret(text) else "pre-filter: skip")
    assert could_hold_secret(text) or not changed


@SOUNDNESS
@given(st.lists(harmless, max_size=3).map("".join), st.one_of(pairs, heads, values), st.lists(harmless, max_size=3).map("".join), st.booleans())
def test_one_risky_piece_is_seen_whenever_it_holds_a_secret(before, risky, after, first):
    """One risky piece among harmless text (or opening it, where a packet's head is read): no other trigger
    can hide a gap of the pre-filter."""
    text = (risky if first else before + risky) + after
    changed = redact_frame_fully(text) != text
    event("full redactor changes it" if changed else "full redactor keeps it")
    assert could_hold_secret(text) or not changed


@BOUNDED
@given(st.sampled_from(REAL), st.data())
def test_one_secret_spliced_into_a_real_frame_is_always_seen(real, data):
    name = data.draw(spelling(data.draw(st.sampled_from(SECRET_NAMES))))
    secret = data.draw(bare_secrets)
    where = data.draw(st.integers(0, len(real)))
    text = real[:where] + data.draw(st.sampled_from([f'"{name}":"zq-opaque"', f'"{secret}"', f" {secret} "])) + real[where:]
    assert could_hold_secret(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("40", True), ("b", True), ("\\", True), ("x\x1e40", True), ("x\x1eb", True), ("Bearer", True), ("a." * 36, True),
        ('{"sig":1}', True), ('["Log-In",1]', True), ('{"x":{"TOKEN" :', True), ('{"x":"a.b"}' + "a" * 71, False),
        ('{"x":"sig"}', False), ('{"username":"Free Practice Token"}', False),  # names as values: nothing to find
        ('{"pri_vate_key":1}', False),  # a separator inside a word: not a secret key
    ],
)
def test_pre_filter_triggers(text, expected):
    assert could_hold_secret(text) is expected
    assert could_hold_secret(text) or redact_frame_fully(text) == text


def test_no_name_can_hide_a_credential_word():
    """Non-overlapping matching hides only what overlaps a match: a name needle never ends with the start of a
    credential word, so a credential word is always reported (names overlapping names share their reading)."""
    words = [word.encode() for word in rules.CREDENTIAL_WORDS]
    for name in rules.NEEDLES[len(words) :]:
        for word in words:
            assert not any(name.endswith(word[:cut]) for cut in range(1, len(word))), (name, word)
            assert word not in name


def test_redacting_the_same_object_twice_returns_it_again():
    frame_text = '42["x",{"accessToken":"zq0123456789"}]'
    once = redact_frame(frame_text)
    assert redact_frame(once) is once and "zq0123456789" not in once


def test_every_spelling_of_every_secret_name_is_seen_as_a_key_and_every_auth_event_as_an_event():
    """The needles cover the whole vocabulary, in any ASCII casing: each spelling as a key (with a few fragments
    around it) and each authentication event's name opening an event."""
    for fragment in rules.FRAGMENTS:
        for key in (fragment, fragment.upper(), f"x{fragment.title()}Value", f"my_{fragment}"):
            assert rules.is_secret_key(key) or key.replace("_", "").lower() in rules.PUBLIC_KEYS, key
            assert could_hold_secret(f'42["x",{{"{key}":"v"}}]'), key
    for name in rules.EXACT_NAMES:
        for key in (name, name.upper(), name.title()):
            assert rules.is_secret_key(key) and could_hold_secret(f'42["x",{{"{key}" : 1}}]'), key
    for name in rules.AUTH_EVENTS:
        for casing in (name, name.upper(), name.title()):
            frame_text = f'42[ "{casing}","opaque-value"]'
            assert redact_frame_fully(frame_text) != frame_text and could_hold_secret(frame_text), casing
