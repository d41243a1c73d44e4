"""The `vectra ui` guard's verdicts, attacked with generated GraphQL mutations in every carrier dagster-webserver
reads (JSON body, batch, application/graphql, GET and POST query strings) and every Origin/Host combination."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from capture_agent.live.origin import OriginPolicy
from vectra_pipeline.ui_guard import GuardedRequest, changes_state, refusal

PORT = 3000
POLICY = OriginPolicy.for_listener(["127.0.0.1"], PORT)
HOST = [f"127.0.0.1:{PORT}"]
OWN = [f"http://127.0.0.1:{PORT}"]
FOREIGN = ["https://evil.example"]

names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True)
gaps = st.sampled_from([" ", "\n", "\t", ",", " # a comment {mutation}\n", "\r\n  "])


@st.composite
def selections(draw) -> str:
    alias = draw(st.sampled_from(["", "renamed: "]))
    args = draw(st.sampled_from(["", "(id: 1)", '(name: "mutation { x }")', "(flag: true, list: [1, 2])"]))
    return f"{alias}{draw(names)}{args} {{ __typename }}"


@st.composite
def queries(draw) -> str:
    head = draw(st.sampled_from(["", "query ", "query Named ", "query Vars($a: Int) "]))
    return f"{head}{{{draw(gaps)}{draw(selections())}{draw(gaps)}}}"


@st.composite
def mutation_documents(draw) -> str:
    head = draw(st.sampled_from(["mutation ", "mutation Named ", "mutation Vars($a: Int, $b: [String!]) "]))
    mutation = f"{head}{{{draw(gaps)}{draw(selections())}{draw(gaps)}}}"
    others = draw(st.lists(queries().filter(lambda q: q.startswith("query")), max_size=2))
    fragment = draw(st.sampled_from(["", "fragment F on Run { runId }"]))
    parts = draw(st.permutations([mutation, *others] + ([fragment] if fragment else [])))
    return draw(gaps).join(parts)


def carriers(document: str) -> list[GuardedRequest]:
    """The same document in every form dagster-webserver executes."""
    base = {"hosts": HOST, "origins": []}
    return [
        GuardedRequest("POST", "/graphql", "", content_type="application/json", body=json.dumps({"query": document}).encode(), **base),
        GuardedRequest("POST", "/graphql", "", content_type="application/json; charset=utf-8",
                       body=json.dumps([{"query": "{ version }"}, {"query": document}]).encode(), **base),
        GuardedRequest("POST", "/graphql", "", content_type="application/graphql", body=document.encode(), **base),
        GuardedRequest("POST", "/graphql", urlencode({"query": document}), content_type="text/plain", **base),
        GuardedRequest("POST", "/graphql/", urlencode({"query": document}), content_type="application/x-www-form-urlencoded", **base),
        GuardedRequest("GET", "/graphql", urlencode({"query": document}), **base),
        GuardedRequest("GET", "/graphql", urlencode([("query", "{ version }"), ("query", document)]), **base),
        GuardedRequest("HEAD", "/anywhere", urlencode({"query": document}), **base),
        GuardedRequest("POST", "/graphql", "", content_type="text/plain;application/json",
                       body=json.dumps({"query": document}).encode(), **base),
    ]


def with_origin(request: GuardedRequest, origins: list[str], hosts: list[str] = HOST) -> GuardedRequest:
    return GuardedRequest(request.method, request.path, request.query_string, hosts, origins, request.content_type,
                          request.body)


@settings(max_examples=150)
@given(mutation_documents())
def test_a_mutation_in_any_carrier_needs_the_own_origin(document):
    for request in carriers(document):
        assert changes_state(request), request
        assert "needs an Origin" in refusal(POLICY, request)
        assert "not allowed" in refusal(POLICY, with_origin(request, FOREIGN))
        assert "never allowed" in refusal(POLICY, with_origin(request, ["null"]))
        assert "is not this listener" in refusal(POLICY, with_origin(request, OWN, ["evil.example:3000"]))
        assert refusal(POLICY, with_origin(request, OWN)) is None


@settings(max_examples=100)
@given(st.lists(queries(), min_size=1, max_size=3).map(" ".join))
def test_read_only_queries_need_no_origin_but_a_foreign_one_is_still_refused(document):
    reads = [
        GuardedRequest("POST", "/graphql", "", HOST, [], "application/json", json.dumps({"query": document}).encode()),
        GuardedRequest("GET", "/graphql", urlencode({"query": document}), HOST, []),
    ]
    for request in reads:
        assert not changes_state(request)
        assert refusal(POLICY, request) is None
        assert refusal(POLICY, with_origin(request, OWN)) is None
        assert refusal(POLICY, with_origin(request, FOREIGN)) is not None
        assert refusal(POLICY, with_origin(request, [], ["localhost.evil.example:3000"])) is not None


@pytest.mark.parametrize(
    "body",
    [b"not json", b'{"query": 5}', b"{}", b'["mutation { x }"]', b'"mutation { x }"', b"\xff\xfe",
     json.dumps({"query": "MUTATION { wipe }"}).encode(), json.dumps({"query": "{" * 5000}).encode()],
)
def test_a_document_that_cannot_be_read_is_assumed_to_change_state(body):
    request = GuardedRequest("POST", "/graphql", "", HOST, [], "application/json", body)
    assert changes_state(request) and refusal(POLICY, request) is not None


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/report_asset_materialization/frames"), ("PUT", "/graphql"), ("DELETE", "/"), ("PATCH", "/graphql"),
     ("POST", "/anything")],
)
def test_every_other_non_get_request_needs_the_own_origin(method, path):
    request = GuardedRequest(method, path, "", HOST, [], "application/json", b"{}")
    assert changes_state(request)
    assert refusal(POLICY, request) is not None
    assert refusal(POLICY, with_origin(request, OWN)) is None


def test_plain_page_loads_and_the_subscription_socket_need_no_origin_but_the_right_host():
    for path in ("/", "/assets/frames", "/graphql", "/static/js/main.js", "/server_info"):
        request = GuardedRequest("GET", path, "", HOST, [])
        assert refusal(POLICY, request) is None
        assert refusal(POLICY, with_origin(request, [], ["evil.example:3000"])) is not None
        assert refusal(POLICY, with_origin(request, FOREIGN)) is not None


@settings(max_examples=200)
@given(st.sampled_from(["GET", "POST", "HEAD", "PUT"]), st.text(max_size=30), st.text(max_size=60),
       st.binary(max_size=200), st.text(max_size=40))
def test_judging_never_raises(method, path, query_string, body, content_type):
    request = GuardedRequest(method, path, query_string, HOST, [], content_type, body)
    verdict = refusal(POLICY, request)
    assert verdict is None or isinstance(verdict, str)
