from __future__ import annotations

import http.client
import json
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest

from sandbox import (
    FaultRates,
    MarketConfig,
    SandboxOptions,
    SandboxServer,
    expected_records,
    fetch_stats,
    reset,
)

pytestmark = pytest.mark.unit

MARKET = MarketConfig(records=250, trade_interval_ms=1000, seed=7)
SLOT_START = MARKET.origin_ms + 3_600_000  # 01:00 on the first day
SLOT_END = SLOT_START + 15 * 60_000  # a 15-minute slot: 900 trades
WINDOW = {"symbol": "BTCUSDT", "start_time": SLOT_START, "end_time": SLOT_END}


class Reply:
    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body

    def json(self) -> Any:
        return json.loads(self.body)


def get(url: str, headers: dict[str, str] | None = None) -> Reply:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        conn.request("GET", f"{parts.path}?{parts.query}" if parts.query else parts.path, headers=headers or {})
        response = conn.getresponse()
        return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
    finally:
        conn.close()


@pytest.fixture
def server() -> Iterator[SandboxServer]:
    with SandboxServer(SandboxOptions(market=MARKET)) as running:
        yield running


def ids(records: list[dict[str, Any]]) -> list[int]:
    return [r["id"] for r in records]


EXPECTED = ids(expected_records(MARKET, SLOT_START, SLOT_END))  # type: ignore[arg-type]


# --- data ---------------------------------------------------------------------------


def test_records_are_deterministic_trade_like_and_windowed(server: SandboxServer) -> None:
    first = get(f"{server.url}/v1/offset?{urlencode(WINDOW | {'limit': 5})}").json()
    again = get(f"{server.url}/v1/offset?{urlencode(WINDOW | {'limit': 5})}").json()
    assert first == again
    record = first["data"]["items"][0]
    assert set(record) == {"id", "symbol", "price", "qty", "quote_qty", "time", "is_buyer_maker", "venue"}
    assert re.fullmatch(r"\d+\.\d{8}", record["price"]) and set(record["venue"]) == {"code", "region"}
    assert first["total"] == 900 == len(EXPECTED)
    assert all(SLOT_START <= r["time"] < SLOT_END for r in first["data"]["items"])
    # The next slot has its own records.
    later = get(
        f"{server.url}/v1/offset?{urlencode(WINDOW | {'start_time': SLOT_END, 'end_time': SLOT_END + 60_000})}"
    ).json()
    assert later["total"] == 60 and min(ids(later["data"]["items"])) > max(EXPECTED)
    # No window: the first `records` trades.
    assert get(f"{server.url}/v1/offset?limit=1000").json()["total"] == MARKET.records


def test_expected_records_accepts_datetimes() -> None:
    from datetime import UTC, datetime

    start = datetime.fromtimestamp(SLOT_START / 1000, UTC)
    end = datetime.fromtimestamp(SLOT_END / 1000, UTC)
    assert ids(expected_records(MARKET, start, end)) == EXPECTED  # type: ignore[arg-type]


# --- every pagination style serves every record exactly once ---------------------------


def test_offset_pages(server: SandboxServer) -> None:
    seen: list[int] = []
    offset = 0
    while True:
        body = get(f"{server.url}/v1/offset?{urlencode(WINDOW | {'offset': offset, 'limit': 100})}").json()
        items = body["data"]["items"]
        seen += ids(items)
        offset += len(items)
        if offset >= body["total"] or not items:
            break
    assert seen == EXPECTED


def test_page_numbers(server: SandboxServer) -> None:
    seen: list[int] = []
    page = 1
    while True:
        body = get(f"{server.url}/v1/page?{urlencode(WINDOW | {'page': page, 'page_size': 70})}").json()
        seen += ids(body["data"])
        if page >= body["total_pages"]:
            break
        page += 1
    assert seen == EXPECTED and body["total_pages"] == 13


def test_cursor_values(server: SandboxServer) -> None:
    seen: list[int] = []
    params: dict[str, Any] = WINDOW | {"limit": 100}
    cursors = set()
    while True:
        body = get(f"{server.url}/v1/cursor?{urlencode(params)}").json()
        seen += ids(body["data"])
        if not body["next_cursor"]:
            assert body["next"] is None
            break
        assert body["next_cursor"] not in cursors
        cursors.add(body["next_cursor"])
        params = params | {"cursor": body["next_cursor"]}
    assert seen == EXPECTED


