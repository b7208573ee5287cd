"""The stack's Spark Connect server (the default transform engine) on the real stack:
raw_to_table over Connect writes what a local-mode run writes; the server refuses a
client without the token or with a wrong one, listens on loopback only, refuses to
start on a non-loopback bind host, and comes back after a kill -9, after which a
transform succeeds again.

Connect clients run in subprocesses: this process holds the classic local-mode
SparkContext of the shared ``spark`` fixture, and pyspark keeps one mode per process.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import psutil
import pytest
import yaml

from lakehouse.config.settings import Settings, load_settings
from lakehouse.endpoints import EndpointConfig
from lakehouse.engines.engine import ensure_engine
from lakehouse.engines.spark_conf import is_loopback
from lakehouse.errors import StackError
from lakehouse.local.services.spark_connect_server import SparkConnectService
from lakehouse.local.stack import LocalStack
from spark_jobs import raw_to_table
from spark_jobs.tables import quote
from tests.conftest import ROOT, free_port, spark_connect_stack
from tests.integration.landings import endpoint_doc, land

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

SLOT = datetime(2025, 4, 2, 9, 45, tzinfo=UTC)
T0 = int(SLOT.timestamp() * 1000)


@pytest.fixture()
def connect_url(spark_connect_url: str) -> str:
    return spark_connect_url


def _rows(spark: SparkSession, table: str) -> list[tuple[object, ...]]:
    return sorted(tuple(r) for r in spark.table(quote(table)).collect())


def _job(
    url: str, endpoint: str, endpoints_dir: Path, prefix: str, env: dict[str, str] | None = None
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "spark_jobs" / "raw_to_table.py"),
            "--remote",
            url,
            "--endpoint",
            endpoint,
            "--endpoints-dir",
            str(endpoints_dir),
            "--run",
            prefix,
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env or os.environ.copy(),
    )


def _endpoint_files(tmp_path: Path, name: str, table: str) -> Path:
    endpoints_dir = tmp_path / "endpoints"
    endpoints_dir.mkdir(exist_ok=True)
    (endpoints_dir / f"{name}.yaml").write_text(yaml.safe_dump(endpoint_doc(name, table)))
    return endpoints_dir


def test_raw_to_table_over_connect_writes_what_local_mode_writes(
    spark: SparkSession, spark_settings: Settings, connect_url: str, table_suffix: str, tmp_path: Path
) -> None:
    name = f"connect_{table_suffix}"
    trades: list[object] = [
        {"id": i, "price": f"{100 + i}.12345678", "time": T0 + i, "venue": {"code": f"V{i % 3}"}} for i in range(40)
    ]
    # Misfits exercise the quarantine write over Connect too.
    trades += [{"id": "not-a-number", "time": T0}, {"id": 99, "price": "1.0"}]
    prefix = land(spark_settings, name, SLOT, [trades[:21], trades[21:]])
    endpoints_dir = _endpoint_files(tmp_path, name, f"{name}_connect")
    # Both runs at once: they write different tables, and the wait is mostly JVM and
    # interpreter start-up, which overlaps well even on two cores.
    job = _job(connect_url, name, endpoints_dir, prefix)
    try:
        local = EndpointConfig.model_validate(endpoint_doc(name, f"{name}_local"))
        result = raw_to_table.run(spark, spark_settings, local, [prefix])
        _, stderr = job.communicate(timeout=180)
    finally:
        if job.poll() is None:
            job.kill()
    assert job.returncode == 0, stderr[-4000:]
    assert (result.rows, result.quarantined) == (40, 2)
    token = spark_settings.spark.require_connect_token()
    assert token not in stderr and token not in connect_url

    over_connect = _rows(spark, f"market.{name}_connect")
    assert len(over_connect) == 40
    assert over_connect == _rows(spark, f"market.{name}_local")
    assert _rows(spark, f"market.{name}_connect__quarantine") == _rows(spark, f"market.{name}_local__quarantine")


# A bare pyspark client, without our session factory: what anyone on the machine could run.
_BARE_CLIENT = """
import sys
from pyspark.sql.connect.session import SparkSession
try:
    SparkSession.builder.remote(sys.argv[1]).create().range(3).count()
    print("ACCEPTED")
except Exception as exc:
    print("REFUSED", type(exc).__name__, exc.getGrpcStatusCode().name if hasattr(exc, "getGrpcStatusCode") else "")
