"""The endpoint config: one strict pydantic model family for ``config/endpoints/<name>.yaml``.

Every model forbids unknown keys, so a typo (``offest_param``) is an error instead of a
silently ignored setting. Secrets never appear here: auth blocks name environment
variables, and the loader turns a ``token:`` or ``password:`` key into an error that
says so. docs/endpoints.md documents every field.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import date, datetime, timedelta
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    JsonValue,
    field_validator,
    model_validator,
)

from lakehouse.endpoints.auth import (
    HEADER_NAME_RE,
    PARAM_NAME_RE,
    Auth,
    NoAuth,
    OAuth2ClientCredentials,
    check_request,
    redact_url,
)
from lakehouse.endpoints.incremental_rules import config_problem
from lakehouse.endpoints.jsonpath import check_path
from lakehouse.endpoints.parent_rules import config_problem as parent_problem
from lakehouse.endpoints.slots import cron_problem
from lakehouse.endpoints.templates import (
    PLACEHOLDERS,
    has_placeholder,
    render,
    slot_values,
    unknown_placeholders,
)
from lakehouse.endpoints.url_policy import MAX_ALLOWED_HOSTS, UrlPolicy, check_allowed_host, is_loopback
from lakehouse.raw.layout import MAX_PAGE_INDEX

NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")
# The DAG id, Redis keys and Iceberg identifiers are built from names; keep them short.
NAME_MAX = 64
# Spark adds these partition columns to every endpoint table (docs/architecture.md: Tables).
PARTITION_COLUMNS: frozenset[str] = frozenset({"ds", "hr", "min"})


def _check_name(value: str) -> str:
    # fullmatch: with match, '$' also accepts a trailing newline ('trades\n').
    if not NAME_RE.fullmatch(value) or len(value) > NAME_MAX:
        raise ValueError(
            f"{value!r} is not a valid name: use lowercase letters, digits and underscores, "
            f"starting with a letter, at most {NAME_MAX} characters (e.g. sandbox_trades)"
        )
    return value


def _check_schedule(value: str) -> str:
    problem = cron_problem(value)
    if problem:
        raise ValueError(problem)
    return value.strip()


def _check_templates(value: str) -> str:
    unknown = unknown_placeholders(value)
    if unknown:
        known = ", ".join("{" + name + "}" for name in PLACEHOLDERS)
        raise ValueError(f"unknown placeholder(s) {', '.join('{' + u + '}' for u in unknown)}; known: {known}")
    return value


def _param_to_text(value: object) -> object:
    # YAML turns `limit: 10` into an int and `flag: true` into a bool; a query string
    # holds text, and JSON-style lowercase booleans are what HTTP APIs expect.
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return value


def _upper(value: object) -> object:
    return value.upper() if isinstance(value, str) else value


Name = Annotated[str, AfterValidator(_check_name)]
JsonPath = Annotated[str, AfterValidator(check_path), Field(min_length=1)]
ParamValue = Annotated[str, BeforeValidator(_param_to_text), AfterValidator(_check_templates)]
Schedule = Annotated[str, AfterValidator(_check_schedule)]

# `sla: 45m`, `1h30m`, `2d`: pydantic reads durations only as seconds or ISO 8601
# (PT45M), which are not what people write in a YAML file; both still work.
_COMPACT_DURATION_RE = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


def _parse_duration(value: object) -> object:
    if isinstance(value, str):
        match = _COMPACT_DURATION_RE.fullmatch(value.strip())
        if match and any(match.groups()):
            days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
            return timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
    return value


def _check_sla(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise ValueError("must be a positive duration, e.g. 45m, 1h30m or 2d (how long after its end a slot may land)")
    return value


Duration = Annotated[timedelta, BeforeValidator(_parse_duration), AfterValidator(_check_sla)]


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- the request --------------------------------------------------------------------


class Request(StrictModel):
    url: str
    method: Annotated[Literal["GET", "POST"], BeforeValidator(_upper)] = "GET"
    params: dict[str, ParamValue] = Field(default_factory=dict)
    headers: dict[str, str] = Field(default_factory=dict)
    # JSON body for POST; string values may hold slot placeholders like params.
    body: dict[str, JsonValue] | None = None
    auth: Auth = Field(default_factory=NoAuth)
    timeout_seconds: float = Field(default=30.0, gt=0, le=600)
    # Hosts besides request.url's that next links, Link headers, redirects and the OAuth2
    # token_url may point to (lakehouse.endpoints.url_policy): each receives the credential.
    allowed_hosts: list[Annotated[str, AfterValidator(check_allowed_host)]] = Field(
        default_factory=list, max_length=MAX_ALLOWED_HOSTS
    )

    @field_validator("url")
    @classmethod
    def _url(cls, url: str) -> str:
        parts = urlsplit(url)
        shown = redact_url(url)  # an error message must not echo a password from the URL
        # Lowercase scheme: the crawl job's URL pattern refuses 'HTTPS://'.
        if not url.startswith(("http://", "https://")) or not parts.hostname:
            raise ValueError(f"{shown!r} must be an absolute http(s) URL, e.g. https://api.example.com/v1/trades")
        if any(ch.isspace() for ch in url) or not url.isascii():
            raise ValueError(
                f"{shown!r} contains whitespace or non-ASCII characters (a look-alike letter?); "
                "percent-encode them or fix the URL"
            )
        if parts.query or parts.fragment:
            raise ValueError(
                f"{shown!r} has a query string; move its parameters into request.params "
                "so templates and pagination can manage them"
            )
        return url

    @field_validator("headers")
    @classmethod
    def _headers(cls, headers: dict[str, str]) -> dict[str, str]:
        for header, value in headers.items():
            if not HEADER_NAME_RE.fullmatch(header):
                raise ValueError(f"{header!r} is not a valid header name: use letters, digits and '-'")
            if "\r" in value or "\n" in value:
                raise ValueError(f"{header!r}: a header value may not contain a line break")
            if has_placeholder(value):
                raise ValueError(f"{header!r}: slot placeholders work only in request.params and request.body")
        return headers

    @field_validator("body")
    @classmethod
    def _body_templates(cls, body: dict[str, JsonValue] | None) -> dict[str, JsonValue] | None:
        for text in _strings(body):
            _check_templates(text)
        return body

    @model_validator(mode="after")
    def _body_needs_post(self) -> Request:
        if self.body is not None and self.method != "POST":
            raise ValueError("a body is only sent with method: POST")
        return self

    @model_validator(mode="after")
    def _token_url_allowed(self) -> Request:
        if not isinstance(self.auth, OAuth2ClientCredentials):
            return self
        token_url = self.auth.token_url
        if not self.url_policy().allows(token_url):
            raise ValueError(
                f"auth.token_url {redact_url(token_url)!r} is not on request.url's origin or a host in "
                "request.allowed_hosts; the client secret is sent there: list its host in allowed_hosts"
            )
        if token_url.startswith("http://") and not (self.url.startswith("http://") and is_loopback(self.url)):
            raise ValueError(
                f"auth.token_url {redact_url(token_url)!r} must be https: the client secret would cross the "
                "network in clear (http is accepted only for an http API on loopback, as in tests)"
            )
        return self

    def url_policy(self) -> UrlPolicy:
        """Where this endpoint's crawl may send requests (lakehouse.endpoints.url_policy)."""
        return UrlPolicy(self.url, self.allowed_hosts)

    @model_validator(mode="after")
    def _secret_policy(self) -> Request:
        # The rules the crawl job enforces too (lakehouse.endpoints.auth.SECRET_RULES), located
        # at the offending field so `lakehouse validate` names it and its line.
        check_request(self.url, self.params, self.headers, self.auth)
        return self