def test_cursor_next_urls(server: SandboxServer) -> None:
    seen: list[int] = []
    url: str | None = f"{server.url}/v1/cursor?{urlencode(WINDOW | {'limit': 100})}"
    while url:
        body = get(url).json()
        seen += ids(body["data"])
        url = body["next"]
    assert seen == EXPECTED


def test_link_header(server: SandboxServer) -> None:
    seen: list[int] = []
    url: str | None = f"{server.url}/v1/link?{urlencode(WINDOW | {'per_page': 100})}"
    while url:
        reply = get(url)
        assert isinstance(reply.json(), list)
        seen += ids(reply.json())
        links = {rel: target for target, rel in re.findall(r'<([^>]+)>;\s*rel="([^"]+)"', reply.headers["link"])}
        assert {"first", "last"} <= set(links)
        url = links.get("next")
    assert seen == EXPECTED


def test_top_level_list_without_pagination(server: SandboxServer) -> None:
    body = get(f"{server.url}/api/v3/trades?symbol=BTCUSDT&limit=10").json()
    assert isinstance(body, list) and ids(body) == list(range(1, 11))


def test_bad_queries_are_400(server: SandboxServer) -> None:
    assert get(f"{server.url}/v1/offset?limit=5000").status == 400
    assert get(f"{server.url}/v1/cursor?cursor=garbage").status == 400
    assert get(f"{server.url}/v1/offset?start_time=10&end_time=5").status == 400
    assert get(f"{server.url}/nope").status == 404


# --- auth ---------------------------------------------------------------------------


def test_auth_when_a_token_is_configured() -> None:
    with SandboxServer(SandboxOptions(token="s3cret", rate_limit=2, market=MARKET)) as server:
        url = f"{server.url}/v1/offset?limit=1"
        for _ in range(5):  # refused requests do not use up the rate limit
            missing = get(url)
            assert missing.status == 401 and missing.headers["www-authenticate"].startswith("Bearer")
        assert get(url, {"Authorization": "Bearer wrong"}).status == 401
        assert get(url, {"Authorization": "Bearer s3cret"}).status == 200
        assert get(url, {"X-API-Key": "s3cret"}).status == 200
        stats = server.stats()
        assert stats.unauthorized == 6 and stats.ok == 2 and stats.rate_limited == 0


# --- rate limit ---------------------------------------------------------------------


def test_rate_limit_answers_429_with_retry_after() -> None:
    with SandboxServer(SandboxOptions(rate_limit=5, market=MARKET)) as server:
        replies = [get(f"{server.url}/v1/offset?limit=1&offset={i}") for i in range(8)]
        statuses = [r.status for r in replies]
        assert statuses[:5] == [200] * 5 and statuses[5:] == [429] * 3
        assert all(int(r.headers["retry-after"]) >= 1 for r in replies[5:])
        time.sleep(int(replies[-1].headers["retry-after"]))
        assert get(f"{server.url}/v1/offset?limit=1").status == 200
        stats = server.stats()
        assert stats.rate_limited == 3 and stats.ok == 6
        assert stats.max_admitted_in_any_second == 5 and stats.max_requests_in_any_second == 8


