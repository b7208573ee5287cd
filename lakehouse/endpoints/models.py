"""The endpoint config: one strict pydantic model family for ``config/endpoints/<name>.yaml``.

Every model forbids unknown keys, so a typo (``offest_param``) is an error instead of a
silently ignored setting. Secrets never appear here: auth blocks name environment
variables, and the loader turns a ``token:`` or ``password:`` key into an error that
says so. docs/endpoints.md documents every field.
"""

from __future__ import annotations

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

from lakehouse.endpoints.jsonpath import check_path
from lakehouse.endpoints.templates import (
    PLACEHOLDERS,
    has_placeholder,
    render,
    slot_values,
    unknown_placeholders,
)
from lakehouse.raw_layout import DEFAULT_SECRET_PARAMS, MAX_PAGE_INDEX
from lakehouse.slots import cron_problem

NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")
ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# The DAG id, Redis keys and Iceberg identifiers are built from names; keep them short.
NAME_MAX = 64
# Spark adds these partition columns to every endpoint table (ARCHITECTURE: Tables).
PARTITION_COLUMNS: frozenset[str] = frozenset({"ds", "hr", "min"})
# Credentials belong in `auth`, whose values are environment variable names.
# The same set the crawl job refuses (lakehouse.jobs), so a config that validates builds jobs.
CREDENTIAL_HEADERS: frozenset[str] = frozenset({"authorization", "proxy-authorization", "cookie", "x-api-key"})
# An HTTP header name (RFC 9110 token) and a query parameter name: no CR/LF, spaces or
# separators that could smuggle a second header or parameter.
HEADER_NAME_RE = re.compile(r"^[A-Za-z0-9-]+$")
PARAM_NAME_RE = re.compile(r"^[A-Za-z0-9_.\-]+$")


def _check_name(value: str) -> str:
    # fullmatch: with match, '$' also accepts a trailing newline ('trades\n').
    if not NAME_RE.fullmatch(value) or len(value) > NAME_MAX:
        raise ValueError(
            f"{value!r} is not a valid name: use lowercase letters, digits and underscores, "
            f"starting with a letter, at most {NAME_MAX} characters (e.g. sandbox_trades)"
        )
    return value


def _check_env_name(value: str) -> str:
    if not ENV_NAME_RE.fullmatch(value):
        raise ValueError(
            "must be the NAME of an environment variable that holds the secret (e.g. SANDBOX_TOKEN), "
            "not the secret itself; got a value that is not a variable name"
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
EnvVarName = Annotated[str, AfterValidator(_check_env_name)]
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


# --- auth: secrets by environment variable name only --------------------------------


class NoAuth(StrictModel):
    type: Literal["none"] = "none"


class BearerAuth(StrictModel):
    """``Authorization: Bearer <value of token_env>``."""

    type: Literal["bearer"]
    token_env: EnvVarName


class ApiKeyAuth(StrictModel):
    """A key sent as a header or a query parameter named ``name``."""

    type: Literal["api_key"]
    location: Literal["header", "query"] = Field(alias="in")
    name: str = Field(min_length=1, max_length=NAME_MAX)
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


class BasicAuth(StrictModel):
    """HTTP Basic from two environment variables."""

    type: Literal["basic"]
    username_env: EnvVarName
    password_env: EnvVarName


Auth = Annotated[NoAuth | BearerAuth | ApiKeyAuth | BasicAuth, Field(discriminator="type")]


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

    @field_validator("url")
    @classmethod
    def _url(cls, url: str) -> str:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{url!r} must be an absolute http(s) URL, e.g. https://api.example.com/v1/trades")
        if parts.username or parts.password:
            raise ValueError("the URL must not carry credentials; use request.auth with an environment variable name")
        if any(ch.isspace() for ch in url) or not url.isascii():
            raise ValueError(
                f"{url!r} contains whitespace or non-ASCII characters (a look-alike letter?); "
                "percent-encode them or fix the URL"
            )
        if parts.query or parts.fragment:
            raise ValueError(
                f"{url!r} has a query string; move its parameters into request.params "
                "so templates and pagination can manage them"
            )
        return url

    @field_validator("params")
    @classmethod
    def _params(cls, params: dict[str, str]) -> dict[str, str]:
        # The crawl job refuses these names (they are stripped from every stored URL),
        # so refuse them here rather than when the first job is built.
        if secret := sorted(k for k in params if k.lower() in DEFAULT_SECRET_PARAMS):
            raise ValueError(
                f"parameter(s) {secret} look like credentials; configure request.auth "
                "(type api_key, in: query) with an environment variable name instead"
            )
        return params

    @field_validator("headers")
    @classmethod
    def _headers(cls, headers: dict[str, str]) -> dict[str, str]:
        for header, value in headers.items():
            if not HEADER_NAME_RE.fullmatch(header):
                raise ValueError(f"{header!r} is not a valid header name: use letters, digits and '-'")
            if "\r" in value or "\n" in value:
                raise ValueError(f"{header!r}: a header value may not contain a line break")
            if header.lower() in CREDENTIAL_HEADERS:
                raise ValueError(
                    f"{header!r} carries credentials; configure request.auth instead "
                    "(bearer, api_key or basic, each naming an environment variable)"
                )
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
        return self

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
