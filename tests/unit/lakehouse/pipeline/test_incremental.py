"""The incremental config rules, the worker's mark and the range a job carries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from lakehouse.endpoints import EndpointConfig
from lakehouse.pipeline.incremental import AskedRange
from lakehouse.pipeline.steps import job_for_slot
from lakehouse.queue.crawl_request import resolve_request
from lakehouse.queue.cursor import MarkTracker, asked, later, request_params
from lakehouse.queue.jobs import JobCursor

pytestmark = pytest.mark.unit

SLOT = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def config(**incremental: Any) -> EndpointConfig:
    return EndpointConfig.model_validate(
        {
            "name": "upd",
            "request": {"url": "http://127.0.0.1:1/v1/updates", "params": {"records": 5}},
            "pagination": {"type": "cursor", "cursor_param": "cursor", "next_cursor_path": "next_cursor"},
            "rate_limit": {"requests_per_second": 5},
            "schedule": "*/15 * * * *",
            "incremental": {"cursor_path": "meta.updated_at", "param": "updated_since", "initial_value": 0}
            | incremental,
        }
    )


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"param": "records"}, "records is also set by request.params"),
        ({"param": "cursor"}, "cursor is also set by request.params or pagination"),
        ({"until_param": "updated_since"}, "until_param must differ"),
        ({"param": "a b"}, "String should match pattern"),
    ],
)
def test_a_cursor_parameter_may_not_collide(changes: dict[str, Any], says: str) -> None:
    with pytest.raises(ValidationError, match=says):
        config(**changes)


def test_incremental_and_parent_do_not_combine() -> None:
    doc = config().model_dump(mode="json")
    doc["request"]["url"] = "http://127.0.0.1:1/v1/orders/{order_id}/items"
    doc["parent"] = {"endpoint": "orders", "field": "id", "placeholder": "order_id"}
    with pytest.raises(ValidationError, match="incremental and parent do not combine"):
        EndpointConfig.model_validate(doc)


def test_values_compare_as_numbers_when_both_are_numbers_else_as_text() -> None:
    assert later("10", "9") and not later("9", "10")
    assert later("2026-11-30T10:00:00.000Z", "2026-11-30T09:59:59.999Z")
    assert later("b", "10")  # mixed: text order


def test_the_mark_is_the_largest_value_landed_or_the_start_when_nothing_changed() -> None:
    inc = config().incremental
    assert inc is not None
    tracker = MarkTracker(inc, "0", None)
    assert tracker.range().end == "0"
    tracker.see(
        [{"meta": {"updated_at": 9}}, {"meta": {"updated_at": 12.0}}, {"meta": {}}, {"meta": {"updated_at": 10}}]
    )
    assert (tracker.range().start, tracker.range().end) == ("0", "12")
    bounded = MarkTracker(inc, "0", "20")
    bounded.see([{"meta": {"updated_at": 15}}])
    assert bounded.range().end == "20"  # an asked upper bound is what the landing covers


def test_the_job_carries_its_range_and_the_worker_sends_it_as_the_configured_params() -> None:
    cfg = config(until_param="updated_until")
    with pytest.raises(ValueError, match="pass the slot's cursor"):
        job_for_slot(cfg, SLOT, SLOT + timedelta(minutes=15), "raw")
    job = job_for_slot(cfg, SLOT, SLOT + timedelta(minutes=15), "raw", cursor=AskedRange("41", "57", "recorded"))
    assert job.cursor == JobCursor(start="41", until="57")
    assert resolve_request(cfg, job).params == {"records": "5", "updated_since": "41", "updated_until": "57"}
    tracker = asked(cfg, job.cursor)
    assert (tracker.start, tracker.until) == ("41", "57")
    assert request_params(cfg, JobCursor(start="41")) == {"updated_since": "41"}
