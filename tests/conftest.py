"""Test session wiring.

Tests under tests/unit are marked `unit` (no services); tests under
tests/integration are marked `integration` and share ONE real local stack
(Redis, SeaweedFS, Nessie), started on free ports in a temporary state directory
when the first integration test needs it and stopped at the end of the session.
The stack's settings are exported as LAKEHOUSE_* variables for the whole session,
so code under test that calls `load_settings()` and CLI subprocesses see it too.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from lakehouse.config.settings import Settings, load_settings

if TYPE_CHECKING:
    from lakehouse.local.stack import LocalStack

ROOT = Path(__file__).resolve().parent.parent

# Importing Airflow (the DAG-helper unit tests) routes INFO records to a stream that
# pytest closes at exit; py4j then logs "Closing down clientserver connection" from
# a __del__ during shutdown and prints a "Logging error" traceback after the summary.
logging.getLogger("py4j").setLevel(logging.WARNING)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        parts = Path(str(item.fspath)).relative_to(ROOT / "tests").parts
        if parts and parts[0] in ("unit", "integration"):
            item.add_marker(getattr(pytest.mark, parts[0]))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def free_port_pair(offset: int) -> int:
    """A free port ``p`` whose ``p + offset`` is free too (SeaweedFS' admin server and
    its gRPC twin)."""
    for _ in range(100):
        port = free_port()
        if port + offset > 65535:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port + offset))
            except OSError:
                continue
        return port
    raise RuntimeError(f"no free port pair {offset} apart")


def stack_env(state_dir: Path) -> dict[str, str]:
    """LAKEHOUSE_* variables for a stack on free ports under `state_dir`."""
    ports = {
        name: free_port()
        for name in (
            "redis",
            "s3",
            "nessie",
            "nessie_mgmt",
            "s3_grpc",
            "master",
            "master_grpc",
            "volume",
            "volume_grpc",
            "filer",
            "filer_grpc",
            "spark_connect",
        )
    }
    env = {
        "LAKEHOUSE_PROFILE": "local",
        "LAKEHOUSE_LOCAL__STATE_DIR": str(state_dir),
        "LAKEHOUSE_REDIS__PORT": str(ports["redis"]),
        "LAKEHOUSE_S3__ENDPOINT_URL": f"http://127.0.0.1:{ports['s3']}",
        "LAKEHOUSE_CATALOG__URI": f"http://127.0.0.1:{ports['nessie']}/iceberg",
        "LAKEHOUSE_LOCAL__NESSIE_MANAGEMENT_PORT": str(ports["nessie_mgmt"]),
        # Every process of the session (Airflow tasks included) agrees on where the
        # stack's Spark Connect server is: spark.connect_url derives from this port.
        "LAKEHOUSE_LOCAL__SPARK_CONNECT_PORT": str(ports["spark_connect"]),
        # The secrets canary searches the Connect server's event logs too.
        "LAKEHOUSE_LOCAL__SPARK_CONNECT_EVENT_LOG": "true",
    }
    for name in ("s3_grpc", "master", "master_grpc", "volume", "volume_grpc", "filer", "filer_grpc"):
        env[f"LAKEHOUSE_LOCAL__WEED_PORTS__{name.upper()}"] = str(ports[name])
    # Its gRPC port is this + 10000 (lakehouse.local.services.s3_server.admin_grpc_port).
    env["LAKEHOUSE_LOCAL__WEED_PORTS__ADMIN"] = str(free_port_pair(10000))
    return env


@pytest.fixture(scope="session")
def stack_environment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    env = stack_env(tmp_path_factory.mktemp("stack"))
    # Secrets the developer's shell may carry must not leak into the test stack, nor a
    # Connect server or engine choice of their own.
    scrubbed = {
        k: os.environ.pop(k)
        for k in list(os.environ)
        if (k.startswith("LAKEHOUSE_S3__") and k.endswith(("KEY_ID", "ACCESS_KEY")))
        or k
        in (
            "LAKEHOUSE_SPARK__CONNECT_TOKEN",
            "LAKEHOUSE_SPARK__CONNECT_URL",
            "LAKEHOUSE_SPARK__ENGINE",
            "LAKEHOUSE_CATALOG__TOKEN",
        )
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield env
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        os.environ.update(scrubbed)


@pytest.fixture(scope="session")
def stack(stack_environment: dict[str, str]) -> Iterator[LocalStack]:
    from lakehouse.local.stack import LocalStack

    local_stack = LocalStack(load_settings())
    local_stack.up()
    try:
        yield local_stack
    finally:
        local_stack.down()


@pytest.fixture()
def settings(stack: LocalStack) -> Settings:
    """The running test stack's settings, secrets included."""
    return load_settings()


def spark_connect_stack() -> LocalStack:
    """The shared stack's Spark Connect server alone (its core services are up already)."""
    from lakehouse.local.services.spark_connect_server import SparkConnectService
    from lakehouse.local.stack import LocalStack

    return LocalStack(load_settings(), services=(SparkConnectService,))


@pytest.fixture(scope="session")
def spark_connect_url(stack: LocalStack) -> Iterator[str]:
    """The stack's Spark Connect server (loopback, token from the stack's secrets dir)
    on the session's port, started once (the Spark job tests and the Airflow transforms
    share it). The URL carries no token; clients add it from the settings."""
    from lakehouse.local.services.spark_connect_server import SparkConnectService

    server = spark_connect_stack()
    try:
        server.up()
        yield SparkConnectService(server.settings).url
    finally:
        server.stop_service(SparkConnectService.name)
