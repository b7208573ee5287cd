"""End-to-end fixtures: the sandbox API, endpoint configs pointing at it, a real
scrapworker process, Airflow's `dags test` with a migrated SQLite metadata DB, and
a running Airflow (the local stack's service: scheduler, api-server, UI) for the
backfill and browser tests."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

import pytest
import yaml

from lakehouse.config.settings import load_settings
from lakehouse.engines.airflow_env import airflow_env
from lakehouse.local.services.airflow_server import ADMIN_USER as ADMIN
from sandbox import SandboxServer
from sandbox.app import SandboxOptions
from sandbox.faults import FaultRates
from sandbox.market import MarketConfig
from sandbox.oauth2 import OAuth2Options

if TYPE_CHECKING:
    import requests

    from lakehouse.local.services.airflow_server import AirflowService

ROOT = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent
TOKEN = "e2e-secret-" + uuid.uuid4().hex
# OAuth2 (sandbox.oauth2): the client secret lives in the worker's environment only,
# and every token the sandbox issues starts with OAUTH2_TOKEN_PREFIX.
OAUTH2_SECRET = "e2e-oauth2-secret-" + uuid.uuid4().hex
OAUTH2_TOKEN_PREFIX = "e2e-oauth2-token-" + uuid.uuid4().hex[:8]
SLOT = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
# A run ingests the slot complete at its logical date, so SLOT's run is at its end.
SLOT_END = SLOT + timedelta(minutes=15)
# The fault scenarios' endpoint (test_reliability_dag_faults.py): a crawl long enough
# to inject into (FAULT_PAGES pages at FAULT_RATE requests/s) and a transform whose
# write takes a moment.
FAULT_RECORDS = 20_000
FAULT_PAGE_SIZE = 1_000
FAULT_RATE = 4.0
FAULT_MARKET = MarketConfig(trade_interval_ms=(15 * 60_000) // FAULT_RECORDS)


@dataclass
class Airflow:
    env: dict[str, str]
    home: Path

    def dags_test(
        self, dag_id: str, logical: datetime = SLOT_END, timeout: float = 600, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(BIN / "airflow"), "dags", "test", dag_id, logical.isoformat()],
            env=env or self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )


def _endpoint(name: str, base_url: str, source: str = "sandbox_trades.yaml", table: bool = True) -> dict:
    doc = yaml.safe_load((ROOT / "config" / "endpoints" / source).read_text())
    doc["name"] = name
    doc["request"]["url"] = doc["request"]["url"].replace("http://127.0.0.1:18080", base_url)
    doc["rate_limit"]["key"] = name
    doc["retry"] = {"max_attempts": 2, "backoff_seconds": 0.1, "max_backoff_seconds": 0.2}
    if table:
        doc["table"]["name"] = name
    else:
        doc.pop("table", None)
    return doc


@pytest.fixture(scope="session")
def sandboxes() -> Iterator[dict[str, SandboxServer]]:
    good = SandboxServer(SandboxOptions(rate_limit=50, token=TOKEN)).start()
    broken = SandboxServer(
        SandboxOptions(token=TOKEN, faults=FaultRates(fail_rate=1.0, max_faults_per_request=10_000))
    ).start()
    oauth2 = SandboxServer(
        SandboxOptions(oauth2=OAuth2Options("e2e-client", OAUTH2_SECRET, token_prefix=OAUTH2_TOKEN_PREFIX))
    ).start()
    faults = SandboxServer(SandboxOptions(token=TOKEN, market=FAULT_MARKET)).start()
    try:
        yield {"good": good, "broken": broken, "oauth2": oauth2, "faults": faults}
    finally:
        good.stop()
        broken.stop()
        oauth2.stop()
        faults.stop()


@pytest.fixture(scope="session")
def endpoints_dir(tmp_path_factory: pytest.TempPathFactory, sandboxes: dict[str, SandboxServer]) -> Path:
    directory = tmp_path_factory.mktemp("endpoints")
    docs = {
        "e2e_trades": _endpoint("e2e_trades", sandboxes["good"].url),
        "e2e_no_table": _endpoint("e2e_no_table", sandboxes["good"].url, table=False),
        "e2e_always_500": _endpoint("e2e_always_500", sandboxes["broken"].url, table=False),
        "e2e_oauth2": _endpoint("e2e_oauth2", sandboxes["oauth2"].url, table=False),
        "e2e_faults": _endpoint("e2e_faults", sandboxes["faults"].url),
    }
    docs["e2e_faults"]["pagination"]["page_size"] = FAULT_PAGE_SIZE
    docs["e2e_faults"]["rate_limit"].update({"requests_per_second": FAULT_RATE, "burst": 1})
    docs["e2e_oauth2"]["request"]["auth"] = {
        "type": "oauth2_client_credentials",
        "token_url": sandboxes["oauth2"].url + "/oauth/token",
        "client_id_env": "E2E_OAUTH2_ID",
        "client_secret_env": "E2E_OAUTH2_SECRET",
    }
    for name, doc in docs.items():
        (directory / f"{name}.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    return directory


@pytest.fixture(scope="session")
def worker(stack, endpoints_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    log = tmp_path_factory.mktemp("worker") / "worker.log"
    env = {
        **os.environ,
        "SANDBOX_TOKEN": TOKEN,
        "E2E_OAUTH2_ID": "e2e-client",
        "E2E_OAUTH2_SECRET": OAUTH2_SECRET,
        "LAKEHOUSE_ENDPOINTS_DIR": str(endpoints_dir),
    }
    with log.open("w") as fh:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "scrapworker",
                "--endpoints-dir",
                str(endpoints_dir),
                "--concurrency",
                "2",
                "--worker-id",
                "e2e-worker",
            ],
            env=env,
            stdout=fh,
            stderr=subprocess.STDOUT,
        )
    try:
        yield log
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="session")
def airflow(stack, worker: Path, endpoints_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Airflow:
    home = tmp_path_factory.mktemp("airflow")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update(airflow_env(load_settings(), home))
    env.update(
        {
            "LAKEHOUSE_ENDPOINTS_DIR": str(endpoints_dir),
            # Generous: the catalog-outage test needs the publish to outlast a Nessie
            # restart on a loaded 2-core machine.
            "LAKEHOUSE_AIRFLOW__RETRY_DELAY_SECONDS": "2",
            "LAKEHOUSE_AIRFLOW__TASK_RETRIES": "30",
        }
    )
    out = subprocess.run([str(BIN / "airflow"), "db", "migrate"], env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    return Airflow(env=env, home=home)


# -- Airflow itself (scheduler, api-server, UI), shared by the backfill and browser tests --

E2E_DAG = "ingest_e2e_no_table"
TERMINAL_RUN_STATES = frozenset({"success", "failed"})


class AirflowTimeoutError(AssertionError):
    """Airflow did not reach the awaited state; the message says what it last saw."""


@dataclass
class AirflowServer:
    service: AirflowService
    cli_env: dict[str, str]
    password: str
    _session: requests.Session | None = None

    @property
    def url(self) -> str:
        return self.service.url

    def cli(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        """An `airflow` command against this server's metadata DB, as a user runs it."""
        return subprocess.run(
            [str(BIN / "airflow"), *args], env=self.cli_env, capture_output=True, text=True, timeout=timeout
        )

    def api(self) -> requests.Session:
        """A REST session logged in as admin (SimpleAuthManager's JWT, valid for a day)."""
        import requests

        if self._session is not None:
            return self._session
        resp = requests.post(f"{self.url}/auth/token", json={"username": ADMIN, "password": self.password}, timeout=30)
        resp.raise_for_status()
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {resp.json()['access_token']}"
        self._session = session
        return session

    def get(self, path: str, **params: object) -> dict:
        resp = self.api().get(f"{self.url}/api/v2/{path}", params=params, timeout=30)
        resp.raise_for_status()
        return resp.json()

    def set_paused(self, dag_id: str, paused: bool) -> None:
        resp = self.api().patch(f"{self.url}/api/v2/dags/{dag_id}", json={"is_paused": paused}, timeout=30)
        resp.raise_for_status()

    @contextmanager
    def paused_afterwards(self, dag_id: str) -> Iterator[None]:
        """Pause again on the way out, so the scheduler starts no runs after the test."""
        try:
            yield
        finally:
            self.set_paused(dag_id, True)

    def crawl_run_id(self, dag_id: str, dag_run_id: str) -> str:
        """The crawl job a DAG run used, as its enqueue task reported it (XCom)."""
        entry = self.get(
            f"dags/{dag_id}/dagRuns/{quote(dag_run_id, safe='')}/taskInstances/enqueue_crawl/xcomEntries/return_value"
        )
        return str(entry["value"]).strip('"')

    def runs(self, dag_id: str) -> list[dict]:
        return self.get(f"dags/{dag_id}/dagRuns", limit=100, order_by="logical_date")["dag_runs"]

    def wait_for_dag(self, dag_id: str, timeout: float = 180) -> None:
        """The dag-processor parses files on its own clock; wait until the DAG is in the DB."""
        import requests

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                self.get(f"dags/{dag_id}")
                return
            except requests.HTTPError:
                time.sleep(2)
        errors = self.get("importErrors")
        raise AirflowTimeoutError(f"{dag_id} not parsed after {timeout:.0f} s; import errors: {errors}")

    def wait_for_runs(self, dag_id: str, done: Callable[[list[dict]], bool], timeout: float = 240) -> list[dict]:
        deadline = time.monotonic() + timeout
        runs: list[dict] = []
        while time.monotonic() < deadline:
            runs = self.runs(dag_id)
            if done(runs):
                return runs
            time.sleep(2)
        seen = [(r["dag_run_id"], r["state"]) for r in runs]
        raise AirflowTimeoutError(f"runs of {dag_id} not done after {timeout:.0f} s: {seen}")


