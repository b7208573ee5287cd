"""The sandbox's API routes, one per pagination style, each a pure function of the query.

Every route reads the same time window (``start_time``/``end_time``, epoch ms) and
``symbol``, so each style serves the same records for the same slot; only the paging
differs. Absolute URLs (``next``, ``Link``) are built from the request's Host header.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from sandbox import changes
from sandbox.market import MarketConfig, trades, window

MAX_PAGE_SIZE = 1000
SYMBOL_RE = re.compile(r"^[A-Z0-9]{1,20}$")


class BadRequest(Exception):
    """A query the sandbox refuses with 400, like a real API would."""


@dataclass
class Page:
    body: Any
    records: int
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Query:
    path: str
    params: dict[str, str]
    base_url: str  # scheme://host:port, from the Host header

    def integer(self, name: str, default: int, minimum: int = 0, maximum: int | None = None) -> int:
        raw = self.params.get(name)
        if raw is None or raw == "":
            return default
        try:
            value = int(raw)
        except ValueError:
            raise BadRequest(f"{name} must be an integer, got {raw!r}") from None
        if value < minimum or (maximum is not None and value > maximum):
            upper = f" and at most {maximum}" if maximum is not None else ""
            raise BadRequest(f"{name} must be at least {minimum}{upper}, got {value}")
        return value

    def symbol(self) -> str:
        symbol = self.params.get("symbol", "BTCUSDT")
        if not SYMBOL_RE.match(symbol):
            raise BadRequest(f"symbol must be 1-20 uppercase letters or digits, got {symbol!r}")
        return symbol

    def window(self, market: MarketConfig) -> range:
        start = self.integer("start_time", -1, minimum=0) if "start_time" in self.params else None
        end = self.integer("end_time", -1, minimum=0) if "end_time" in self.params else None
        if start is not None and end is not None and end < start:
            raise BadRequest(f"end_time {end} is before start_time {start}")
        return window(market, start, end)

    def url_with(self, **changes: int | str) -> str:
        params = dict(self.params)
        params.update({key: str(value) for key, value in changes.items()})
        return f"{self.base_url}{self.path}?{urlencode(params)}"


def _page_size(query: Query, name: str) -> int:
    return query.integer(name, 100, minimum=1, maximum=MAX_PAGE_SIZE)


def offset_route(query: Query, market: MarketConfig) -> Page:
    span = query.window(market)
    offset = query.integer("offset", 0)
    limit = _page_size(query, "limit")
    rows = trades(market, query.symbol(), span[offset : offset + limit])
    return Page({"data": {"items": rows}, "total": len(span)}, len(rows))


def page_route(query: Query, market: MarketConfig) -> Page:
    span = query.window(market)
    page = query.integer("page", 1, minimum=1)
    size = _page_size(query, "page_size")
    start = (page - 1) * size
    rows = trades(market, query.symbol(), span[start : start + size])
    total_pages = -(-len(span) // size)
    body = {"data": rows, "page": page, "page_size": size, "total_pages": total_pages, "total": len(span)}
    return Page(body, len(rows))


def encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"o": offset}).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        offset = json.loads(base64.urlsafe_b64decode(padded))["o"]
    except (ValueError, KeyError, TypeError):
        raise BadRequest(f"invalid cursor {cursor!r}: pass back a next_cursor value unchanged") from None
    if not isinstance(offset, int) or offset < 0:
        raise BadRequest(f"invalid cursor {cursor!r}: pass back a next_cursor value unchanged")
    return offset


def cursor_route(query: Query, market: MarketConfig) -> Page:
    span = query.window(market)
    cursor = query.params.get("cursor")
    offset = decode_cursor(cursor) if cursor else 0
    limit = _page_size(query, "limit")
    rows = trades(market, query.symbol(), span[offset : offset + limit])
    more = offset + limit < len(span)
    next_cursor = encode_cursor(offset + limit) if more else None
    body = {
        "data": rows,
        "next_cursor": next_cursor,
        "next": query.url_with(cursor=next_cursor) if next_cursor else None,
    }
    return Page(body, len(rows))


def link_route(query: Query, market: MarketConfig) -> Page:
    span = query.window(market)
    page = query.integer("page", 1, minimum=1)
    size = _page_size(query, "per_page")
    start = (page - 1) * size
    rows = trades(market, query.symbol(), span[start : start + size])
    last = max(1, -(-len(span) // size))
    # Several relations in one header, as GitHub sends them, so a crawler must pick rel="next".
    links = [f'<{query.url_with(page=1, per_page=size)}>; rel="first"']
    if page < last:
        links.append(f'<{query.url_with(page=page + 1, per_page=size)}>; rel="next"')
    links.append(f'<{query.url_with(page=last, per_page=size)}>; rel="last"')
    return Page(rows, len(rows), {"Link": ", ".join(links)})


def list_route(query: Query, market: MarketConfig) -> Page:
    span = query.window(market)
    limit = query.integer("limit", 500, minimum=1, maximum=MAX_PAGE_SIZE)
    rows = trades(market, query.symbol(), span[:limit])
    return Page(rows, len(rows))


ROUTES: dict[str, Callable[[Query, MarketConfig], Page]] = {
    "/v1/offset": offset_route,
    "/v1/updates": changes.updates_route,
    "/v1/orders": changes.orders_route,
    "/v1/page": page_route,
    "/v1/cursor": cursor_route,
    "/v1/link": link_route,
    "/api/v3/trades": list_route,
}


def find_route(path: str) -> Callable[[Query, MarketConfig], Page] | None:
    """The route of ``path``: an exact one, or a child path (``/v1/orders/<id>/items``)."""
    if path in ROUTES:
        return ROUTES[path]
    return changes.items_route if changes.ITEMS_PATH.match(path) else None
