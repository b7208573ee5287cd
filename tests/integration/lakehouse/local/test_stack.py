"""The local stack against real processes: health, idempotence, persistence, failures."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from lakehouse.config.settings import load_settings
from lakehouse.errors import ServiceStartError
from lakehouse.local.stack import LocalStack
from lakehouse.raw.storage import s3_client
from lakehouse.tables.catalog import load_catalog
from tests.conftest import stack_env

LAKEHOUSE = str(Path(sys.executable).parent / "lakehouse")


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run(
        [LAKEHOUSE, *args], capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=300
    )


def test_every_service_is_healthy_and_reported_as_json(stack: LocalStack) -> None:
    out = run_cli("local", "status", "--json")
    assert out.returncode == 0, out.stderr
    rows = {r["service"]: r for r in json.loads(out.stdout)}
    assert set(rows) == {"redis", "s3", "nessie"}
    for row in rows.values():
        assert row["healthy"] is True
        assert isinstance(row["pid"], int) and psutil.pid_exists(row["pid"])
        assert str(row["port"]) in row["url"]
    assert set(rows["redis"]) >= {"service", "url", "port", "pid", "healthy"}


def test_services_listen_on_loopback_only(stack: LocalStack) -> None:
    for row in stack.status():
        conns = psutil.Process(row.pid).net_connections(kind="inet")
        listening = {c.laddr.ip for c in conns if c.status == psutil.CONN_LISTEN}
        assert listening and listening <= {"127.0.0.1", "::ffff:127.0.0.1"}, (row.service, listening)


def test_the_bucket_exists(stack: LocalStack) -> None:
    settings = load_settings()
    names = [b["Name"] for b in s3_client(settings.s3).list_buckets()["Buckets"]]
    assert settings.s3.bucket in names


def test_namespaces_are_bootstrapped(stack: LocalStack) -> None:
    namespaces = {".".join(n) for n in load_catalog(load_settings()).list_namespaces()}
    assert {"default", "scraper"} <= namespaces


def test_second_up_is_a_no_op(stack: LocalStack) -> None:
    before = {r.service: r.pid for r in stack.status()}
    result = LocalStack(load_settings()).up()
    assert result.started == []
    assert sorted(result.already_running) == ["nessie", "redis", "s3"]
    assert {r.service: r.pid for r in stack.status()} == before


def test_a_taken_port_is_named_with_the_setting_to_change(tmp_path: Path) -> None:
    env = stack_env(tmp_path / "state")
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", int(env["LAKEHOUSE_REDIS__PORT"])))
        squatter.listen()
        out = run_cli("local", "up", env=env)
    assert out.returncode == 2
    assert "redis cannot start: port" in out.stderr
    assert "LAKEHOUSE_REDIS__PORT" in out.stderr
    assert "Traceback" not in out.stderr


def test_a_service_that_dies_at_start_is_named_with_its_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = stack_env(tmp_path / "state")
    env["LAKEHOUSE_LOCAL__NESSIE_HEAP"] = "1k"  # the JVM refuses to start with this heap
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    failing = LocalStack(load_settings())
    with pytest.raises(ServiceStartError) as info:
        failing.up()
    assert info.value.service == "nessie"
    assert "nessie did not start" in str(info.value)
    assert "heap" in str(info.value).lower()  # the tail of the JVM's own message
    # What this `up` started before the failure was stopped again.
    assert all(not row.running for row in failing.status())


def test_a_missing_jar_says_how_to_get_it(tmp_path: Path) -> None:
    env = stack_env(tmp_path / "state")
    env["LAKEHOUSE_CACHE_DIR"] = str(tmp_path / "empty-cache")
    out = run_cli("local", "up", env=env)
    assert out.returncode == 2
    assert "nessie-quarkus" in out.stderr and "./init.sh" in out.stderr
    assert "Traceback" not in out.stderr
    status = run_cli("local", "status", "--json", env=env)
    assert not any(r["running"] for r in json.loads(status.stdout))


def test_an_unknown_profile_is_one_clear_message() -> None:
    out = run_cli("local", "status", env={"LAKEHOUSE_PROFILE": "staging"})
    assert out.returncode == 2
    assert "unknown profile 'staging'" in out.stderr and "local" in out.stderr
    assert "Traceback" not in out.stderr
