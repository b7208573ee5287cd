"""raw_to_table on real landings (pages + manifest in the stack's S3, written here).

Every case runs on both writers of overwrite tables (settings ``spark.table_writer``:
``arrow``, pyarrow files committed through the catalog, and ``spark``, Spark's V2
writer): the behaviour is the contract, whichever writes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from lakehouse.endpoints import EndpointConfig
from lakehouse.queue.jobs import run_id_for
from lakehouse.raw.layout import page_key, run_prefix
from lakehouse.raw.storage import s3_client
from lakehouse.tables.catalog import load_catalog
from lakehouse.transform import run as transform_run
from lakehouse.transform.landings import ManifestNotFoundError
from spark_jobs import raw_to_table
from spark_jobs.tables import quote
from tests.integration.landings import ATTEMPT, endpoint_doc, land

pytestmark = pytest.mark.usefixtures("table_writer")

SLOT_A = datetime(2025, 3, 1, 12, 15, tzinfo=UTC)
SLOT_B = datetime(2025, 3, 1, 12, 30, tzinfo=UTC)
T0 = 1740831300000  # 2025-03-01T12:15:00Z in ms


def _endpoint(name: str) -> EndpointConfig:
    doc = endpoint_doc(name)
    doc["table"]["columns"] += [  # type: ignore[index]
        {"name": "settled_at", "path": "settled", "type": "timestamp", "format": "iso"},
        {"name": "is_buyer_maker", "path": "is_buyer_maker", "type": "boolean"},
    ]
    return EndpointConfig.model_validate(doc)


def _trade(i: int, **overrides: object) -> dict[str, object]:
    trade: dict[str, object] = {
        "id": i,
        "price": f"{100 + i}.12345678",
        "time": T0 + i,
        "settled": "2025-03-01T12:16:00Z",
        "venue": {"code": f"V{i % 3}"},
        "is_buyer_maker": i % 2 == 0,
    }
    trade.update(overrides)
    return trade


@pytest.fixture()
def endpoint(table_suffix: str) -> EndpointConfig:
    return _endpoint(f"rt_{table_suffix}")


def test_declared_schema_applied_and_misfits_quarantined(spark, spark_settings, endpoint):
    good = [_trade(i) for i in range(1, 6)]
    bad = [_trade(90, price="12.123456789"), _trade(91, time=None), _trade(92, id="ninety-two")]
    prefix = land(spark_settings, endpoint.name, SLOT_A, [good[:3] + bad[:1], good[3:] + bad[1:]])

    result = raw_to_table.run(spark, spark_settings, endpoint, [prefix])

    assert (result.rows, result.quarantined) == (5, 3)
    table = spark.table(quote(result.table))
    types = dict(table.dtypes)
    assert types["trade_id"] == "bigint" and types["price"] == "decimal(18,8)"
    assert types["traded_at"] == "timestamp" and types["settled_at"] == "timestamp"
    rows = {r.trade_id: r for r in table.collect()}
    assert set(rows) == {1, 2, 3, 4, 5}, "every good record of the slot is in the table"
    one = rows[1]
    assert one.price == Decimal("101.12345678")
    assert one.venue_code == "V1", "nested path venue.code"
    # Spark hands back naive datetimes in the session time zone, which is UTC.
    assert one.traded_at == datetime(2025, 3, 1, 12, 15, 0, 1000)
    assert one.settled_at == datetime(2025, 3, 1, 12, 16)
    assert (one.ds, one.hr, one["min"], one._run_id) == ("2025-03-01", 12, 15, run_id_for(endpoint.name, SLOT_A))

    quarantine = {json.loads(r.record)["id"]: r for r in spark.table(quote(result.quarantine_table)).collect()}
    assert set(quarantine) == {90, 91, "ninety-two"}
    assert "more than 8 decimal places" in quarantine[90].reason
    assert "traded_at: required" in quarantine[91].reason
    assert "not an integer" in quarantine["ninety-two"].reason
    assert quarantine[90].raw_key.startswith(prefix) and quarantine[90].run_id == result.run_ids[0]
    assert (quarantine[90].ds, quarantine[90].hr, quarantine[90]["min"]) == ("2025-03-01", 12, 15)

    # Read back by pyiceberg: same rows.
    arrow = load_catalog(spark_settings).load_table(result.table).scan().to_arrow()
    assert sorted(zip(arrow.column("trade_id").to_pylist(), arrow.column("price").to_pylist(), strict=True)) == sorted(
        (r.trade_id, r.price) for r in rows.values()
    )


def test_rerun_replaces_only_its_slot_even_when_it_becomes_empty(spark, spark_settings, endpoint):
    prefix_a = land(spark_settings, endpoint.name, SLOT_A, [[_trade(1), _trade(2), _trade(3, id=None)]])
    prefix_b = land(spark_settings, endpoint.name, SLOT_B, [[_trade(10), _trade(11)]])
    raw_to_table.run(spark, spark_settings, endpoint, [prefix_a, prefix_b])
    table = quote(endpoint.table.identifier)
    files_b = {
        r.file_path for r in spark.sql(f"SELECT file_path FROM {table}.files WHERE partition.`min` = 30").collect()
    }
    rows_b = sorted(spark.table(table).where("`min` = 30").collect())

    # Slot A is re-crawled and now every record is bad: its rows must go, B's stay.
    land(spark_settings, endpoint.name, SLOT_A, [[_trade(1, id="x")]])
    result = raw_to_table.run(spark, spark_settings, endpoint, [prefix_a])

    assert result.rows == 0 and result.quarantined == 1
    assert spark.table(table).where("`min` = 15").count() == 0
    assert sorted(spark.table(table).where("`min` = 30").collect()) == rows_b
    after_b = {
        r.file_path for r in spark.sql(f"SELECT file_path FROM {table}.files WHERE partition.`min` = 30").collect()
    }
    assert after_b == files_b
    quarantined_a = spark.table(quote(result.quarantine_table)).where("`min` = 15").collect()
    assert [json.loads(r.record)["id"] for r in quarantined_a] == ["x"], (
        "the earlier run's quarantine rows are replaced too"
    )


def test_backfill_range_uses_only_complete_landings(spark, spark_settings, endpoint):
    land(spark_settings, endpoint.name, SLOT_A, [[_trade(1)]])
    land(spark_settings, endpoint.name, SLOT_B, [[_trade(2)]], manifest=False)  # still crawling
    result = raw_to_table.run(spark, spark_settings, endpoint, slot_range=(SLOT_A, SLOT_A + timedelta(hours=1)))
    assert [s.min for s in result.slots] == [15]
    assert [r.trade_id for r in spark.table(quote(result.table)).collect()] == [1]

    with pytest.raises(ManifestNotFoundError, match="landing is incomplete"):
        raw_to_table.run(
            spark,
            spark_settings,
            endpoint,
            [run_prefix(spark_settings.s3.raw_prefix, endpoint.name, SLOT_B, run_id_for(endpoint.name, SLOT_B))],
        )


def test_a_range_written_in_batches_replaces_each_slot_whole(spark, spark_settings, endpoint, monkeypatch):
    writes: list[list[int]] = []
    write = transform_run._write_batch
    monkeypatch.setattr(
        transform_run, "_write_batch", lambda b, r: (writes.append([x.min for x in b.slots]), write(b, r))
    )
    slots = [SLOT_A + timedelta(minutes=15 * n) for n in range(4)]
    prefixes = [
        land(
            spark_settings,
            endpoint.name,
            slot,
            [[_trade(100 * n + i) for i in range(3)], [_trade(100 * n + 9, id="x")]],
        )
        for n, slot in enumerate(slots)
    ]
    # batch_rows=9: two slots (3 rows + 1 quarantined each) fit one batch, a third does not.
    result = raw_to_table.run(spark, spark_settings, endpoint, prefixes, batch_rows=9)
    assert (result.rows, result.quarantined, len(result.slots)) == (12, 4, 4)
    assert writes == [[15, 30], [45, 0]], "whole slots per write, in slot order"
    table = quote(endpoint.table.identifier)
    assert sorted(r.trade_id for r in spark.table(table).collect()) == sorted(
        100 * n + i for n in range(4) for i in range(3)
    )
    counts = {
        r["min"]: r["count"] for r in spark.table(quote(result.quarantine_table)).groupBy("min").count().collect()
    }
    assert counts == {15: 1, 30: 1, 45: 1, 0: 1}


def test_missing_and_changed_pages_are_quarantined_with_a_reason(spark, spark_settings, endpoint):
    prefix = land(spark_settings, endpoint.name, SLOT_A, [[_trade(1)], [_trade(2)], [_trade(3)]])
    client = s3_client(spark_settings.s3)
    client.delete_object(Bucket=spark_settings.s3.bucket, Key=page_key(prefix, 2, ATTEMPT))
    client.put_object(
        Bucket=spark_settings.s3.bucket, Key=page_key(prefix, 3, ATTEMPT), Body=b'{"data": {"items": []}}'
    )

    result = raw_to_table.run(spark, spark_settings, endpoint, [prefix])

    assert (result.rows, result.quarantined) == (1, 2)
    reasons = {r.raw_key: r.reason for r in spark.table(quote(result.quarantine_table)).collect()}
    assert "missing from the bucket" in reasons[page_key(prefix, 2, ATTEMPT)]
    assert "sha256 differs from the manifest" in reasons[page_key(prefix, 3, ATTEMPT)]


def test_the_setting_picks_the_writer(spark, spark_settings, endpoint, table_writer):
    prefix = land(spark_settings, endpoint.name, SLOT_A, [[_trade(1), _trade(2, id="x")]])
    raw_to_table.run(spark, spark_settings, endpoint, [prefix])
    result = raw_to_table.run(spark, spark_settings, endpoint, [prefix])  # a rerun replaces

    assert result.writer == table_writer
    catalog = load_catalog(spark_settings)
    for identifier in (result.table, result.quarantine_table):
        snapshot = catalog.load_table(identifier).current_snapshot()
        assert snapshot is not None
        summary = snapshot.summary
        # Spark stamps its application id into the snapshots it writes; pyiceberg does not.
        assert ("spark.app.id" in summary.additional_properties) == (table_writer == "spark"), summary
        assert summary.operation.value == "overwrite"
        assert (summary["total-records"], summary["deleted-records"]) == ("1", "1"), summary
