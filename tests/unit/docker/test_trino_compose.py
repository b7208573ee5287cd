"""The Compose `trino` service: its catalog file agrees with config/profiles/docker.yaml
(the same Nessie branch, warehouse and S3 as every other client), its S3 keys come from
the container's environment (.env) rather than the file, and like the local Trino it takes
clients over HTTPS with a password only (a one-shot writes the password hash, the TLS key
and the config into a volume), published on 127.0.0.1."""

from __future__ import annotations

import hashlib
import re
import stat
from pathlib import Path
from typing import Any

from deployfiles import DOCKER_DIR, environment_of, variable_uses

from lakehouse.engines import artifacts, deploy

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


def test_trino_publishes_only_its_https_port_on_loopback(services: dict[str, dict[str, Any]]) -> None:
    trino = services["trino"]
    assert trino["ports"] == ["127.0.0.1:8443:8443"], "HTTPS with a password only, on loopback, as the local Trino"
    assert trino["image"] == f"trinodb/trino:{artifacts.TRINO_VERSION}", "the same Trino as the local stack"
    mounts = [str(v) for v in trino["volumes"]]
    assert any(m.startswith("./trino/catalog:/etc/trino/catalog") and m.endswith(":ro") for m in mounts)
    assert f"trino-etc:{deploy.TRINO_ETC}:ro" in mounts
    assert trino["depends_on"]["nessie"]["condition"] == "service_healthy"
    assert trino["depends_on"]["trino-config"]["condition"] == "service_completed_successfully"


def test_trino_starts_on_the_generated_config_that_requires_a_password(services, raw_compose) -> None:
    trino, config = services["trino"], services["trino-config"]
    assert trino["command"] == ["/usr/lib/trino/bin/run-trino", f"--config={deploy.TRINO_ETC}/config.properties"]
    assert config["command"] == ["python", "-m", "lakehouse.engines.deploy", "trino-etc", "--out", deploy.TRINO_ETC]
    assert config["restart"] == "no" and f"trino-etc:{deploy.TRINO_ETC}" in config["volumes"]
    value = environment_of(raw_compose["services"]["trino-config"])["TRINO_PASSWORD"]
    assert [(u.name, u.op) for u in variable_uses(value)] == [("TRINO_PASSWORD", ":?")]
    assert "TRINO_PASSWORD" not in environment_of(trino), "Trino reads the hash, never the password"


def test_the_generated_trino_files_require_https_and_a_password_and_are_owner_only(tmp_path: Path) -> None:
    password = "p" * 24
    written = deploy.write_trino_etc(tmp_path / "etc", password)
    etc = tmp_path / "etc"
    assert stat.S_IMODE(etc.stat().st_mode) == 0o700
    for name in written:
        mode = stat.S_IMODE((etc / name).stat().st_mode)
        assert name == "trino-cert.pem" or mode == 0o600, (name, oct(mode))
    config = dict(line.split("=", 1) for line in (etc / "config.properties").read_text().splitlines() if "=" in line)
    assert config["http-server.authentication.type"] == "PASSWORD"
    assert config["http-server.https.enabled"] == "true" and config["http-server.https.port"] == "8443"
    assert config["http-server.https.keystore.path"] == f"{deploy.TRINO_ETC}/trino.pem"
    assert len(config["internal-communication.shared-secret"]) >= 32
    user, hashed = (etc / "password.db").read_text().strip().split(":", 1)
    assert user == "lakehouse" and password not in hashed
    iterations, salt, digest = hashed.split(":")
    assert digest == hashlib.pbkdf2_hmac("sha1", password.encode(), bytes.fromhex(salt), int(iterations), 64).hex()
    # A second run keeps the key (clients may pin the certificate) and the shared secret.
    key, shared = (etc / "trino.pem").read_bytes(), (etc / "shared-secret").read_text()
    deploy.write_trino_etc(etc, password)
    assert (etc / "trino.pem").read_bytes() == key and (etc / "shared-secret").read_text() == shared
    assert password not in "".join((etc / n).read_text() for n in written)
