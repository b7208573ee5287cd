"""The sandbox's /abuse/ routes, through SandboxApp.handle (no HTTP)."""

from __future__ import annotations

import json

import pytest

from sandbox import SandboxApp, SandboxOptions
from sandbox.abuse import huge_body

pytestmark = pytest.mark.unit
BASE = "http://127.0.0.1:1"


def _get(app: SandboxApp, target: str, token: str | None = None):
    headers = {"authorization": f"Bearer {token}"} if token else {}
    return app.handle("GET", target, headers, BASE)


def test_abuse_routes_need_the_token() -> None:
    app = SandboxApp(SandboxOptions(token="t"))
    assert _get(app, "/abuse/html").status == 401
    assert _get(app, "/abuse/html", "t").status == 200


def test_html_slow_and_huge() -> None:
    app = SandboxApp(SandboxOptions())
    html = _get(app, "/abuse/html")
    assert html.status == 200 and html.headers["Content-Type"].startswith("text/html")
    with pytest.raises(ValueError):
        json.loads(html.body)
    slow = _get(app, "/abuse/slow?delay=3")
    assert slow.delay_seconds == 3 and json.loads(slow.body)
    assert _get(app, "/abuse/slow?delay=9999").delay_seconds == 60
    body, count = huge_body(2)
    assert abs(len(body) - 2 * 2**20) < 0.01 * 2 * 2**20 and len(json.loads(body)) == count
    assert _get(app, "/abuse/huge?mb=2").body == body


def test_retry_after_then_answers_and_counts_hits() -> None:
    app = SandboxApp(SandboxOptions())
    replies = [_get(app, "/abuse/retry_after?value=0&times=2") for _ in range(3)]
    assert [r.status for r in replies] == [429, 429, 200]
    assert replies[0].headers["Retry-After"] == "0"
    assert len(app.abuse_hits("/abuse/retry_after")) == 3


def test_loops() -> None:
    app = SandboxApp(SandboxOptions())
    assert json.loads(_get(app, "/abuse/cursor_repeat?cursor=same").body)["next_cursor"] == "same"
    first = json.loads(_get(app, "/abuse/next_loop").body)["next"]
    second = json.loads(_get(app, "/abuse/next_loop?page=2").body)["next"]
    assert first.endswith("page=2") and second.endswith("page=1")
    assert _get(app, "/abuse/link_loop").headers["Link"] == f'<{BASE}/abuse/link_loop>; rel="next"'


def test_hostile_routes_of_issue_18() -> None:
    app = SandboxApp(SandboxOptions())
    link = _get(app, "/abuse/link_to?to=http%3A%2F%2Fevil.test%2Fx")
    assert link.headers["Link"] == '<http://evil.test/x>; rel="next"'
    assert json.loads(_get(app, "/abuse/next_to?to=file%3A%2F%2F%2Fetc%2Fpasswd").body)["next"] == "file:///etc/passwd"
    moved = _get(app, "/abuse/redirect_to?to=http%3A%2F%2Fevil.test%2F&status=307")
    assert moved.status == 307 and moved.headers["Location"] == "http://evil.test/"
    assert json.loads(_get(app, "/abuse/count?field=total&value=1e999").body)["total"] == float("inf")
    assert json.loads(_get(app, "/abuse/count?field=total_pages&value=%2212%22").body)["total_pages"] == "12"
    assert _get(app, "/abuse/count?field=total&value=%7B%7D").status == 400  # only numbers, bools, digit strings
    assert _get(app, "/abuse/deep?depth=3").body == b"[[[]]]"
    assert json.loads(_get(app, "/abuse/mixed").body) == {"data": [1, "a"]}
