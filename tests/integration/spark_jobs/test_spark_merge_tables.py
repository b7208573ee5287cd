"""Merge tables (``table: {write: merge, primary_key, order_by}``) on the real stack.

The first test goes the whole public way: an endpoint config file, the sandbox API,
the crawl worker (``python -m scrapworker``) landing two slots, the Spark job per
slot, and the count check of each slot. Sandbox trades are entities of their venue
here: the table keeps the latest trade per venue. The second lands pages by hand,
because only hand-made pages can put an older version after a newer one.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from lakehouse.config.settings import Settings
from lakehouse.endpoints import EndpointConfig, load_endpoint
from lakehouse.pipeline import steps as pipeline
from sandbox import SandboxOptions, SandboxServer, expected_records
from spark_jobs import raw_to_table
from spark_jobs.tables import quote
from tests.conftest import ROOT
from tests.integration.landings import endpoint_doc, land
from tests.integration.scrapworker.worker_harness import market_for

SLOT = datetime(2024, 1, 2, 3, 0, tzinfo=UTC)
STEP = timedelta(minutes=15)
MARKET = market_for(120)


@pytest.fixture()
def sandbox() -> Iterator[SandboxServer]:
    server = SandboxServer(SandboxOptions(market=MARKET)).start()
    yield server
    server.stop()


def _write_config(directory: Path, name: str, base_url: str) -> EndpointConfig:
    doc: dict[str, Any] = {
        "name": name,
        "request": {
            "url": f"{base_url}/v1/offset",
            "params": {"symbol": "BTCUSDT", "start_time": "{slot_start_ms}", "end_time": "{slot_end_ms}"},
        },
        "pagination": {"type": "offset", "offset_param": "offset", "limit_param": "limit", "page_size": 50},
        "response_map": {"records_path": "data.items"},
        "rate_limit": {"requests_per_second": 50},
        "schedule": "*/15 * * * *",
        "table": {
            "namespace": "market",
            "name": name,
            "write": "merge",
            "primary_key": ["venue_code"],
            "order_by": "traded_at",
            "columns": [
                {"name": "venue_code", "path": "venue.code", "type": "string", "required": True},
                {"name": "trade_id", "path": "id", "type": "long", "required": True},
                {"name": "traded_at", "path": "time", "type": "timestamp", "format": "epoch_ms", "required": True},
                {"name": "price", "path": "price", "type": "decimal(18,8)"},
            ],
        },
    }
    path = directory / f"{name}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return load_endpoint(path)


def _latest_per_venue(slots: list[datetime]) -> dict[str, int]:
    latest: dict[str, dict[str, Any]] = {}
    for start in slots:
        for trade in expected_records(MARKET, start, start + STEP):
            code = trade["venue"]["code"]
            if code not in latest or trade["time"] >= latest[code]["time"]:
                latest[code] = dict(trade)
    return {code: trade["id"] for code, trade in latest.items()}


def _rows(spark, table: str) -> list[tuple[Any, ...]]:  # type: ignore[no-untyped-def]
    return sorted(tuple(r) for r in spark.table(quote(table)).collect())


def test_two_crawled_slots_leave_one_row_per_key_the_later_version(
    spark, spark_settings: Settings, sandbox: SandboxServer, tmp_path: Path
) -> None:
    name = f"mg_{uuid.uuid4().hex[:8]}"
    config = _write_config(tmp_path, name, sandbox.url)
    assert config.table is not None
    prefix = f"m{uuid.uuid4().hex[:10]}"
    settings = spark_settings.model_copy(update={"queue": spark_settings.queue.model_copy(update={"prefix": prefix})})
    slots = [SLOT, SLOT + STEP]
    runs = [pipeline.enqueue(settings, config, start, start + STEP) for start in slots]
    worker = subprocess.run(
        [sys.executable, "-m", "scrapworker", "--queue-prefix", prefix, "--endpoints-dir", str(tmp_path)]
        + ["--max-jobs", "2", "--worker-id", "merge-test"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert worker.returncode == 0, worker.stdout[-3000:] + worker.stderr[-3000:]

    # One transform per slot, as the DAG runs them, then each slot's count check.
    first = raw_to_table.run(spark, settings, config, [runs[0].raw_prefix])
    assert first.rows == len(expected_records(MARKET, SLOT, SLOT + STEP))
    after_first = {r.venue_code: r.trade_id for r in spark.table(quote(first.table)).collect()}
    assert after_first == _latest_per_venue(slots[:1])
    raw_to_table.run(spark, settings, config, [runs[1].raw_prefix])

    table = spark.table(quote(first.table))
    held = {r.venue_code: (r.trade_id, r._run_id, r["min"]) for r in table.collect()}
    assert table.count() == len(held) == 4, "one row per venue"
    assert {code: trade_id for code, (trade_id, _, _) in held.items()} == _latest_per_venue(slots)
    assert {(run_id, minute) for _, run_id, minute in held.values()} == {(runs[1].run_id, 15)}, (
        "every venue traded in the later slot, so its version wins, with its lineage and slot partition"
    )
    # Each slot's check passes: its records (from the merge log) + quarantined = its
    # manifest's records, and the first slot's rows are all superseded.
    counts = [pipeline.check_table_counts(settings, config.table, r.run_id) for r in runs]
    assert [(c.rows, c.held) for c in counts] == [(first.rows, 0), (counts[1].expected, 4)]

    # A rerun of the older slot (a retried task, a backfill) changes nothing.
    before = _rows(spark, first.table)
    raw_to_table.run(spark, settings, config, [runs[0].raw_prefix])
    assert _rows(spark, first.table) == before
    assert pipeline.check_table_counts(settings, config.table, runs[0].run_id).held == 0


def test_within_a_slot_the_ordering_column_decides_and_misfits_are_quarantined(
    spark, spark_settings: Settings, tmp_path: Path
) -> None:
    name = f"mo_{uuid.uuid4().hex[:8]}"
    columns: list[dict[str, object]] = [
        {"name": "order_id", "path": "id", "type": "long", "required": True},
        {"name": "version", "path": "v", "type": "int", "required": True},
        {"name": "status", "path": "status", "type": "string"},
    ]
    doc = endpoint_doc(name, columns=columns, write="merge", primary_key=["order_id"], order_by="version")
    (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump(doc))
    config = load_endpoint(tmp_path / f"{name}.yaml")
    slot_a, slot_b = datetime(2025, 3, 1, 12, 15, tzinfo=UTC), datetime(2025, 3, 1, 12, 30, tzinfo=UTC)
    page_1 = [
        {"id": 1, "v": 1, "status": "new"},
        {"id": 2, "v": 1, "status": "new"},
        {"id": 1, "v": 3, "status": "paid"},
    ]
    page_2 = [{"id": 1, "v": 2, "status": "late copy of v2"}, {"id": None, "v": 9, "status": "no key"}]
    prefix_a = land(spark_settings, name, slot_a, [page_1, page_2])

    result = raw_to_table.run(spark, spark_settings, config, [prefix_a])

    assert (result.rows, result.quarantined) == (4, 1)
    assert _rows(spark, result.table)[0][:3] == (1, 3, "paid"), "version 3 wins over the later record with 2"
    (quarantined,) = spark.table(quote(result.quarantine_table)).collect()
    assert json.loads(quarantined.record)["status"] == "no key" and "order_id: required" in quarantined.reason

    # The next slot carries an older version of order 1 and a newer one of order 2.
    prefix_b = land(
        spark_settings, name, slot_b, [[{"id": 1, "v": 2, "status": "stale"}, {"id": 2, "v": 2, "status": "sent"}]]
    )
    raw_to_table.run(spark, spark_settings, config, [prefix_b])
    assert [r[:3] for r in _rows(spark, result.table)] == [(1, 3, "paid"), (2, 2, "sent")], (
        "the ordering column decides across slots too: a later slot's older version does not win"
    )
