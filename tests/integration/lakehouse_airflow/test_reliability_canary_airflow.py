"""Secrets canary through Airflow and Spark (issue 12; the crawl-only canary is
tests/integration/reliability/test_reliability_canary.py).

Every secret the test stack uses is a canary: the sandbox API token (TOKEN, sent as a
bearer token), the S3 key pair, the Redis password and the Spark Connect token (each
generated at random by the stack's first `up`, so a value found anywhere can only
have come from the secret), Airflow's admin password and its JWT signing secret.
After a demo-like slot through the running Airflow (scheduler, LocalExecutor):
crawl, publish, transform on the Spark Connect server, count check; and a failing
run (the upstream answers 500 to every request), everything the runs leave behind is
searched: every file under the stack's state dir (the services' logs, the scheduler's
and the other Airflow components' output, Airflow's task and DAG-processor logs, its
metadata DB with the xcom and rendered_task_instance_fields tables, Redis' files,
Nessie's store, the Connect server's Spark event logs), the worker's log, a dump of
every Redis key and every S3 object. Zero hits.

Skipped, because holding a secret is their job: the secrets dir, redis.conf, the
Nessie and Connect servers' properties files, airflow.cfg and the admin password
file, and SeaweedFS' own directory (its identities; the objects are read through S3).
"""

from __future__ import annotations

import configparser
import sqlite3
import time
from datetime import timedelta
from pathlib import Path

from lakehouse.config.settings import load_settings
from lakehouse.local.credentials import signing_key
from lakehouse.local.services.nessie_server import NessieService
from lakehouse.local.services.redis_server import RedisService
from lakehouse.local.services.s3_server import S3Service
from lakehouse.local.services.spark_connect_server import SparkConnectService
from lakehouse.local.services.trino_server import TrinoService
from lakehouse.local.stack import LocalStack
from lakehouse.queue.jobs import run_id_for
from lakehouse.raw.storage import s3_client
from lakehouse.tables.signals import rows_for
from tests.secrets_search import SecretSearch

from .conftest import SLOT_END, TERMINAL_RUN_STATES, TOKEN, AirflowServer

OK_DAG = "ingest_e2e_trades"
FAILING_DAG = "ingest_e2e_always_500"
# Slots no other test lands.
LOGICAL = SLOT_END + timedelta(hours=6)


def _canaries(server: AirflowServer) -> dict[str, str]:
    settings = load_settings()
    key, secret = settings.s3.require_credentials()
    cfg = configparser.ConfigParser(interpolation=None)
    cfg.read(server.service.home / "airflow.cfg")
    canaries = {
        "sandbox API token": TOKEN,
        "S3 access key id": key,
        "S3 secret key": secret,
        "Redis password": settings.redis.password.get_secret_value(),
        "Spark Connect token": settings.spark.require_connect_token(),
        "catalog token": settings.catalog.require_token(),
        # A line of the catalog's private key (PEM body), which no client should hold.
        "catalog signing key": signing_key(settings).splitlines()[1],
        "Airflow admin password": server.password,
        "Airflow JWT secret": cfg.get("api_auth", "jwt_secret", fallback=""),
    }
    short = {name: value for name, value in canaries.items() if len(value) < 12}
    assert not short, f"too short to search for without false hits: {sorted(short)}"
    return canaries


def _secret_holders(server: AirflowServer) -> list[Path]:
    """Files (or directories) whose job is to hold a secret."""
    settings = load_settings()
    return [
        settings.local.secrets_dir,
        S3Service(settings).state_dir,  # SeaweedFS' identities and its own stores
        RedisService(settings).config_path,
        NessieService(settings).properties_path,
        SparkConnectService(settings).properties_path,
        server.service.home / "airflow.cfg",
        server.service.password_file,
        # Trino's owner-only configuration (the catalog file holds the S3 key pair); its
        # log under var/ and the stack log are searched.
        TrinoService(settings).etc_dir,
    ]


def _trigger(server: AirflowServer, dag_id: str) -> str:
    resp = server.api().post(
        f"{server.url}/api/v2/dags/{dag_id}/dagRuns",
        json={"logical_date": LOGICAL.isoformat(), "dag_run_id": f"canary__{LOGICAL:%Y%m%dT%H%M}"},
        timeout=30,
    )
    resp.raise_for_status()
    return str(resp.json()["dag_run_id"])


