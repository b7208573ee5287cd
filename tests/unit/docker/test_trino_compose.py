"""The Compose `trino` service: its catalog file agrees with config/profiles/docker.yaml
(the same Nessie branch, warehouse and S3 as every other client), its S3 keys come from
the container's environment (.env) rather than the file, and it publishes no port."""

from __future__ import annotations

import re
from typing import Any

from deployfiles import DOCKER_DIR, environment_of

from lakehouse import artifacts

CATALOG = DOCKER_DIR / "trino" / "catalog" / "lakehouse.properties"


def _props() -> dict[str, str]:
    lines = [line for line in CATALOG.read_text().splitlines() if line.strip() and not line.startswith("#")]
    return dict(line.split("=", 1) for line in lines)


def test_trino_catalog_agrees_with_the_docker_profile(docker_settings) -> None:
    props = _props()
    assert CATALOG.stem == docker_settings.catalog.name
    assert props["connector.name"] == "iceberg" and props["iceberg.catalog.type"] == "rest"
    assert props["iceberg.rest-catalog.uri"] == docker_settings.catalog.rest_uri
    assert props["iceberg.rest-catalog.warehouse"] == docker_settings.catalog.warehouse
    assert props["s3.endpoint"] == docker_settings.s3.endpoint_url
    assert props["s3.region"] == docker_settings.s3.region
    assert props["s3.path-style-access"] == "true" and props["fs.native-s3.enabled"] == "true"


def test_trino_keys_come_from_the_environment(services: dict[str, dict[str, Any]], example_env) -> None:
    props = _props()
    env = environment_of(services["trino"])
    for key in ("s3.aws-access-key", "s3.aws-secret-key"):
        ref = re.fullmatch(r"\$\{ENV:(\w+)\}", props[key])
        assert ref, f"{key} must be an ${{ENV:...}} reference, not a value"
        assert env[ref.group(1)] == example_env[ref.group(1)], f"{ref.group(1)} is interpolated from .env"


def test_trino_is_reached_on_the_project_network_only(services: dict[str, dict[str, Any]]) -> None:
    trino = services["trino"]
    assert "ports" not in trino, "no credential over plain HTTP: publish no host port"
    assert trino["image"] == f"trinodb/trino:{artifacts.TRINO_VERSION}", "the same Trino as the local stack"
    mounts = [str(v) for v in trino["volumes"]]
    assert any(m.startswith("./trino/catalog:/etc/trino/catalog") and m.endswith(":ro") for m in mounts)
    assert trino["depends_on"]["nessie"]["condition"] == "service_healthy"
