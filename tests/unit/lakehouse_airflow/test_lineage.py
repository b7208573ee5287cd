"""The iceberg Asset scheme as Airflow sees it: registered by this project's provider
entry point, normalized (a URI naming no table is refused at parse time), and
converted to the OpenLineage dataset the core names; the ingest tasks' inlets and
outlets."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from airflow.sdk import Asset

from lakehouse.config.settings import load_settings
from lakehouse_airflow.lineage import raw_asset, table_asset, to_openlineage

pytestmark = pytest.mark.unit

PROBE = """
import json
from airflow.providers_manager import ProvidersManager
from airflow.providers.openlineage.utils.utils import translate_airflow_asset
from airflow.sdk import Asset
pm = ProvidersManager()
out = {"providers": sorted(pm.providers), "converters": sorted(pm.asset_to_openlineage_converters)}
for uri in ("iceberg://lakehouse/market/trades", "s3://warehouse/raw/trades"):
    ds = translate_airflow_asset(Asset(uri), None)
    out[uri] = [ds.namespace, ds.name]
print(json.dumps(out))
"""


def test_airflow_finds_the_scheme_and_the_openlineage_provider_translates_it(tmp_path) -> None:
    out = subprocess.run(
        [sys.executable, "-c", PROBE],
        capture_output=True,
        text=True,
        timeout=120,
        env={"AIRFLOW_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )
    assert out.returncode == 0, out.stderr[-3000:]
    found = json.loads(out.stdout.strip().splitlines()[-1])
    assert "lakehouse-ingest" in found["providers"]
    assert {"iceberg", "s3"} <= set(found["converters"])
    assert found["iceberg://lakehouse/market/trades"] == ["iceberg://lakehouse", "market.trades"]
    assert found["s3://warehouse/raw/trades"] == ["s3://warehouse", "raw/trades"]


def test_an_iceberg_uri_that_names_no_table_is_refused() -> None:
    with pytest.raises(ValueError, match="namespace and a table"):
        Asset("iceberg://lakehouse/trades")


def test_assets_and_datasets_agree() -> None:
    settings = load_settings()
    asset = table_asset(settings, "market.trades")
    assert asset.uri == asset.name == "iceberg://lakehouse/market/trades"
    dataset = to_openlineage(asset)
    assert (dataset.namespace, dataset.name) == ("iceberg://lakehouse", "market.trades")
    assert raw_asset(settings, "trades").uri == "s3://warehouse/raw/trades"


def test_ingest_tasks_read_the_raw_landings_and_write_their_tables() -> None:
    from lakehouse.endpoints import endpoint_path, load_endpoint
    from lakehouse_airflow.ingest import ingest_dag

    dag = ingest_dag(load_endpoint(endpoint_path("sandbox_trades")), load_settings(), dag_id="t")
    lineage = {t.task_id: ([a.uri for a in t.inlets], [a.uri for a in t.outlets]) for t in dag.tasks}
    raw = ["s3://warehouse/raw/sandbox_trades"]
    assert lineage["publish_signal"] == (raw, ["iceberg://lakehouse/scraper/signals"])
    assert lineage["transform"] == (
        raw,
        ["iceberg://lakehouse/market/sandbox_trades", "iceberg://lakehouse/market/sandbox_trades__quarantine"],
    )
    assert lineage["enqueue_crawl"] == ([], [])
