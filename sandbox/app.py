"""The sandbox API without the HTTP plumbing: request in, response out.

Order of checks for an API path, as an upstream API would apply them: unknown path
(404), auth (401, not rate limited), rate limit (429 with Retry-After), bad query
(400), then an injected fault (5xx, truncated 200, or a slow 200), then the page.
``/_health``, ``/_stats`` and ``/_reset`` are control paths: never limited, faulted,
authenticated or counted.
"""

from __future__ import annotations

import hmac
import json
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlencode, urlsplit

from sandbox.abuse import ABUSE_ROUTES, AbuseRequest
from sandbox.faults import Fault, FaultRates, choose
from sandbox.limiter import RateLimiter, WindowKind
from sandbox.market import MarketConfig
from sandbox.oauth2 import TOKEN_PATH, OAuth2Options, TokenIssuer, answer_body
from sandbox.routes import ROUTES, BadRequest, Query, find_route
from sandbox.stats import SandboxStats, StatsRecorder

# A key in the query never identifies a distinct request (and is a secret).
AUTH_QUERY_PARAM = "api_key"


@dataclass(frozen=True)
class SandboxOptions:
    rate_limit: int | None = None  # admitted requests per second; None: unlimited
    rate_window: WindowKind = "sliding"
    token: str | None = None  # when set, every API request must present it
    faults: FaultRates = field(default_factory=FaultRates)
    market: MarketConfig = field(default_factory=MarketConfig)
    # When set, POST /oauth/token issues tokens (sandbox.oauth2) and the API accepts them.
    oauth2: OAuth2Options | None = None


@dataclass
class Response:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    delay_seconds: float = 0.0  # the HTTP layer sleeps this long (outside any lock) first


