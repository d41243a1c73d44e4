"""Who may talk to a local listener: the Host and Origin rules shared by the live feed, the simulator and the
``vectra ui`` guard. Pure: header values in, a verdict out.

Two attacks are stopped here. A page on another site opening ``ws://127.0.0.1:PORT`` or posting to it carries its
own ``Origin``: refused unless it is the listener's own origin or one the user allowed. DNS rebinding (a site's
name re-pointed at 127.0.0.1, so the page counts as same-origin) carries the site's name in ``Host``: refused
unless ``Host`` names the listener — its bound address, ``localhost``, or a name the user allowed — with its port.

Matching is exact after what browsers already normalise (lowercase, IP literal spelling): no suffix or prefix
matching, no trailing dot, no userinfo, no percent-escapes. ``Origin: null`` (sandboxed frames, ``file:`` pages,
redirects) is anyone's origin, so it is never accepted.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from capture_agent.errors import VectraError

DEFAULT_PORTS = {"http": 80, "https": 443}
_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?")
_PORT = re.compile(r"[1-9][0-9]{0,4}")


@dataclass(frozen=True)
class Authority:
    """``host:port`` as a browser sends it: ``host`` lowercase, or an IP literal in its canonical spelling."""

    host: str
    port: int


def parse_authority(text: str, default_port: int) -> Authority | None:
    """A ``Host`` header value (``name[:port]``, ``[v6][:port]``) → :class:`Authority`; None if it is not one."""
    if not text.isascii() or not text.isprintable() or any(c in text for c in " @/\\?#%,;"):
        return None
    text = text.lower()
    if text.startswith("["):
        literal, sep, rest = text[1:].partition("]")
        host = _ipv6(literal) if sep else None
    elif text.count(":") > 1:
        return None  # an IPv6 literal must be bracketed
    else:
        name = text.split(":", 1)[0]
        rest = text[len(name):]
        host = _name_or_ipv4(name)
    if host is None:
        return None
    if not rest:
        return Authority(host, default_port)
    if not rest.startswith(":") or not _PORT.fullmatch(rest[1:]) or int(rest[1:]) > 65535:
        return None
    return Authority(host, int(rest[1:]))


def _ipv6(literal: str) -> str | None:
    try:
        return str(ipaddress.IPv6Address(literal)) if "%" not in literal else None
    except ValueError:
        return None


def _name_or_ipv4(name: str) -> str | None:
    try:
        return str(ipaddress.IPv4Address(name))
    except ValueError:
        pass
    if len(name) > 253 or not all(_LABEL.fullmatch(label) for label in name.split(".")):
        return None  # also refuses "" and a trailing dot (an empty last label)
    return name


@dataclass(frozen=True)
class Origin:
    scheme: str
    authority: Authority


def parse_origin(text: str) -> Origin | None:
    """An ``Origin`` header value (``scheme://host[:port]``) → :class:`Origin`; None for ``null`` or anything else."""
    scheme, sep, rest = text.partition("://")
    scheme = scheme.lower()
    if not sep or scheme not in DEFAULT_PORTS:
        return None
    authority = parse_authority(rest, DEFAULT_PORTS[scheme])
    return Origin(scheme, authority) if authority is not None else None


def parse_allowed_origins(texts: Iterable[str] | None) -> frozenset[Origin]:
    """``--allow-origin`` values → origins, or one clear error for the first that is not an origin."""
    allowed = set()
    for text in texts or ():
        origin = parse_origin(text.rstrip("/"))
        if origin is None:
            raise VectraError(
                f"--allow-origin {text!r} is not an origin: give scheme://host:port, e.g. http://127.0.0.1:5173"
                + (" (a null origin is any sandboxed page, never allowed)" if text.strip() == "null" else "")
            )
        allowed.add(origin)
    return frozenset(allowed)


@dataclass(frozen=True)
class OriginPolicy:
    """The names a listener answers to and the origins it serves.

    ``names``: hosts accepted in ``Host`` with the listener's ``port``; ``any_ip_literal``: a wildcard bind also
    accepts any IP literal (rebinding needs a DNS name, so a literal is safe); ``allowed``: extra origins.
    """

    port: int
    names: frozenset[str]
    any_ip_literal: bool = False
    allowed: frozenset[Origin] = frozenset()

    @classmethod
    def for_listener(cls, addresses: Iterable[str], port: int, allowed: frozenset[Origin] = frozenset()) -> OriginPolicy:
        """``addresses``: the bind host as given and the addresses actually bound. ``localhost`` is always a name;
        an allowed origin on the listener's own port also names the listener (reaching a public bind by name)."""
        names = {"localhost"}
        wildcard = False
        for address in addresses:
            address = address.strip("[]").lower()
            host = _ipv6(address) if ":" in address else _name_or_ipv4(address)
            if address == "localhost":
                names |= {"127.0.0.1", "::1"}
            elif host is not None and _is_ip(host) and ipaddress.ip_address(host).is_unspecified:
                wildcard = True
            elif host is not None:
                names.add(host)
        names |= {origin.authority.host for origin in allowed if origin.authority.port == port}
        return cls(port, frozenset(names), wildcard, allowed)

    def host_refusal(self, hosts: Sequence[str]) -> str | None:
        """Why the ``Host`` header values do not name this listener, or None if they do."""
        if len(hosts) != 1:
            return "exactly one Host header is required"
        authority = parse_authority(hosts[0], DEFAULT_PORTS["http"])
        if authority is None or not self._names(authority):
            return f"Host {hosts[0][:100]!r} is not this listener"
        return None

    def origin_refusal(self, origins: Sequence[str], hosts: Sequence[str], *, required: bool) -> str | None:
        """Why the ``Origin`` header values are not this listener's own or allowed, or None if they are.

        Own origin: ``http://`` and a name of this listener with its port, or exactly the request's (valid) Host —
        a page served by this listener under that name."""
        if not origins:
            return "this request changes state and needs an Origin header" if required else None
        if len(origins) != 1:
            return "more than one Origin header"
        origin = parse_origin(origins[0])
        if origin is not None and (origin in self.allowed or self._own(origin, hosts)):
            return None
        if origins[0].strip().lower() == "null":
            return "Origin 'null' (a sandboxed frame, a file: page or a redirect) is never allowed"
        return f"Origin {origins[0][:100]!r} is not allowed (add it with --allow-origin to trust it)"

    def refusal(self, hosts: Sequence[str], origins: Sequence[str], *, origin_required: bool = False) -> str | None:
        """Host first (every request), then Origin; None means serve the request."""
        return self.host_refusal(hosts) or self.origin_refusal(origins, hosts, required=origin_required)

    def _names(self, authority: Authority) -> bool:
        if authority.port != self.port:
            return False
        return authority.host in self.names or (self.any_ip_literal and _is_ip(authority.host))

    def _own(self, origin: Origin, hosts: Sequence[str]) -> bool:
        if origin.scheme != "http":
            return False  # every listener here speaks plain HTTP; an https page is another site
        if origin.authority.port == self.port and origin.authority.host in self.names:
            return True
        host = parse_authority(hosts[0], DEFAULT_PORTS["http"]) if len(hosts) == 1 else None
        return host is not None and host == origin.authority and self._names(host)


def is_loopback(host: str | None) -> bool:
    """``localhost`` or a loopback IP literal (bracketed IPv6 allowed): what may listen without an opt-in."""
    if host is None:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
