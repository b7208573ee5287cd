"""Nessie asks for a credential: anonymous, wrongly signed, expired and unsigned
requests to its own API (/api/v2) and to the Iceberg REST catalog (/iceberg) are
answered 401 and change nothing; the stack's token is accepted; health stays open."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

import jwt
import pytest
import requests

from lakehouse.config.settings import Settings
from lakehouse.local.credentials import signing_key
from lakehouse.tables import catalog_auth
from lakehouse.tables.catalog import load_catalog


def _forged(settings: Settings) -> dict[str, str]:
    """Tokens an attacker could bring, each with the claims the real one carries."""
    mine = signing_key(settings)
    other = catalog_auth.generate_signing_key()
    claims = {
        "sub": "lakehouse",
        "iss": "lakehouse",
        "iat": datetime.now(UTC),
        "exp": datetime.now(UTC) + timedelta(days=1),
    }
    real = settings.catalog.require_token()
    header, payload, signature = real.split(".")
    return {
        "another key": catalog_auth.mint_token(other, timedelta(days=1)),
        "expired": catalog_auth.mint_token(mine, timedelta(seconds=1), now=datetime.now(UTC) - timedelta(hours=1)),
        "unsigned (alg none)": jwt.encode(claims, key=None, algorithm="none"),
        "HS256 with the public key as secret": jwt.encode(
            claims, catalog_auth.public_key_b64(mine).encode(), algorithm="HS256"
        ),
        "signature cut off": f"{header}.{payload}.",
        "garbage": "not-a-token",
    }


def _api(settings: Settings) -> str:
    return settings.catalog.uri.rstrip("/").removesuffix("/iceberg") + "/api/v2"


def test_nessie_refuses_requests_without_the_stacks_token(settings: Settings) -> None:
    started = time.monotonic()
    api, rest = _api(settings), settings.catalog.uri.rstrip("/")
    reads = [f"{api}/trees", f"{api}/trees/{settings.catalog.branch}/history", f"{rest}/v1/config"]
    anonymous = [requests.get(url, timeout=10).status_code for url in reads]
    assert anonymous == [401, 401, 401], anonymous
    forged = _forged(settings)
    refused = {
        name: [requests.get(url, headers={"Authorization": f"Bearer {t}"}, timeout=10).status_code for url in reads]
        for name, t in forged.items()
    }
    assert all(codes == [401, 401, 401] for codes in refused.values()), refused
    # A write without the token (make a branch, which could then replace main) changes nothing.
    branch = f"anon_{uuid.uuid4().hex[:8]}"
    http = requests.Session()
    http.headers.update(catalog_auth.bearer_headers(settings))
    head = http.get(f"{api}/trees/{settings.catalog.branch}", timeout=10).json()["reference"]["hash"]
    body = {"type": "BRANCH", "name": settings.catalog.branch, "hash": head}
    for token in (None, forged["another key"]):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        made = requests.post(
            f"{api}/trees", params={"name": branch, "type": "BRANCH"}, json=body, headers=headers, timeout=10
        )
        assert made.status_code == 401, made.text[:300]
    assert http.get(f"{api}/trees/{branch}", timeout=10).status_code == 404
    # The stack's own token is accepted on both APIs, and health needs none.
    assert [http.get(url, timeout=10).status_code for url in reads] == [200, 200, 200]
    mgmt = f"http://{settings.local.bind_host}:{settings.local.nessie_management_port}/q/health/ready"
    assert requests.get(mgmt, timeout=10).status_code == 200
    print(
        f"\nnessie auth: anonymous and {len(forged)} forged tokens x {len(reads)} endpoints -> 401, "
        f"writes refused, own token 200, in {time.monotonic() - started:.2f} s"
    )


def test_pyiceberg_works_with_the_token_and_not_without(settings: Settings) -> None:
    from pyiceberg.catalog import load_catalog as pyiceberg_catalog
    from pyiceberg.exceptions import RESTError

    assert "scraper" in {".".join(ns) for ns in load_catalog(settings).list_namespaces()}
    with pytest.raises(RESTError, match="401|[Uu]nauthori"):
        pyiceberg_catalog(
            "anonymous", type="rest", uri=settings.catalog.rest_uri, warehouse=settings.catalog.warehouse
        ).list_namespaces()
