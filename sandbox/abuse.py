"""Routes that abuse the client, as real upstreams do (issue 12): each under ``/abuse/``.

=====================================  ===============================================
``/abuse/slow?delay=S``                a JSON list, after sleeping S seconds (<= 60)
``/abuse/html``                        200 with an HTML page instead of JSON
``/abuse/huge?mb=N``                   a JSON list of about N MB (<= 200) in one page
``/abuse/retry_after?value=V&times=K`` 429 with ``Retry-After: V`` for the first K
                                       identical requests, then a JSON list
``/abuse/cursor_repeat``               ``{"data": [...], "next_cursor": "same"}`` forever
``/abuse/next_loop?page=P``            ``next`` alternates between page 1 and page 2
``/abuse/link_loop``                   ``Link: <itself>; rel="next"``
``/abuse/link_to?to=URL``              records, ``Link: <URL>; rel="next"`` (issue 18)
``/abuse/next_to?to=URL``              ``{"data": [...], "next": "URL"}``
``/abuse/redirect_to?to=URL``          302 to ``URL`` (``status=`` 301/303/307/308)
``/abuse/count?field=F&value=V``       ``{"data": [...], "F": V}``, V written into the
                                       JSON as given (``1e999``, ``true``, ``"123"``)
``/abuse/meta_refresh?to=URL``         200 HTML with ``<meta http-equiv="refresh" content="0;url=URL">``
``/abuse/deep?depth=N``                N nested lists ``[[[...]]]`` (<= 1,000,000)
``/abuse/mixed``                       ``{"data": [1, "a"]}``: records of mixed types
=====================================  ===============================================

Every route is deterministic; the app counts identical requests (``retry_after``) and
records when each abuse path was hit, so a test can measure how the client paced
itself (``SandboxApp.abuse_hits``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from html import escape as html_escape

MAX_DELAY_SECONDS = 60.0
MAX_HUGE_MB = 200
_RECORDS = [{"id": i, "price": "100.5", "qty": "0.01"} for i in range(1, 11)]


@dataclass
class AbuseResponse:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    delay_seconds: float = 0.0


@dataclass(frozen=True)
class AbuseRequest:
    path: str
    params: dict[str, str]
    base_url: str
    hit: int  # how many identical requests came before this one (0 for the first)


def _json(payload: object, status: int = 200, headers: dict[str, str] | None = None) -> AbuseResponse:
    return AbuseResponse(
        status,
        json.dumps(payload, separators=(",", ":")).encode(),
        {"Content-Type": "application/json", **(headers or {})},
    )


def _number(params: dict[str, str], name: str, default: float, upper: float) -> float:
    try:
        value = float(params.get(name, default))
    except ValueError:
        value = default
    return max(0.0, min(upper, value))


def slow(req: AbuseRequest) -> AbuseResponse:
    response = _json(_RECORDS)
    response.delay_seconds = _number(req.params, "delay", 5.0, MAX_DELAY_SECONDS)
    return response


def html(req: AbuseRequest) -> AbuseResponse:
    body = b"<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body><h1>Bad Gateway</h1></body></html>"
    return AbuseResponse(200, body, {"Content-Type": "text/html; charset=utf-8"})


@lru_cache(maxsize=2)
def huge_body(mb: int) -> tuple[bytes, int]:
    """A JSON list of about ``mb`` MB and its record count (cached: built once per size)."""
    pad = "x" * 1000
    one = len(json.dumps({"id": 0, "pad": pad}, separators=(",", ":"))) + 1
    count = max(1, mb * 1024 * 1024 // one)
    body = ("[" + ",".join(f'{{"id":{i},"pad":"{pad}"}}' for i in range(count)) + "]").encode()
    return body, count


def huge(req: AbuseRequest) -> AbuseResponse:
    body, _ = huge_body(int(_number(req.params, "mb", 50, MAX_HUGE_MB)))
    return AbuseResponse(200, body, {"Content-Type": "application/json"})


def retry_after(req: AbuseRequest) -> AbuseResponse:
    times = int(_number(req.params, "times", 3, 1000))
    if req.hit < times:
        value = req.params.get("value", "0")
        return _json({"error": "slow down"}, 429, {"Retry-After": value})
    return _json(_RECORDS)


def cursor_repeat(req: AbuseRequest) -> AbuseResponse:
    return _json({"data": _RECORDS, "next_cursor": "same"})


def next_loop(req: AbuseRequest) -> AbuseResponse:
    page = 2 if req.params.get("page") == "1" or "page" not in req.params else 1
    return _json({"data": _RECORDS, "next": f"{req.base_url}{req.path}?page={page}"})


def link_loop(req: AbuseRequest) -> AbuseResponse:
    return AbuseResponse(
        200,
        json.dumps(_RECORDS).encode(),
        {"Content-Type": "application/json", "Link": f'<{req.base_url}{req.path}>; rel="next"'},
    )


MAX_DEPTH = 1_000_000
# What /abuse/count writes verbatim into its JSON: a number, a bool, or a quoted digit
# string, never arbitrary text (the sandbox stays a JSON server).
_RAW_COUNT_RE = re.compile(r'^(?:-?[0-9][0-9.eE+-]{0,40}|true|false|null|"[0-9]{0,60}")$')
_FIELD_RE = re.compile(r"^[a-z_]{1,40}$")


def link_to(req: AbuseRequest) -> AbuseResponse:
    target = req.params.get("to", "")
    return AbuseResponse(
        200,
        json.dumps(_RECORDS).encode(),
        {"Content-Type": "application/json", "Link": f'<{target}>; rel="next"'},
    )


def next_to(req: AbuseRequest) -> AbuseResponse:
    return _json({"data": _RECORDS, "next": req.params.get("to", "")})


def redirect_to(req: AbuseRequest) -> AbuseResponse:
    status = req.params.get("status", "302")
    code = int(status) if status in ("301", "302", "303", "307", "308") else 302
    return AbuseResponse(code, b"", {"Location": req.params.get("to", "/")})


def meta_refresh(req: AbuseRequest) -> AbuseResponse:
    target = html_escape(req.params.get("to", "/"), quote=True)
    body = f'<!DOCTYPE html><html><head><meta http-equiv="refresh" content="0;url={target}"></head></html>'
    return AbuseResponse(200, body.encode(), {"Content-Type": "text/html; charset=utf-8"})


def count(req: AbuseRequest) -> AbuseResponse:
    field, value = req.params.get("field", "total"), req.params.get("value", "0")
    if not _FIELD_RE.fullmatch(field) or not _RAW_COUNT_RE.fullmatch(value):
        return _json({"error": "field must be a lowercase name, value a JSON number, bool or digit string"}, 400)
    records = json.dumps(_RECORDS, separators=(",", ":"))
    return AbuseResponse(200, f'{{"data":{records},"{field}":{value}}}'.encode(), {"Content-Type": "application/json"})


def deep(req: AbuseRequest) -> AbuseResponse:
    depth = int(_number(req.params, "depth", 100_000, MAX_DEPTH))
    return AbuseResponse(200, b"[" * depth + b"]" * depth, {"Content-Type": "application/json"})


def mixed(req: AbuseRequest) -> AbuseResponse:
    return _json({"data": [1, "a"]})


ABUSE_ROUTES: dict[str, Callable[[AbuseRequest], AbuseResponse]] = {
    "/abuse/slow": slow,
    "/abuse/html": html,
    "/abuse/huge": huge,
    "/abuse/retry_after": retry_after,
    "/abuse/cursor_repeat": cursor_repeat,
    "/abuse/next_loop": next_loop,
    "/abuse/link_loop": link_loop,
    "/abuse/link_to": link_to,
    "/abuse/next_to": next_to,
    "/abuse/redirect_to": redirect_to,
    "/abuse/meta_refresh": meta_refresh,
    "/abuse/count": count,
    "/abuse/deep": deep,
    "/abuse/mixed": mixed,
}
