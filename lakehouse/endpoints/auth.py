"""Auth and secret policy: the one place that knows what a credential is.

- **Auth types**, one class per ``auth.type`` in an endpoint's YAML, each applying
  itself (``apply``) to a request from the worker's environment. The endpoint config
  and the crawl job carry the same classes, so a job holds exactly what the config
  said: environment variable *names*, never values.
- **Secret rules** (``SECRET_RULES``): what a request may not carry literally (a
  credential header, a secret-looking parameter, userinfo in the URL, the auth's
  own header or parameter). The endpoint config (``lakehouse validate``) and the
  job model both run ``check_request``, so every rule that refuses a job refuses the
  config first, with the field path.
- **Redaction**: ``redact_url`` / ``url_has_secrets`` strip every credential query
  parameter (the defaults plus those an auth declares) from URLs before they are
  logged or recorded.

Engine-free on purpose (no I/O): the worker fetches OAuth2 tokens itself
(``scrapworker.oauth2``) with the request this module builds.
"""

from __future__ import annotations

import base64
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal, NamedTuple
from urllib.parse import quote, unquote_plus, urlencode, urlsplit, urlunsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from lakehouse.errors import MissingSecretError

ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# An HTTP header name (RFC 9110 token) and a query parameter name: no CR/LF, spaces or
# separators that could smuggle a second header or parameter.
HEADER_NAME_RE = re.compile(r"^[A-Za-z0-9-]+$")
PARAM_NAME_RE = re.compile(r"^[A-Za-z0-9_.\-]+$")
# RFC 6749 section 3.3: a scope token is printable ASCII without space, '"' or '\'.
SCOPE_RE = re.compile(r"^[\x21\x23-\x5b\x5d-\x7e]+$")
AUTH_NAME_MAX = 64

# Headers that carry credentials: they come from `auth`, never as literal values.
CREDENTIAL_HEADERS: frozenset[str] = frozenset({"authorization", "proxy-authorization", "cookie", "x-api-key"})

# Query parameters that commonly carry credentials. Stripped from every URL that is
# stored or logged, in addition to the names an endpoint's auth declares, and refused
# as literal request parameters.
DEFAULT_SECRET_PARAMS: frozenset[str] = frozenset(
    {
        "access_token",
        "api-key",
        "api_key",
        "apikey",
        "auth",
        "auth_token",
        "client_secret",
        "key",
        "passwd",
        "password",
        "refresh_token",
        "secret",
        "sig",
        "signature",
        "token",
        "x-api-key",
    }
)


# --- URL redaction ------------------------------------------------------------------


def _secret_names(secret_params: Iterable[str]) -> set[str]:
    return {n.lower() for n in secret_params} | DEFAULT_SECRET_PARAMS


def _param_name(pair: str) -> str:
    return unquote_plus(pair.split("=", 1)[0]).lower()


def url_has_secrets(url: str, secret_params: Iterable[str] = ()) -> bool:
    """True when the URL carries userinfo or a query parameter that redact_url() strips."""
    parts = urlsplit(url)
    names = _secret_names(secret_params)
    return "@" in parts.netloc or any(_param_name(p) in names for p in parts.query.split("&") if p)


def redact_url(url: str, secret_params: Iterable[str] = ()) -> str:
    """The URL without credentials: userinfo removed, and query parameters named in
    DEFAULT_SECRET_PARAMS or ``secret_params`` dropped (case-insensitive). Other
    parameters are kept byte for byte, so a clean URL comes back unchanged."""
    names = _secret_names(secret_params)
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    query = "&".join(p for p in parts.query.split("&") if p and _param_name(p) not in names)
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


# --- auth types -----------------------------------------------------------------------


def _check_env_name(value: str) -> str:
    if not ENV_NAME_RE.fullmatch(value):
        raise ValueError(
            "must be the NAME of an environment variable that holds the secret (e.g. SANDBOX_TOKEN), "
            "not the secret itself; got a value that is not a variable name"
        )
    return value


def _check_token_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{url!r} must be an absolute http(s) URL, e.g. https://auth.example.com/oauth/token")
    if any(ch.isspace() for ch in url) or not url.isascii():
        raise ValueError(f"{url!r} contains whitespace or non-ASCII characters; percent-encode them")
    if url_has_secrets(url) or parts.fragment:
        raise ValueError(
            "the token URL must not carry credentials or a fragment (userinfo, or a secret-looking query "
            "parameter); the client id and secret come from client_id_env and client_secret_env"
        )
    return url


