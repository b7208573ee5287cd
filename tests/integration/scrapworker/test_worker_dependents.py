"""A parent/child pair on the real stack: the child's job reads the orders its parent
landed for the slot and lands every order's items (all pages) once, in one manifest."""

from __future__ import annotations

from typing import Any

import yaml
from worker_harness import landed_records, read_manifest, slot, wait_until

from lakehouse.endpoints import EndpointConfig, load_endpoint
from lakehouse.pipeline.steps import slot_job
from lakehouse.queue.jobs import JobState
from sandbox.changes import order_items

AUTH = {"type": "bearer", "token_env": "SANDBOX_TOKEN"}


def _pair(endpoints: Any, url: str) -> tuple[EndpointConfig, EndpointConfig]:
    common = {"response_map": {"records_path": "data"}, "schedule": "*/15 * * * *"}
    orders = {
        "name": "sbx_orders",
        "request": {
            "url": url + "/v1/orders",
            "params": {"start_time": "{slot_start_ms}", "end_time": "{slot_end_ms}"},
            "auth": AUTH,
        },
        "pagination": {"type": "offset", "offset_param": "offset", "limit_param": "limit", "page_size": 20},
        "rate_limit": {"requests_per_second": 50},
        **common,
    }
    items = {
        "name": "sbx_order_items",
        "request": {"url": url + "/v1/orders/{order_id}/items", "auth": AUTH},
        "pagination": {
            "type": "page",
            "page_param": "page",
            "page_size_param": "page_size",
            "page_size": 2,
            "total_pages_path": "total_pages",
        },
        "rate_limit": {"requests_per_second": 40},
        "parent": {"endpoint": "sbx_orders", "field": "id", "placeholder": "order_id"},
        **common,
    }
    configs = []
    for doc in (orders, items):
        path = endpoints.directory / f"{doc['name']}.yaml"
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
        configs.append(load_endpoint(path))
    return configs[0], configs[1]


def _run(queue: Any, job: Any) -> Any:
    queue.enqueue(job)
    wait_until(lambda: (st := queue.get_status(job.run_id)) and st.state.terminal, 60, f"{job.run_id} to end")
    return queue.get_status(job.run_id)


def test_a_child_lands_every_item_of_every_parent_order_once(
    settings: Any, make_sandbox: Any, endpoints: Any, queue: Any, s3: Any, start_worker: Any
) -> None:
    sandbox = make_sandbox()
    orders, items = _pair(endpoints, sandbox.url)
    worker = start_worker()
    child = slot_job(settings, items, *slot(0))

    early = _run(queue, child)  # the parent has not landed the slot yet
    assert early.state == JobState.FAILED
    assert "sbx_orders" in early.error and "has not landed" in early.error, early.error

    assert _run(queue, slot_job(settings, orders, *slot(0))).state == JobState.FINISHED
    parent_ids = [
        o["id"]
        for o in landed_records(s3, settings, read_manifest(s3, settings, slot_job(settings, orders, *slot(0))), "data")
    ]
    assert len(parent_ids) == 45  # one order every 20 s of the 15-minute slot

    status = _run(queue, child)  # enqueueing a failed run again retries it
    assert status.state == JobState.FINISHED, (status, worker.text()[-3000:])
    manifest = read_manifest(s3, settings, child)
    got = landed_records(s3, settings, manifest, "data")
    expected = [item for order in parent_ids for item in order_items(order)]
    assert got == expected  # every item of every order, once, in parent order
    assert len({(r["order_id"], r["line"]) for r in got}) == len(got)
    # One request sequence per order (an order with no items still gets its one page).
    assert sorted({p.parent_key for p in manifest.pages}) == sorted(str(i) for i in parent_ids)
    for page in manifest.pages:
        assert f"/v1/orders/{page.parent_key}/items" in page.url
    assert manifest.total_records == status.records == len(expected)
    assert manifest.total_pages == sum(max(1, -(-len(order_items(i)) // 2)) for i in parent_ids)
