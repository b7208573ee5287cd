"""One name per table and raw landing: Airflow Asset URIs and OpenLineage datasets."""

from __future__ import annotations

import pytest

from lakehouse.config.settings import load_settings
from lakehouse.tables.asset_uris import AssetUriError, openlineage_name, raw_uri, split_table_uri, table_uri

pytestmark = pytest.mark.unit


def test_a_table_uri_names_the_catalog_namespace_and_table() -> None:
    settings = load_settings(catalog={"name": "prod"})
    assert table_uri(settings, "market.trades") == "iceberg://prod/market/trades"
    assert split_table_uri("iceberg://prod/market/trades") == ("prod", "market", "trades")


def test_the_lineage_name_of_a_table_follows_openlineages_warehouse_rule() -> None:
    name = openlineage_name(table_uri(load_settings(), "scraper.signals"))
    assert (name.namespace, name.name) == ("iceberg://lakehouse", "scraper.signals")


def test_the_raw_landings_of_an_endpoint_are_its_prefix_in_the_bucket() -> None:
    settings = load_settings(s3={"bucket": "lake", "raw_prefix": "landing/raw"})
    uri = raw_uri(settings, "trades")
    assert uri == "s3://lake/landing/raw/trades"
    assert tuple(openlineage_name(uri)) == ("s3://lake", "landing/raw/trades")


@pytest.mark.parametrize(
    "uri", ["iceberg://lakehouse/trades", "iceberg:///market/trades", "s3://b/market/t", "iceberg://c/n/t?x=1"]
)
def test_a_uri_that_names_no_table_is_refused_with_the_form_to_write(uri: str) -> None:
    with pytest.raises(AssetUriError, match="iceberg://<catalog>/<namespace>/<table>"):
        split_table_uri(uri)


def test_an_identifier_without_a_namespace_is_refused() -> None:
    with pytest.raises(AssetUriError):
        table_uri(load_settings(), "trades")
