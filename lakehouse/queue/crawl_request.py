"""The first request of a crawl, built by the worker from its own endpoint config.

A crawl job (lakehouse.queue.jobs) is data: endpoint, slot, config hash, cursor values.
Everything that decides where a request goes and which credential it carries (URL,
method, params, headers, auth, token URL) comes from the endpoint config the worker
loaded itself, and only after ``check_job`` proved the job was made from that same
config. Producers that want to show the URL call ``resolve_request`` too, so what
they show is what the worker sends.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from lakehouse.endpoints.auth import Auth, NoAuth, check_request
from lakehouse.errors import EndpointConfigError, LakehouseError
from lakehouse.queue.cursor import request_params

if TYPE_CHECKING:
    from lakehouse.endpoints import EndpointConfig
    from lakehouse.queue.jobs import CrawlJob


class ResolvedRequest(BaseModel):
    """The first request of a crawl with the slot's values filled in. Pagination is
    not here: the worker takes it from the endpoint's config."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    url: str = Field(pattern=r"^https?://[^\s/@]+(/[^\s]*)?$")
    method: Literal["GET", "POST"] = "GET"
    params: dict[str, str] = Field(default_factory=dict)
    headers: dict[str, str] = Field(default_factory=dict)
    # The endpoint's auth as configured (lakehouse.endpoints.auth): variable names, never values.
    auth: Auth = Field(default_factory=NoAuth)

    @model_validator(mode="after")
    def _secret_policy(self) -> ResolvedRequest:
        # The same rules `lakehouse validate` applies to the endpoint config.
        check_request(self.url, self.params, self.headers, self.auth)
        return self


class JobConfigMismatchError(LakehouseError):
    """A job that was not made from this endpoint config: the worker refuses it
    (dead-letters it) and sends nothing."""


class ConfigHashMismatchError(JobConfigMismatchError):
    def __init__(self, job: CrawlJob, config_hash: str) -> None:
        self.job_hash = job.config_hash
        self.config_hash = config_hash
        super().__init__(
            f"config_hash: the job was made from {job.endpoint} config {job.config_hash}, but this worker's "
            f"{job.endpoint}.yaml has content hash {config_hash}: the config differs between the producer "
            "(Airflow, lakehouse crawl) and the worker, or the job was not made by a producer. Deploy one "
            "config to both; if the workers' copy was the stale one, then `lakehouse queue retry "
            f"{job.run_id}`; if the producer's was, enqueue the slot again (clear its enqueue task, or "
            f"`lakehouse crawl {job.endpoint} --slot {job.slot_start:%Y-%m-%dT%H:%MZ}`)"
        )


def check_job(config: EndpointConfig, job: CrawlJob) -> None:
    """Raise JobConfigMismatchError unless ``job`` was made from ``config``."""
    if job.endpoint != config.name:
        raise JobConfigMismatchError(
            f"endpoint: the job names {job.endpoint!r}, the config is {config.name!r}; a worker crawls a job "
            "only with the config of the endpoint it names"
        )
    if job.config_hash != config.content_hash:
        raise ConfigHashMismatchError(job, config.content_hash)
    if (config.incremental is None) != (job.cursor is None):
        has = "has" if job.cursor is not None else "has no"
        kind = "is" if config.incremental is not None else "is not"
        raise JobConfigMismatchError(
            f"cursor: the job {has} cursor range, but endpoint {config.name!r} {kind} incremental; "
            "enqueue it with `lakehouse crawl` or the DAG, which plan the cursor (lakehouse.pipeline.steps.plan_cursor)"
        )


def resolve_request(config: EndpointConfig, job: CrawlJob) -> ResolvedRequest:
    """The request ``job`` sends, from ``config`` alone (after ``check_job``): the URL,
    method, headers and auth as configured, params with the slot's times filled in
    plus an incremental endpoint's cursor parameters from the job's values.

    Raises JobConfigMismatchError for a job not made from ``config``, and
    EndpointConfigError for a config that cannot build a request (one that passed
    ``lakehouse validate`` always can)."""
    check_job(config, job)
    params = config.render_params(job.slot_start, job.slot_end)
    if job.cursor is not None:
        params |= request_params(config, job.cursor)
    try:
        return ResolvedRequest(
            url=config.request.url,
            method=config.request.method,
            params=params,
            headers=dict(config.request.headers),
            auth=config.request.auth,
        )
    except ValidationError as exc:
        raise EndpointConfigError.from_validation(
            f"endpoint {config.name} (its crawl request)", exc, prefix="request."
        ) from None
