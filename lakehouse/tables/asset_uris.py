"""The names the lakehouse's data go by outside it: Airflow Asset URIs and OpenLineage
dataset names, for catalog tables and raw landings. One place, so an ingest DAG's
outlet, a downstream DAG's schedule and a lineage event name a table the same way.

- A catalog table: ``iceberg://<catalog>/<namespace>/<table>`` (``catalog.name`` of
  the settings, the name Spark and pyiceberg give the catalog). Airflow 3 accepts any
  scheme but ``airflow``; ``iceberg`` is registered with a normalizer and an
  OpenLineage converter by lakehouse_airflow.provider_info. OpenLineage's naming spec
  has no Iceberg entry; its rule for warehouses (namespace = scheme://authority, name
  = the dotted table path, like ``trino://host:port`` + ``catalog.schema.table``) gives
  namespace ``iceberg://<catalog>`` and name ``<namespace>.<table>``.
- An endpoint's raw landings: ``s3://<bucket>/<raw prefix>/<endpoint>`` (the prefix
  every landing of the endpoint is under, lakehouse.raw.layout); OpenLineage's S3 rule
  gives namespace ``s3://<bucket>`` and name the key prefix. One dataset per endpoint,
  not per run: a lineage graph with a node per 15-minute slot is unreadable, and the
  slot is what the run's own facets say.

Engine-free: strings only (no Airflow, no OpenLineage client).
"""

from __future__ import annotations

from typing import NamedTuple
from urllib.parse import urlsplit

from lakehouse.config.settings import Settings
from lakehouse.errors import LakehouseError
from lakehouse.raw.layout import endpoint_prefix

TABLE_SCHEME = "iceberg"
RAW_SCHEME = "s3"


class AssetUriError(LakehouseError, ValueError):
    def __init__(self, uri: str, why: str) -> None:
        super().__init__(
            f"{uri!r} is not a lakehouse table URI ({why}): "
            f"write {TABLE_SCHEME}://<catalog>/<namespace>/<table>, e.g. {TABLE_SCHEME}://lakehouse/market/trades"
        )


class DatasetName(NamedTuple):
    """An OpenLineage dataset identifier."""

    namespace: str
    name: str


def table_uri(settings: Settings, identifier: str) -> str:
    """The Asset URI of catalog table ``<namespace>.<table>``."""
    namespace, _, table = identifier.rpartition(".")
    if not namespace or not table:
        raise AssetUriError(identifier, "a table identifier is <namespace>.<table>")
    return f"{TABLE_SCHEME}://{settings.catalog.name}/{namespace.replace('.', '/')}/{table}"


def raw_uri(settings: Settings, endpoint: str) -> str:
    """The URI of every raw landing of ``endpoint`` (no trailing slash: Airflow strips it)."""
    return f"{RAW_SCHEME}://{settings.s3.bucket}/{endpoint_prefix(settings.s3.raw_prefix, endpoint).rstrip('/')}"


def split_table_uri(uri: str) -> tuple[str, str, str]:
    """(catalog, namespace, table) of a table URI; AssetUriError when it is not one."""
    parts = urlsplit(uri)
    if parts.scheme != TABLE_SCHEME:
        raise AssetUriError(uri, f"the scheme must be {TABLE_SCHEME}")
    if not parts.netloc:
        raise AssetUriError(uri, "it names no catalog")
    if parts.query or parts.fragment:
        raise AssetUriError(uri, "a table URI has no query or fragment")
    segments = [s for s in parts.path.split("/") if s]
    if len(segments) < 2:
        raise AssetUriError(uri, "it needs a namespace and a table")
    return parts.netloc, ".".join(segments[:-1]), segments[-1]


def openlineage_name(uri: str) -> DatasetName:
    """The OpenLineage dataset of a table URI or an s3:// URI."""
    parts = urlsplit(uri)
    if parts.scheme == TABLE_SCHEME:
        catalog, namespace, table = split_table_uri(uri)
        return DatasetName(f"{TABLE_SCHEME}://{catalog}", f"{namespace}.{table}")
    if parts.scheme == RAW_SCHEME and parts.netloc:
        return DatasetName(f"{RAW_SCHEME}://{parts.netloc}", parts.path.lstrip("/"))
    raise AssetUriError(uri, f"only {TABLE_SCHEME}:// and {RAW_SCHEME}:// URIs have a lineage name here")
