"""The sandbox's OAuth2 token endpoint and the API it protects, over real HTTP."""

from __future__ import annotations

import base64
import http.client
import json
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest

from sandbox import MarketConfig, OAuth2Options, SandboxOptions, SandboxServer

pytestmark = pytest.mark.unit

CLIENT = OAuth2Options("cid", "s3cret", lifetime_seconds=0.6, scopes=frozenset({"read"}))


def call(url: str, method: str = "GET", body: bytes = b"", headers: dict[str, str] | None = None) -> tuple[int, Any]:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        path = f"{parts.path}?{parts.query}" if parts.query else parts.path
        conn.request(method, path, body=body, headers=headers or {})
        reply = conn.getresponse()
        return reply.status, json.loads(reply.read())
    finally:
        conn.close()


def token(server: SandboxServer, form: dict[str, str], basic: tuple[str, str] | None = ("cid", "s3cret")) -> Any:
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if basic:
        headers["Authorization"] = "Basic " + base64.b64encode(":".join(basic).encode()).decode()
    return call(f"{server.url}/oauth/token", "POST", urlencode(form).encode(), headers)


@pytest.fixture
def server() -> Iterator[SandboxServer]:
    with SandboxServer(SandboxOptions(market=MarketConfig(records=20), oauth2=CLIENT)) as running:
        yield running


def test_tokens_work_until_their_lifetime_ends(server: SandboxServer) -> None:
    status, answer = token(server, {"grant_type": "client_credentials", "scope": "read"})
    assert status == 200 and answer["token_type"] == "bearer" and answer["expires_in"] == 0.6
    assert answer["access_token"].startswith("sbx-oauth-")
    api = f"{server.url}/v1/offset?limit=5"
    assert call(api, headers={"Authorization": f"Bearer {answer['access_token']}"})[0] == 200
    assert call(api)[0] == 401
    assert call(api, headers={"Authorization": "Bearer sbx-oauth-made-up"})[0] == 401
    time.sleep(0.7)
    assert call(api, headers={"Authorization": f"Bearer {answer['access_token']}"})[0] == 401
    stats = server.stats()
    assert (stats.token_requests, stats.tokens_issued, stats.unauthorized) == (1, 1, 3)


@pytest.mark.parametrize(
    ("form", "basic", "status", "error"),
    [
        ({"grant_type": "client_credentials"}, ("cid", "wrong"), 401, "invalid_client"),
        ({"grant_type": "client_credentials"}, None, 401, "invalid_client"),
        ({"grant_type": "password"}, ("cid", "s3cret"), 400, "unsupported_grant_type"),
        ({"grant_type": "client_credentials", "scope": "admin"}, ("cid", "s3cret"), 400, "invalid_scope"),
    ],
)
def test_refusals_follow_rfc_6749(
    server: SandboxServer, form: dict[str, str], basic: tuple[str, str] | None, status: int, error: str
) -> None:
    got, answer = token(server, form, basic)
    assert (got, answer["error"]) == (status, error)
    assert server.stats().tokens_issued == 0


def test_client_credentials_in_the_form_are_accepted(server: SandboxServer) -> None:
    form = {"grant_type": "client_credentials", "client_id": "cid", "client_secret": "s3cret"}
    assert token(server, form, basic=None)[0] == 200
