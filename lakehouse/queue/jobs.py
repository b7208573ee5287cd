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
older producer or a hand-pushed one cannot crash it).

A job is *data*, never instructions: it names the endpoint, the slot, where the run
lands, the content hash of the endpoint config its producer used
(``EndpointConfig.content_hash``) and, for an incremental endpoint, the cursor
values to ask for. It carries no URL, parameter, header, auth block, token URL or
environment-variable name. The worker builds the request and the credential from
its own copy of the endpoint config (``lakehouse.queue.crawl_request.resolve_request``)
and dead-letters a job whose config hash differs from that copy's, so whoever can
write to the queue can make a worker crawl a configured endpoint's slot, but
cannot send a credential anywhere the config does not point.
"""

from __future__ import annotations

import json
import re
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
    model_validator,
)

from lakehouse.endpoints.slots import to_utc
from lakehouse.errors import InvalidJobPayloadError
from lakehouse.raw import layout as raw_layout

# 3: no request (url, params, headers, auth) in the job: the worker builds it from its
# own config, checked against config_hash; an incremental job carries cursor values.
# 2: request.auth was the endpoint's auth as configured. A worker dead-letters a job
# of any other version, naming both.
SCHEMA_VERSION: Literal[3] = 3
# A run's status in Redis kept its shape when the job's changed.
STATUS_SCHEMA_VERSION: Literal[1] = 1

ENDPOINT_NAME_PATTERN = r"^[a-z][a-z0-9_]*$"
# <endpoint>__<YYYYmmddTHHMM>Z: safe in S3 keys, Redis keys and Airflow ids, and it
# sorts by slot within an endpoint. The queue's Lua scripts get both from here
# (lakehouse.queue.lua translates the pattern), so they are written once.
RUN_ID_PATTERN = r"^[a-z][a-z0-9_]*__\d{8}T\d{4}Z$"
RUN_ID_MAX_LENGTH = 200
ENV_VAR_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
CONFIG_HASH_PATTERN = r"^[0-9a-f]{64}$"
# A cursor value is a query-parameter value the worker sends (an id, an ISO time).
CURSOR_VALUE_MAX_LENGTH = 1000
# A job is a few hundred bytes; anything near this is junk or an attack, refused
# before it is parsed. S3 keys are at most 1024 bytes, and raw_prefix is their start.
MAX_PAYLOAD_BYTES = 64 * 1024
RAW_PREFIX_MAX_LENGTH = 900

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


class JobCursor(_Strict):
    """The cursor range an incremental endpoint's slot asks for (``lakehouse.pipeline.steps.plan_cursor``):
    values only; the worker's config says which query parameters carry them."""

    start: str = Field(min_length=1, max_length=CURSOR_VALUE_MAX_LENGTH)
    until: str | None = Field(None, min_length=1, max_length=CURSOR_VALUE_MAX_LENGTH)


class CrawlJob(_Strict):
    """One endpoint, one slot. Build it with ``CrawlJob.for_slot``."""

    schema_version: Literal[3] = SCHEMA_VERSION
    run_id: str = Field(pattern=RUN_ID_PATTERN, max_length=RUN_ID_MAX_LENGTH)
    endpoint: str = Field(pattern=ENDPOINT_NAME_PATTERN, max_length=100)
    slot_start: UtcDatetime
    slot_end: UtcDatetime
    # EndpointConfig.content_hash of the config the producer used; the worker crawls
    # only when its own copy has the same hash.
    config_hash: str = Field(pattern=CONFIG_HASH_PATTERN)
    # An incremental endpoint's range for the slot; None for every other endpoint.
    cursor: JobCursor | None = None
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
        config_hash: str,
        raw_base: str,
        cursor: JobCursor | None = None,
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
            config_hash=config_hash,
            cursor=cursor,
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
        _check_version(payload)
        try:
            return cls.model_validate_json(payload)
        except ValidationError as exc:
            raise InvalidJobPayloadError(_describe(exc)) from exc

    @property
    def manifest_key(self) -> str:
        return raw_layout.manifest_key(self.raw_prefix)

    def page_key(self, index: int, attempt: int) -> str:
        """Page ``index`` as the attempt holding lease ``attempt`` lands it."""
        return raw_layout.page_key(self.raw_prefix, index, attempt)


def _check_version(payload: str | bytes) -> None:
    """A job of another schema version is refused as such, before its fields are read
    (their errors would hide the real cause: producer and worker differ in version)."""
    try:
        version = json.loads(payload).get("schema_version", SCHEMA_VERSION)
    except (ValueError, AttributeError):
        return  # not a JSON object: the model's own error says so
    if version != SCHEMA_VERSION:
        raise InvalidJobPayloadError(
            f"schema_version: the job has crawl-job schema version {str(version)[:20]}, this worker reads "
            f"version {SCHEMA_VERSION} only; run producers (Airflow, lakehouse crawl) and workers of the "
            "same lakehouse version, then enqueue the slot again (clear its enqueue task)"
        )


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

    schema_version: Literal[1] = STATUS_SCHEMA_VERSION
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