def _strings(value: JsonValue) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for item in value.values() for s in _strings(item)]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    return []


def _render_json(value: JsonValue, values: dict[str, str]) -> JsonValue:
    if isinstance(value, str):
        return render(value, values)
    if isinstance(value, dict):
        return {key: _render_json(item, values) for key, item in value.items()}
    if isinstance(value, list):
        return [_render_json(item, values) for item in value]
    return value


# --- pagination: a discriminated union on `type` ------------------------------------

# At most the page keys the raw layout can number (page-999999.json): a larger value
# would validate here and fail mid-crawl.
MaxPages = Annotated[
    int, Field(ge=1, le=MAX_PAGE_INDEX, description="guard: a crawl that reaches it fails instead of looping")
]
# Huge values are typos, and a page that large would not fit a worker's memory.
PageSize = Annotated[int, Field(gt=0, le=100_000)]


class NoPagination(StrictModel):
    """One request per slot."""

    type: Literal["none"] = "none"

    def query_params(self) -> set[str]:
        return set()


class OffsetPagination(StrictModel):
    """``offset_param`` grows by the records received; stops at ``total_path`` or a short/empty page."""

    type: Literal["offset"]
    offset_param: str = Field(min_length=1)
    limit_param: str = Field(min_length=1)
    page_size: PageSize
    start_offset: int = Field(default=0, ge=0)
    total_path: JsonPath | None = None
    max_pages: MaxPages = 10000

    def query_params(self) -> set[str]:
        return {self.offset_param, self.limit_param}


