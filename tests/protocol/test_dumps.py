"""``dumps`` writes what JavaScript's ``JSON.stringify`` writes; ``loads`` reads what ``JSON.parse`` reads."""

from __future__ import annotations

import json
import random
import re
import shutil
import struct
import subprocess

import pytest
from realdata import _lines, event_files

from capture_agent.protocol.jsjson import dumps, js_number, loads

# Each expected text below is what node's JSON.stringify printed for the same value.
JS_CASES = [
    (1.0, "1"),
    (-0.0, "0"),
    (100.0, "100"),
    (0.1, "0.1"),
    (123.456, "123.456"),
    (1e16, "10000000000000000"),
    (2.0**60, "1152921504606847000"),
    (2.0**53 + 2, "9007199254740994"),
    (1e20, "100000000000000000000"),
    (1e21, "1e+21"),
    (1.7976931348623157e308, "1.7976931348623157e+308"),
    (1e-5, "0.00001"),
    (1.5e-6, "0.0000015"),
    (1e-6, "0.000001"),
    (1e-7, "1e-7"),
    (-1.2345e-7, "-1.2345e-7"),
    (5e-324, "5e-324"),
    (float("nan"), "null"),
    (float("inf"), "null"),
    (2**60, "1152921504606846976"),  # Python ints are written as they are (see test_wide_integers)
]


@pytest.mark.parametrize(("value", "expected"), JS_CASES)
def test_numbers_as_javascript_writes_them(value, expected):
    assert dumps(value) == expected
    if isinstance(value, float):
        assert js_number(value) == expected


def test_nested_values_compact_and_integral_floats_plain():
    value = {"a": [1.0, 2.5, {"b": None, "c": True, "d": False}], "e": {}, "f": [], "g": -3.0}
    assert dumps(value) == '{"a":[1,2.5,{"b":null,"c":true,"d":false}],"e":{},"f":[],"g":-3}'
    assert dumps((1.0, [2.0])) == "[1,[2]]"


def test_strings_escaped_as_javascript_does():
    assert dumps("héllo — 日本 🚀") == '"héllo — 日本 🚀"'  # non-ASCII kept
    assert dumps('q"b\\s/\b\f\n\r\t\x00\x1e\x1f\x7f\u2028') == '"q\\"b\\\\s/\\b\\f\\n\\r\\t\\u0000\\u001e\\u001f\x7f\u2028"'
    assert dumps("\ud800x\udfff") == '"\\ud800x\\udfff"'  # lone surrogates escaped (well-formed stringify)
    assert dumps({"k\ud800": 1.0}) == '{"k\\ud800":1}'


def test_loads_accepts_what_json_parse_accepts():
    assert loads('"\\ud800"') == "\ud800"
    assert loads("[1e400, -1e400]") == [float("inf"), float("-inf")]
    assert loads("123456789012345678901234") == 1.2345678901234568e23  # beyond 64 bits: the double, as in JS
    assert isinstance(loads("123456789012345678901234"), float)
    assert loads(" [1.0] ") == [1.0]
    for text in ("NaN", "[Infinity]", "[1,]", "{'a':1}", '"\x00"', "", "[1] x"):
        with pytest.raises(ValueError):
            loads(text)


def test_wide_integers_keep_their_text():
    """JS reads a literal beyond 2**53 as the nearest double and writes that double back with the same digits,
    so keeping the literal as a Python int and writing it as is gives the same text both ways."""
    for text in ("47514320598887940", "12345678901234567000", "-9007199254740993", "[18446744073709551615]"):
        assert dumps(loads(text)) == text
    assert loads("47514320598887940") == 47514320598887940 != 4.751432059888794e16  # the literal, not the double
    assert dumps(4.751432059888794e16) == "47514320598887940"  # the double as JS prints it
    assert dumps(10**30) == "1" + "0" * 30


def test_real_devtools_frames_reproduce_byte_for_byte():
    """Frames copied from the browser were written by JSON.stringify: dumps(loads(x)) must give x back."""
    for frame in ('4259["ping",{"lastPing":169.20000000298023}]', '4329[{"success":true}]', "4358[]"):
        prefix = re.match(r"\d+", frame).group()
        body = frame[len(prefix):]
        assert dumps(loads(body)) == body


_decoder = json.JSONDecoder()


def _data_text(line: str) -> str:
    """The verbatim text of the ``data`` value of one record line."""
    index = 1
    while line[index] != "}":
        key, index = _decoder.raw_decode(line, index)
        start = index + 1
        _, index = _decoder.raw_decode(line, start)
        if key == "data":
            return line[start:index]
        index += line[index] == ","
    raise AssertionError("record without data")


