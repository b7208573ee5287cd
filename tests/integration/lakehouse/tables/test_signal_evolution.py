"""A signal table created before the cursor and config-hash columns existed gains them
on the next publish (an Iceberg schema update, no rewrite); its old rows read back
with nulls.

Runs on a Nessie branch of its own, so the session's real signal table is untouched."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import requests
from pyiceberg.schema import Schema

from lakehouse.config.settings import Settings, load_settings
from lakehouse.tables.catalog import load_catalog
from lakehouse.tables.catalog_auth import bearer_headers
from lakehouse.tables.signals import SIGNAL_IDENTIFIER, SIGNAL_NAMESPACE, Signal, _schema, _spec, publish, rows_for

SLOT = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)


@pytest.fixture()
def branch_settings(stack) -> Iterator[Settings]:
    settings = load_settings()
    api = settings.catalog.uri.rstrip("/").removesuffix("/iceberg") + "/api/v2"
    http = requests.Session()
    http.headers.update(bearer_headers(settings))
    main = http.get(f"{api}/trees/main", timeout=30).json()["reference"]
    name = f"evolve_{uuid.uuid4().hex[:8]}"
    made = http.post(
        f"{api}/trees",
        params={"name": name, "type": "BRANCH"},
        json={"type": "BRANCH", "name": "main", "hash": main["hash"]},
        timeout=30,
    )
    made.raise_for_status()
    yield settings.model_copy(update={"catalog": settings.catalog.model_copy(update={"branch": name})})
    head = http.get(f"{api}/trees/{name}", timeout=30).json()["reference"]["hash"]
    http.delete(f"{api}/trees/{name}@{head}", timeout=30)


def test_an_old_signal_table_gains_the_cursor_and_config_hash_columns_and_keeps_its_rows(
    branch_settings: Settings,
) -> None:
    catalog = load_catalog(branch_settings)
    catalog.create_namespace_if_not_exists(SIGNAL_NAMESPACE)
    if catalog.table_exists(SIGNAL_IDENTIFIER):
        catalog.drop_table(SIGNAL_IDENTIFIER)
    added = ("cursor_start", "cursor_end", "config_hash")
    old = Schema(*[f for f in _schema().fields if f.name not in added], identifier_field_ids=[1])
    catalog.create_table(SIGNAL_IDENTIFIER, schema=old, partition_spec=_spec())
    before = "orders__20261128T0600Z"
    publish(branch_settings, Signal(before, "orders", "s3://warehouse/raw/orders/x", SLOT, records=4), catalog)
    after = "updates__20261128T0600Z"
    publish(
        branch_settings,
        Signal(
            after, "updates", "s3://w/raw/u/x", SLOT, records=7, cursor_start="a", cursor_end="b", config_hash="c" * 64
        ),
        catalog,
    )
    names = [f.name for f in catalog.load_table(SIGNAL_IDENTIFIER).schema().fields]
    assert names[-3:] == list(added) and len(names) == len(_schema().fields)
    (old_row,) = rows_for(branch_settings, before, catalog)
    assert (old_row.records, old_row.cursor_start, old_row.cursor_end, old_row.config_hash) == (4, None, None, None)
    (new_row,) = rows_for(branch_settings, after, catalog)
    assert (new_row.cursor_start, new_row.cursor_end, new_row.config_hash) == ("a", "b", "c" * 64)
