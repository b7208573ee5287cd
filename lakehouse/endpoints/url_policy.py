"""Where an endpoint's crawl may send a request: the one rule, for every URL the worker
did not read from its own config.

A crawl carries the endpoint's credential on every request, so a URL an upstream
hands back (a next link, a ``Link`` header, a redirect's ``Location``, a parent
record's value in a child URL) is only followed when it stays where the config
points: the scheme, host and port of ``request.url``, or a host the config lists in
``request.allowed_hosts``. Anything else fails the job with ``OffOriginLinkError``,
which names the link's scheme and host (never its path or query, which may echo a
key) and says how to allow it; no request is sent.

A listed host is reached on the request URL's scheme or https, never downgraded to
http (a credential must not leave TLS). Userinfo, backslashes, whitespace and non-ASCII are refused outright:
the worker's HTTP stack parses URLs the WHATWG way (``\\`` is a ``/``), Python's
``urlsplit`` does not, and a URL the two read differently is how an allow-list is
bypassed. OAuth2's ``token_url`` is checked by the same rule when the config is
validated (``lakehouse.endpoints.models.Request``).

It lives beside the endpoint models, not in ``lakehouse.endpoints.auth``: it is about where a
config's requests go, and the models build it from their own fields.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from lakehouse.errors import LakehouseError

DEFAULT_PORTS = {"http": 80, "https": 443}
# An allowed_hosts entry: a lowercase DNS name or IPv4 address, optionally ":port".
# No scheme, path or wildcard: each host that receives the credential is named.
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
ALLOWED_HOST_RE = re.compile(rf"^(?P<host>{_LABEL}(?:\.{_LABEL})*)(?::(?P<port>[0-9]{{1,5}}))?$")
MAX_ALLOWED_HOSTS = 20
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
# Printable ASCII without space or backslash: anything else is refused before parsing.
_SAFE_URL_RE = re.compile(r"^[\x21-\x5b\x5d-\x7e]+$")


class OffOriginLinkError(LakehouseError):
    """A URL derived from a response points outside the endpoint's allowed origins."""

    def __init__(self, what: str, where: str, allowed: str) -> None:
        self.where = where
        super().__init__(
            f"{what} points to {where}, outside this endpoint's allowed origins ({allowed}); no request was "
            "sent there, because it would carry the endpoint's credential. If that host really serves this "
            "API, list it in the endpoint's request.allowed_hosts (host or host:port)."
        )


@dataclass(frozen=True)
class Origin:
    scheme: str
    host: str
    port: int

    def __str__(self) -> str:
        default = DEFAULT_PORTS.get(self.scheme)
        return f"{self.scheme}://{self.host}" + ("" if self.port == default else f":{self.port}")


def check_allowed_host(entry: str) -> str:
    """An ``allowed_hosts`` entry, validated (the model's field validator)."""
    match = ALLOWED_HOST_RE.fullmatch(entry)
    if not match:
        raise ValueError(
            f"{entry[:100]!r} is not a host: write a lowercase host name or IPv4 address, optionally with "
            "':port' (api.example.com, files.example.com:8443), without a scheme, path or wildcard"
        )
    port = match.group("port")
    if port is not None and not 1 <= int(port) <= 65535:
        raise ValueError(f"{entry!r}: the port must be between 1 and 65535")
    return entry


def origin_of(url: str) -> Origin | None:
    """The URL's origin, or None when it is not a plain absolute http(s) URL this
    module can vouch for (see the module docstring for what is refused)."""
    if not _SAFE_URL_RE.fullmatch(url):
        return None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:  # an invalid port, or an unbalanced IPv6 bracket
        return None
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname or "@" in parts.netloc:
        return None
    return Origin(parts.scheme, parts.hostname.lower(), port if port is not None else DEFAULT_PORTS[parts.scheme])


def describe(url: str) -> str:
    """The scheme and host of ``url`` for an error message: no path, no query, no userinfo."""
    parts = urlsplit(url[:2000])
    scheme = "".join(ch for ch in parts.scheme if ch.isalnum())[:20] or "relative"
    if not _SAFE_URL_RE.fullmatch(url):
        # Parsers disagree on such a URL's host: name none rather than a wrong one.
        return f"a {scheme} URL with a backslash, space, control or non-ASCII character"
    try:
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return f"a {scheme} URL with an invalid host or port"
    if not host:
        return f"a {scheme} URL"
    shown = f"{scheme}://{host[:200]}" + (f":{port}" if port is not None else "")
    return shown + (" (with userinfo)" if "@" in parts.netloc else "")


class UrlPolicy:
    """The origins one endpoint's crawl may send requests to."""

    def __init__(self, request_url: str, allowed_hosts: Iterable[str] = ()) -> None:
        base = origin_of(request_url)
        if base is None:
            raise ValueError(f"{describe(request_url)} is not an absolute http(s) URL")
        self.base = base
        self.allowed_hosts = tuple(allowed_hosts)
        self._hosts: set[str] = set()  # hosts allowed on their scheme's default port
        self._host_ports: set[tuple[str, int]] = set()
        for entry in self.allowed_hosts:
            host, _, port = entry.partition(":")
            if port:
                self._host_ports.add((host, int(port)))
            else:
                self._hosts.add(host)

    def allows(self, url: str) -> bool:
        origin = origin_of(url)
        if origin is None:
            return False
        if origin == self.base:
            return True
        if origin.scheme != self.base.scheme and origin.scheme != "https":
            return False  # an allowed host over http, when the API is https: the credential in clear
        if (origin.host, origin.port) in self._host_ports:
            return True
        return origin.host in self._hosts and origin.port == DEFAULT_PORTS[origin.scheme]

    def check(self, url: str, what: str) -> str:
        """``url`` when it may be requested, else OffOriginLinkError naming ``what``
        (e.g. "page 3's next link") and the URL's scheme and host."""
        if not self.allows(url):
            raise OffOriginLinkError(what, describe(url), self.describe())
        return url

    def describe(self) -> str:
        extra = f" and {', '.join(self.allowed_hosts)}" if self.allowed_hosts else ""
        return f"{self.base}{extra}"


def is_loopback(url: str) -> bool:
    origin = origin_of(url)
    return origin is not None and origin.host in LOOPBACK_HOSTS
