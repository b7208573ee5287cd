"""Nessie from its runner jar, with a RocksDB version store (survives restarts), its
Iceberg REST warehouse on the local S3 server, and authentication on: every request to
the API port needs the stack's bearer token (lakehouse.tables.catalog_auth); only the
management port (health) answers without one."""

from __future__ import annotations

from pathlib import Path

import requests

from lakehouse.engines import artifacts
from lakehouse.engines.java import nessie_java
from lakehouse.local.credentials import signing_key
from lakehouse.local.files import properties_text, write_private
from lakehouse.local.service import Port, Service
from lakehouse.tables.catalog_auth import nessie_auth_properties, public_key_b64

# Quarkus secret reference: Nessie refuses plain strings for S3 keys.
_SECRET_NAME = "lakehouse.s3"


class NessieService(Service):
    name = "nessie"
    stop_timeout = 20.0

    @property
    def url(self) -> str:
        return self.settings.catalog.uri

    @property
    def health_url(self) -> str:
        return f"http://{self.settings.local.bind_host}:{self.settings.local.nessie_management_port}/q/health/ready"

    def ports(self) -> list[Port]:
        return [
            Port("http", self.settings.catalog.port, "LAKEHOUSE_CATALOG__URI"),
            Port("management", self.settings.local.nessie_management_port, "LAKEHOUSE_LOCAL__NESSIE_MANAGEMENT_PORT"),
        ]

    @property
    def properties_path(self) -> Path:
        # Quarkus reads $PWD/config/application.properties; the key pair stays out of
        # the command line (visible in `ps`) and out of the environment.
        return self.state_dir / "config" / "application.properties"

    def properties(self) -> dict[str, str]:
        s = self.settings
        key, secret = s.s3.require_credentials()
        s3 = "nessie.catalog.service.s3.default-options."
        return {
            "quarkus.http.host": s.local.bind_host,
            "quarkus.http.port": str(s.catalog.port),
            "quarkus.management.host": s.local.bind_host,
            "quarkus.management.port": str(s.local.nessie_management_port),
            "quarkus.otel.sdk.disabled": "true",
            "nessie.version.store.type": "ROCKSDB",
            "nessie.version.store.persist.rocks.database-path": str(self.state_dir / "rocksdb"),
            "nessie.server.default-branch": s.catalog.branch,
            "nessie.catalog.default-warehouse": s.catalog.warehouse,
            f"nessie.catalog.warehouses.{s.catalog.warehouse}.location": s.catalog.warehouse_location,
            s3 + "endpoint": s.s3.endpoint_url,
            s3 + "path-style-access": "true",
            s3 + "region": s.s3.region,
            s3 + "access-key": f"urn:nessie-secret:quarkus:{_SECRET_NAME}",
            # Clients bring their own keys (the settings give them to every client).
            s3 + "request-signing-enabled": "false",
            f"{_SECRET_NAME}.name": key,
            f"{_SECRET_NAME}.secret": secret,
            # Verified locally against the stack's public key: no identity provider.
            **nessie_auth_properties(public_key_b64(signing_key(s))),
        }

    def prepare(self) -> None:
        super().prepare()
        self.properties_path.parent.mkdir(parents=True, exist_ok=True)
        write_private(self.properties_path, properties_text(self.properties()))

    def command(self) -> list[str]:
        jar = artifacts.require("nessie")
        return [
            nessie_java(),
            f"-Xmx{self.settings.local.nessie_heap}",
            "-XX:+UseSerialGC",
            "-XX:TieredStopAtLevel=1",
            "-jar",
            str(jar),
        ]

    def is_healthy(self) -> bool:
        try:
            resp = requests.get(self.health_url, timeout=2)
            return resp.status_code == 200 and resp.json().get("status") == "UP"
        except Exception:
            return False
