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
from lakehouse.endpoints.url_policy import OffOriginLinkError, UrlPolicy
from scrapworker.errors import InvalidCountError, MaxPagesExceededError, PaginationLoopError
from scrapworker.pagination import Page, as_count, paginator_for

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


# --- issue 18: links stay on the endpoint's origins; counts are counts -------------------

EVIL = "https://evil.example/steal?token=abc"


@pytest.mark.parametrize(
    ("next_link", "shown"),
    [
        (EVIL, "https://evil.example"),
        ("http://api.test:8080/v1/x?page=2", "http://api.test:8080"),  # another port
        ("https://api.test/v1/x?page=2", "https://api.test"),  # another scheme
        ("file:///srv/.lakehouse/s3/identities.json", "a file URL"),
        ("//evil.example/x", "http://evil.example"),  # scheme-relative: urljoin keeps http
        ("http://evil.example\\@api.test/v1/x", "backslash"),
    ],
)
def test_a_next_link_elsewhere_fails_naming_its_host_not_its_query(next_link: str, shown: str) -> None:
    p = paginator_for(CursorPagination(type="cursor", next_url_path="next"), BASE, {})
    with pytest.raises(OffOriginLinkError) as info:
        p.next_url(Page(p.first_url(), {"next": next_link}, 5))
    assert shown in str(info.value) and "request.allowed_hosts" in str(info.value)
    assert "abc" not in str(info.value) and "identities" not in str(info.value) and "steal" not in str(info.value)


def test_a_link_header_elsewhere_fails_and_a_listed_host_is_followed() -> None:
    config = LinkHeaderPagination(type="link_header")
    p = paginator_for(config, BASE, {})
    with pytest.raises(OffOriginLinkError, match="page 1's next link points to https://evil.example"):
        p.next_url(Page(p.first_url(), {}, 5, {"Link": f'<{EVIL}>; rel="next"'}))
    allowed = paginator_for(config, BASE, {}, policy=UrlPolicy(BASE, ["files.test", "cdn.test:8443"]))
    url = allowed.first_url()
    assert allowed.next_url(Page(url, {}, 5, {"Link": '<http://files.test/p2>; rel="next"'})) == "http://files.test/p2"
    nxt = allowed.next_url(Page(url, {}, 5, {"Link": '<https://cdn.test:8443/p3>; rel="next"'}))
    assert nxt == "https://cdn.test:8443/p3"
    with pytest.raises(OffOriginLinkError):  # the listed host on another port
        allowed.next_url(Page(url, {}, 5, {"Link": '<https://cdn.test/p4>; rel="next"'}))


def test_a_job_url_off_the_configs_origin_is_refused_before_any_request() -> None:
    p = paginator_for(NoPagination(), "https://evil.example/v1/x", {}, policy=UrlPolicy(BASE))
    with pytest.raises(OffOriginLinkError, match="the first request URL points to https://evil.example"):
        p.first_url()


@pytest.mark.parametrize(
    "value", [float("inf"), float("nan"), 1e300, True, "9" * 30, "12a", -1, 2.5, [3], {"n": 3}, "", " 3"]
)
def test_counts_that_are_no_counts_are_named_errors(value: object) -> None:
    with pytest.raises(InvalidCountError, match="page 2: pagination.total_path 'total'"):
        as_count(value, "total_path", "total", 2, 1000)


@pytest.mark.parametrize(("value", "count"), [(None, None), (0, 0), (7, 7), (7.0, 7), ("42", 42), (1000, 1000)])
def test_counts_that_are_counts(value: object, count: int | None) -> None:
    assert as_count(value, "total_path", "total", 1, 1000) == count


def test_offset_and_page_paginators_refuse_an_infinite_total() -> None:
    offset = paginator_for(
        OffsetPagination(type="offset", offset_param="o", limit_param="l", page_size=2, total_path="total"), BASE, {}
    )
    with pytest.raises(InvalidCountError, match="is inf"):
        offset.next_url(Page(offset.first_url(), {"total": float("inf")}, 2))
    page = paginator_for(PagePagination(type="page", page_param="p", page_size=2, total_pages_path="n"), BASE, {})
    with pytest.raises(InvalidCountError, match="total_pages_path 'n' is 10000000"):
        page.next_url(Page(page.first_url(), {"n": 10_000_000}, 2))
