from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from lakehouse.endpoints import (
    CursorPagination,
    LinkHeaderPagination,
    NoPagination,
    OffsetPagination,
    PagePagination,
)
from scrapworker.errors import MaxPagesExceededError, PaginationLoopError
from scrapworker.pagination import Page, paginator_for

BASE = "http://api.test/v1/x"


def q(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def test_offset_stops_at_total_and_keeps_request_params() -> None:
    p = paginator_for(
        OffsetPagination(type="offset", offset_param="o", limit_param="l", page_size=2, total_path="total"),
        BASE,
        {"symbol": "X"},
    )
    url = p.first_url()
    assert q(url) == {"symbol": "X", "o": "0", "l": "2"}
    url = p.next_url(Page(url, {"total": 3}, 2))
    assert q(url)["o"] == "2"
    assert p.next_url(Page(url, {"total": 3}, 1)) is None


def test_offset_without_total_stops_on_a_short_page() -> None:
    p = paginator_for(OffsetPagination(type="offset", offset_param="o", limit_param="l", page_size=2), BASE, {})
    url = p.next_url(Page(p.first_url(), {}, 2))
    assert url is not None and p.next_url(Page(url, {}, 1)) is None


def test_page_stops_after_total_pages_from_start_page() -> None:
    p = paginator_for(
        PagePagination(type="page", page_param="p", page_size=10, start_page=0, total_pages_path="n"), BASE, {}
    )
    url = p.first_url()
    assert q(url) == {"p": "0"}
    url = p.next_url(Page(url, {"n": 2}, 10))
    assert q(url) == {"p": "1"}
    assert p.next_url(Page(url, {"n": 2}, 10)) is None


def test_cursor_repeated_value_is_a_loop() -> None:
    p = paginator_for(CursorPagination(type="cursor", cursor_param="c", next_cursor_path="next"), BASE, {})
    url = p.next_url(Page(p.first_url(), {"next": "abc"}, 5))
    assert q(url) == {"c": "abc"}
    with pytest.raises(PaginationLoopError, match="cursor 'abc'"):
        p.next_url(Page(url, {"next": "abc"}, 5))


def test_cursor_stops_on_null_and_follows_relative_next_url() -> None:
    p = paginator_for(CursorPagination(type="cursor", next_url_path="links.next"), BASE, {"a": "1"})
    first = p.first_url()
    url = p.next_url(Page(first, {"links": {"next": "/v1/x?a=1&after=9"}}, 5))
    assert url == "http://api.test/v1/x?a=1&after=9"
    with pytest.raises(PaginationLoopError, match="URL"):
        p.next_url(Page(url, {"links": {"next": "/v1/x?a=1&after=9"}}, 5))
    p2 = paginator_for(CursorPagination(type="cursor", next_url_path="next"), BASE, {})
    assert p2.next_url(Page(p2.first_url(), {"next": None}, 5)) is None


def test_link_header_picks_rel_next_and_strips_echoed_secret() -> None:
    p = paginator_for(LinkHeaderPagination(type="link_header"), BASE, {}, frozenset({"api_key"}))
    header = (
        '<http://api.test/v1/x?page=1&api_key=s3cret>; rel="first", '
        '<http://api.test/v1/x?page=2&api_key=s3cret>; rel="next"'
    )
    url = p.next_url(Page(p.first_url(), [], 1, {"Link": header}))
    assert url == "http://api.test/v1/x?page=2"
    assert p.next_url(Page(url, [], 1, {"Link": '<http://api.test/v1/x?page=1>; rel="first"'})) is None


def test_max_pages_guard() -> None:
    p = paginator_for(CursorPagination(type="cursor", cursor_param="c", next_cursor_path="n", max_pages=2), BASE, {})
    url = p.next_url(Page(p.first_url(), {"n": "1"}, 1))
    with pytest.raises(MaxPagesExceededError, match="max_pages=2"):
        p.next_url(Page(url, {"n": "2"}, 1))


def test_none_is_one_page() -> None:
    p = paginator_for(NoPagination(), BASE, {"limit": "10"})
    assert p.next_url(Page(p.first_url(), [1, 2], 2)) is None
