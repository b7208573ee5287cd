"""raw_to_table over Spark Connect: the stack's long-running server, the job's own
entry point with --remote, and the same rows as a local-mode run of the same landing.

The Connect client runs in a subprocess: pyspark 3.5 cannot hold a Connect session
next to this process's classic SparkContext (the shared ``spark`` fixture).
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import yaml

from lakehouse.endpoints import EndpointConfig
from lakehouse.jobs import run_id_for
from lakehouse.raw_layout import Manifest, ManifestPage, page_key, run_prefix, sha256_hex
from lakehouse.settings import Settings, load_settings
from lakehouse.storage import s3_client
from spark_jobs import raw_to_table
from spark_jobs.tables import quote
from tests.conftest import ROOT

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

SLOT = datetime(2025, 4, 2, 9, 45, tzinfo=UTC)
T0 = int(SLOT.timestamp() * 1000)


@pytest.fixture()
def connect_url(spark_connect_url: str) -> str:
    return spark_connect_url


def _endpoint_doc(name: str, table: str) -> dict[str, object]:
    return {
        "name": name,
        "request": {"url": "http://127.0.0.1:18080/v1/offset"},
        "rate_limit": {"requests_per_second": 5},
        "schedule": "*/15 * * * *",
        "response_map": {"records_path": "data.items"},
        "table": {
            "namespace": "market",
            "name": table,
            "columns": [
                {"name": "trade_id", "path": "id", "type": "long", "required": True},
                {"name": "price", "path": "price", "type": "decimal(18,8)"},
                {"name": "traded_at", "path": "time", "type": "timestamp", "format": "epoch_ms", "required": True},
                {"name": "venue_code", "path": "venue.code", "type": "string"},
            ],
        },
    }


def _land(settings: Settings, endpoint: str, pages: list[list[object]]) -> str:
    client = s3_client(settings.s3)
    run_id = run_id_for(endpoint, SLOT)
    prefix = run_prefix(settings.s3.raw_prefix, endpoint, SLOT, run_id)
    listed = []
    for index, records in enumerate(pages, start=1):
        body = json.dumps({"data": {"items": records}}).encode()
        key = page_key(prefix, index)
        client.put_object(Bucket=settings.s3.bucket, Key=key, Body=body)
        listed.append(ManifestPage(index=index, key=key, url=f"http://127.0.0.1:18080/v1/offset?offset={index}",
                                   status_code=200, records=len(records), bytes=len(body), sha256=sha256_hex(body),
                                   fetched_at=SLOT + timedelta(minutes=15), elapsed_seconds=0.01))
    manifest = Manifest.build(run_id=run_id, endpoint=endpoint, slot_start=SLOT, slot_end=SLOT + timedelta(minutes=15),
                              prefix=prefix, pages=listed, started_at=SLOT + timedelta(minutes=15),
                              finished_at=SLOT + timedelta(minutes=16))
    client.put_object(Bucket=settings.s3.bucket, Key=manifest.key, Body=manifest.to_json_bytes())
    return prefix


def _rows(spark: "SparkSession", table: str) -> list[tuple[object, ...]]:
    return sorted(tuple(r) for r in spark.table(quote(table)).collect())


def test_raw_to_table_over_connect_writes_what_local_mode_writes(
    spark: "SparkSession", spark_settings: Settings, connect_url: str, table_suffix: str, tmp_path: Path
) -> None:
    name = f"connect_{table_suffix}"
    trades: list[object] = [
        {"id": i, "price": f"{100 + i}.12345678", "time": T0 + i, "venue": {"code": f"V{i % 3}"}} for i in range(40)
    ]
    # Misfits exercise the quarantine write over Connect too.
    trades += [{"id": "not-a-number", "time": T0}, {"id": 99, "price": "1.0"}]
    prefix = _land(spark_settings, name, [trades[:21], trades[21:]])

    endpoints_dir = tmp_path / "endpoints"
    endpoints_dir.mkdir()
    (endpoints_dir / f"{name}.yaml").write_text(yaml.safe_dump(_endpoint_doc(name, f"{name}_connect")))
    # Both runs at once: they write different tables, and the wait is mostly JVM and
    # interpreter start-up, which overlaps well even on two cores.
    job = subprocess.Popen(
        [sys.executable, str(ROOT / "spark_jobs" / "raw_to_table.py"), "--remote", connect_url,
         "--endpoint", name, "--endpoints-dir", str(endpoints_dir), "--run", prefix],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        local = EndpointConfig.model_validate(_endpoint_doc(name, f"{name}_local"))
        result = raw_to_table.run(spark, spark_settings, local, [prefix])
        _, stderr = job.communicate(timeout=180)
    finally:
        if job.poll() is None:
            job.kill()
    assert job.returncode == 0, stderr[-4000:]
    assert (result.rows, result.quarantined) == (40, 2)

    over_connect = _rows(spark, f"market.{name}_connect")
    assert len(over_connect) == 40
    assert over_connect == _rows(spark, f"market.{name}_local")
    assert _rows(spark, f"market.{name}_connect__quarantine") == _rows(spark, f"market.{name}_local__quarantine")
