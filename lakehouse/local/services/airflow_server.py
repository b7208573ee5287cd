"""Airflow for the local stack: scheduler, dag-processor, triggerer and api-server
(LocalExecutor on SQLite), every port on 127.0.0.1.

Started on request (`lakehouse local up --with airflow`, or by the demo). The
admin password is generated once per state directory, kept owner-only, and shown
by `lakehouse local up` so an operator can log in to the UI. The components run
under `lakehouse.local.services.airflow_standalone` rather than `airflow standalone`; that
module's docstring says why.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import requests

from lakehouse.engines.airflow_env import PARALLELISM, SPARK_POOL, SPARK_POOL_DESCRIPTION, SPARK_POOL_SLOTS, airflow_env
from lakehouse.errors import ServiceStartError
from lakehouse.local.files import PRIVATE_UMASK, write_private
from lakehouse.local.service import Port, Service
from lakehouse.local.services.airflow_standalone import GRACE_SECONDS, airflow_binary

ADMIN_USER = "admin"

__all__ = ["ADMIN_USER", "PARALLELISM", "AirflowService", "airflow_binary"]


class AirflowService(Service):
    name = "airflow"
    # The supervisor's own grace period plus its final SIGKILL sweep.
    stop_timeout = GRACE_SECONDS + 15.0

    @property
    def home(self) -> Path:
        return self.state_dir

    @property
    def url(self) -> str:
        return f"http://{self.settings.local.bind_host}:{self.settings.airflow.api_port}"

    def ports(self) -> list[Port]:
        return [Port("api-server", self.settings.airflow.api_port, "LAKEHOUSE_AIRFLOW__API_PORT")]

    @property
    def password_file(self) -> Path:
        return self.home / "simple_auth_manager_passwords.json.generated"

    def admin_password(self) -> str | None:
        try:
            password = json.loads(self.password_file.read_text())[ADMIN_USER]
            return str(password)
        except (OSError, ValueError, KeyError):
            return None

    def env(self) -> dict[str, str]:
        # Executor parallelism, scheduler loop and parsing sizes: lakehouse.engines.airflow_env.
        env = airflow_env(self.settings, self.home)
        env.update(
            {
                "AIRFLOW__CORE__AUTH_MANAGER": (
                    "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
                ),
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN_USER}:admin",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(self.password_file),
                # Task processes reach the api-server's execution API; the default is
                # localhost:8080, which is not where this one listens.
                "AIRFLOW__API__BASE_URL": self.url,
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.url}/execution/",
                # The scheduler's health server binds 0.0.0.0; health comes from the api-server.
                "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
                "PYTHONUNBUFFERED": "1",
            }
        )
        return env

    def prepare(self) -> None:
        super().prepare()
        if self.admin_password() is None:
            write_private(self.password_file, json.dumps({ADMIN_USER: secrets.token_urlsafe(16)}))
        # Migrating an up-to-date database is a quick no-op; a fresh one takes ~10 s.
        # It also writes airflow.cfg with the JWT and Fernet secrets every component
        # must share: under an owner-only umask, so the file is 0600 from its creation.
        out = subprocess.run(
            [airflow_binary(), "db", "migrate"],
            env={**os.environ, **self.env()},
            capture_output=True,
            text=True,
            timeout=600,
            umask=PRIVATE_UMASK,
        )
        if out.returncode != 0:
            raise ServiceStartError(self.name, "`airflow db migrate` failed", (out.stdout + out.stderr)[-4000:])
        # The scheduler never queues a task of a pool that does not exist.
        out = subprocess.run(
            [airflow_binary(), "pools", "set", SPARK_POOL, str(SPARK_POOL_SLOTS), SPARK_POOL_DESCRIPTION],
            env={**os.environ, **self.env()},
            capture_output=True,
            text=True,
            timeout=300,
            umask=PRIVATE_UMASK,
        )
        if out.returncode != 0:
            raise ServiceStartError(
                self.name, f"`airflow pools set {SPARK_POOL}` failed", (out.stdout + out.stderr)[-4000:]
            )
        # One an older version wrote before the umask was set.
        cfg = self.home / "airflow.cfg"
        if cfg.exists():
            cfg.chmod(0o600)

    def command(self) -> list[str]:
        return [sys.executable, "-m", "lakehouse.local.services.airflow_standalone"]

    def is_healthy(self) -> bool:
        """The api-server answers and reports a live scheduler (and metadata DB)."""
        try:
            resp = requests.get(f"{self.url}/api/v2/monitor/health", timeout=2)
            if resp.status_code != 200:
                return False
            body = resp.json()
            return all(body.get(part, {}).get("status") == "healthy" for part in ("metadatabase", "scheduler"))
        except (requests.RequestException, ValueError):
            return False