def _json(status: int, payload: object, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps(payload, separators=(",", ":")).encode()
    return Response(status, body, {"Content-Type": "application/json", **(headers or {})})


class SandboxApp:
    def __init__(self, options: SandboxOptions) -> None:
        self.options = options
        self._lock = threading.Lock()
        # One clock for the limiter and the stats, so the stats judge the limiter by the
        # same times it used: monotonic (immune to wall-clock steps), expressed as epoch.
        self._wall_origin = time.time() - time.monotonic()
        self._reset_state()

    def _reset_state(self) -> None:
        self._limiter = RateLimiter(self.options.rate_limit, self.options.rate_window)
        self._stats = StatsRecorder()
        self._attempts: dict[str, int] = {}
        self._faults: dict[str, int] = {}
        self._abuse_hits: dict[str, list[float]] = {}  # request key -> monotonic times
        self._issuer = TokenIssuer(self.options.oauth2) if self.options.oauth2 else None

    def reset(self) -> None:
        with self._lock:
            self._reset_state()

    def abuse_hits(self, path: str) -> list[float]:
        """Monotonic times of every request to the abuse route ``path`` (any query)."""
        with self._lock:
            return sorted(t for key, times in self._abuse_hits.items() if key.split("?")[0] == path for t in times)

    def stats(self, detail: bool = False) -> SandboxStats:
        with self._lock:
            return self._stats.snapshot(detail)

    def _authorized(self, headers: dict[str, str], params: dict[str, str]) -> bool:
        token = self.options.token
        if self._issuer is not None:
            bearer = headers.get("authorization", "")
            if bearer.startswith("Bearer ") and self._issuer.valid(bearer[7:].strip(), time.monotonic()):
                return True
            if token is None:
                return False
        if token is None:
            return True
        presented = [
            headers.get("authorization", "").removeprefix("Bearer ").strip()
            if headers.get("authorization", "").startswith("Bearer ")
            else "",
            headers.get("x-api-key", ""),
            params.get(AUTH_QUERY_PARAM, ""),
        ]
        return any(value and hmac.compare_digest(value, token) for value in presented)

    def handle(self, method: str, target: str, headers: dict[str, str], base_url: str, body: bytes = b"") -> Response:
        """``target`` is the request line's path and query; ``headers`` keys are lowercase;
        ``base_url`` (scheme://host:port as the client addressed us) prefixes next-page URLs;
        ``body`` is read by the token endpoint only."""
        parts = urlsplit(target)
        path = parts.path
        params = dict(parse_qsl(parts.query, keep_blank_values=True))
        if path == "/_health":
            return _json(200, {"status": "ok"})
        if path == "/_stats" and method == "GET":
            return Response(
                200,
                self.stats(detail=params.get("detail") in ("1", "true")).model_dump_json().encode(),
                {"Content-Type": "application/json"},
            )
        if path == "/_reset" and method == "POST":
            self.reset()
            return _json(200, {"status": "reset"})
        if path == TOKEN_PATH and self._issuer is not None:
            return self._token(method, headers, body)
        if path in ABUSE_ROUTES:
            return self._abuse(path, params, headers, base_url)
        return self._api(method, path, params, headers, base_url)

    def _token(self, method: str, headers: dict[str, str], body: bytes) -> Response:
        """The OAuth2 token endpoint: never rate limited or faulted; counted in the stats."""
        assert self._issuer is not None
        with self._lock:
            answer = self._issuer.issue(method, headers, body, time.monotonic())
            self._stats.record(self._wall_origin + time.monotonic(), TOKEN_PATH, answer.status, "none", 0, False)
        return Response(answer.status, answer_body(answer), {"Content-Type": "application/json", **answer.headers})

    def _abuse(self, path: str, params: dict[str, str], headers: dict[str, str], base_url: str) -> Response:
        """The /abuse/ routes (sandbox.abuse): authenticated like the API, never rate limited."""
        if not self._authorized(headers, params):
            return _json(401, {"error": "missing or wrong token"}, {"WWW-Authenticate": 'Bearer realm="sandbox"'})
        clean = {k: v for k, v in params.items() if k != AUTH_QUERY_PARAM}
        key = f"{path}?{urlencode(sorted(clean.items()))}"
        with self._lock:
            hits = self._abuse_hits.setdefault(key, [])
            hit = len(hits)
            hits.append(time.monotonic())
        reply = ABUSE_ROUTES[path](AbuseRequest(path, clean, base_url, hit))
        return Response(reply.status, reply.body, reply.headers, reply.delay_seconds)

    def _api(self, method: str, path: str, params: dict[str, str], headers: dict[str, str], base_url: str) -> Response:
        route = find_route(path)
        with self._lock:
            # Read under the lock so admissions reach the limiter in time order.
            now = self._wall_origin + time.monotonic()
            if route is None:
                self._stats.record(now, path, 404, "none", 0, admitted=False)
                return _json(404, {"error": f"no route {path}; try one of {', '.join(ROUTES)}"})
            if method != "GET":
                self._stats.record(now, path, 405, "none", 0, admitted=False)
                return _json(405, {"error": f"{path} accepts GET only"}, {"Allow": "GET"})
            if not self._authorized(headers, params):
                self._stats.record(now, path, 401, "none", 0, admitted=False)
                return _json(401, {"error": "missing or wrong token"}, {"WWW-Authenticate": 'Bearer realm="sandbox"'})
            retry_after = self._limiter.admit(now)
            if retry_after is not None:
                self._stats.record(now, path, 429, "none", 0, admitted=False)
                limit = self.options.rate_limit
                return _json(
                    429,
                    {"error": f"rate limit of {limit} requests per second exceeded"},
                    {"Retry-After": str(retry_after)},
                )
            request_key = f"{path}?{urlencode(sorted((k, v) for k, v in params.items() if k != AUTH_QUERY_PARAM))}"
            attempt = self._attempts.get(request_key, 0)
            self._attempts[request_key] = attempt + 1
            fault, status = choose(
                self.options.faults, self.options.market.seed, request_key, attempt, self._faults.get(request_key, 0)
            )
            if fault is not Fault.NONE:
                self._faults[request_key] = self._faults.get(request_key, 0) + 1
        # Rows are computed outside the lock so concurrent clients do not queue behind
        # each other's page generation.
        try:
            page = route(Query(path, params, base_url), self.options.market)
        except BadRequest as exc:
            with self._lock:
                self._stats.record(now, path, 400, "none", 0, admitted=True)
            return _json(400, {"error": str(exc)})
        with self._lock:
            if fault is Fault.SERVER_ERROR:
                self._stats.record(now, path, status, fault.value, 0, admitted=True)
            else:
                self._stats.record(now, path, 200, fault.value, page.records, admitted=True)
        if fault is Fault.SERVER_ERROR:
            return _json(status, {"error": "injected server error; retry"})
        response = _json(200, page.body, page.headers)
        if fault is Fault.TRUNCATED:
            # A complete HTTP response whose JSON stops halfway, as a proxy cutting a
            # stream produces: status 200, matching Content-Length, invalid body.
            response.body = response.body[: max(1, len(response.body) // 2)]
        elif fault is Fault.SLOW:
            response.delay_seconds = self.options.faults.slow_seconds
        return response
