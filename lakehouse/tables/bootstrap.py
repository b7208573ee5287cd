"""One-time structure every run relies on: the bucket and the catalog namespaces.

Nessie does not create namespaces on write, and a write to a missing one fails only
after its data files are in the bucket. So the namespaces are created up front,
idempotently: the configured ones plus every namespace an endpoint's table declares.
Used by `lakehouse local up` and `lakehouse catalog bootstrap` (the compose one-shot).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from lakehouse.config.settings import Settings
from lakehouse.endpoints import declared_namespaces, load_endpoints
from lakehouse.raw.storage import ensure_bucket
from lakehouse.tables.catalog import ensure_namespaces, load_catalog


@dataclass
class BootstrapResult:
    bucket_created: bool = False
    namespaces: list[str] = field(default_factory=list)
    created: list[str] = field(default_factory=list)


def required_namespaces(settings: Settings, endpoints_dir: Path | None = None) -> list[str]:

    names = list(settings.catalog.namespaces)
    names.extend(declared_namespaces(load_endpoints(endpoints_dir)))
    return list(dict.fromkeys(names))


def bootstrap(settings: Settings, endpoints_dir: Path | None = None) -> BootstrapResult:
    result = BootstrapResult()
    result.bucket_created = ensure_bucket(settings.s3)
    result.namespaces = required_namespaces(settings, endpoints_dir)
    result.created = ensure_namespaces(load_catalog(settings), result.namespaces)
    return result
