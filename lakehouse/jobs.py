"""The crawl job contract: what travels through the queue, and what a run's status says.

Lifecycle of one job (one endpoint, one schedule slot)::

    enqueue ──► queued ──lease──► running ──ack──► finished | failed      (terminal)
                  ▲                  │
                  │                  ├─ heartbeat (extends the lease, reports progress)
                  │                  ├─ release (graceful shutdown) ──► queued, attempt not counted
                  └──── reap ◄───────┤  lease expired (worker died): queued again ...
                                     └─ ... or dead once attempts reach max_attempts
    payload fails validation ──────────────────────────────────────► dead (with its reason)

``attempts`` counts the leases handed out for the run that did not end in a graceful
release, so a job whose workers keep dying (a poison page, an OOM) stops after
``max_attempts`` and waits in the dead-letter list for a human.

Both sides validate: producers build a ``CrawlJob`` (so a bad one never leaves
Airflow), and the worker re-validates every payload it leases (so a payload from an
older producer or a hand-pushed one cannot crash it). Nothing here is secret: auth
travels as the *names* of environment variables, and the worker reads the values
from its own environment.
"""

from __future__ import annotations

import base64
import os
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from lakehouse import raw_layout
from lakehouse.errors import InvalidJobPayloadError, MissingSecretError
from lakehouse.slots import to_utc

SCHEMA_VERSION: Literal[1] = 1

ENDPOINT_NAME_PATTERN = r"^[a-z][a-z0-9_]*$"
# <endpoint>__<YYYYmmddTHHMM>Z: safe in S3 keys, Redis keys and Airflow ids, and it
# sorts by slot within an endpoint. The queue's Lua scripts get both from here
# (lakehouse.lua translates the pattern), so they are written once.
RUN_ID_PATTERN = r"^[a-z][a-z0-9_]*__\d{8}T\d{4}Z$"
RUN_ID_MAX_LENGTH = 200
ENV_VAR_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
# A job is a few hundred bytes; anything near this is junk or an attack, refused
# before it is parsed. S3 keys are at most 1024 bytes, and raw_prefix is their start.
MAX_PAYLOAD_BYTES = 64 * 1024
RAW_PREFIX_MAX_LENGTH = 900

# Headers that carry credentials must come from an AuthSpec, never as literal values.
_FORBIDDEN_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "x-api-key"})


UtcDatetime = Annotated[AwareDatetime, AfterValidator(to_utc)]


def run_id_for(endpoint: str, slot_start: datetime) -> str:
    """The run id of one endpoint's slot: the same slot always gives the same id, so
    reruns and backfills are the same job and land on the same keys."""
    if len(endpoint) > 100 or not re.fullmatch(ENDPOINT_NAME_PATTERN, endpoint):
        raise ValueError(f"endpoint name {endpoint!r} must match {ENDPOINT_NAME_PATTERN}")
    t = to_utc(slot_start, "slot start")  # a naive time: NaiveTimeError, a ValueError
    if t.second or t.microsecond:
        raise ValueError(
            f"slot start {t.isoformat()} is not on a whole minute; run ids and partitions have "
            "minute resolution, so two slots inside one minute would collide"
        )
    return f"{endpoint}__{t:%Y%m%dT%H%M}Z"


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"
    DEAD = "dead"

    @property
    def terminal(self) -> bool:
        return self in (JobState.FINISHED, JobState.FAILED, JobState.DEAD)


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class AuthSpec(_Strict):
    """How to authenticate, by reference: only environment variable *names*.

    - ``none``
    - ``bearer``: ``token_env`` → ``Authorization: Bearer <token>``
    - ``api_key``: ``token_env`` and exactly one of ``header`` (header name) or
      ``query_param`` (query parameter name)
    - ``basic``: ``username_env`` and ``password_env``
    """

    type: Literal["none", "bearer", "api_key", "basic"] = "none"
    token_env: str | None = Field(None, pattern=ENV_VAR_PATTERN)
    header: str | None = Field(None, pattern=r"^[A-Za-z0-9-]+$")
    query_param: str | None = Field(None, pattern=r"^[A-Za-z0-9_.\-]+$")
    username_env: str | None = Field(None, pattern=ENV_VAR_PATTERN)
    password_env: str | None = Field(None, pattern=ENV_VAR_PATTERN)

    @model_validator(mode="after")
    def _fields_fit_type(self) -> AuthSpec:
        allowed = {
            "none": set(),
            "bearer": {"token_env"},
            "api_key": {"token_env", "header", "query_param"},
            "basic": {"username_env", "password_env"},
        }[self.type]
        given = {f for f in ("token_env", "header", "query_param", "username_env", "password_env") if getattr(self, f)}
        if extra := given - allowed:
            raise ValueError(f"auth type {self.type!r} does not take {sorted(extra)}")
        if self.type in ("bearer", "api_key") and not self.token_env:
            raise ValueError(f"auth type {self.type!r} needs token_env (the environment variable holding the token)")
        if self.type == "api_key" and bool(self.header) == bool(self.query_param):
            raise ValueError("auth type 'api_key' needs exactly one of header or query_param")
        if self.type == "basic" and not (self.username_env and self.password_env):
            raise ValueError("auth type 'basic' needs username_env and password_env")
        return self

    @property
    def secret_query_params(self) -> frozenset[str]:
        """Query parameter names to strip when a URL is logged or recorded."""
        return frozenset({self.query_param}) if self.query_param else frozenset()

    def resolve(self, environ: Mapping[str, str] | None = None) -> tuple[dict[str, str], dict[str, str]]:
        """(headers, query params) carrying the credentials, read from ``environ``
        (default: this process's environment). Call it in the worker, at request time,
        and never store or log what it returns."""
        env = os.environ if environ is None else environ

        def need(name: str | None) -> str:
            assert name is not None
            value = env.get(name)
            if not value:
                raise MissingSecretError(
                    f"the {self.type} credential for this endpoint (environment variable {name})",
                    [f"environment variable {name} of the worker process (set it where the worker runs)"],
                )
            return value

        if self.type == "bearer":
            return {"Authorization": f"Bearer {need(self.token_env)}"}, {}
        if self.type == "api_key":
            token = need(self.token_env)
            return ({self.header: token}, {}) if self.header else ({}, {self.query_param or "": token})
        if self.type == "basic":
            pair = f"{need(self.username_env)}:{need(self.password_env)}".encode()
            return {"Authorization": "Basic " + base64.b64encode(pair).decode()}, {}
        return {}, {}


