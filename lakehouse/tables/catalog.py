"""Iceberg catalog access: pyiceberg's REST client against Nessie's /iceberg endpoint.

One client per process and catalog: `load_catalog` hands out the same RestCatalog
for the same settings, so a task that publishes a signal and loads two tables pays
the catalog's config round trip (and pyiceberg's import) once, not per call.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from lakehouse.config.settings import Settings
from lakehouse.errors import LakehouseError

if TYPE_CHECKING:
    from pyiceberg.catalog import Catalog
    from pyiceberg.expressions import BooleanExpression

T = TypeVar("T")

_clients: dict[tuple[str, tuple[tuple[str, str], ...]], Catalog] = {}
_clients_lock = threading.Lock()


class CatalogUnavailableError(LakehouseError):
    def __init__(self, uri: str, what: str, cause: BaseException) -> None:
        super().__init__(
            f"the Iceberg catalog at {uri} failed while {what}: {type(cause).__name__}: {cause}. "
            "Check that Nessie is running (`lakehouse local status`) and reachable, then retry."
        )


def catalog_properties(settings: Settings) -> dict[str, str]:
    """Properties for pyiceberg's REST catalog. Contains the S3 secret and the catalog's
    bearer token: never log them."""
    key, secret = settings.s3.require_credentials()
    return {
        "type": "rest",
        "uri": settings.catalog.rest_uri,
        # Sent as "Authorization: Bearer ..." on every catalog request; Nessie refuses
        # requests without it.
        "token": settings.catalog.require_token(),
        # Nessie wants its warehouse *name* here, not an s3:// URI.
        "warehouse": settings.catalog.warehouse,
        "s3.endpoint": settings.s3.endpoint_url,
        "s3.region": settings.s3.region,
        "s3.access-key-id": key,
        "s3.secret-access-key": secret,
    }


def load_catalog(settings: Settings, *, fresh: bool = False) -> Catalog:
    """The process's REST catalog client for these settings (created on first use).

    Thread-safe; clients of different settings (another stack, other keys) are kept
    apart. ``fresh=True`` builds and caches a new client, e.g. after the catalog
    moved to another address.
    """
    props = catalog_properties(settings)
    key = (settings.catalog.name, tuple(sorted(props.items())))
    with _clients_lock:
        client = None if fresh else _clients.get(key)
        if client is None:
            from pyiceberg.catalog import load_catalog as _load

            client = _load(settings.catalog.name, **props)
            _clients[key] = client
        return client


def clear_catalog_cache() -> None:
    """Forget every cached client (tests that restart the catalog call this)."""
    with _clients_lock:
        _clients.clear()


#: Retry budget of a commit that lost a race (another writer committed first).
COMMIT_ATTEMPTS = 30


def commit_with_retry(commit: Callable[[], T]) -> T:
    """Run ``commit`` (which must load the table afresh and redo its change) until it
    lands, retrying when a concurrent commit won.

    pyiceberg's own retry (table properties ``commit.retry.*``) cannot work against
    Nessie: Nessie's table metadata holds only the current snapshot, so the refreshed
    table never contains the attempt's starting snapshot and pyiceberg gives up with
    ValidationException "Cannot find starting snapshot". The whole change is redone
    on a freshly loaded table instead, after a short random wait (so contenders spread
    out). Safe only for idempotent changes, e.g. a replace by run id or by partition.
    """
    from pyiceberg.exceptions import CommitFailedException, ValidationException
    from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_random_exponential

    retrying = retry(
        retry=retry_if_exception_type((CommitFailedException, ValidationException)),
        stop=stop_after_attempt(COMMIT_ATTEMPTS),
        wait=wait_random_exponential(multiplier=0.1, max=2),
        reraise=True,
    )
    return retrying(commit)()


def equal_to(column: str, value: str | int) -> BooleanExpression:
    """pyiceberg's ``EqualTo(column, value)`` (its pydantic signature misleads mypy's plugin)."""
    from pyiceberg.expressions import EqualTo

    return EqualTo(column, value)  # type: ignore[call-arg]


def slot_filter(ds: str, hr: int, minute: int) -> BooleanExpression:
    """Rows of one (ds, hr, min) slot partition."""
    from pyiceberg.expressions import And

    return And(equal_to("ds", ds), equal_to("hr", hr), equal_to("min", minute))


def ensure_namespaces(catalog: Catalog, namespaces: list[str]) -> list[str]:
    """Create missing namespaces. Nessie does not create them on write, and a write to a
    missing one fails only after its data files are written. Returns those created."""
    existing = {".".join(ns) for ns in catalog.list_namespaces()}
    created = []
    for name in dict.fromkeys(namespaces):
        if name not in existing:
            catalog.create_namespace_if_not_exists(name)
            created.append(name)
    return created
