"""`airflow dags test ingest_<endpoint>` on the real local stack, end to end."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from pathlib import Path

from pyiceberg.expressions import EqualTo

from lakehouse.config.settings import load_settings
from lakehouse.endpoints import endpoint_path, load_endpoint
from lakehouse.local.stack import LocalStack
from lakehouse.pipeline.steps import read_manifest
from lakehouse.queue.crawl_queue import open_queue
from lakehouse.queue.jobs import run_id_for
from lakehouse.raw.storage import s3_client
from lakehouse.tables.catalog import load_catalog
from lakehouse.tables.signals import rows_for

from .conftest import OAUTH2_SECRET, OAUTH2_TOKEN_PREFIX, SLOT, TOKEN, Airflow


def _landing(run_id: str):
    settings = load_settings()
    status = open_queue(settings).get_status(run_id)
    assert status is not None and status.manifest_path
    return read_manifest(settings, status.manifest_path)


def _table_rows(identifier: str, run_id: str) -> int:
    table = load_catalog(load_settings()).load_table(identifier)
    return table.scan(row_filter=EqualTo("_run_id", run_id)).count()


def test_a_slot_lands_raw_pages_one_signal_row_and_its_table_rows(airflow: Airflow, sandboxes) -> None:
    # spark.engine: submit here (a SparkSubmitOperator per slot); the default, Connect,
    # is the next test's.
    out = airflow.dags_test("ingest_e2e_trades", env={**airflow.env, "LAKEHOUSE_SPARK__ENGINE": "submit"})
    assert out.returncode == 0, (out.stdout + out.stderr)[-5000:]
    run_id = run_id_for("e2e_trades", SLOT)
    manifest = _landing(run_id)
    assert manifest.total_records == 900 and manifest.total_pages == 9
    settings = load_settings()
    keys = {
        o["Key"]
        for o in s3_client(settings.s3).list_objects_v2(Bucket=settings.s3.bucket, Prefix=manifest.prefix)["Contents"]
    }
    assert {p.key for p in manifest.pages} | {manifest.key} <= keys
    signals = rows_for(settings, run_id)
    assert len(signals) == 1 and signals[0].records == 900
    # The landing and its signal row name the config the DAG's job was made from.
    config_hash = load_endpoint(endpoint_path("e2e_trades", Path(airflow.env["LAKEHOUSE_ENDPOINTS_DIR"]))).content_hash
    assert manifest.config_hash == signals[0].config_hash == config_hash
    assert _table_rows("market.e2e_trades", run_id) == manifest.total_records
    assert TOKEN not in out.stdout + out.stderr

    # The same slot again: no second crawl, one signal row, the same table rows.
    served_before = sandboxes["good"].stats().total_requests
    again = airflow.dags_test("ingest_e2e_trades", env={**airflow.env, "LAKEHOUSE_SPARK__ENGINE": "submit"})
    assert again.returncode == 0, (again.stdout + again.stderr)[-5000:]
    assert sandboxes["good"].stats().total_requests == served_before
    assert len(rows_for(settings, run_id)) == 1
    assert _table_rows("market.e2e_trades", run_id) == manifest.total_records


def test_by_default_the_transform_runs_on_the_spark_connect_server(airflow: Airflow, spark_connect_url: str) -> None:
    """spark.engine: connect (the default): the transform is a Connect client in the
    task's process, not a spark-submit; the server's token shows nowhere."""
    slot = SLOT + timedelta(hours=1)  # a slot no other test lands
    out = airflow.dags_test("ingest_e2e_trades", logical=slot + timedelta(minutes=15))
    text = out.stdout + out.stderr
    assert out.returncode == 0, text[-5000:]
    run_id = run_id_for("e2e_trades", slot)
    manifest = _landing(run_id)
    assert _table_rows("market.e2e_trades", run_id) == manifest.total_records == 900
    assert f"on the Spark Connect server at {spark_connect_url}" in text
    assert "spark-submit" not in text.lower()
    assert TOKEN not in text
    assert load_settings().spark.require_connect_token() not in text


def test_a_dead_engine_is_brought_back_by_the_transform_task(airflow: Airflow, spark_connect_url: str) -> None:
    """The server was killed (OOM killer, kill -9): the next transform starts it again
    (ensure_engine, local profile only) and lands its slot."""
    import os
    import signal

    from lakehouse.local.services.spark_connect_server import SparkConnectService

    row = next(s for s in LocalStack(load_settings()).status() if s.service == SparkConnectService.name)
    assert row.pid
    os.kill(row.pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while SparkConnectService(load_settings()).is_healthy() and time.monotonic() < deadline:
        time.sleep(0.2)
    slot = SLOT + timedelta(hours=2)
    out = airflow.dags_test("ingest_e2e_trades", logical=slot + timedelta(minutes=15))
    text = out.stdout + out.stderr
    assert out.returncode == 0, text[-5000:]
    assert "does not answer; (re)starting it" in text
    run_id = run_id_for("e2e_trades", slot)
    assert _table_rows("market.e2e_trades", run_id) == _landing(run_id).total_records == 900
    assert SparkConnectService(load_settings()).is_healthy()


def test_an_oauth2_endpoint_runs_and_airflow_never_holds_its_secret_or_token(airflow: Airflow, sandboxes) -> None:
    # Airflow builds the job from the YAML with the variables' names only: its
    # environment has neither, the worker's has both.
    assert "E2E_OAUTH2_SECRET" not in airflow.env
    out = airflow.dags_test("ingest_e2e_oauth2")
    assert out.returncode == 0, (out.stdout + out.stderr)[-5000:]
    manifest = _landing(run_id_for("e2e_oauth2", SLOT))
    assert manifest.total_records == 900
    stats = sandboxes["oauth2"].stats()
    assert stats.tokens_issued >= 1 and stats.unauthorized == 0
    # XComs, task logs and the rest of the metadata DB (SQLite) live in AIRFLOW_HOME.
    files = [p for p in airflow.home.rglob("*") if p.is_file()]
    assert any(p.suffix == ".db" for p in files), files
    for blob in [out.stdout.encode(), out.stderr.encode(), *(p.read_bytes() for p in files)]:
        assert OAUTH2_SECRET.encode() not in blob and OAUTH2_TOKEN_PREFIX.encode() not in blob


def test_an_endpoint_that_always_fails_stops_at_the_wait_with_the_workers_reason(airflow: Airflow) -> None:
    out = airflow.dags_test("ingest_e2e_always_500")
    assert out.returncode != 0
    text = out.stdout + out.stderr
    assert "wait_for_crawl" in text and "500" in text
    assert rows_for(load_settings(), run_id_for("e2e_always_500", SLOT)) == []


def test_a_catalog_outage_during_publish_retries_only_the_publish(
    airflow: Airflow, stack: LocalStack, sandboxes
) -> None:
    settings = load_settings()
    run_id = run_id_for("e2e_no_table", SLOT)
    nessie = next(s for s in stack.services if s.name == "nessie")
    stack.stop_service("nessie")
    served_before = sandboxes["good"].stats().total_requests

    def restart_when_crawled() -> None:
        queue = open_queue(settings)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            status = queue.get_status(run_id)
            if status is not None and status.state.value == "finished":
                break
            time.sleep(0.5)
        time.sleep(6)  # let the publish task fail and retry at least once
        stack.up()

    restarter = threading.Thread(target=restart_when_crawled)
    restarter.start()
    out = airflow.dags_test("ingest_e2e_no_table")
    restarter.join()
    assert nessie.is_healthy()
    text = out.stdout + out.stderr
    assert out.returncode == 0, text[-5000:]
    assert "publish_signal" in text
    assert len(rows_for(settings, run_id)) == 1
    pages = _landing(run_id).total_pages
    assert sandboxes["good"].stats().total_requests - served_before == pages  # crawled once
