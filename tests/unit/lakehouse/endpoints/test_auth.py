"""The auth and secret policy: every rule the crawl job refuses is refused by
`lakehouse validate` first, naming the file, the field and its line."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from pydantic import TypeAdapter, ValidationError
from typer.testing import CliRunner

from lakehouse.cli.commands import validate
from lakehouse.endpoints import parse_endpoint
from lakehouse.endpoints.auth import (
    SECRET_RULES,
    Auth,
    OAuth2ClientCredentials,
    Problem,
    RequestParts,
    redact_url,
    request_problems,
)
from lakehouse.errors import EndpointConfigError, MissingSecretError
from lakehouse.pipeline.steps import job_for_slot
from lakehouse.queue.crawl_request import ResolvedRequest
from lakehouse.queue.jobs import CrawlJob

pytestmark = pytest.mark.unit

CLEAN_URL = "https://api.example.com/v1/trades"
SLOT = datetime(2024, 1, 2, 3, 0, tzinfo=UTC)


def _config(request: dict[str, Any], name: str = "demo") -> dict[str, Any]:
    return {
        "name": name,
        "request": {"url": CLEAN_URL, **request},
        "rate_limit": {"requests_per_second": 5},
        "schedule": "*/15 * * * *",
    }


def _validate(directory: Path) -> tuple[int, str]:
    app = typer.Typer()
    validate.register(app)

    @app.callback()
    def _root() -> None:
        pass

    result = CliRunner().invoke(app, ["validate", "--dir", str(directory)])
    return result.exit_code, result.stderr


def test_the_job_model_refuses_secrets_only_through_the_policy() -> None:
    # Walks the job request's own rules: a new validator there (a rule that could
    # refuse a job without a validate-time twin) must go into lakehouse.endpoints.auth instead.
    decorators = ResolvedRequest.__pydantic_decorators__
    assert set(decorators.model_validators) == {"_secret_policy"}
    assert not decorators.field_validators
    assert len({rule.id for rule in SECRET_RULES}) == len(SECRET_RULES) >= 6


@pytest.mark.parametrize("rule", SECRET_RULES, ids=lambda r: r.id)
def test_each_rule_is_refused_by_validate_with_file_field_and_line_and_by_the_job(tmp_path: Path, rule: Any) -> None:
    request = dict(rule.example)
    (tmp_path / "demo.yaml").write_text(yaml.safe_dump(_config(request), sort_keys=False))
    job_request = {"url": CLEAN_URL, **request}
    # The rule itself fires on its example (not only some other check).
    problems = [p for p in request_problems_for(job_request) if p.rule == rule.id]
    assert problems, rule.id
    field = "request." + ".".join(problems[0].loc)

    code, err = _validate(tmp_path)
    assert code == 1
    line = next((ln for ln in err.splitlines() if f"demo.yaml: {field}: " in ln), None)
    assert line is not None, err
    assert "(line " in line, line
    assert "abc" not in line  # the literal secret is never echoed

    with pytest.raises(ValidationError) as refused:
        ResolvedRequest.model_validate(job_request)
    locs = [".".join(str(p) for p in e["loc"]) for e in refused.value.errors()]
    assert ".".join(problems[0].loc) in locs, locs


def request_problems_for(request: dict[str, Any]) -> list[Problem]:
    auth = TypeAdapter(Auth).validate_python(request.get("auth", {"type": "none"}))
    return request_problems(RequestParts(request["url"], request.get("params", {}), request.get("headers", {}), auth))


AUTHS: list[dict[str, Any]] = [
    {"type": "none"},
    {"type": "bearer", "token_env": "T"},
    {"type": "basic", "username_env": "U", "password_env": "P"},
    {"type": "api_key", "in": "header", "name": "X-Token", "key_env": "K"},
    {"type": "api_key", "in": "query", "name": "k", "key_env": "K"},
    {"type": "oauth2_client_credentials", "token_url": "https://api.example.com/oauth/token", "client_id_env": "I",
     "client_secret_env": "S", "scopes": ["read"]},
]  # fmt: skip
HEADERS = [{}, {"X-Trace": "1"}, {"x-api-key": "abc"}, {"X-Token": "abc"}, {"Cookie": "s=1"}]
PARAMS = [{}, {"symbol": "X"}, {"k": "abc"}, {"Token": "abc"}, {"client_id": "abc"}]
URLS = [CLEAN_URL, "https://u:p@api.example.com/v1", "https://api.example.com/v1?token=abc"]


def test_a_config_that_validates_always_builds_its_job_and_one_that_does_not_never_does() -> None:
    checked = 0
    for auth, headers, params, url in itertools.product(AUTHS, HEADERS, PARAMS, URLS):
        request = {"url": url, "headers": headers, "params": params, "auth": auth}
        try:
            config = parse_endpoint(yaml.safe_dump(_config(request)), "demo.yaml")
        except EndpointConfigError:
            config = None
        if config is not None:
            job = job_for_slot(config, SLOT, SLOT + timedelta(minutes=15), "raw")
            assert CrawlJob.from_payload(job.to_payload()) == job
        elif url == CLEAN_URL:  # the job allows a query string; the config moves it to params
            with pytest.raises(ValidationError):
                ResolvedRequest.model_validate(request)
        checked += 1
    assert checked == len(AUTHS) * len(HEADERS) * len(PARAMS) * len(URLS)


def test_secret_keys_in_an_oauth2_block_say_where_they_go() -> None:
    auth = dict(AUTHS[-1], client_secret="s3cr3t")
    with pytest.raises(EndpointConfigError) as info:
        parse_endpoint(yaml.safe_dump(_config({"auth": auth})), "demo.yaml")
    assert "request.auth.client_secret: secrets never go in YAML" in str(info.value)
    assert "client_secret_env" in str(info.value) and "s3cr3t" not in str(info.value)


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"token_url": "https://id:pw@api.example.com/t"}, "must not carry credentials"),
        ({"token_url": "https://api.example.com/t?client_secret=x"}, "must not carry credentials"),
        ({"token_url": "ftp://auth.example.com/t"}, "absolute http(s) URL"),
        ({"scopes": ["read write"]}, "is not a scope"),
        ({"scopes": ["read", "read"]}, "listed twice"),
        ({"client_secret_env": "the-secret!"}, "NAME of an environment variable"),
        ({"client_auth": "jwt"}, "client_auth"),
    ],
)
def test_oauth2_fields_are_checked(change: dict[str, Any], says: str) -> None:
    with pytest.raises(EndpointConfigError, match="request.auth") as info:
        parse_endpoint(yaml.safe_dump(_config({"auth": dict(AUTHS[-1], **change)})), "demo.yaml")
    assert says in str(info.value)
    assert "id:pw" not in str(info.value)


def test_oauth2_token_request_and_payload_carry_names_only() -> None:
    auth = OAuth2ClientCredentials.model_validate(AUTHS[-1])
    env = {"I": "client one", "S": "s:cret"}
    basic = auth.token_request(env)
    assert basic.url == "https://api.example.com/oauth/token"
    assert basic.body == b"grant_type=client_credentials&scope=read"
    # RFC 6749 2.3.1: form-encoded before the Basic encoding.
    assert basic.headers["Authorization"] == "Basic Y2xpZW50JTIwb25lOnMlM0FjcmV0"
    body = OAuth2ClientCredentials.model_validate(dict(AUTHS[-1], client_auth="body")).token_request(env)
    assert "Authorization" not in body.headers and b"client_secret=s%3Acret" in body.body
    with pytest.raises(MissingSecretError, match="S"):
        auth.token_request({"I": "x"})
    request = ResolvedRequest(url=CLEAN_URL, auth=auth)
    payload = request.model_dump_json()
    assert "s:cret" not in payload and json.loads(payload)["auth"]["client_secret_env"] == "S"
    assert auth.apply(token="tok") == ({"Authorization": "Bearer tok"}, {})
    assert auth.env_names() == {"I", "S"}
    assert redact_url("https://a/t?client_id=x&client_secret=y&n=1", auth.secret_params()) == "https://a/t?n=1"


def test_api_key_in_query_round_trips_by_alias() -> None:
    request = ResolvedRequest.model_validate({"url": CLEAN_URL, "auth": AUTHS[4]})
    doc = json.loads(request.model_dump_json())
    assert doc["auth"]["in"] == "query"
    assert ResolvedRequest.model_validate_json(request.model_dump_json()) == request


def test_an_uppercase_scheme_is_refused_at_validate_time_as_the_job_would() -> None:
    with pytest.raises(EndpointConfigError, match="request.url: .*absolute http"):
        parse_endpoint(yaml.safe_dump(_config({"url": "HTTPS://api.example.com/v1"})), "demo.yaml")
    with pytest.raises(ValidationError):
        ResolvedRequest(url="HTTPS://api.example.com/v1")
