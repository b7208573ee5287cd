"""Resources for incremental and dependent crawls.

``/v1/updates``: ``records`` items (ids 1..N) that keep changing. Item ``i``'s k-th
version is stamped ``ORIGIN + (k*N + i - 1) * change_ms``: one item changes every
``change_ms`` milliseconds, round robin, and a version exists once the wall clock
passed its stamp. A query returns the *current* version of every item whose
``updated_at`` is after ``updated_since`` (and at or before ``updated_until``, when
given), oldest first, ``limit`` per page, ``next_cursor`` continuing after the last
row. This is the one route whose answer depends on the clock (records change between
calls); ``state_at`` tells a test what the source held at any moment.

``/v1/orders`` (offset paging over ``start_time``..``end_time``, one order every 20 s,
id = epoch seconds / 20) and ``/v1/orders/<id>/items`` (``id % 5`` items, page
paging): a parent/child pair, pure functions of the query.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sandbox.market import MarketConfig
    from sandbox.routes import Page, Query

ORIGIN_MS = int(datetime(2026, 1, 1, tzinfo=UTC).timestamp() * 1000)
ORDER_EVERY_S = 20
ITEMS_PATH = re.compile(r"^/v1/orders/(\d{1,12})/items$")


def iso_ms(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_iso_ms(text: str) -> int:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return round(moment.timestamp() * 1000)


def version_at(item: int, records: int, change_ms: int, now_ms: int) -> tuple[int, int] | None:
    """(version, stamp in ms) of ``item`` current at ``now_ms``; None before its first."""
    offset = now_ms - ORIGIN_MS - (item - 1) * change_ms
    if offset < 0:
        return None
    k = offset // (records * change_ms)
    return k, ORIGIN_MS + (k * records + item - 1) * change_ms


def item(i: int, k: int, stamp: int) -> dict[str, Any]:
    return {"id": i, "version": k, "updated_at": iso_ms(stamp), "value": (i * 31 + k * 7) % 1000}


def state_at(records: int, change_ms: int, now_ms: int) -> dict[int, dict[str, Any]]:
    """The current version of every item at ``now_ms``: what a full replay must hold."""
    out = {}
    for i in range(1, records + 1):
        found = version_at(i, records, change_ms, now_ms)
        if found is not None:
            out[i] = item(i, *found)
    return out


def updates_route(query: Query, market: MarketConfig) -> Page:
    from sandbox.routes import BadRequest, Page

    records = query.integer("records", 20, minimum=1, maximum=10_000)
    change_ms = query.integer("change_ms", 1000, minimum=1)
    limit = query.integer("limit", 10, minimum=1, maximum=1000)
    try:
        since = parse_iso_ms(query.params.get("updated_since", iso_ms(0)))
        until = parse_iso_ms(query.params["updated_until"]) if "updated_until" in query.params else None
    except ValueError:
        raise BadRequest("updated_since and updated_until must be ISO 8601 times") from None
    cursor = query.integer("cursor", 0, minimum=0)
    now_ms = int(time.time() * 1000)
    rows = []
    for i in range(1, records + 1):
        found = version_at(i, records, change_ms, now_ms)
        if found is None:
            continue
        k, stamp = found
        if stamp > since and stamp > cursor and (until is None or stamp <= until):
            rows.append((stamp, i, k))
    rows.sort()
    page = rows[:limit]
    more = len(rows) > limit
    body = {"data": [item(i, k, stamp) for stamp, i, k in page], "next_cursor": str(page[-1][0]) if more else None}
    return Page(body, len(page))


def orders_route(query: Query, market: MarketConfig) -> Page:
    from sandbox.routes import Page

    start = query.integer("start_time", 0) // 1000
    end = query.integer("end_time", start * 1000 + 900_000) // 1000
    ids = [s // ORDER_EVERY_S for s in range(start + (-start % ORDER_EVERY_S), end, ORDER_EVERY_S)]
    offset = query.integer("offset", 0)
    limit = query.integer("limit", 100, minimum=1, maximum=1000)
    rows = [{"id": i, "created_at": i * ORDER_EVERY_S * 1000, "items": i % 5} for i in ids[offset : offset + limit]]
    return Page({"data": rows, "total": len(ids)}, len(rows))


def order_items(order_id: int) -> list[dict[str, Any]]:
    return [
        {"order_id": order_id, "line": j, "sku": f"SKU{(order_id * 7 + j) % 100:03d}", "qty": 1 + (order_id + j) % 3}
        for j in range(1, order_id % 5 + 1)
    ]


def items_route(query: Query, market: MarketConfig) -> Page:
    from sandbox.routes import Page

    match = ITEMS_PATH.match(query.path)
    assert match is not None  # routed here by find_route
    rows = order_items(int(match.group(1)))
    page = query.integer("page", 1, minimum=1)
    size = query.integer("page_size", 2, minimum=1, maximum=1000)
    chunk = rows[(page - 1) * size : page * size]
    return Page({"data": chunk, "total_pages": -(-len(rows) // size)}, len(chunk))