def test_concurrent_clients_never_get_more_than_the_limit_in_any_second() -> None:
    limit = 20
    with SandboxServer(SandboxOptions(rate_limit=limit, market=MARKET)) as server:
        deadline = time.monotonic() + 2.5

        def hammer() -> None:
            while time.monotonic() < deadline:
                get(f"{server.url}/v1/offset?limit=10")

        threads = [threading.Thread(target=hammer) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        stats = server.stats(detail=True)
        assert stats.max_admitted_in_any_second == limit
        assert stats.rate_limited > 0 and stats.requests is not None
        admitted = [r.time for r in stats.requests if r.admitted]
        assert len(admitted) == stats.ok
        # Any interval of one second holds at most `limit` admissions (checked by brute force).
        assert all(sum(1 for other in admitted if t <= other < t + 1.0) <= limit for t in admitted)


def test_fixed_window_counts_per_wall_clock_second() -> None:
    with SandboxServer(SandboxOptions(rate_limit=3, rate_window="fixed", market=MARKET)) as server:
        # Start right after a second boundary so all requests fall in one second.
        time.sleep(1.02 - (time.time() % 1.0))
        statuses = [get(f"{server.url}/v1/offset?limit=1").status for _ in range(5)]
        assert statuses == [200, 200, 200, 429, 429]


# --- faults -------------------------------------------------------------------------


def complete(reply: Reply) -> bool:
    if reply.status != 200:
        return False
    try:
        reply.json()
    except json.JSONDecodeError:
        return False
    return True


def test_faults_happen_at_the_configured_rates_and_retries_succeed() -> None:
    rates = FaultRates(fail_rate=0.2, truncate_rate=0.1, max_faults_per_request=3)
    with SandboxServer(SandboxOptions(faults=rates, market=MARKET)) as server:
        n = 600
        first = [get(f"{server.url}/v1/offset?{urlencode(WINDOW | {'limit': 1, 'offset': i})}") for i in range(n)]
        errors = sum(1 for r in first if r.status >= 500)
        truncated = 0
        for reply in first:
            if reply.status == 200:
                try:
                    reply.json()
                except json.JSONDecodeError:
                    truncated += 1
                    assert int(reply.headers["content-length"]) == len(reply.body)
        # Binomial(600, p): three standard deviations either side.
        assert 0.2 * n - 30 <= errors <= 0.2 * n + 30
        assert 0.1 * n - 22 <= truncated <= 0.1 * n + 22
        stats = server.stats()
        assert (stats.server_errors, stats.truncated) == (errors, truncated)

        # Retrying a faulted request eventually gets the real page, within the bound.
        for i, reply in enumerate(first):
            if complete(reply):
                continue
            for _attempt in range(rates.max_faults_per_request + 1):
                again = get(f"{server.url}/v1/offset?{urlencode(WINDOW | {'limit': 1, 'offset': i})}")
                if complete(again):
                    assert again.json()["data"]["items"][0]["id"] == EXPECTED[i]
                    break
            else:
                pytest.fail(f"offset {i} never succeeded")


def test_fault_pattern_is_reproducible() -> None:
    def statuses() -> list[int]:
        with SandboxServer(SandboxOptions(faults=FaultRates(fail_rate=0.3), market=MARKET)) as server:
            return [get(f"{server.url}/v1/page?page={i}").status for i in range(1, 60)]

    first = statuses()
    assert first == statuses() and any(s >= 500 for s in first)


def test_slow_responses() -> None:
    with SandboxServer(SandboxOptions(faults=FaultRates(slow_rate=1.0, slow_seconds=0.4), market=MARKET)) as server:
        began = time.monotonic()
        assert get(f"{server.url}/v1/offset?limit=1").status == 200
        assert time.monotonic() - began >= 0.4
        assert server.stats().slow == 1


# --- stats and control paths ----------------------------------------------------------


def test_stats_reset_and_health(server: SandboxServer) -> None:
    assert get(f"{server.url}/_health").json() == {"status": "ok"}
    get(f"{server.url}/v1/offset?limit=7")
    get(f"{server.url}/v1/page?page_size=3")
    get(f"{server.url}/v1/page?page_size=3&page=2")
    stats = fetch_stats(server.url, detail=True)
    assert stats.total_requests == 3  # control paths are not counted
    assert stats.per_path == {"/v1/offset": 1, "/v1/page": 2}
    assert stats.per_status == {"200": 3} and stats.records_served == 13
    assert sum(stats.per_second.values()) == 3
    assert stats.requests is not None and [r.path for r in stats.requests] == ["/v1/offset", "/v1/page", "/v1/page"]
    assert fetch_stats(server.url).requests is None
    reset(server.url)
    assert server.stats().total_requests == 0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_python_m_sandbox_runs_the_server() -> None:
    port = _free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sandbox",
            "--port",
            str(port),
            "--rate-limit",
            "5",
            "--token",
            "tok",
            "--records",
            "42",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        assert f"127.0.0.1:{port}" in process.stdout.readline()
        url = f"http://127.0.0.1:{port}"
        assert get(f"{url}/v1/offset?limit=1000").status == 401
        assert get(f"{url}/v1/offset?limit=1000", {"Authorization": "Bearer tok"}).json()["total"] == 42
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0