def _run_state(server: AirflowServer, dag_id: str, dag_run_id: str, timeout: float = 300) -> str:
    deadline = time.monotonic() + timeout
    state = ""
    while time.monotonic() < deadline:
        state = server.get(f"dags/{dag_id}/dagRuns/{dag_run_id}")["state"]
        if state in TERMINAL_RUN_STATES:
            return state
        time.sleep(2)
    raise AssertionError(f"{dag_id} {dag_run_id} still {state} after {timeout:.0f} s")


def test_no_secret_reaches_airflow_spark_logs_redis_or_s3(
    airflow_server: AirflowServer, spark_connect_url: str, worker: Path, stack: LocalStack
) -> None:
    started = time.monotonic()
    server = airflow_server
    settings = load_settings()
    canaries = _canaries(server)
    # One DAG file builds every ingest DAG: the fixture waited until they were parsed.
    for dag_id in (OK_DAG, FAILING_DAG):
        out = server.cli("dags", "unpause", dag_id)
        assert out.returncode == 0, (out.stdout + out.stderr)[-3000:]
    try:
        runs = {dag_id: _trigger(server, dag_id) for dag_id in (OK_DAG, FAILING_DAG)}
        states = {dag_id: _run_state(server, dag_id, run) for dag_id, run in runs.items()}
    finally:
        for dag_id in (OK_DAG, FAILING_DAG):
            server.set_paused(dag_id, True)
    assert states == {OK_DAG: "success", FAILING_DAG: "failed"}, states
    slot = LOGICAL - timedelta(minutes=15)
    assert len(rows_for(settings, run_id_for("e2e_trades", slot))) == 1
    # Runs that unpausing scheduled (the latest slot) end too, so their logs are complete.
    for dag_id in (OK_DAG, FAILING_DAG):
        server.wait_for_runs(dag_id, lambda rs: all(r["state"] in TERMINAL_RUN_STATES for r in rs), timeout=300)
    ran_at = time.monotonic()

    search = SecretSearch(canaries)
    check = search.check

    client = settings.redis.client()
    client.save()  # a dump file (dump.rdb) next to the append-only files, searched below
    search.check_redis(client)
    client.close()

    state_dir = settings.local.state_dir
    skipped = _secret_holders(server)
    events_dir = SparkConnectService(settings).event_log_dir
    for path in sorted(state_dir.rglob("*")):
        if not path.is_file() or any(path == s or s in path.parents for s in skipped):
            continue
        if events_dir in path.parents:
            kind = "spark event log"
        elif server.service.home in path.parents:
            kind = "airflow db" if path.name.startswith("airflow.db") else "airflow log"
        elif path.parent == state_dir / "logs":
            kind = "stack log"
        elif RedisService(settings).state_dir in path.parents:
            kind = "redis file"
        else:
            kind = "state file"
        try:
            blob = path.read_bytes()
        except FileNotFoundError:  # a temporary file of a running service, gone meanwhile
            continue
        check(kind, str(path.relative_to(state_dir)), blob)
    check("worker log", "worker log", worker.read_bytes())

    # The metadata DB's tables that carry task data, read as Airflow stores them.
    db = sqlite3.connect(f"file:{server.service.home / 'airflow.db'}?mode=ro", uri=True)
    try:
        for table, column in (("xcom", "value"), ("rendered_task_instance_fields", "rendered_fields")):
            for (value,) in db.execute(f"SELECT {column} FROM {table}"):  # noqa: S608 (fixed names)
                check(f"airflow {table} row", table, str(value).encode())
    finally:
        db.close()

    s3 = s3_client(settings.s3)
    search.check_s3(s3, [b["Name"] for b in s3.list_buckets()["Buckets"]])

    searched, found = search.searched, search.found
    kinds = ("spark event log", "airflow log", "airflow db", "stack log", "redis file", "redis key", "s3 object")
    for kind in (*kinds, "airflow xcom row"):
        assert searched.get(kind, 0) >= 1, (kind, searched)
    assert searched.get("airflow rendered_task_instance_fields row", 0) >= 1, searched
    assert not found, f"canary secrets found: {found}"
    # The search can fail: every canary but the API token (the worker's environment
    # only) is where it belongs, so these are the values the stack really uses.
    control = SecretSearch(canaries)
    holders = [p for p in skipped if p.is_file()] + sorted(settings.local.secrets_dir.iterdir())
    for path in [*holders, S3Service(settings).identities_path]:
        control.check("secret holder", str(path), path.read_bytes())
    held = {name for _, names in control.found for name in names}
    assert held == set(canaries) - {"sandbox API token"}, held
    print(
        f"\ncanary (airflow): {len(canaries)} secrets, searched {searched}, zero hits; "
        f"runs {ran_at - started:.1f} s, search {time.monotonic() - ran_at:.1f} s"
    )
