"""Typing raw records against a declared table: every misfit quarantined with a reason."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from lakehouse.endpoints import Table
from spark_jobs.records import RecordTyper, columns_ddl, split_page


@pytest.fixture()
def table() -> Table:
    return Table.model_validate(
        {
            "namespace": "market",
            "name": "trades",
            "columns": [
                {"name": "trade_id", "path": "id", "type": "long", "required": True},
                {"name": "price", "path": "price", "type": "decimal(10,2)"},
                {"name": "qty", "path": "qty", "type": "double"},
                {"name": "traded_at", "path": "time", "type": "timestamp", "format": "epoch_ms"},
                {"name": "seen_at", "path": "seen", "type": "timestamp", "format": "iso"},
                {"name": "venue", "path": "venue.code", "type": "string"},
                {"name": "day", "path": "day", "type": "date"},
                {"name": "maker", "path": "maker", "type": "boolean"},
                {"name": "n", "path": "n", "type": "int"},
            ],
        }
    )


def test_a_good_record_becomes_typed_values(table):
    row, reason = RecordTyper(table).type_record(
        {"id": "42", "price": "101.50", "qty": 0.5, "time": 1740830400123, "seen": "2025-03-01T12:00:00+01:00",
         "venue": {"code": "XNAS"}, "day": "2025-03-01", "maker": True, "n": 7}
    )
    assert reason is None
    assert row == (
        42, Decimal("101.50"), 0.5, datetime(2025, 3, 1, 12, 0, 0, 123000, tzinfo=UTC),
        datetime(2025, 3, 1, 11, 0, tzinfo=UTC), "XNAS", date(2025, 3, 1), True, 7,
    )


def test_missing_optional_values_are_null_but_required_ones_are_a_reason(table):
    row, _ = RecordTyper(table).type_record({"id": 1})
    assert row == (1,) + (None,) * 8
    row, reason = RecordTyper(table).type_record({"price": "1.00"})
    assert row is None and "trade_id: required" in reason


@pytest.mark.parametrize(
    ("record", "fragment"),
    [
        ({"id": 1, "price": "1.005"}, "price: \"1.005\" at 'price': has more than 2 decimal places"),
        ({"id": 1, "price": "123456789.00"}, "more than 8 digits before the decimal point"),
        ({"id": 1, "price": "abc"}, "not a decimal number"),
        ({"id": "x1"}, "trade_id: \"x1\" at 'id': not an integer"),
        ({"id": 1, "n": 2**40}, "n: 1099511627776 at 'n': out of range"),
        ({"id": 1, "maker": "yes"}, "not a boolean"),
        ({"id": 1, "time": "soon"}, "not a number"),
        ({"id": 1, "seen": "yesterday"}, "not an ISO-8601 timestamp"),
        ({"id": 1, "venue": {"code": {"a": 1}}}, "an object or list, not a scalar"),
        ({"id": True}, "a boolean is not an integer"),
    ],
)
def test_misfits_are_named_per_column(table, record, fragment):
    row, reason = RecordTyper(table).type_record(record)
    assert row is None
    assert fragment in reason


def test_a_page_splits_into_rows_and_quarantine(table):
    body = json.dumps({"data": {"items": [{"id": 1}, {"id": "bad"}, 5]}}).encode()
    result = split_page(RecordTyper(table), body, "data.items", "raw/x/page-000001.json")
    assert len(result.rows) == 1
    reasons = [q.reason for q in result.quarantined]
    assert any("not an integer" in r for r in reasons)
    assert any("record is a JSON int" in r for r in reasons)
    assert all(q.raw_key == "raw/x/page-000001.json" for q in result.quarantined)
    assert json.loads(result.quarantined[0].record) == {"id": "bad"}


@pytest.mark.parametrize(
    ("body", "reason"),
    [(b"{not json", "page is not valid JSON"), (b'{"data": {}}', "records_path 'data.items' gave nothing")],
)
def test_an_unusable_page_is_one_quarantine_entry(table, body, reason):
    result = split_page(RecordTyper(table), body, "data.items", "k")
    assert result.rows == []
    assert len(result.quarantined) == 1 and result.quarantined[0].reason.startswith(reason)


def test_columns_ddl_uses_spark_types(table):
    assert columns_ddl(table).startswith("`trade_id` bigint, `price` decimal(10,2), `qty` double, `traded_at` timestamp")