class PagePagination(StrictModel):
    """``page_param`` counts from ``start_page``; stops past ``total_pages_path`` or on a short/empty page."""

    type: Literal["page"]
    page_param: str = Field(min_length=1)
    page_size_param: str | None = Field(default=None, min_length=1)
    page_size: PageSize
    start_page: int = Field(default=1, ge=0)
    total_pages_path: JsonPath | None = None
    max_pages: MaxPages = 10000

    def query_params(self) -> set[str]:
        return {self.page_param} | ({self.page_size_param} if self.page_size_param else set())


class CursorPagination(StrictModel):
    """Either send ``cursor_param`` = the value at ``next_cursor_path``, or follow the
    full URL at ``next_url_path``; stops when that value is missing, null or empty."""

    type: Literal["cursor"]
    cursor_param: str | None = Field(default=None, min_length=1)
    next_cursor_path: JsonPath | None = None
    next_url_path: JsonPath | None = None
    limit_param: str | None = Field(default=None, min_length=1)
    page_size: PageSize | None = None
    max_pages: MaxPages = 10000

    @model_validator(mode="after")
    def _one_mode(self) -> CursorPagination:
        by_cursor = self.cursor_param is not None or self.next_cursor_path is not None
        if by_cursor and self.next_url_path is not None:
            raise ValueError("set either cursor_param with next_cursor_path, or next_url_path, not both")
        if not by_cursor and self.next_url_path is None:
            raise ValueError(
                "set cursor_param with next_cursor_path (a cursor value) or next_url_path (a full next URL)"
            )
        if by_cursor and (self.cursor_param is None or self.next_cursor_path is None):
            raise ValueError("cursor_param and next_cursor_path go together: set both")
        if (self.limit_param is None) != (self.page_size is None):
            raise ValueError("limit_param and page_size go together: set both or neither")
        return self

    def query_params(self) -> set[str]:
        return {p for p in (self.cursor_param, self.limit_param) if p}


class LinkHeaderPagination(StrictModel):
    """Follows the RFC 8288 ``Link: <url>; rel="next"`` header until there is none."""

    type: Literal["link_header"]
    limit_param: str | None = Field(default=None, min_length=1)
    page_size: PageSize | None = None
    max_pages: MaxPages = 10000

    @model_validator(mode="after")
    def _pair(self) -> LinkHeaderPagination:
        if (self.limit_param is None) != (self.page_size is None):
            raise ValueError("limit_param and page_size go together: set both or neither")
        return self

    def query_params(self) -> set[str]:
        return {self.limit_param} if self.limit_param else set()


Pagination = Annotated[
    NoPagination | OffsetPagination | PagePagination | CursorPagination | LinkHeaderPagination,
    Field(discriminator="type"),
]


# --- response, limits, retries ----------------------------------------------------


class ResponseMap(StrictModel):
    # Empty: the response body itself is the list of records.
    records_path: Annotated[str, AfterValidator(check_path)] = ""


class RateLimit(StrictModel):
    """A token bucket shared by every worker: ``burst`` tokens, refilled at the rate."""

    requests_per_second: float | None = Field(default=None, gt=0)
    requests_per_minute: float | None = Field(default=None, gt=0)
    burst: int = Field(default=1, ge=1, le=10_000)
    # Endpoints of one API that share its limit name the same key (default: own name).
    key: Name | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> RateLimit:
        if (self.requests_per_second is None) == (self.requests_per_minute is None):
            raise ValueError("set exactly one of requests_per_second or requests_per_minute")
        return self

    @property
    def per_second(self) -> float:
        if self.requests_per_second is not None:
            return self.requests_per_second
        assert self.requests_per_minute is not None  # guaranteed by _exactly_one
        return self.requests_per_minute / 60.0

    def describe(self) -> str:
        rate = (
            f"{self.requests_per_second:g}/s"
            if self.requests_per_second is not None
            else f"{self.requests_per_minute:g}/min"
        )
        return f"{rate} burst {self.burst}"


class Retry(StrictModel):
    """Per page: exponential backoff from ``backoff_seconds``, capped; a 429's Retry-After wins."""

    max_attempts: int = Field(default=5, ge=1, le=100)
    backoff_seconds: float = Field(default=1.0, gt=0, le=3600)
    max_backoff_seconds: float = Field(default=60.0, gt=0, le=3600)
    # A 429 asking for a longer pause fails the job with that reason instead of
    # sleeping for hours (and pausing every worker's bucket that long).
    max_retry_after_seconds: float = Field(default=900.0, gt=0, le=86_400)

    @model_validator(mode="after")
    def _ordered(self) -> Retry:
        if self.max_backoff_seconds < self.backoff_seconds:
            raise ValueError("max_backoff_seconds must be at least backoff_seconds")
        return self


