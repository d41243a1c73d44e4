"""What the ``vectra ui`` guard lets through to dagster-webserver: pure checks on one request, no I/O.

dagster-webserver itself checks neither ``Host`` nor ``Origin``, and executes GraphQL mutations (launch runs, wipe
assets, reload the workspace) from a JSON POST, an ``application/graphql`` POST, a POST of any other content type
with ``?query=`` in the URL, and a plain GET with ``?query=``. A page on another site can send all of those, the
GET even with no ``Origin`` (an ``<img>``). So, on top of the shared rules (capture_agent/live/origin.py: ``Host``
must name the guard on every request, a foreign ``Origin`` is refused everywhere):

* a request that can change state must carry the guard's own (or an allowed) ``Origin``: every method but
  GET/HEAD/OPTIONS, except a JSON or ``application/graphql`` POST to ``/graphql`` that holds only queries; and
  any request whose GraphQL document (query string or body, read as dagster-webserver reads it) holds a mutation;
* a GraphQL document that cannot be read is assumed to change state (fail closed).

The WebSocket at ``/graphql`` only runs subscriptions (dagster-webserver passes every document to
``schema.subscribe``), so it needs no ``Origin`` beyond the shared rules — browsers always send one on a handshake.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import parse_qs

from graphql import GraphQLError, OperationDefinitionNode, OperationType, parse

from capture_agent.live.origin import OriginPolicy

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
GRAPHQL_PATH = "/graphql"


@dataclass(frozen=True)
class GuardedRequest:
    """The parts of an HTTP request (or WebSocket handshake) the guard judges."""

    method: str
    path: str  # without the query string
    query_string: str  # raw, as in the request line
    hosts: Sequence[str]
    origins: Sequence[str]
    content_type: str = ""
    body: bytes = b""


def refusal(policy: OriginPolicy, request: GuardedRequest) -> str | None:
    """Why the guard answers 403, or None to forward the request."""
    return policy.refusal(request.hosts, request.origins, origin_required=changes_state(request))


def changes_state(request: GuardedRequest) -> bool:
    """GET/HEAD/OPTIONS and GraphQL POSTs (JSON or ``application/graphql``) to ``/graphql`` change state only if a
    document they carry may mutate; any other request is assumed to."""
    method = request.method.upper()
    content_type = request.content_type.lower()
    readable = "application/json" in content_type or "application/graphql" in content_type
    if method in READ_METHODS or (method == "POST" and request.path.rstrip("/") == GRAPHQL_PATH and readable):
        return any(_may_mutate(document) for document in graphql_documents(request))
    return True


def graphql_documents(request: GuardedRequest) -> list[str | None]:
    """Every GraphQL document dagster-webserver could execute from this request; None for one it cannot read.

    Read more widely than dagster does (the query string always, every body reading the content type allows), so a
    change in which one it picks cannot open a gap."""
    documents: list[str | None] = list(parse_qs(request.query_string, keep_blank_values=True).get("query", []))
    if request.method.upper() in READ_METHODS:
        return documents
    content_type = request.content_type.lower()
    if "application/json" in content_type:
        documents += _json_documents(request.body)
    if "application/graphql" in content_type:
        documents.append(_text(request.body))
    return documents


def _json_documents(body: bytes) -> list[str | None]:
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        return [None]
    operations = data if isinstance(data, list) else [data]  # a batch is a list of operations
    return [op.get("query") if isinstance(op, dict) and isinstance(op.get("query"), str) else None for op in operations]


def _text(body: bytes) -> str | None:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _may_mutate(document: str | None) -> bool:
    if document is None:
        return True
    try:
        definitions = parse(document, no_location=True).definitions
    except (GraphQLError, RecursionError):
        return True
    return any(
        isinstance(definition, OperationDefinitionNode) and definition.operation is OperationType.MUTATION
        for definition in definitions
    )
