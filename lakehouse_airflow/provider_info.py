"""This project as an Airflow provider (entry point ``apache_airflow_provider`` in
pyproject.toml), for one thing: the ``iceberg`` Asset URI scheme's normalizer and
OpenLineage converter (lakehouse_airflow.lineage).

``s3`` is registered only when the Amazon provider is not installed: that provider
owns the scheme and names S3 datasets the same way (namespace ``s3://<bucket>``, name
the key). Without either, the OpenLineage provider would drop the raw landings from
every event.
"""

from __future__ import annotations

from importlib.util import find_spec
from typing import Any

DISTRIBUTION = "lakehouse-ingest"
_LINEAGE = "lakehouse_airflow.lineage"


def _amazon_installed() -> bool:
    try:
        return find_spec("airflow.providers.amazon") is not None
    except ModuleNotFoundError:
        return False


def get_provider_info() -> dict[str, Any]:
    uris: list[dict[str, Any]] = [
        {
            "schemes": ["iceberg"],
            "handler": f"{_LINEAGE}.normalize_table_uri",
            "to_openlineage_converter": f"{_LINEAGE}.to_openlineage",
        }
    ]
    if not _amazon_installed():
        uris.append({"schemes": ["s3"], "handler": None, "to_openlineage_converter": f"{_LINEAGE}.to_openlineage"})
    return {
        "package-name": DISTRIBUTION,
        "name": "Lakehouse ingest",
        "description": "Asset URIs and lineage names of the lakehouse's Iceberg tables and raw landings.",
        "asset-uris": uris,
    }
