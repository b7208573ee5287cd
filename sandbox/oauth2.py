"""An OAuth2 token endpoint (client credentials grant, RFC 6749 4.4) for the sandbox.

``POST /oauth/token`` with ``grant_type=client_credentials``; the client
authenticates with HTTP Basic or ``client_id``/``client_secret`` in the form. It
answers ``{"access_token", "token_type": "bearer", "expires_in"}``, or an RFC 6749
5.2 error (400 ``invalid_request`` / ``unsupported_grant_type`` / ``invalid_scope``,
401 ``invalid_client``). The API then accepts ``Authorization: Bearer <token>`` until
the token's lifetime ends, and answers 401 after.

``lifetime_seconds`` is short in tests, so a crawl outlives its token.
``expires_in`` (default: the lifetime) is what the answer claims: set it longer
than the lifetime to have tokens die before the client expects, which is what a
revoked token looks like (a 401 the client must recover from).
"""

from __future__ import annotations

import base64
import hmac
import json
import secrets
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote

TOKEN_PATH = "/oauth/token"


@dataclass(frozen=True)
class OAuth2Options:
    client_id: str
    client_secret: str
    lifetime_seconds: float = 3600.0
    expires_in: float | None = None  # claimed in the answer; None: lifetime_seconds
    scopes: frozenset[str] | None = None  # grantable scopes; None: any
    token_prefix: str = "sbx-oauth-"  # issued tokens start with it (a canary test greps for it)

    def __post_init__(self) -> None:
        if self.lifetime_seconds <= 0:
            raise ValueError("oauth2 lifetime_seconds must be positive")


@dataclass(frozen=True)
class TokenAnswer:
    status: int
    body: dict[str, object]
    headers: dict[str, str]


def _error(status: int, code: str, description: str) -> TokenAnswer:
    headers = {"Cache-Control": "no-store"}
    if status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="sandbox-oauth"'
    return TokenAnswer(status, {"error": code, "error_description": description}, headers)


def _client(headers: dict[str, str], form: dict[str, str]) -> tuple[str, str] | None:
    value = headers.get("authorization", "")
    if value.startswith("Basic "):
        try:
            user, _, password = base64.b64decode(value[6:], validate=True).decode().partition(":")
        except ValueError:
            return None
        return unquote(user), unquote(password)
    if "client_id" in form:
        return form["client_id"], form.get("client_secret", "")
    return None


class TokenIssuer:
    """Issues and checks tokens. Not thread-safe on its own: the app calls it under its lock."""

    def __init__(self, options: OAuth2Options) -> None:
        self.options = options
        self._expiry: dict[str, float] = {}  # token -> monotonic time it stops working

    def issue(self, method: str, headers: dict[str, str], body: bytes, now: float) -> TokenAnswer:
        if method != "POST":
            return _error(400, "invalid_request", "the token endpoint accepts POST only")
        try:
            form = dict(parse_qsl(body.decode(), keep_blank_values=True, strict_parsing=bool(body)))
        except (UnicodeDecodeError, ValueError):
            return _error(400, "invalid_request", "the body must be application/x-www-form-urlencoded")
        if form.get("grant_type") != "client_credentials":
            return _error(400, "unsupported_grant_type", "only grant_type=client_credentials is supported")
        client = _client(headers, form)
        opts = self.options
        if (
            client is None
            or not hmac.compare_digest(client[0].encode(), opts.client_id.encode())
            or not hmac.compare_digest(client[1].encode(), opts.client_secret.encode())
        ):
            return _error(401, "invalid_client", "unknown client or wrong client secret")
        scopes = form.get("scope", "").split()
        if opts.scopes is not None and not set(scopes) <= opts.scopes:
            return _error(400, "invalid_scope", f"grantable scopes: {' '.join(sorted(opts.scopes))}")
        self._expiry = {t: end for t, end in self._expiry.items() if end > now}
        token = opts.token_prefix + secrets.token_urlsafe(24)
        self._expiry[token] = now + opts.lifetime_seconds
        expires_in = opts.expires_in if opts.expires_in is not None else opts.lifetime_seconds
        return TokenAnswer(
            200,
            {"access_token": token, "token_type": "bearer", "expires_in": expires_in},
            {"Cache-Control": "no-store", "Pragma": "no-cache"},
        )

    def valid(self, token: str, now: float) -> bool:
        end = self._expiry.get(token)
        return end is not None and now < end


def answer_body(answer: TokenAnswer) -> bytes:
    return json.dumps(answer.body, separators=(",", ":")).encode()