def _check_scope(value: str) -> str:
    if not SCOPE_RE.fullmatch(value):
        raise ValueError(f"{value!r} is not a scope: one word of printable ASCII, without spaces or quotes")
    return value


EnvVarName = Annotated[str, AfterValidator(_check_env_name)]


class Credentials(NamedTuple):
    """What an auth adds to one request. Build at send time; never store or log it."""

    headers: dict[str, str]
    params: dict[str, str]


def _need(environ: Mapping[str, str] | None, name: str, what: str) -> str:
    env = os.environ if environ is None else environ
    value = env.get(name)
    if not value:
        raise MissingSecretError(
            f"the {what} credential for this endpoint (environment variable {name})",
            [f"environment variable {name} of the worker process (set it where the worker runs)"],
        )
    return value


class _AuthBase(BaseModel):
    # The same class in YAML and in the job payload: dump by alias (api_key's `in`)
    # so a job reads back as it was written.
    model_config = ConfigDict(
        extra="forbid", frozen=True, serialize_by_alias=True, validate_by_alias=True, validate_by_name=True
    )
    #: True when a token must be fetched first (the worker's scrapworker.oauth2).
    needs_token: ClassVar[bool] = False

    def env_names(self) -> frozenset[str]:
        """The environment variables the worker reads for this auth (and masks in logs)."""
        return frozenset(value for name, value in self if name.endswith("_env") and isinstance(value, str) and value)

    def secret_headers(self) -> frozenset[str]:
        """Header names (lowercase) this auth sets: no literal header may use them."""
        return frozenset()

    def secret_params(self) -> frozenset[str]:
        """Query parameter names this auth sets: stripped from every recorded URL."""
        return frozenset()

    def apply(self, environ: Mapping[str, str] | None = None) -> Credentials:
        """The headers and query parameters carrying the credential, read from
        ``environ`` (default: this process's environment)."""
        return Credentials({}, {})


class NoAuth(_AuthBase):
    type: Literal["none"] = "none"


class BearerAuth(_AuthBase):
    """``Authorization: Bearer <value of token_env>``."""

    type: Literal["bearer"] = "bearer"
    token_env: EnvVarName

    def secret_headers(self) -> frozenset[str]:
        return frozenset({"authorization"})

    def apply(self, environ: Mapping[str, str] | None = None) -> Credentials:
        return Credentials({"Authorization": f"Bearer {_need(environ, self.token_env, self.type)}"}, {})


class ApiKeyAuth(_AuthBase):
    """A key sent as a header or a query parameter named ``name``."""

    type: Literal["api_key"] = "api_key"
    location: Literal["header", "query"] = Field(alias="in")
    name: str = Field(min_length=1, max_length=AUTH_NAME_MAX)
    key_env: EnvVarName

    @model_validator(mode="after")
    def _name_fits_location(self) -> ApiKeyAuth:
        pattern = HEADER_NAME_RE if self.location == "header" else PARAM_NAME_RE
        if not pattern.fullmatch(self.name):
            raise ValueError(
                f"{self.name!r} is not a valid {self.location} name: use letters, digits and '-'"
                + (" (headers)" if self.location == "header" else ", '_' or '.' (query parameters)")
            )
        return self

    def secret_headers(self) -> frozenset[str]:
        return frozenset({self.name.lower()}) if self.location == "header" else frozenset()

    def secret_params(self) -> frozenset[str]:
        return frozenset({self.name}) if self.location == "query" else frozenset()

    def apply(self, environ: Mapping[str, str] | None = None) -> Credentials:
        key = _need(environ, self.key_env, self.type)
        return Credentials({self.name: key}, {}) if self.location == "header" else Credentials({}, {self.name: key})