def _process_tree(pid: int) -> set[int]:
    import psutil

    try:
        root = psutil.Process(pid)
        return {pid, *(p.pid for p in root.children(recursive=True))}
    except psutil.NoSuchProcess:
        return set()


def _still_running(pids: set[int]) -> list[str]:
    import psutil

    alive = []
    for pid in pids:
        try:
            proc = psutil.Process(pid)
            if proc.status() != psutil.STATUS_ZOMBIE:
                alive.append(f"{pid} {' '.join(proc.cmdline())[:120]}")
        except psutil.NoSuchProcess:
            pass
    return alive


@pytest.fixture(scope="session")
def airflow_server(stack, worker: Path, endpoints_dir: Path) -> Iterator[AirflowServer]:
    """The local stack's Airflow service (the one `lakehouse local up --with airflow`
    starts) on a free port in the test stack's state dir, crawling the e2e configs."""
    from unittest import mock

    from lakehouse.local.services.airflow_server import AirflowService
    from lakehouse.local.stack import LocalStack, services_with

    overrides = {
        "LAKEHOUSE_AIRFLOW__API_PORT": str(_free_port()),
        "LAKEHOUSE_ENDPOINTS_DIR": str(endpoints_dir),
        "LAKEHOUSE_AIRFLOW__RETRY_DELAY_SECONDS": "1",
        # Concurrent signal publishes of one backfill conflict in the Iceberg commit
        # ("Cannot find starting snapshot") and rely on task retries to land; the
        # fault scenarios' retries outlast a Nessie restart (up to ~35 s when loaded).
        "LAKEHOUSE_AIRFLOW__TASK_RETRIES": "10",
        # The example downstream DAG aggregates an endpoint of these configs.
        "LAKEHOUSE_AIRFLOW__DAILY_AGGREGATE_ENDPOINT": "e2e_trades",
    }
    # Only Airflow's processes get these (the stack passes its environment on at spawn);
    # the rest of the session keeps the real endpoints dir.
    with mock.patch.dict(os.environ, overrides):
        settings = load_settings()
        airflow_stack = LocalStack(settings, services=services_with(["airflow"]))
        airflow_stack.up()
        service = AirflowService(airflow_stack.settings)
        cli_env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
        cli_env.update(service.env())
    password = service.admin_password()
    assert password, f"no admin password in {service.password_file}"
    record_pid = next(s.pid for s in airflow_stack.status() if s.service == "airflow")
    server = AirflowServer(service=service, cli_env=cli_env, password=password)
    try:
        server.wait_for_dag(E2E_DAG)
        yield server
    finally:
        # Everything Airflow started, task processes included, must go with it.
        pids = _process_tree(record_pid) if record_pid else set()
        outcome = airflow_stack.stop_service("airflow")
        time.sleep(0.5)
        leftovers = _still_running(pids)
        assert not leftovers, f"after stopping airflow ({outcome}) these still run: {leftovers}"


def _free_port() -> int:
    from tests.conftest import free_port

    return free_port()
