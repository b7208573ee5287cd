"""A dependent endpoint's DAG waits for its parent's landing of the same slot.

Why a wait on the landing and not Airflow's ExternalTaskSensor (or an Asset
schedule): what the child's crawl needs is the parent's ``_manifest.json`` for the
slot, the exact object its worker reads. ExternalTaskSensor waits for a task state
in a parent DAG run with the same logical date, so a parent slot landed by
`lakehouse crawl`, by a backfill of the parent alone or before a metadata DB reset
would never satisfy it, and a successful task state says nothing about a landing
that was since re-crawled. An Asset schedule would replace the child's cron slots.
The wait is deferrable (Airflow 3.3's triggerer runs it; `airflow dags test` runs
the trigger in-process), so a long parent crawl holds no worker slot; and it checks
once inline first, because in the common case the parent landed long before.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException
from airflow.triggers.base import BaseTrigger, TriggerEvent

from lakehouse.config.settings import load_settings
from lakehouse.endpoints import endpoint_path, load_endpoint
from lakehouse.pipeline import steps as pipeline
from lakehouse.pipeline.dependents import parent_landed

log = logging.getLogger(__name__)

_DEFER_TIMEOUT_MARGIN_SECONDS = 60.0


def _landed(endpoint: str, slot_start: str, profile: str | None) -> bool:
    """Blocking: settings, the child's config and one S3 HEAD."""

    config = load_endpoint(endpoint_path(endpoint))
    return parent_landed(load_settings(profile), config, datetime.fromisoformat(slot_start))


class ParentLandingTrigger(BaseTrigger):
    """Fires when the parent of ``endpoint`` has landed ``slot_start`` (ISO), or at
    ``deadline`` (a Unix time). Event: ``{"state": landed|timeout, "waited_seconds"}``."""

    def __init__(
        self, endpoint: str, slot_start: str, deadline: float, poll_seconds: float, profile: str | None = None
    ) -> None:
        super().__init__()
        self.endpoint = endpoint
        self.slot_start = slot_start
        self.deadline = float(deadline)
        self.poll_seconds = float(poll_seconds)
        self.profile = profile

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "endpoint": self.endpoint,
                "slot_start": self.slot_start,
                "deadline": self.deadline,
                "poll_seconds": self.poll_seconds,
                "profile": self.profile,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        started = time.monotonic()
        while True:
            # boto3 blocks: keep it off the triggerer's event loop.
            if await asyncio.to_thread(_landed, self.endpoint, self.slot_start, self.profile):
                state = "landed"
                break
            if time.time() >= self.deadline:
                state = "timeout"
                break
            await asyncio.sleep(min(self.poll_seconds, max(0.0, self.deadline - time.time())))
        yield TriggerEvent({"state": state, "waited_seconds": round(time.monotonic() - started, 3)})


class ParentSlotWaitOperator(BaseOperator):
    """Wait until the parent of child endpoint ``endpoint`` landed the run's slot."""

    ui_color = "#fdf3e8"

    def __init__(
        self,
        *,
        endpoint: str,
        poll_seconds: float = 2.0,
        timeout_seconds: float | None = None,
        profile: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.endpoint = endpoint
        self.poll_seconds = poll_seconds
        self.timeout_seconds = timeout_seconds
        self.profile = profile

    def execute(self, context: Any) -> None:

        config = load_endpoint(endpoint_path(self.endpoint))
        assert config.parent is not None, f"{self.endpoint} has no parent"
        slot_start, _ = pipeline.slot_of_run(config, context["data_interval_start"], context["data_interval_end"])
        if _landed(self.endpoint, slot_start.isoformat(), self.profile):
            log.info("parent %s has landed slot %s", config.parent.endpoint, slot_start)
            return
        settings = load_settings(self.profile)
        timeout = self.timeout_seconds if self.timeout_seconds is not None else settings.airflow.crawl_timeout_seconds
        log.info("waiting for parent %s to land slot %s (timeout %.0f s)", config.parent.endpoint, slot_start, timeout)
        self.defer(
            trigger=ParentLandingTrigger(
                endpoint=self.endpoint,
                slot_start=slot_start.isoformat(),
                deadline=time.time() + timeout,
                poll_seconds=self.poll_seconds,
                profile=self.profile,
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=timeout + _DEFER_TIMEOUT_MARGIN_SECONDS),
        )

    def execute_complete(self, context: Any, event: dict[str, Any]) -> None:
        if event.get("state") != "landed":
            raise AirflowFailException(
                f"the parent of {self.endpoint} did not land this slot within the timeout: run (or fix) the "
                "parent's DAG for the slot, then clear this task"
            )
        log.info("parent landed after %.2f s in the triggerer", event.get("waited_seconds", 0.0))
