"""A dependent job's requests: one paginated sequence per parent value, in turn."""

from __future__ import annotations

import pytest

from lakehouse.endpoints import EndpointConfig
from scrapworker.children import ChildRequests
from scrapworker.pagination import Page

pytestmark = pytest.mark.unit


def test_child_requests_run_one_paginated_sequence_per_parent_value() -> None:
    config = EndpointConfig.model_validate(
        {
            "name": "items",
            "request": {"url": "http://127.0.0.1:1/items/{pid}"},
            "pagination": {"type": "page", "page_param": "page", "page_size": 2},
            "rate_limit": {"requests_per_second": 5},
            "schedule": "*/15 * * * *",
            "parent": {"endpoint": "orders", "field": "id", "placeholder": "pid"},
        }
    )
    plan = ChildRequests(config.pagination, config.request.url, "pid", {}, ["1", "2"])
    urls = [plan.first_url()]
    keys = [plan.current_key]
    for records in (2, 1, 0):  # value 1: a full page then a short one; value 2: empty
        nxt = plan.next_url(Page(urls[-1], {}, records))
        if nxt is None:
            break
        urls.append(nxt)
        keys.append(plan.current_key)
    assert urls == [
        "http://127.0.0.1:1/items/1?page=1",
        "http://127.0.0.1:1/items/1?page=2",
        "http://127.0.0.1:1/items/2?page=1",
    ]
    assert keys == ["1", "1", "2"]
