"""`airflow dags test` of the new endpoint kinds on the real stack: a child DAG waits
for its parent's landing of the slot; an incremental DAG's slots chain their marks,
which the signal rows carry."""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from lakehouse.config.settings import load_settings
from lakehouse.endpoints import load_endpoint
from lakehouse.pipeline.steps import enqueue, read_manifest
from lakehouse.queue.crawl_queue import open_queue
from lakehouse.queue.jobs import run_id_for
from lakehouse.tables.signals import rows_for
from sandbox.changes import order_items

from .conftest import BIN, SLOT, SLOT_END, Airflow

INITIAL = "2026-01-01T00:00:00.000Z"
AUTH = {"type": "bearer", "token_env": "SANDBOX_TOKEN"}
# What `airflow dags test` logs when a task deferred and it runs the trigger itself.
DEFERRED = "[DAG TEST] running trigger in line"
COMMON = {
    "response_map": {"records_path": "data"},
    "schedule": "*/15 * * * *",
    "rate_limit": {"requests_per_second": 50},
}


@pytest.fixture(scope="module")
def new_kinds(endpoints_dir: Path, sandboxes) -> Iterator[dict[str, Path]]:
    url = sandboxes["good"].url
    docs = {
        "e2e_orders": {
            "name": "e2e_orders",
            "request": {
                "url": url + "/v1/orders",
                "params": {"start_time": "{slot_start_ms}", "end_time": "{slot_end_ms}"},
                "auth": AUTH,
            },
            "pagination": {"type": "offset", "offset_param": "offset", "limit_param": "limit", "page_size": 50},
            **COMMON,
        },
        "e2e_order_items": {
            "name": "e2e_order_items",
            "request": {"url": url + "/v1/orders/{order_id}/items", "auth": AUTH},
            "pagination": {"type": "page", "page_param": "page", "page_size_param": "page_size", "page_size": 5},
            "parent": {"endpoint": "e2e_orders", "field": "id", "placeholder": "order_id"},
            **COMMON,
        },
        "e2e_updates": {
            "name": "e2e_updates",
            "request": {"url": url + "/v1/updates", "params": {"records": 12, "change_ms": 400}, "auth": AUTH},
            "pagination": {
                "type": "cursor",
                "cursor_param": "cursor",
                "next_cursor_path": "next_cursor",
                "limit_param": "limit",
                "page_size": 5,
            },
            "incremental": {"cursor_path": "updated_at", "param": "updated_since", "initial_value": INITIAL},
            **COMMON,
        },
    }
    paths = {}
    for name, doc in docs.items():
        paths[name] = endpoints_dir / f"{name}.yaml"
        paths[name].write_text(yaml.safe_dump(doc, sort_keys=False))
    yield paths
    for path in paths.values():  # later tests see the session's endpoints only
        path.unlink()


def test_a_child_dag_waits_for_its_parents_landing_then_crawls_every_order(airflow: Airflow, new_kinds) -> None:
    settings = load_settings()
    child = subprocess.Popen(
        [str(BIN / "airflow"), "dags", "test", "ingest_e2e_order_items", SLOT_END.isoformat()],
        env={**airflow.env, "PYTHONUNBUFFERED": "1"},  # its log lines arrive as written
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []

    def read() -> None:
        for line in child.stdout:  # type: ignore[union-attr]
            lines.append(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        # Parse, start, check once inline, defer: `dags test` then runs the trigger in line.
        deadline = time.monotonic() + 300
        while not any(DEFERRED in line for line in lines) and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert child.poll() is None, "".join(lines)[-5000:]
        assert any(DEFERRED in line for line in lines), "".join(lines)[-5000:]
        assert open_queue(settings).get_status(run_id_for("e2e_order_items", SLOT)) is None  # not enqueued yet
        # The parent lands the slot some other way than its DAG (a `lakehouse crawl`).
        enqueue(settings, load_endpoint(new_kinds["e2e_orders"]), SLOT, SLOT_END)
        child.wait(timeout=300)
        reader.join(timeout=30)
        out = "".join(lines)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == 0, out[-5000:]
    assert "wait_for_parent" in out
    orders = read_manifest(settings, open_queue(settings).get_status(run_id_for("e2e_orders", SLOT)).manifest_path)
    items = read_manifest(settings, open_queue(settings).get_status(run_id_for("e2e_order_items", SLOT)).manifest_path)
    ids = sorted({p.parent_key for p in items.pages})
    assert len(ids) == orders.total_records == 45
    assert items.total_records == sum(len(order_items(int(i))) for i in ids)
    (row,) = rows_for(settings, run_id_for("e2e_order_items", SLOT))
    assert row.records == items.total_records


def test_an_incremental_dag_chains_marks_across_slots_and_publishes_them(airflow: Airflow, new_kinds) -> None:
    settings = load_settings()
    marks = []
    for n, logical in enumerate((SLOT_END, SLOT_END + timedelta(minutes=15))):
        if n:
            time.sleep(2)  # items change meanwhile
        out = airflow.dags_test("ingest_e2e_updates", logical)
        assert out.returncode == 0, (out.stdout + out.stderr)[-5000:]
        run_id = run_id_for("e2e_updates", SLOT + timedelta(minutes=15 * n))
        manifest = read_manifest(settings, open_queue(settings).get_status(run_id).manifest_path)
        assert manifest.incremental is not None and manifest.total_records > 0
        (row,) = rows_for(settings, run_id)
        assert (row.cursor_start, row.cursor_end) == (manifest.incremental.start, manifest.incremental.end)
        marks.append(manifest.incremental)
    assert marks[0].start == INITIAL and marks[1].start == marks[0].end < marks[1].end