"""


def _bare_client(url: str) -> str:
    out = subprocess.run([sys.executable, "-c", _BARE_CLIENT, url], capture_output=True, text=True, timeout=120)
    return out.stdout.strip().splitlines()[-1] if out.stdout.strip() else out.stderr[-2000:]


def test_a_client_without_the_token_or_with_a_wrong_one_is_refused(connect_url: str, spark_settings: Settings) -> None:
    port = connect_url.rsplit(":", 1)[1]
    assert _bare_client(f"sc://localhost:{port}") == "REFUSED SparkConnectGrpcException UNAUTHENTICATED"
    assert (
        _bare_client(f"sc://localhost:{port}/;token=not-the-token")
        == "REFUSED SparkConnectGrpcException UNAUTHENTICATED"
    )
    token = spark_settings.spark.require_connect_token()
    assert _bare_client(f"sc://localhost:{port}/;token={token}") == "ACCEPTED"


def test_our_client_with_a_wrong_token_gets_a_named_error_saying_where_the_token_is_read(
    connect_url: str, table_suffix: str, tmp_path: Path, spark_settings: Settings
) -> None:
    name = f"wrongtok_{table_suffix}"
    prefix = land(spark_settings, name, SLOT, [[{"id": 1, "time": T0}]])
    env = {**os.environ, "LAKEHOUSE_SPARK__CONNECT_TOKEN": "not-the-token"}
    job = _job(connect_url, name, _endpoint_files(tmp_path, name, name), prefix, env=env)
    _, stderr = job.communicate(timeout=180)
    assert job.returncode == 2, stderr[-3000:]
    assert "error: SparkConnectAuthError:" in stderr
    assert "refused this client's token" in stderr and "LAKEHOUSE_SPARK__CONNECT_TOKEN" in stderr
    assert "not-the-token" not in stderr


def _server_pid(stack: LocalStack) -> int:
    row = next(s for s in spark_connect_stack().status() if s.service == SparkConnectService.name)
    assert row.pid and row.healthy, row
    return row.pid


def _non_loopback_addresses() -> list[str]:
    found = []
    for addresses in psutil.net_if_addrs().values():
        for address in addresses:
            if address.family == socket.AF_INET and not is_loopback(address.address):
                found.append(address.address)
    return found


def test_it_listens_on_loopback_only(connect_url: str, stack: LocalStack) -> None:
    pid = _server_pid(stack)
    server = psutil.Process(pid)
    listening = [
        c.laddr
        for proc in (server, *server.children(recursive=True))
        for c in proc.net_connections(kind="inet")
        if c.status == psutil.CONN_LISTEN
    ]
    port = int(connect_url.rsplit(":", 1)[1])
    assert port in {addr.port for addr in listening}, listening
    assert all(is_loopback(addr.ip) for addr in listening), listening
    others = _non_loopback_addresses()
    if not others:
        pytest.skip("this machine has no non-loopback IPv4 address to try")
    for address in others:
        with pytest.raises(OSError):
            socket.create_connection((address, port), timeout=2).close()


def test_a_non_loopback_bind_host_is_refused_at_start(stack: LocalStack, tmp_path: Path) -> None:
    # Its own state dir: the shared one records the session's running server.
    settings = load_settings(
        local={"bind_host": "0.0.0.0", "spark_connect_port": free_port(), "state_dir": str(tmp_path / "state")}
    )
    refused = LocalStack(settings, services=(SparkConnectService,))
    with pytest.raises(
        StackError, match=r"(?s)would listen on 0\.0\.0\.0, which is not a loopback address.*127\.0\.0\.1"
    ):
        refused.up()
    with pytest.raises(OSError):  # nothing was started on that port
        socket.create_connection(("127.0.0.1", settings.local.spark_connect_port), timeout=2).close()


def test_a_killed_server_fails_the_transform_retryably_and_comes_back(
    spark: SparkSession,
    connect_url: str,
    stack: LocalStack,
    spark_settings: Settings,
    table_suffix: str,
    tmp_path: Path,
) -> None:
    name = f"revive_{table_suffix}"
    prefix = land(spark_settings, name, SLOT, [[{"id": i, "time": T0 + i} for i in range(10)]])
    endpoints_dir = _endpoint_files(tmp_path, name, name)

    os.kill(_server_pid(stack), signal.SIGKILL)  # what the OOM killer does
    deadline = time.monotonic() + 30
    while SparkConnectService(spark_settings).is_healthy() and time.monotonic() < deadline:
        time.sleep(0.2)

    # The transform of the slot in flight fails with the retryable, named error ...
    t0 = time.monotonic()
    job = _job(connect_url, name, endpoints_dir, prefix)
    _, stderr = job.communicate(timeout=180)
    assert job.returncode == 2, stderr[-3000:]
    assert "error: SparkEngineUnavailableError:" in stderr and "lakehouse local up" in stderr
    assert time.monotonic() - t0 < 90, "a dead server must fail the attempt quickly, not after minutes"

    # ... `up` notices the recorded server died and starts it again (with no --with) ...
    result = LocalStack(load_settings()).up()
    assert result.restarted == [SparkConnectService.name]
    assert SparkConnectService(spark_settings).is_healthy()

    # ... and the retried transform lands the slot.
    job = _job(connect_url, name, endpoints_dir, prefix)
    _, stderr = job.communicate(timeout=180)
    assert job.returncode == 0, stderr[-3000:]
    assert len(_rows(spark, f"market.{name}")) == 10


def test_ensure_engine_restarts_a_dead_server(connect_url: str, stack: LocalStack, spark_settings: Settings) -> None:
    """What each Airflow transform attempt calls first in the local profile."""
    os.kill(_server_pid(stack), signal.SIGKILL)
    deadline = time.monotonic() + 30
    while SparkConnectService(spark_settings).is_healthy() and time.monotonic() < deadline:
        time.sleep(0.2)
    ensure_engine(load_settings())
    assert SparkConnectService(spark_settings).is_healthy()
    _server_pid(stack)
