"""Trino (`lakehouse local up --with trino`) on the shared test stack: it reads the same
rows of an ingested endpoint table as Spark and DuckDB, refuses clients without its
password, and listens on 127.0.0.1 only.

The endpoint is the session's ``ingested`` one (tests/integration/conftest.py: two
slots landed as the crawler writes them, ingested over the stack's Spark Connect
server), which the notebook tests read too. Trino starts once per session (about 25 s
here); the test is skipped only when no Java 24+ can be found, with that reason.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import psutil
import pytest
import requests

from lakehouse.config.settings import load_settings
from lakehouse.engines.java import trino_java_home
from lakehouse.errors import JavaNotFoundError
from lakehouse.local.services.trino_server import USER, TrinoService
from tests.conftest import ROOT, free_port
from tests.integration.conftest import Ingested

COLUMNS = ("trade_id", "price", "traded_at", "venue_code")

SPARK_READ = """
import json, sys
from lakehouse.config.settings import load_settings
from spark_jobs.session import build_session
spark = build_session(load_settings())
rows = spark.sql(sys.argv[1]).collect()
print(json.dumps([[str(v) if v is not None else None for v in r] for r in rows]))
spark.stop()
"""


@pytest.fixture(scope="session")
def trino(stack) -> Iterator[TrinoService]:
    """The stack's Trino on free ports, started once."""
    from lakehouse.local.stack import LocalStack

    try:
        trino_java_home(load_settings().local.trino_java_home)
    except JavaNotFoundError as exc:
        pytest.skip(f"Trino 476 needs Java 24+, and none is here: {exc}")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("LAKEHOUSE_LOCAL__TRINO_PORT", str(free_port()))
        env.setenv("LAKEHOUSE_LOCAL__TRINO_INTERNAL_PORT", str(free_port()))
        server = LocalStack(load_settings(), services=(TrinoService,))
        try:
            server.up()
            yield TrinoService(server.settings)
        finally:
            server.stop_service(TrinoService.name)


def _row(trade_id: Any, price: Any, traded_at: Any, venue: Any) -> tuple[int, Decimal | None, datetime, str | None]:
    """One row in one form, whatever engine it came from."""
    if isinstance(traded_at, str):
        text = traded_at.removesuffix(" UTC")
        traded_at = datetime.fromisoformat(text)
    if traded_at.tzinfo is None:  # Spark and DuckDB give UTC wall-clock times
        traded_at = traded_at.replace(tzinfo=UTC)
    return int(trade_id), None if price is None else Decimal(str(price)), traded_at.astimezone(UTC), venue


def test_trino_spark_and_duckdb_read_the_same_rows(trino: TrinoService, ingested: Ingested) -> None:
    from lakehouse.analyst import duckdb

    select = ", ".join(COLUMNS)
    table = f"{trino.settings.catalog.name}.{ingested.table}"
    # Spark's client starts in its own process (seconds); Trino and DuckDB read meanwhile.
    spark = subprocess.Popen(
        [sys.executable, "-c", SPARK_READ, f"SELECT {select} FROM {table} ORDER BY trade_id"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        via_trino = [_row(*r) for r in trino.query(f"SELECT {select} FROM {table} ORDER BY trade_id")]
        view = ingested.table.replace(".", "_")
        scan = duckdb(ingested.table).sql(f"SELECT {select} FROM {view} ORDER BY trade_id")
        via_duckdb = [_row(*r) for r in scan.fetchall()]
        stdout, stderr = spark.communicate(timeout=300)
    finally:
        spark.kill()
    assert spark.returncode == 0, stderr[-4000:]
    via_spark = [_row(*r) for r in json.loads(stdout.strip().splitlines()[-1])]

    assert len(via_trino) == ingested.rows
    assert via_trino == via_spark == via_duckdb
    assert any(r[1] is not None for r in via_trino) and any(r[3] is not None for r in via_trino)


def test_trino_refuses_clients_without_its_password(trino: TrinoService) -> None:
    password = trino.password()
    assert password and (trino.password_file.stat().st_mode & 0o777) == 0o600
    statement = f"{trino.url}/v1/statement"
    cert = str(trino.certificate)
    headers = {"X-Trino-User": USER}
    assert requests.post(statement, data="SELECT 1", headers=headers, verify=cert, timeout=10).status_code == 401
    wrong = requests.post(statement, data="SELECT 1", headers=headers, auth=(USER, "wrong"), verify=cert, timeout=10)
    assert wrong.status_code == 401
    # The plain-HTTP port (Trino's own node-to-node calls) takes no client at all.
    internal = f"http://127.0.0.1:{trino.settings.local.trino_internal_port}/v1/statement"
    plain = requests.post(internal, data="SELECT 1", headers=headers, auth=(USER, password), timeout=10)
    assert plain.status_code == 403 and "Authentication over HTTP is not enabled" in plain.text
    assert trino.query("SELECT 1") == [[1]]


def test_trino_listens_on_loopback_only_and_keeps_secrets_off_argv(trino: TrinoService) -> None:
    from lakehouse.local.stack import LocalStack

    rows = {r.service: r for r in LocalStack(load_settings(), services=(TrinoService,)).status()}
    assert rows["trino"].healthy and rows["trino"].pid
    process = psutil.Process(rows["trino"].pid)
    listening = [c.laddr for c in process.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN]
    assert {a.port for a in listening} >= {trino.settings.local.trino_port, trino.settings.local.trino_internal_port}
    assert all(a.ip in ("127.0.0.1", "::ffff:127.0.0.1") for a in listening), listening
    key, secret = trino.settings.s3.require_credentials()
    argv = " ".join(process.cmdline())
    password = trino.password()
    assert password
    for value in (key, secret, password):
        assert value not in argv
    log = trino.log_path.read_text()
    # Bootstrap's property dump once printed the S3 key id (it masks only "sensitive" ones).
    for value in (key, secret, password):
        assert value not in log
