"""Nessie in the Compose deployment asks for a credential: authentication is on, the
public key comes from a required .env variable, nothing switches it off again, and
every service that talks to the catalog is given the token (the scrapworkers, which
never do, are not)."""

from __future__ import annotations

import re
from typing import Any

from deployfiles import DOCKER_DIR, environment_of, variable_uses

from lakehouse.tables.catalog_auth import NESSIE_PUBLIC_KEY_PROPERTY

TOKEN = "LAKEHOUSE_CATALOG__TOKEN"
CATALOG_CLIENTS = ("catalog-bootstrap", "airflow-worker", "airflow-scheduler", "airflow-triggerer", "jupyter", "trino")


def _required(value: str) -> list[str]:
    return [use.name for use in variable_uses(value) if use.op == ":?"]


def test_nessie_requires_a_bearer_token(raw_compose: dict[str, Any]) -> None:
    env = environment_of(raw_compose["services"]["nessie"])
    assert env["nessie.server.authentication.enabled"] == "true"
    assert env["quarkus.oidc.tenant-enabled"] == "true"
    assert _required(env[NESSIE_PUBLIC_KEY_PROPERTY]) == ["NESSIE_OIDC_PUBLIC_KEY"], "the key comes from .env"


def test_no_setting_opens_an_anonymous_path(raw_compose: dict[str, Any]) -> None:
    # Quarkus/Nessie switches that would let a request through without the token.
    loosening = re.compile(r"anonymous|permit|auth-server-url|authentication\.enabled|tenant-enabled|oidc\.enabled")
    env = environment_of(raw_compose["services"]["nessie"])
    opened = {k: v for k, v in env.items() if loosening.search(k) and v != "true"}
    assert not opened, f"nessie: settings that open an unauthenticated path: {opened}"


def test_every_catalog_client_gets_the_token_from_env(raw_compose: dict[str, Any]) -> None:
    services = raw_compose["services"]
    for name in CATALOG_CLIENTS:
        assert _required(environment_of(services[name]).get(TOKEN, "")) == [TOKEN], f"{name}: no catalog token"
    assert TOKEN not in environment_of(services["scrapworker"]), "the crawl workers never use the catalog"


def test_trino_sends_the_token_from_its_environment() -> None:
    text = (DOCKER_DIR / "trino" / "catalog" / "lakehouse.properties").read_text()
    props = dict(line.split("=", 1) for line in text.splitlines() if line.strip() and not line.startswith("#"))
    assert props["iceberg.rest-catalog.security"] == "OAUTH2"
    assert props["iceberg.rest-catalog.oauth2.token"] == f"${{ENV:{TOKEN}}}"
