"""Fetch an endpoint's first pages live and read them: what ``lakehouse preview`` shows.

The pages come through the worker's own request path: ``python -m scrapworker.preview``
(a subprocess: the core never imports an adapter) sends the slot's job with the same
auth, pagination, retries and shared rate-limit bucket as a crawl and prints the pages
as JSON; nothing lands in the raw bucket. This module makes the job the way a producer
does (``pipeline.slot_job``), runs that process, and turns the pages into the report:
each request, the records found at ``records_path``, a sample, the inferred columns
(``endpoints.inference``) and, when ``records_path`` finds nothing, the paths that
hold lists of objects.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from lakehouse.config.settings import Settings
from lakehouse.endpoints import EndpointConfig, extract
from lakehouse.endpoints.inference import Inference, infer, list_paths
from lakehouse.errors import LakehouseError

SAMPLE_RECORDS = 3


class PreviewError(LakehouseError):
    """The preview could not fetch or read the endpoint's pages."""


@dataclass(frozen=True)
class PreviewRequest:
    url: str  # without credentials
    status: int
    records: int | None  # None: records_path found something that is no list
    next_url: str | None


@dataclass(frozen=True)
class Preview:
    endpoint: str
    pagination: str
    records_path: str
    slot_start: datetime
    slot_end: datetime
    pages_asked: int
    requests: tuple[PreviewRequest, ...]
    error: str | None
    records: tuple[Any, ...]
    inference: Inference
    # When records_path found no records: paths holding lists of objects (path, length).
    list_paths: tuple[tuple[str, int], ...]

    @property
    def sample(self) -> tuple[Any, ...]:
        return self.records[:SAMPLE_RECORDS]

    def to_json(self) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint,
            "pagination": self.pagination,
            "records_path": self.records_path,
            "slot": {"start": self.slot_start.isoformat(), "end": self.slot_end.isoformat()},
            "pages_asked": self.pages_asked,
            "requests": [
                {"url": r.url, "status": r.status, "records": r.records, "next": r.next_url} for r in self.requests
            ],
            "error": self.error,
            "records": len(self.records),
            "sample": list(self.sample),
            "columns": [
                {
                    **c.as_config(),
                    "present": c.present,
                    "records": c.records,
                    "fits": [
                        {"type": f.type, "format": f.format, "records": f.records, "share": round(c.share(f), 4)}
                        for f in c.fits
                    ],
                    "evidence": c.evidence,
                }
                for c in self.inference.columns
            ],
            "nested": [
                {"path": n.path, "kind": n.kind, "records": n.records, "detail": n.detail}
                for n in self.inference.nested
            ],
            "list_paths": [{"path": p, "length": n} for p, n in self.list_paths],
        }


def worker_command(config_path: Path, pages: int, profile: str | None) -> list[str]:
    command = [sys.executable, "-m", "scrapworker.preview", "--config", str(config_path), "--pages", str(pages)]
    return command + (["--profile", profile] if profile else [])


def fetch_pages(
    config_path: Path, job_json: str, pages: int, profile: str | None, timeout: float
) -> tuple[list[dict[str, Any]], str | None]:
    """The worker's pages (url, status, records, next, data) and its error, if any."""
    try:
        done = subprocess.run(
            worker_command(config_path, pages, profile),
            input=job_json,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise PreviewError(
            f"the preview worker did not finish within {timeout:.0f} s; is the API slow, or rate_limit very low? "
            "Pass a larger --timeout"
        ) from None
    try:
        report = json.loads(done.stdout.strip().splitlines()[-1]) if done.stdout.strip() else None
    except ValueError:
        report = None
    if not isinstance(report, dict):
        tail = "\n".join(done.stderr.strip().splitlines()[-15:])
        raise PreviewError(
            f"the preview worker (python -m scrapworker.preview) exited {done.returncode} without a report:\n{tail}"
        )
    return list(report.get("pages") or []), report.get("error")


def read_pages(
    config: EndpointConfig,
    slot: tuple[datetime, datetime],
    pages_asked: int,
    pages: list[dict[str, Any]],
    error: str | None,
) -> Preview:
    """The report of the fetched ``pages``."""
    records_path = config.response_map.records_path
    requests = []
    records: list[Any] = []
    for page in pages:
        requests.append(PreviewRequest(page["url"], page["status"], page.get("records"), page.get("next")))
        found = extract(page.get("data"), records_path) if page.get("data") is not None else None
        if isinstance(found, list):
            records.extend(found)
    candidates: list[tuple[str, int]] = []
    if not records:
        for page in pages:
            if page.get("data") is not None:
                candidates = list_paths(page["data"])
                break
    return Preview(
        endpoint=config.name,
        pagination=config.pagination.type,
        records_path=records_path,
        slot_start=slot[0],
        slot_end=slot[1],
        pages_asked=pages_asked,
        requests=tuple(requests),
        error=error,
        records=tuple(records),
        inference=infer(records),
        list_paths=tuple(candidates),
    )


def preview(
    settings: Settings,
    config_path: Path,
    config: EndpointConfig,
    slot: tuple[datetime, datetime],
    pages: int,
    profile: str | None,
    timeout: float,
) -> Preview:
    """Fetch ``pages`` pages of ``config``'s ``slot`` live and read them."""
    from lakehouse.pipeline.steps import slot_job

    if config.parent is not None:
        raise PreviewError(
            f"{config.name} is a dependent endpoint: its requests come from what {config.parent.endpoint} "
            f"landed for the slot. Preview {config.parent.endpoint}, or crawl it (`lakehouse crawl "
            f"{config.parent.endpoint} --wait`) and then this one"
        )
    job = slot_job(settings, config, slot[0], slot[1], force=True)
    fetched, error = fetch_pages(config_path, job.model_dump_json(), pages, profile, timeout)
    return read_pages(config, slot, pages, fetched, error)
