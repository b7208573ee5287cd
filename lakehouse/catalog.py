"""Iceberg catalog access: pyiceberg's REST client against Nessie's /iceberg endpoint."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lakehouse.settings import Settings

if TYPE_CHECKING:
    from pyiceberg.catalog import Catalog


def catalog_properties(settings: Settings) -> dict[str, str]:
    """Properties for pyiceberg's REST catalog. Contains the S3 secret: never log them."""
    key, secret = settings.s3.require_credentials()
    return {
        "type": "rest",
        "uri": settings.catalog.rest_uri,
        # Nessie wants its warehouse *name* here, not an s3:// URI.
        "warehouse": settings.catalog.warehouse,
        "s3.endpoint": settings.s3.endpoint_url,
        "s3.region": settings.s3.region,
        "s3.access-key-id": key,
        "s3.secret-access-key": secret,
    }


def load_catalog(settings: Settings) -> "Catalog":
    from pyiceberg.catalog import load_catalog as _load

    return _load(settings.catalog.name, **catalog_properties(settings))


def ensure_namespaces(catalog: "Catalog", namespaces: list[str]) -> list[str]:
    """Create missing namespaces. Nessie does not create them on write, and a write to a
    missing one fails only after its data files are written. Returns those created."""
    existing = {".".join(ns) for ns in catalog.list_namespaces()}
    created = []
    for name in dict.fromkeys(namespaces):
        if name not in existing:
            catalog.create_namespace_if_not_exists(name)
            created.append(name)
    return created