class ResolvedRequest(_Strict):
    """The first request of a crawl with the slot's values already filled in.
    Pagination is not here: the worker takes it from the endpoint's config."""

    url: str = Field(pattern=r"^https?://[^\s/@]+(/[^\s]*)?$")
    method: Literal["GET", "POST"] = "GET"
    params: dict[str, str] = Field(default_factory=dict)
    headers: dict[str, str] = Field(default_factory=dict)
    auth: AuthSpec = Field(default_factory=AuthSpec)

    @field_validator("headers")
    @classmethod
    def _no_credential_headers(cls, headers: dict[str, str]) -> dict[str, str]:
        if bad := sorted(h for h in headers if h.lower() in _FORBIDDEN_HEADERS):
            raise ValueError(
                f"header(s) {bad} carry credentials and may not travel in a job; declare them "
                "in the endpoint's auth (an environment variable name) instead"
            )
        return headers

    @model_validator(mode="after")
    def _no_secret_in_plain_fields(self) -> ResolvedRequest:
        if self.auth.header and self.auth.header.lower() in {h.lower() for h in self.headers}:
            raise ValueError(f"header {self.auth.header!r} is the auth header; it may not also be a literal header")
        if self.auth.query_param and (
            self.auth.query_param in self.params or raw_layout.url_has_secrets(self.url, self.auth.secret_query_params)
        ):
            raise ValueError(f"query parameter {self.auth.query_param!r} is the auth parameter; it may not be literal")
        if raw_layout.url_has_secrets(self.url) or any(
            k.lower() in raw_layout.DEFAULT_SECRET_PARAMS for k in self.params
        ):
            raise ValueError(
                "the URL or params carry credentials (userinfo, or a secret-looking query parameter "
                "such as token or api_key); move them to the endpoint's auth spec"
            )
        return self


