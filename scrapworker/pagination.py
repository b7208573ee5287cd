"""Next-page logic, one class per pagination type of the endpoint config.

Pure functions of (config, previous page): no Scrapy, no I/O, so every style is unit
tested against hand-written responses. The spider asks ``first_url()`` once and then
``next_url(page)`` after each page, until it returns None.

Loop protection lives here because only the paginator knows what "the same page
again" means: a cursor value seen before, a next URL seen before, or more than
``max_pages`` pages.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from requests.utils import parse_header_links

from lakehouse.endpoints import (
    CursorPagination,
    LinkHeaderPagination,
    NoPagination,
    OffsetPagination,
    PagePagination,
    extract,
)
from lakehouse.endpoints.url_policy import UrlPolicy
from lakehouse.raw.layout import MAX_PAGE_INDEX
from scrapworker.errors import InvalidCountError, MaxPagesExceededError, PaginationLoopError

PaginationConfig = NoPagination | OffsetPagination | PagePagination | CursorPagination | LinkHeaderPagination


def with_params(url: str, params: Mapping[str, str]) -> str:
    """``url`` with ``params`` set (replacing same-named ones), other parameters kept in order."""
    parts = urlsplit(url)
    kept = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in params]
    query = urlencode(kept + list(params.items()))
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


def without_params(url: str, names: frozenset[str]) -> str:
    parts = urlsplit(url)
    kept = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in names]
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(kept), parts.fragment))


@dataclass(frozen=True)
class Page:
    """What the paginator may look at: the request URL, the parsed body, headers, and
    how many records the page held."""

    url: str
    data: Any
    records: int
    headers: Mapping[str, str] = field(default_factory=dict)


# The most records and pages any crawl could fetch (page keys end at MAX_PAGE_INDEX,
# a page holds at most the model's largest page_size): a larger count is no count.
MAX_TOTAL_PAGES = MAX_PAGE_INDEX
MAX_TOTAL_RECORDS = MAX_PAGE_INDEX * 100_000
_DIGITS = frozenset("0123456789")


def as_count(value: Any, field: str, path: str, page: int, limit: int) -> int | None:
    """``value`` as a count in [0, limit], None when absent, else InvalidCountError.

    JSON hands over ``1e999`` as ``inf`` (``int(inf)`` is an OverflowError), a count
    may come as text, and ``true`` is an int to Python: each is refused by name."""
    if value is None:
        return None
    count: int | None = None
    if isinstance(value, bool):
        count = None
    elif isinstance(value, int):
        count = value
    elif isinstance(value, float) and math.isfinite(value) and value.is_integer():
        count = int(value)
    elif isinstance(value, str) and 0 < len(value) <= 20 and set(value) <= _DIGITS:
        count = int(value)
    if count is None or not 0 <= count <= limit:
        raise InvalidCountError(field, path, value, page, limit)
    return count


class Paginator:
    """Base: tracks pages and requested URLs so any style stops on a loop or max_pages."""

    def __init__(
        self,
        config: PaginationConfig,
        base_url: str,
        params: Mapping[str, str],
        secret_params: frozenset[str] = frozenset(),
        policy: UrlPolicy | None = None,
    ) -> None:
        self.config = config
        self.base_url = with_params(base_url, params) if params else base_url
        # Where requests may go (the endpoint config's origin and allowed_hosts): every
        # URL is checked before a request is built for it, the first one included.
        self.policy = policy if policy is not None else UrlPolicy(base_url)
        # An API may echo a query-string key into its next links; the paginator keeps
        # URLs clean and the worker adds the credential to each request it sends.
        self.secret_params = secret_params
        self.pages = 0
        self._seen_urls: set[str] = set()
        self._max_pages = getattr(config, "max_pages", 1)

    def first_url(self) -> str:
        return self._claim(self.policy.check(self._first(), "the first request URL"))

    def next_url(self, page: Page) -> str | None:
        """The next URL to request, or None when the crawl is complete."""
        self.pages += 1
        nxt = self._next(page)
        if nxt is None:
            return None
        url = self.policy.check(nxt, f"page {self.pages}'s next link")
        if self.pages >= self._max_pages:
            raise MaxPagesExceededError(self._max_pages)
        return self._claim(url)

    def _claim(self, url: str) -> str:
        if self.secret_params:
            url = without_params(url, self.secret_params)
        if url in self._seen_urls:
            raise PaginationLoopError("URL", url, self.pages + 1)
        self._seen_urls.add(url)
        return url

    def _first(self) -> str:
        return self.base_url

    def _next(self, page: Page) -> str | None:
        return None


class OffsetPaginator(Paginator):
    config: OffsetPagination

    def __init__(
        self,
        config: OffsetPagination,
        base_url: str,
        params: Mapping[str, str],
        secret_params: frozenset[str] = frozenset(),
        policy: UrlPolicy | None = None,
    ) -> None:
        super().__init__(config, base_url, params, secret_params, policy)
        self.offset = config.start_offset

    def _at(self, offset: int) -> str:
        c = self.config
        return with_params(self.base_url, {c.offset_param: str(offset), c.limit_param: str(c.page_size)})

    def _first(self) -> str:
        return self._at(self.offset)

    def _next(self, page: Page) -> str | None:
        if page.records == 0:
            return None
        self.offset += page.records
        c = self.config
        total = (
            as_count(extract(page.data, c.total_path), "total_path", c.total_path, self.pages, MAX_TOTAL_RECORDS)
            if c.total_path
            else None
        )
        if total is not None:
            return self._at(self.offset) if self.offset < total else None
        # Without a total, a short page is the last one.
        return self._at(self.offset) if page.records >= self.config.page_size else None


class PagePaginator(Paginator):
    config: PagePagination

    def __init__(
        self,
        config: PagePagination,
        base_url: str,
        params: Mapping[str, str],
        secret_params: frozenset[str] = frozenset(),
        policy: UrlPolicy | None = None,
    ) -> None:
        super().__init__(config, base_url, params, secret_params, policy)
        self.page = config.start_page

    def _at(self, number: int) -> str:
        c = self.config
        params = {c.page_param: str(number)}
        if c.page_size_param:
            params[c.page_size_param] = str(c.page_size)
        return with_params(self.base_url, params)

    def _first(self) -> str:
        return self._at(self.page)

    def _next(self, page: Page) -> str | None:
        if page.records == 0:
            return None
        c = self.config
        total_pages = (
            as_count(
                extract(page.data, c.total_pages_path),
                "total_pages_path",
                c.total_pages_path,
                self.pages,
                MAX_TOTAL_PAGES,
            )
            if c.total_pages_path
            else None
        )
        if total_pages is not None:
            # Pages count from start_page (0 or 1), so the last one is start + total - 1.
            if self.page >= c.start_page + total_pages - 1:
                return None
        elif page.records < c.page_size:
            return None
        self.page += 1
        return self._at(self.page)


class CursorPaginator(Paginator):
    config: CursorPagination

    def __init__(
        self,
        config: CursorPagination,
        base_url: str,
        params: Mapping[str, str],
        secret_params: frozenset[str] = frozenset(),
        policy: UrlPolicy | None = None,
    ) -> None:
        super().__init__(config, base_url, params, secret_params, policy)
        self._seen_cursors: set[str] = set()

    def _first(self) -> str:
        c = self.config
        if c.limit_param and c.page_size:
            return with_params(self.base_url, {c.limit_param: str(c.page_size)})
        return self.base_url

    def _next(self, page: Page) -> str | None:
        c = self.config
        if c.next_url_path:
            nxt = extract(page.data, c.next_url_path)
            if nxt in (None, ""):
                return None
            # A relative next link is relative to the page that carried it.
            return urljoin(page.url, str(nxt))
        assert c.next_cursor_path and c.cursor_param  # the model guarantees the pair
        cursor = extract(page.data, c.next_cursor_path)
        if cursor in (None, ""):
            return None
        cursor = str(cursor)
        if cursor in self._seen_cursors:
            raise PaginationLoopError("cursor", cursor, self.pages + 1)
        self._seen_cursors.add(cursor)
        return with_params(self._first(), {c.cursor_param: cursor})


class LinkHeaderPaginator(Paginator):
    config: LinkHeaderPagination

    def _first(self) -> str:
        c = self.config
        if c.limit_param and c.page_size:
            return with_params(self.base_url, {c.limit_param: str(c.page_size)})
        return self.base_url

    def _next(self, page: Page) -> str | None:
        header = next((v for k, v in page.headers.items() if k.lower() == "link"), None)
        if not header:
            return None
        for link in parse_header_links(header):
            rels = str(link.get("rel", "")).split()
            if "next" in rels and link.get("url"):
                return urljoin(page.url, link["url"])
        return None


def paginator_for(
    config: PaginationConfig,
    base_url: str,
    params: Mapping[str, str],
    secret_params: frozenset[str] = frozenset(),
    policy: UrlPolicy | None = None,
) -> Paginator:
    kinds: dict[type, type[Paginator]] = {
        NoPagination: Paginator,
        OffsetPagination: OffsetPaginator,
        PagePagination: PagePaginator,
        CursorPagination: CursorPaginator,
        LinkHeaderPagination: LinkHeaderPaginator,
    }
    return kinds[type(config)](config, base_url, params, secret_params, policy)
