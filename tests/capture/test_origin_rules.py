"""The Host/Origin rules every listener shares, attacked with generated hostile headers.

The oracle is written out by hand (the exact strings a browser on this machine sends), never the module itself.
"""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from capture_agent.errors import VectraError
from capture_agent.live.origin import OriginPolicy, parse_allowed_origins, parse_authority

ports = st.integers(1, 65535)
labels = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True)
evil_names = st.lists(labels, min_size=1, max_size=3).map(".".join) | st.sampled_from(["evil.example", "attacker.test"])


def random_case(draw, text: str) -> str:
    flips = draw(st.lists(st.booleans(), min_size=len(text), max_size=len(text)))
    return "".join(c.upper() if flip else c for c, flip in zip(text, flips))


def loopback(port: int) -> OriginPolicy:
    return OriginPolicy.for_listener(["127.0.0.1"], port)


@st.composite
def own_hosts(draw):
    port = draw(ports)
    name = draw(st.sampled_from(["127.0.0.1", "localhost"]))
    return port, random_case(draw, f"{name}:{port}")


@given(own_hosts())
def test_the_listener_own_names_with_its_port_in_any_case_are_accepted(case):
    port, host = case
    assert loopback(port).refusal([host], []) is None
    assert loopback(port).refusal([host], [f"http://{host}"], origin_required=True) is None


@st.composite
def rebinding_hosts(draw):
    """Host values a rebinding or confused request carries: near misses of the listener's own names."""
    port = draw(ports)
    evil = draw(evil_names)
    own = draw(st.sampled_from(["127.0.0.1", "localhost"]))
    other_port = draw(ports.filter(lambda p: p != port))
    host = draw(st.sampled_from([
        f"{evil}:{port}",
        f"{own}.{evil}:{port}",            # localhost.evil.example, 127.0.0.1.nip.io
        f"{evil}.{own}:{port}",
        f"{own}.:{port}",                  # trailing dot
        f"{own}..:{port}",
        f"{evil}@{own}:{port}",            # userinfo tricks
        f"{own}:{port}@{evil}",
        f"{own}:{port}#@{evil}",
        f"{own}:{other_port}",             # another port
        f"{own}:{port}:{port}",
        f"{own}:0{port}",
        f"{own}:+{port}",
        f"{own}: {port}",
        f" {own}:{port}",
        f"{own}:{port} ",
        f"{own}\t:{port}",
        f"{own}%2e:{port}",
        f"{own}:{port}/",
        f"[{own}]:{port}",
        f"[::1]:{port}",                   # not bound here: the listener is on 127.0.0.1
        f"127.0.0.2:{port}",
        f"0x7f.0.0.1:{port}",
        f"2130706433:{port}",
        f"127.000.000.001:{port}",
        f"{own}:{port},{evil}:{port}",
        f"locaIhost:{port}",
        f"ⅼocalhost:{port}",              # a Unicode look-alike
        "",
    ]))
    return port, random_case(draw, host)


@given(rebinding_hosts())
def test_near_misses_of_the_own_names_are_refused(case):
    port, host = case
    assert loopback(port).host_refusal([host]) is not None


@given(ports, st.text(max_size=40))
@example(80, "127.0.0.1")
@example(80, "LOCALHOST")
@example(9000, "127.0.0.1:9000\r\nX: y")
def test_any_host_text_is_accepted_only_if_it_is_exactly_an_own_name(port, text):
    accepted = {f"127.0.0.1:{port}", f"localhost:{port}"} | ({"127.0.0.1", "localhost"} if port == 80 else set())
    assert (loopback(port).host_refusal([text]) is None) == (text.lower() in accepted)


@given(ports, st.text(max_size=60))
@example(9000, "null")
@example(9000, "http://127.0.0.1:9000/")
@example(9000, "http://user@127.0.0.1:9000")
@example(9000, "ws://127.0.0.1:9000")
@example(9000, "https://127.0.0.1:9000")
def test_any_origin_text_is_accepted_only_if_it_is_the_listener_own(port, text):
    own = {f"http://127.0.0.1:{port}", f"http://localhost:{port}"} | (
        {"http://127.0.0.1", "http://localhost"} if port == 80 else set())
    verdict = loopback(port).origin_refusal([text], [f"127.0.0.1:{port}"], required=True)
    assert (verdict is None) == (text.lower() in own)