class CrawlJob(_Strict):
    """One endpoint, one slot. Build it with ``CrawlJob.for_slot``."""

    schema_version: Literal[1] = SCHEMA_VERSION
    run_id: str = Field(pattern=RUN_ID_PATTERN, max_length=RUN_ID_MAX_LENGTH)
    endpoint: str = Field(pattern=ENDPOINT_NAME_PATTERN, max_length=100)
    slot_start: UtcDatetime
    slot_end: UtcDatetime
    request: ResolvedRequest
    # The run's full prefix (raw_layout.run_prefix), so the worker writes exactly where
    # the producer and the Spark job will look.
    raw_prefix: str = Field(max_length=RAW_PREFIX_MAX_LENGTH)
    max_attempts: int = Field(3, ge=1, le=100)
    # Crawl again even when the run already finished (also: overwrite an existing landing).
    force: bool = False
    created_at: UtcDatetime

    @model_validator(mode="after")
    def _derived_fields_agree(self) -> CrawlJob:
        if self.slot_end <= self.slot_start:
            raise ValueError(
                f"slot_end {self.slot_end.isoformat()} must be after slot_start {self.slot_start.isoformat()} "
                "(a manual Airflow run can have an empty interval: derive the end from the schedule)"
            )
        expected = run_id_for(self.endpoint, self.slot_start)
        if self.run_id != expected:
            raise ValueError(f"run_id {self.run_id!r} does not match endpoint and slot_start (expected {expected!r})")
        suffix = raw_layout.run_prefix("", self.endpoint, self.slot_start, self.run_id)
        if not (self.raw_prefix == suffix or self.raw_prefix.endswith("/" + suffix)):
            raise ValueError(f"raw_prefix {self.raw_prefix!r} is not the run's layout prefix (…/{suffix})")
        base = self.raw_prefix[: len(self.raw_prefix) - len(suffix)]
        # The part before the layout is the raw base: plain segments only, so no '..',
        # absolute path or empty segment can move the landing out of the raw tree.
        try:
            plain = not base or raw_layout.endpoint_prefix(base, self.endpoint) == base + self.endpoint + "/"
        except ValueError:
            plain = False
        if not plain:
            raise ValueError(
                f"raw_prefix {self.raw_prefix!r}: its base {base!r} must be plain path segments "
                "(letters, digits, '_', '-', '.'; no '..', no leading '/', no empty segment)"
            )
        return self

    @classmethod
    def for_slot(
        cls,
        *,
        endpoint: str,
        slot_start: datetime,
        slot_end: datetime,
        request: ResolvedRequest,
        raw_base: str,
        max_attempts: int = 3,
        force: bool = False,
        created_at: datetime | None = None,
    ) -> CrawlJob:
        run_id = run_id_for(endpoint, slot_start)
        return cls(
            run_id=run_id,
            endpoint=endpoint,
            slot_start=slot_start,
            slot_end=slot_end,
            request=request,
            raw_prefix=raw_layout.run_prefix(raw_base, endpoint, slot_start, run_id),
            max_attempts=max_attempts,
            force=force,
            created_at=created_at or datetime.now(UTC),
        )

    def to_payload(self) -> str:
        return self.model_dump_json()

    @classmethod
    def from_payload(cls, payload: str | bytes) -> CrawlJob:
        """Parse a queue payload; raises InvalidJobPayloadError naming every bad field."""
        if len(payload) > MAX_PAYLOAD_BYTES:
            raise InvalidJobPayloadError(
                f"(payload): {len(payload)} bytes, over the limit of {MAX_PAYLOAD_BYTES}; a crawl job is "
                "a few hundred bytes (was something other than a CrawlJob pushed?)"
            )
        try:
            return cls.model_validate_json(payload)
        except ValidationError as exc:
            raise InvalidJobPayloadError(_describe(exc)) from exc

    @property
    def manifest_key(self) -> str:
        return raw_layout.manifest_key(self.raw_prefix)

    def page_key(self, index: int) -> str:
        return raw_layout.page_key(self.raw_prefix, index)


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors(include_url=False):
        loc = ".".join(str(p) for p in err["loc"]) or "(payload)"
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)


class Progress(_Strict):
    """What a worker reports with a heartbeat or its final ack."""

    pages: int = Field(0, ge=0)
    records: int = Field(0, ge=0)
    bytes: int = Field(0, ge=0)


class JobResult(Progress):
    """A terminal outcome. ``finished`` needs the manifest key, ``failed`` an error
    text (already free of secrets: pass URLs through raw_layout.redact_url)."""

    state: Literal[JobState.FINISHED, JobState.FAILED]
    manifest_path: str | None = None
    error: str | None = Field(None, max_length=4000)

    @model_validator(mode="after")
    def _state_fields(self) -> JobResult:
        if self.state == JobState.FINISHED and not self.manifest_path:
            raise ValueError("a finished result needs manifest_path (the key of the landing's _manifest.json)")
        if self.state == JobState.FAILED and not self.error:
            raise ValueError("a failed result needs an error text saying what went wrong")
        return self


class JobStatus(_Strict):
    """A run's status as stored in Redis (no payload, no lease token, no secrets)."""

    schema_version: Literal[1] = SCHEMA_VERSION
    run_id: str
    endpoint: str | None = None
    state: JobState
    attempts: int = Field(ge=0)
    max_attempts: int = Field(ge=1)
    worker_id: str | None = None
    queued_at: UtcDatetime | None = None
    started_at: UtcDatetime | None = None
    heartbeat_at: UtcDatetime | None = None
    finished_at: UtcDatetime | None = None
    updated_at: UtcDatetime | None = None
    pages: int = 0
    records: int = 0
    bytes: int = 0
    manifest_path: str | None = None
    error: str | None = None


class DeadLetter(_Strict):
    """One entry of the dead-letter list. ``run_id`` is None when the payload was not
    even readable JSON with a run id."""

    run_id: str | None = None
    reason: str
    dead_at: UtcDatetime
    payload: str
    attempts: int | None = None
    worker_id: str | None = None