# --- the typed table Spark writes ---------------------------------------------------

SIMPLE_TYPES: frozenset[str] = frozenset({"string", "int", "long", "double", "boolean", "date", "timestamp"})
DECIMAL_RE = re.compile(r"^decimal\(\s*(\d+)\s*,\s*(\d+)\s*\)$")


def _check_column_type(value: str) -> str:
    text = value.strip().lower()
    if text in SIMPLE_TYPES:
        return text
    match = DECIMAL_RE.match(text)
    if match:
        precision, scale = int(match.group(1)), int(match.group(2))
        if not 1 <= precision <= 38 or scale > precision:
            raise ValueError(f"{value!r}: decimal precision must be 1..38 and scale 0..precision")
        return f"decimal({precision},{scale})"
    raise ValueError(f"unknown column type {value!r}; use one of {', '.join(sorted(SIMPLE_TYPES))} or decimal(p,s)")


ColumnType = Annotated[str, AfterValidator(_check_column_type)]


class Column(StrictModel):
    name: Name
    path: JsonPath
    type: ColumnType
    # How a timestamp/date is encoded in the record.
    format: Literal["epoch_ms", "epoch_s", "iso"] | None = None
    required: bool = False

    @model_validator(mode="after")
    def _format(self) -> Column:
        if self.type == "timestamp" and self.format is None:
            raise ValueError("a timestamp column needs format: epoch_ms, epoch_s or iso")
        if self.format is not None and self.type not in ("timestamp", "date"):
            raise ValueError(f"format applies to timestamp and date columns only, not {self.type}")
        return self

    @property
    def decimal(self) -> tuple[int, int] | None:
        match = DECIMAL_RE.match(self.type)
        return (int(match.group(1)), int(match.group(2))) if match else None


class Table(StrictModel):
    namespace: Name
    name: Name
    columns: list[Column] = Field(min_length=1)
    # overwrite: each run replaces its slot's partition. merge: rows are upserted by
    # primary_key (spark_jobs/merge.py), so the table holds each entity's latest version.
    write: Literal["overwrite", "merge"] = "overwrite"
    primary_key: list[Name] = Field(default_factory=list)
    # merge only: the column that says which version of an entity is the latest.
    order_by: Name | None = None

    @model_validator(mode="after")
    def _merge(self) -> Table:
        declared = {c.name: c for c in self.columns}
        if self.write == "overwrite":
            if self.primary_key or self.order_by:
                raise ValueError("primary_key and order_by apply to write: merge tables only; add write: merge")
            return self
        if not self.primary_key:
            raise ValueError("a write: merge table needs primary_key: the column(s) that identify an entity")
        if len(set(self.primary_key)) != len(self.primary_key):
            raise ValueError(f"primary_key {self.primary_key} names a column twice")
        for role, names in (("primary_key", self.primary_key), ("order_by", [self.order_by] if self.order_by else [])):
            for name in names:
                if name not in declared:
                    raise ValueError(f"{role} names {name!r}, which is not a declared column")
                if not declared[name].required:
                    raise ValueError(
                        f"{role} column {name!r} must be required: true (a record without it cannot be merged, "
                        "so it is quarantined instead)"
                    )
        if self.order_by in self.primary_key:
            raise ValueError(f"order_by {self.order_by!r} is part of primary_key; order by another column")
        return self

    @model_validator(mode="after")
    def _columns(self) -> Table:
        seen: set[str] = set()
        for column in self.columns:
            if column.name in PARTITION_COLUMNS:
                raise ValueError(
                    f"column {column.name!r} clashes with the partition columns "
                    f"{', '.join(sorted(PARTITION_COLUMNS))} that every table gets; rename it"
                )
            if column.name in seen:
                raise ValueError(f"column {column.name!r} is declared twice")
            seen.add(column.name)
        return self

    @property
    def identifier(self) -> str:
        return f"{self.namespace}.{self.name}"

    @property
    def quarantine_identifier(self) -> str:
        """Where the transform puts records that do not fit the columns."""
        return f"{self.identifier}__quarantine"

    @property
    def merge_log_identifier(self) -> str:
        """Where a merge table's transform records what each run delivered (lakehouse.tables.merge_log)."""
        return f"{self.identifier}__merge_log"


