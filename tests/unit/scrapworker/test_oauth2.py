"""The worker's OAuth2 pieces that need no network: reading a token answer, and when a
token is due for refresh."""

from __future__ import annotations

import json

import pytest

from lakehouse.auth import OAuth2ClientCredentials
from scrapworker.errors import TokenRequestError
from scrapworker.oauth2 import AccessToken, parse_token_response, refresh_margin

pytestmark = pytest.mark.unit

AUTH = OAuth2ClientCredentials(
    token_url="https://auth.example.com/oauth/token", client_id_env="ID", client_secret_env="SECRET"
)


def _answer(status: int, doc: object) -> AccessToken:
    return parse_token_response(AUTH, status, json.dumps(doc).encode(), sent_at=100.0)


def test_a_token_answer_gives_the_token_and_its_expiry() -> None:
    token = _answer(200, {"access_token": "t1", "token_type": "Bearer", "expires_in": 3600})
    assert (token.value, token.fetched_at, token.expires_at) == ("t1", 100.0, 3700.0)
    assert _answer(200, {"access_token": "t2", "token_type": "bearer", "expires_in": "60"}).expires_at == 160.0
    assert _answer(200, {"access_token": "t3"}).expires_at is None  # no expires_in: until a 401


@pytest.mark.parametrize(
    ("status", "doc", "says"),
    [
        (401, {"error": "invalid_client", "error_description": "bad secret"}, "HTTP 401: invalid_client (bad secret)"),
        (400, {"error": "invalid_scope"}, "HTTP 400: invalid_scope"),
        (503, "<html>down</html>", "HTTP 503."),
        (200, {"token_type": "bearer"}, "without an access_token"),
        (200, {"access_token": "t", "token_type": "mac"}, "type 'mac'"),
        (200, {"access_token": "t", "expires_in": "soon"}, "not a number"),
        (200, {"access_token": "t", "expires_in": 0}, "expires in 0 s"),
    ],
)
def test_a_refusal_names_the_token_endpoint(status: int, doc: object, says: str) -> None:
    with pytest.raises(TokenRequestError) as info:
        _answer(status, doc)
    assert info.value.reason.startswith("OAuth2 token endpoint https://auth.example.com/oauth/token ")
    assert says in info.value.reason
    assert "ID and SECRET" in info.value.reason  # which variables to check


def test_tokens_are_refreshed_early() -> None:
    assert refresh_margin(3600) == 60.0 and refresh_margin(2.0) == pytest.approx(0.2)
    hour = AccessToken("t", fetched_at=0.0, expires_at=3600.0)
    assert not hour.due(3539.0) and hour.due(3540.0) and not hour.expired(3599.0) and hour.expired(3600.0)
    short = AccessToken("t", fetched_at=10.0, expires_at=11.0)
    assert not short.due(10.89) and short.due(10.9)
    assert not AccessToken("t", 0.0, None).due(1e9)
