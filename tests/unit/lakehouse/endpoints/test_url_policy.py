"""The endpoint URL policy (issue 18): which origins a crawl may send its credential to,
and the config fields that set it (request.allowed_hosts, auth.token_url)."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from lakehouse.endpoints import EndpointConfigError, parse_endpoint
from lakehouse.endpoints.url_policy import UrlPolicy, describe

API = "https://api.example.com/v1/trades"


def _config(request: dict[str, Any], **extra: Any) -> str:
    doc = {
        "name": "demo",
        "request": {"url": API, **request},
        "rate_limit": {"requests_per_second": 5},
        "schedule": "*/15 * * * *",
        **extra,
    }
    return yaml.safe_dump(doc)


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://api.example.com/v1/trades?page=2", True),
        ("https://API.example.com:443/other", True),  # same origin, spelled differently
        ("https://api.example.com:8443/v1", False),
        ("http://api.example.com/v1", False),  # never downgraded to clear text
        ("https://evil.example/v1", False),
        ("https://api.example.com.evil.example/v1", False),
        ("https://user:pw@api.example.com/v1", False),
        ("https://evil.example\\@api.example.com/v1", False),  # WHATWG reads host evil.example
        ("https://api.example.com /v1", False),
        ("https://аpi.example.com/v1", False),  # a Cyrillic 'а'
        ("file:///etc/passwd", False),
        ("data:application/json,[]", False),
        ("ftp://api.example.com/x", False),
        ("https://api.example.com:99999/", False),
        ("https://files.example.com/p", True),  # listed
        ("http://files.example.com/p", False),  # listed, but not over http for an https API
        ("https://cdn.example.com:8443/p", True),  # listed with its port
        ("https://cdn.example.com/p", False),
    ],
)
def test_policy(url: str, allowed: bool) -> None:
    policy = UrlPolicy(API, ["files.example.com", "cdn.example.com:8443"])
    assert policy.allows(url) is allowed


def test_describe_names_scheme_and_host_only() -> None:
    assert describe("https://u:secret@evil.example:81/p/q?token=abc#f") == "https://evil.example:81 (with userinfo)"
    assert describe("file:///home/x/identities.json") == "a file URL"
    assert "evil" not in describe("https://evil.example\\@api.example.com/")


@pytest.mark.parametrize(
    "entry",
    [
        "https://files.example.com",
        "files.example.com/v1",
        "*.example.com",
        "Files.Example.com",
        "a b",
        "x:0",
        "x:70000",
    ],
)
def test_allowed_hosts_entries_are_validated(entry: str) -> None:
    with pytest.raises(EndpointConfigError, match=r"request\.allowed_hosts\[0\]: .*(is not a host|port must be)"):
        parse_endpoint(_config({"allowed_hosts": [entry]}), "demo.yaml")


OAUTH = {"type": "oauth2_client_credentials", "client_id_env": "I", "client_secret_env": "S"}


def test_token_url_must_be_on_an_allowed_origin() -> None:
    with pytest.raises(EndpointConfigError, match="request: .*token_url .*allowed_hosts") as info:
        parse_endpoint(_config({"auth": {**OAUTH, "token_url": "https://auth.example.com/token"}}), "demo.yaml")
    assert "client secret" in str(info.value)
    listed = {"auth": {**OAUTH, "token_url": "https://auth.example.com/token"}, "allowed_hosts": ["auth.example.com"]}
    assert parse_endpoint(_config(listed), "demo.yaml").request.allowed_hosts == ["auth.example.com"]
    same = {"auth": {**OAUTH, "token_url": "https://api.example.com/oauth/token"}}
    assert parse_endpoint(_config(same), "demo.yaml").request.url_policy().allows(same["auth"]["token_url"])


def test_token_url_over_http_only_for_an_http_api_on_loopback() -> None:
    local = _config({"url": "http://127.0.0.1:8080/v1", "auth": {**OAUTH, "token_url": "http://127.0.0.1:8080/t"}})
    assert parse_endpoint(local, "demo.yaml").request.auth.token_url == "http://127.0.0.1:8080/t"  # type: ignore[union-attr]
    remote = _config(
        {
            "url": "http://api.example.com/v1",
            "auth": {**OAUTH, "token_url": "http://api.example.com/t"},
        }
    )
    with pytest.raises(EndpointConfigError, match="must be https"):
        parse_endpoint(remote, "demo.yaml")


def test_a_parent_placeholder_may_not_choose_the_host() -> None:
    doc = _config(
        {"url": "https://{shop}.example.com/v1/items"},
        parent={"endpoint": "shops", "field": "id", "placeholder": "shop"},
    )
    with pytest.raises(EndpointConfigError, match="must be in request.url's path"):
        parse_endpoint(doc, "demo.yaml")
