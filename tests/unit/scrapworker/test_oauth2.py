"""The worker's OAuth2 pieces that need no network: reading a token answer, when a
token is due for refresh, and the token cache (driven by hand-fired Deferreds)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from twisted.internet.defer import Deferred
from twisted.python.failure import Failure

from lakehouse.endpoints.auth import OAuth2ClientCredentials
from scrapworker.errors import TokenRequestError
from scrapworker.oauth2 import RETRY_REFRESH_SECONDS, AccessToken, TokenCache, parse_token_response, refresh_margin

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


class _Provider:
    """A token endpoint the test answers by hand: each fetch waits on a Deferred."""

    def __init__(self) -> None:
        self.pending: list[Deferred[AccessToken]] = []

    async def fetch(self) -> AccessToken:
        d: Deferred[AccessToken] = Deferred()
        self.pending.append(d)
        return await d


def _get(cache: TokenCache, provider: _Provider) -> list[Any]:
    out: list[Any] = []
    Deferred.fromCoroutine(cache.get(AUTH, provider.fetch)).addBoth(out.append)
    return out


def test_the_cache_fetches_once_for_concurrent_pages_and_again_when_due() -> None:
    now = [0.0]
    cache, provider = TokenCache(clock=lambda: now[0]), _Provider()
    first, second = _get(cache, provider), _get(cache, provider)
    assert len(provider.pending) == 1 and first == second == []  # one fetch, both wait
    provider.pending[0].callback(AccessToken("t1", 0.0, 10.0))
    assert [t.value for t in first + second] == ["t1", "t1"]
    now[0] = 8.9
    assert _get(cache, provider)[0].value == "t1" and len(provider.pending) == 1  # reused
    now[0] = 9.0  # within the 10 % margin: refreshed before it expires
    third = _get(cache, provider)
    assert len(provider.pending) == 2 and third == []
    provider.pending[1].callback(AccessToken("t2", 9.0, 19.0))
    assert third[0].value == "t2"
    cache.invalidate(AUTH, AccessToken("t1", 0.0, 10.0))  # an old token's 401: the new one stays
    assert _get(cache, provider)[0].value == "t2"
    cache.invalidate(AUTH, third[0])
    assert _get(cache, provider) == [] and len(provider.pending) == 3


def test_a_failed_early_refresh_keeps_the_old_token_and_waits_before_trying_again() -> None:
    now = [0.0]
    cache, provider = TokenCache(clock=lambda: now[0]), _Provider()
    _get(cache, provider)
    provider.pending[0].callback(AccessToken("t1", 0.0, 100.0))
    now[0] = 95.0
    early = _get(cache, provider)
    provider.pending[1].errback(TokenRequestError("OAuth2 token endpoint x refused."))
    assert early[0].value == "t1"
    now[0] = 95.0 + RETRY_REFRESH_SECONDS - 0.1
    assert _get(cache, provider)[0].value == "t1" and len(provider.pending) == 2  # quiet
    now[0] = 100.0  # expired: the refusal now fails every waiting page
    late, waiting = _get(cache, provider), _get(cache, provider)
    provider.pending[2].errback(TokenRequestError("OAuth2 token endpoint x refused."))
    assert all(isinstance(r[0], Failure) and r[0].check(TokenRequestError) for r in (late, waiting))
    assert _get(cache, provider) == [] and len(provider.pending) == 4  # the next page tries again