_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?')


def _in_javascript_layout(text: str) -> str:
    """Rewrite Python-written JSON in JavaScript's layout: floats as JS prints them, strings unescaped
    where Python's ``ensure_ascii`` escaped non-ASCII (both layouts are checked against node separately)."""
    def number(match: re.Match[str]) -> str:
        token = match.group()
        if token.startswith('"'):
            return dumps(json.loads(token)) if "\\u" in token else token
        return js_number(float(token)) if re.search(r"[.eE]", token) else token

    return _TOKENS.sub(number, text)


def test_real_payloads_reproduce_byte_for_byte():
    """The real files hold payloads re-serialised by the Python capture tools, not the wire text.

    Where those tools wrote numbers as JavaScript does (no exponent, no ``.0``) the text must come back
    byte-for-byte. The only exceptions allowed are Python's own layouts: small floats (``1.6263e-05``, which
    the server sent as ``0.000016263``) and ``\\uXXXX`` escapes of non-ASCII text (``ensure_ascii``); each of
    those must match once rewritten in JavaScript's layout.
    """
    total = exact = 0
    python_only: list[str] = []
    for path in event_files():
        for line in _lines(path):
            text = _data_text(line.rstrip("\n"))
            total += 1
            again = dumps(loads(text))
            if again == text:
                exact += 1
            else:
                python_only.append(text)
                assert again == _in_javascript_layout(text), text[:200]
    assert total > 800
    assert exact / total > 0.85, (exact, total)
    # every exception really is one of Python's layouts
    assert all(re.search(r"\d[eE]-|\\u[0-9a-f]{4}", text) for text in python_only)


NODE = shutil.which("node")


@pytest.mark.skipif(NODE is None, reason="Node.js not installed (scripts/setup.sh installs it)")
def test_against_node_json_stringify():
    """Random doubles (by bit pattern) and UTF-16 strings (with lone surrogates) through real JSON.stringify."""
    rng = random.Random(20251217)
    doubles = [rng.getrandbits(64) for _ in range(3000)]
    doubles += [struct.unpack("<Q", struct.pack("<d", v))[0] for v in (1e-6, 1e-7, 2.0**53, 1e21, 123e18, 0.1)]
    doubles += [struct.unpack("<Q", struct.pack("<d", rng.uniform(-1, 1) * 10.0 ** rng.randint(-12, 25)))[0]
                for _ in range(2000)]
    strings = [[rng.choice([0, 9, 10, 31, 34, 47, 92, 127, 233, 0x2028, 0xD800, 0xDC00, 0xFFFF, 65, 0x1E])
                for _ in range(rng.randint(0, 8))] for _ in range(300)]
    script = (
        "const input = JSON.parse(require('fs').readFileSync(0, 'utf8'));"
        "const view = new DataView(new ArrayBuffer(8));"
        "const nums = input.doubles.map(h => { view.setBigUint64(0, BigInt('0x' + h)); "
        "return JSON.stringify(view.getFloat64(0)); });"
        "const strs = input.strings.map(units => JSON.stringify(String.fromCharCode(...units)));"
        "process.stdout.write(JSON.stringify({nums, strs}));"
    )
    payload = json.dumps({"doubles": [f"{bits:016x}" for bits in doubles], "strings": strings})
    result = subprocess.run([NODE, "-e", script], input=payload, capture_output=True, text=True, timeout=60, check=True)
    expected = json.loads(result.stdout)
    mine = [dumps(struct.unpack(">d", bits.to_bytes(8, "big"))[0]) for bits in doubles]
    assert mine == expected["nums"]
    mine_strings = [dumps(b"".join(u.to_bytes(2, "little") for u in units).decode("utf-16-le", "surrogatepass"))
                    for units in strings]
    assert mine_strings == expected["strs"]


def test_array_index_keys_come_first_ascending_as_in_a_js_object():
    # JSON.stringify({"": null, "0": null}) === '{"0":null,"":null}'; "01" and "-1" are not array indices.
    assert dumps({"": None, "0": None}) == '{"0":null,"":null}'
    assert dumps({"b": 1, "10": 2, "2": 3, "01": 4, "-1": 5}) == '{"2":3,"10":2,"b":1,"01":4,"-1":5}'
    assert dumps({"values": {"125": 1.0, "126": 1.5}}) == '{"values":{"125":1,"126":1.5}}'