# --- incremental cursors and dependent endpoints (lakehouse.pipeline.incremental, .dependents) --


class Incremental(StrictModel):
    """Ask each slot for records changed since the high-water mark the previous slot
    reached: ``param`` = the largest ``cursor_path`` value landed so far."""

    cursor_path: JsonPath
    param: str = Field(min_length=1, max_length=NAME_MAX, pattern=PARAM_NAME_RE.pattern)
    # The first slot's value (nothing landed yet): e.g. an old ISO time or 0.
    initial_value: Annotated[str, BeforeValidator(_param_to_text), Field(min_length=1, max_length=200)]
    # An API's inclusive upper bound: sent on reruns and backfills of a recorded range,
    # so they fetch exactly that range again.
    until_param: str | None = Field(default=None, min_length=1, max_length=NAME_MAX, pattern=PARAM_NAME_RE.pattern)

    @model_validator(mode="after")
    def _distinct(self) -> Incremental:
        if self.until_param == self.param:
            raise ValueError("until_param must differ from param")
        return self

    def query_params(self) -> set[str]:
        return {self.param} | ({self.until_param} if self.until_param else set())


class Parent(StrictModel):
    """Crawl once per record the parent endpoint landed for the same slot: ``field`` of
    each parent record fills ``{placeholder}`` in this endpoint's request.url."""

    endpoint: Name
    field: JsonPath
    placeholder: Name


# --- the endpoint -------------------------------------------------------------------


class EndpointConfig(StrictModel):
    name: Name
    description: str = Field(default="", max_length=4000)
    request: Request
    pagination: Pagination = Field(default_factory=NoPagination)
    response_map: ResponseMap = Field(default_factory=ResponseMap)
    rate_limit: RateLimit
    retry: Retry = Field(default_factory=Retry)
    schedule: Schedule
    # First slot Airflow schedules (UTC); only matters with catchup or backfills.
    start_date: date = date(2026, 1, 1)
    catchup: bool = False
    tags: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(default_factory=list, max_length=50)
    table: Table | None = None
    incremental: Incremental | None = None
    parent: Parent | None = None
    # The most a slot may lag: each slot must have landed (its signal row published)
    # within this long after the slot ends; the lakehouse_sla DAG fails otherwise.
    sla: Duration | None = None

    @model_validator(mode="after")
    def _no_param_clash(self) -> EndpointConfig:
        clash = sorted(self.pagination.query_params() & set(self.request.params))
        if clash:
            raise ValueError(
                f"request.params sets {', '.join(clash)}, which pagination ({self.pagination.type}) "
                "manages; remove it from request.params"
            )
        if self.incremental is not None:
            if problem := config_problem(self):
                raise ValueError(problem)
        if self.parent is not None:
            if problem := parent_problem(self):
                raise ValueError(problem)
        return self

    @property
    def content_hash(self) -> str:
        """The config's identity: sha256 (hex) of the validated model as canonical JSON
        (every field with its value or default, keys sorted, no whitespace).

        Comments, blank lines, key order and YAML spelling that the model normalises
        (``method: get``, ``limit: 10`` vs ``"10"``) do not change it; any field does.
        Defaults are included on purpose: a pagination ``type`` or an auth ``type`` is
        a default too, and leaving defaults out would give two different configs one
        hash. So a lakehouse release that adds a config field changes every hash, like
        any change of the job contract: producers and workers run the same version. A
        crawl job carries the hash its producer saw, the worker refuses a job whose hash
        is not that of its own copy of the config, and the manifest and signal row record
        it, so every landing names the config that produced it (docs/endpoints.md).
        """
        canonical = json.dumps(
            self.model_dump(mode="json", by_alias=True), sort_keys=True, separators=(",", ":"), ensure_ascii=False
        )
        return hashlib.sha256(canonical.encode()).hexdigest()

    @property
    def rate_limit_key(self) -> str:
        """The token bucket this endpoint draws from, shared by endpoints naming the same key."""
        return self.rate_limit.key or self.name

    def render_params(self, slot_start: datetime, slot_end: datetime) -> dict[str, str]:
        """``request.params`` with slot placeholders filled in (UTC). Pagination
        parameters are not included: the crawler adds them per page."""
        values = slot_values(slot_start, slot_end)
        return {key: render(value, values) for key, value in self.request.params.items()}

    def render_body(self, slot_start: datetime, slot_end: datetime) -> JsonValue | None:
        """The POST body with slot placeholders filled in, or None for no body."""
        if self.request.body is None:
            return None
        return _render_json(self.request.body, slot_values(slot_start, slot_end))
