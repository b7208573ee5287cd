"""Airflow Assets and OpenLineage datasets of the lakehouse's tables and raw landings.

The names come from the core (lakehouse.tables.asset_uris); this module turns them into
Airflow objects and teaches Airflow the ``iceberg`` scheme: lakehouse_airflow's
provider entry (provider_info.py) registers :func:`normalize_table_uri` as the
scheme's URI normalizer and :func:`to_openlineage` as its OpenLineage converter, the
way a provider package registers its own schemes (AIP-60). Without a converter the
OpenLineage provider drops an Asset from the events; with it, every task's inlets
and outlets are its lineage inputs and outputs (the provider's fallback for
operators that have no extractor, which TaskFlow tasks and SparkSubmitOperator are).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.sdk import Asset

from lakehouse.config.settings import Settings
from lakehouse.tables import asset_uris
from lakehouse.tables.signals import SIGNAL_IDENTIFIER

if TYPE_CHECKING:
    from urllib.parse import SplitResult


def table_asset(settings: Settings, identifier: str) -> Asset:
    """The Asset of catalog table ``<namespace>.<table>``: an ingest run that writes
    the table emits an event for it; a downstream DAG schedules on it."""
    uri = asset_uris.table_uri(settings, identifier)
    return Asset(uri=uri, name=uri, group="table")


def raw_asset(settings: Settings, endpoint: str) -> Asset:
    """The raw landings of ``endpoint``: an inlet (lineage input) of its runs."""
    uri = asset_uris.raw_uri(settings, endpoint)
    return Asset(uri=uri, name=uri, group="raw")


def normalize_table_uri(parts: SplitResult) -> SplitResult:
    """Airflow's normalizer hook for ``iceberg://``: refuses a URI that names no table
    (an error when the DAG is parsed, not a silently unmatched schedule)."""
    asset_uris.split_table_uri(parts.geturl())
    return parts


def to_openlineage(asset: Asset, lineage_context: Any = None) -> Any:
    """The OpenLineage dataset of an ``iceberg://`` (or, without the Amazon provider,
    ``s3://``) Asset."""
    from openlineage.client.event_v2 import Dataset

    name = asset_uris.openlineage_name(asset.uri)
    return Dataset(namespace=name.namespace, name=name.name)


Lineage = tuple[list[Asset], list[Asset]]


def signal_lineage(settings: Settings, endpoint: str) -> Lineage:
    """publish_signal's (inlets, outlets): it reads the run's landing, writes the signal table."""

    return [raw_asset(settings, endpoint)], [table_asset(settings, SIGNAL_IDENTIFIER)]


def transform_lineage(settings: Settings, endpoint: str, identifier: str, quarantine: str) -> Lineage:
    """The transform's: it reads the run's landing, writes the table and its quarantine."""
    return [raw_asset(settings, endpoint)], [table_asset(settings, identifier), table_asset(settings, quarantine)]