@given(ports, evil_names, st.sampled_from(["http", "https"]))
def test_foreign_origins_are_refused_even_with_the_right_host(port, evil, scheme):
    policy = loopback(port)
    for origin in (f"{scheme}://{evil}", f"{scheme}://{evil}:{port}", f"{scheme}://localhost.{evil}:{port}", "null"):
        assert policy.refusal([f"127.0.0.1:{port}"], [origin]) is not None


def test_missing_origin_is_refused_only_where_it_is_required():
    policy = loopback(9000)
    assert policy.refusal(["127.0.0.1:9000"], []) is None
    assert "needs an Origin" in policy.refusal(["127.0.0.1:9000"], [], origin_required=True)


def test_missing_or_repeated_headers_are_refused():
    policy = loopback(9000)
    assert policy.host_refusal([]) is not None
    assert policy.host_refusal(["127.0.0.1:9000", "127.0.0.1:9000"]) is not None
    assert policy.refusal(["127.0.0.1:9000"], ["http://127.0.0.1:9000", "http://127.0.0.1:9000"]) is not None


@given(ports, st.sampled_from(["[::1]", "[0:0:0:0:0:0:0:1]", "[0::1]", "[::0:1]", "LOCALHOST"]))
def test_ipv6_loopback_literals_are_compared_as_addresses(port, host):
    policy = OriginPolicy.for_listener(["::1"], port)
    assert policy.refusal([f"{host}:{port}"], [f"http://{host}:{port}"]) is None


@pytest.mark.parametrize("host", ["::1:9000", "[::1%25lo]:9000", "[::1]9000", "[::2]:9000", "[::1", "[]:9000",
                                  "[::ffff:127.0.0.1]:9000", "[127.0.0.1]:9000"])
def test_malformed_or_other_ipv6_hosts_are_refused(host):
    assert OriginPolicy.for_listener(["::1"], 9000).host_refusal([host]) is not None


def test_binding_localhost_answers_to_both_loopback_literals():
    policy = OriginPolicy.for_listener(["localhost", "127.0.0.1"], 9000)
    for host in ("localhost:9000", "127.0.0.1:9000", "[::1]:9000"):
        assert policy.host_refusal([host]) is None, host


@given(st.ip_addresses(v=4), st.ip_addresses(v=4), ports, evil_names)
def test_a_wildcard_bind_accepts_ip_literals_but_no_foreign_name_or_foreign_page(address, other, port, evil):
    policy = OriginPolicy.for_listener(["0.0.0.0"], port)
    host = f"{address}:{port}"
    assert policy.refusal([host], [f"http://{host}"]) is None  # the page this listener served under that address
    assert policy.host_refusal([f"{evil}:{port}"]) is not None  # DNS rebinding needs a name
    if other != address:
        assert policy.origin_refusal([f"http://{other}:{port}"], [host], required=True) is not None


def test_an_allowed_origin_is_trusted_and_on_the_own_port_also_names_the_listener():
    allowed = parse_allowed_origins(["http://dash.lan:5173", "HTTP://MyBox.LAN:9000/"])
    policy = OriginPolicy.for_listener(["0.0.0.0"], 9000, allowed)
    assert policy.refusal(["127.0.0.1:9000"], ["http://dash.lan:5173"], origin_required=True) is None
    assert policy.refusal(["mybox.lan:9000"], ["http://mybox.lan:9000"], origin_required=True) is None
    assert policy.host_refusal(["dash.lan:9000"]) is not None  # another port's page does not name the listener
    assert policy.refusal(["127.0.0.1:9000"], ["https://dash.lan:5173"]) is not None  # scheme is part of it


@pytest.mark.parametrize("text", ["null", "127.0.0.1:9000", "ftp://127.0.0.1", "http://a/b", "http://", "*",
                                  "http://user@host:1", "http://host:99999"])
def test_allow_origin_refuses_what_is_not_an_origin(text):
    with pytest.raises(VectraError, match="--allow-origin"):
        parse_allowed_origins([text])


@settings(max_examples=300)
@given(st.text(max_size=80), st.integers(0, 65535))
def test_parsing_never_raises(text, default_port):
    authority = parse_authority(text, default_port)
    assert authority is None or (authority.host == authority.host.lower() and 0 <= authority.port <= 65535)