class BasicAuth(_AuthBase):
    """HTTP Basic from two environment variables."""

    type: Literal["basic"] = "basic"
    username_env: EnvVarName
    password_env: EnvVarName

    def secret_headers(self) -> frozenset[str]:
        return frozenset({"authorization"})

    def apply(self, environ: Mapping[str, str] | None = None) -> Credentials:
        pair = f"{_need(environ, self.username_env, self.type)}:{_need(environ, self.password_env, self.type)}"
        return Credentials({"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()}, {})


class TokenRequest(NamedTuple):
    """An OAuth2 token request, ready to send: POST ``body`` (form) to ``url``."""

    url: str
    headers: dict[str, str]
    body: bytes


class OAuth2ClientCredentials(_AuthBase):
    """OAuth2 client credentials grant (RFC 6749 section 4.4): the worker posts the
    client id and secret to ``token_url`` and sends ``Authorization: Bearer <token>``.

    The token lives only in the worker's memory (scrapworker.oauth2): reused across
    pages and jobs until shortly before it expires, fetched again once on a 401.
    """

    needs_token: ClassVar[bool] = True

    type: Literal["oauth2_client_credentials"] = "oauth2_client_credentials"
    token_url: Annotated[str, AfterValidator(_check_token_url)]
    client_id_env: EnvVarName
    client_secret_env: EnvVarName
    scopes: list[Annotated[str, AfterValidator(_check_scope)]] = Field(default_factory=list, max_length=50)
    # RFC 6749 2.3.1: servers must accept HTTP Basic ("basic"); some want the pair in the form ("body").
    client_auth: Literal["basic", "body"] = "basic"
    # Token requests take a token from this endpoint's rate-limit bucket only when true
    # (most providers limit their token endpoint apart from the API).
    rate_limited: bool = False

    @field_validator("scopes")
    @classmethod
    def _unique_scopes(cls, scopes: list[str]) -> list[str]:
        if len(set(scopes)) != len(scopes):
            raise ValueError("a scope is listed twice")
        return scopes

    def secret_headers(self) -> frozenset[str]:
        return frozenset({"authorization"})

    def secret_params(self) -> frozenset[str]:
        return frozenset({"client_id", "client_secret", "access_token"})

    def cache_key(self) -> tuple[str, ...]:
        """Jobs whose auth has this key share one token (same client, same scopes)."""
        return (self.token_url, self.client_id_env, self.client_secret_env, self.client_auth, *sorted(self.scopes))

    def token_request(self, environ: Mapping[str, str] | None = None) -> TokenRequest:
        client_id = _need(environ, self.client_id_env, "OAuth2 client id")
        secret = _need(environ, self.client_secret_env, "OAuth2 client secret")
        form = {"grant_type": "client_credentials"}
        if self.scopes:
            form["scope"] = " ".join(self.scopes)
        headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
        if self.client_auth == "basic":
            # RFC 6749 2.3.1: each part form-urlencoded before the Basic encoding.
            pair = f"{quote(client_id, safe='')}:{quote(secret, safe='')}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
        else:
            form |= {"client_id": client_id, "client_secret": secret}
        return TokenRequest(self.token_url, headers, urlencode(form).encode())

    def apply(self, environ: Mapping[str, str] | None = None, token: str | None = None) -> Credentials:
        if token is None:
            raise ValueError("an OAuth2 request needs its access token (scrapworker.oauth2 fetches it)")
        return Credentials({"Authorization": f"Bearer {token}"}, {})


Auth = Annotated[
    NoAuth | BearerAuth | ApiKeyAuth | BasicAuth | OAuth2ClientCredentials,
    Field(discriminator="type"),
]
AUTH_TYPES: tuple[type[_AuthBase], ...] = (NoAuth, BearerAuth, ApiKeyAuth, BasicAuth, OAuth2ClientCredentials)
AnyAuth = NoAuth | BearerAuth | ApiKeyAuth | BasicAuth | OAuth2ClientCredentials


# --- secret rules: what a request may not carry literally ----------------------------


class Problem(NamedTuple):
    rule: str
    loc: tuple[str, ...]  # relative to the request (e.g. ("headers", "X-API-Key"))
    message: str


@dataclass(frozen=True)
class RequestParts:
    url: str
    params: Mapping[str, str]
    headers: Mapping[str, str]
    auth: AnyAuth


@dataclass(frozen=True)
class SecretRule:
    """One rule. ``example`` is a request fragment that breaks it (merged over a clean
    request: tests build a config and a job from it and expect both refused)."""

    id: str
    summary: str
    check: Callable[[RequestParts], Iterator[Problem]]
    example: dict[str, Any]


def _url_userinfo(r: RequestParts) -> Iterator[Problem]:
    if "@" in urlsplit(r.url).netloc:
        yield Problem(
            "url_userinfo",
            ("url",),
            "the URL must not carry credentials; use request.auth with an environment variable name",
        )


def _url_secret_param(r: RequestParts) -> Iterator[Problem]:
    query = urlsplit(r.url).query
    names = _secret_names(r.auth.secret_params())
    if bad := sorted({_param_name(p) for p in query.split("&") if p and _param_name(p) in names}):
        yield Problem(
            "url_secret_param",
            ("url",),
            f"the URL's query carries credential parameter(s) {bad}; configure request.auth instead",
        )


def _credential_header(r: RequestParts) -> Iterator[Problem]:
    for header in r.headers:
        if header.lower() in CREDENTIAL_HEADERS:
            yield Problem(
                "credential_header",
                ("headers", header),
                f"{header!r} carries credentials; configure request.auth instead "
                "(bearer, api_key, basic or oauth2_client_credentials, each naming environment variables)",
            )


def _auth_header_literal(r: RequestParts) -> Iterator[Problem]:
    own = r.auth.secret_headers() - CREDENTIAL_HEADERS  # those are refused by credential_header
    for header in r.headers:
        if header.lower() in own:
            yield Problem(
                "auth_header_literal",
                ("headers", header),
                f"{header!r} is the header request.auth ({r.auth.type}) sends; remove the literal header",
            )


def _secret_param(r: RequestParts) -> Iterator[Problem]:
    for name in r.params:
        if name.lower() in DEFAULT_SECRET_PARAMS:
            yield Problem(
                "secret_param",
                ("params", name),
                f"parameter {name!r} looks like a credential; configure request.auth "
                "(type api_key, in: query) with an environment variable name instead",
            )


def _auth_param_literal(r: RequestParts) -> Iterator[Problem]:
    own = {n.lower() for n in r.auth.secret_params()} - DEFAULT_SECRET_PARAMS
    for name in r.params:
        if name.lower() in own:
            yield Problem(
                "auth_param_literal",
                ("params", name),
                f"parameter {name!r} is the one request.auth ({r.auth.type}) sends; remove the literal parameter",
            )


_QUERY_KEY = {"type": "api_key", "in": "query", "name": "k", "key_env": "K"}
_HEADER_KEY = {"type": "api_key", "in": "header", "name": "X-Token", "key_env": "K"}

SECRET_RULES: tuple[SecretRule, ...] = (
    SecretRule(
        "url_userinfo", "no user:password@ in the URL", _url_userinfo, {"url": "https://u:p@api.example.com/v1"}
    ),
    SecretRule(
        "url_secret_param",
        "no credential parameter in the URL's query",
        _url_secret_param,
        {"url": "https://api.example.com/v1?token=abc"},
    ),
    SecretRule(
        "credential_header",
        f"no literal {', '.join(sorted(CREDENTIAL_HEADERS))} header",
        _credential_header,
        {"headers": {"X-API-Key": "abc"}},
    ),
    SecretRule(
        "auth_header_literal",
        "no literal header of the name request.auth sends",
        _auth_header_literal,
        {"headers": {"X-Token": "abc"}, "auth": _HEADER_KEY},
    ),
    SecretRule(
        "secret_param",
        "no request parameter named like a credential (token, api_key, ...)",
        _secret_param,
        {"params": {"api_key": "abc"}},
    ),
    SecretRule(
        "auth_param_literal",
        "no literal parameter of the name request.auth sends",
        _auth_param_literal,
        {"params": {"k": "abc"}, "auth": _QUERY_KEY},
    ),
)


def request_problems(parts: RequestParts) -> list[Problem]:
    return [problem for rule in SECRET_RULES for problem in rule.check(parts)]


def check_request(url: str, params: Mapping[str, str], headers: Mapping[str, str], auth: AnyAuth) -> None:
    """Raise a pydantic ValidationError, one error per broken rule located at the
    offending field (``headers.X-API-Key``), when the request breaks a secret rule.
    Call it from a model validator: pydantic prefixes the model's own location."""
    problems = request_problems(RequestParts(url, params, headers, auth))
    if problems:
        raise ValidationError.from_exception_data(
            "secret policy",
            [
                InitErrorDetails(
                    type=PydanticCustomError("secret_policy", "{message}", {"message": p.message, "rule": p.rule}),
                    loc=p.loc,
                    input=p.loc[-1],  # the offending name, never the value
                )
                for p in problems
            ],
        )
