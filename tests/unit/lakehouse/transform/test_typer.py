"""Typing raw records against a declared table: every misfit quarantined with a reason.

The Arrow typer (what the transform runs) and the row typer (which writes the reasons)
must agree on every value: the same tests run against both, and one corpus of awkward
values per column type (awkward_values.py) checks them against each other.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pytest

from lakehouse.endpoints import Table, extract
from lakehouse.transform.batches import PageBatch, type_pages
from lakehouse.transform.conversions import CONVERSIONS, arrow_schema
from lakehouse.transform.typer import ArrowTyper, RecordTyper, getter
from tests.unit.lakehouse.transform.awkward_values import AWKWARD, corpus_table, split_page


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


def arrow_type_record(table: Table, record: Any) -> tuple[tuple[Any, ...] | None, str | None]:
    """The Arrow typer on one record, answered the way RecordTyper.type_record answers."""
    typed = ArrowTyper(table).type_records([record], "k")
    if typed.table.num_rows == 1:
        assert typed.quarantined == []
        return tuple(typed.table.to_pylist()[0].values()), None
    assert typed.table.num_rows == 0 and len(typed.quarantined) == 1
    return None, typed.quarantined[0].reason


def row_type_record(table: Table, record: Any) -> tuple[tuple[Any, ...] | None, str | None]:
    return RecordTyper(table).type_record(record)


@pytest.fixture(params=["arrow", "row"])
def type_record(request):
    return arrow_type_record if request.param == "arrow" else row_type_record


def test_a_good_record_becomes_typed_values(table, type_record):
    row, reason = type_record(
        table,
        {
            "id": "42",
            "price": "101.50",
            "qty": 0.5,
            "time": 1740830400123,
            "seen": "2025-03-01T12:00:00+01:00",
            "venue": {"code": "XNAS"},
            "day": "2025-03-01",
            "maker": True,
            "n": 7,
        },
    )
    assert reason is None
    assert row == (
        42,
        Decimal("101.50"),
        0.5,
        datetime(2025, 3, 1, 12, 0, 0, 123000, tzinfo=UTC),
        datetime(2025, 3, 1, 11, 0, tzinfo=UTC),
        "XNAS",
        date(2025, 3, 1),
        True,
        7,
    )


def test_missing_optional_values_are_null_but_required_ones_are_a_reason(table, type_record):
    row, _ = type_record(table, {"id": 1})
    assert row == (1,) + (None,) * 8
    row, reason = type_record(table, {"price": "1.00"})
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
def test_misfits_are_named_per_column(table, type_record, record, fragment):
    row, reason = type_record(table, record)
    assert row is None
    assert fragment in reason


def test_a_reason_names_every_column_that_did_not_fit(table, type_record):
    _, reason = type_record(table, {"id": "x", "price": "1.005", "maker": "yes"})
    assert [part.split(":")[0] for part in reason.split("; ")] == ["trade_id", "price", "maker"]


def test_a_page_splits_into_rows_and_quarantine(table):
    body = json.dumps({"data": {"items": [{"id": 1}, {"id": "bad"}, 5]}}).encode()
    result = split_page(ArrowTyper(table), body, "data.items", "raw/x/page-000001.json")
    assert result.table.num_rows == 1
    reasons = [q.reason for q in result.quarantined]
    assert any("not an integer" in r for r in reasons)
    assert any("record is a JSON int" in r for r in reasons)
    assert all(q.raw_key == "raw/x/page-000001.json" for q in result.quarantined)
    assert json.loads(result.quarantined[0].record) == {"id": "bad"}


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{not json", "page is not valid JSON"),
        (b'{"data": {}}', "records_path 'data.items' gave nothing"),
        (b'{"data": {"items": {"id": 1}}}', "records_path 'data.items' gave a JSON dict, not a list"),
    ],
)
def test_an_unusable_page_is_one_quarantine_entry(table, body, reason):
    result = split_page(ArrowTyper(table), body, "data.items", "k")
    assert result.table.num_rows == 0
    assert len(result.quarantined) == 1 and result.quarantined[0].reason.startswith(reason)


def test_json_that_orjson_refuses_still_means_what_json_says(table):
    # orjson stops at 64-bit integers and NaN; the page is still JSON, and its records are judged one by one.
    body = b'{"data": {"items": [{"id": 123456789012345678901234}, {"id": 1, "qty": NaN}, {"id": 2, "qty": 1.5}]}}'
    result = split_page(ArrowTyper(table), body, "data.items", "k")
    assert result.table.column("trade_id").to_pylist() == [2]
    assert ["out of range" in q.reason for q in result.quarantined] == [True, False]
    assert "qty: NaN at 'qty': not a finite number" in result.quarantined[1].reason


def test_arrow_schema_matches_the_spark_types(table):
    assert [str(t) for t in arrow_schema(table).types] == [
        "int64",
        "decimal128(10, 2)",
        "double",
        "timestamp[us, tz=UTC]",
        "timestamp[us, tz=UTC]",
        "string",
        "date32[day]",
        "bool",
        "int32",
    ]


# --- the Arrow typer against the row typer, value by value ----------------------------


@pytest.mark.parametrize("kind", sorted(AWKWARD))
def test_arrow_and_row_typers_agree_on_every_awkward_value(kind):
    table = corpus_table(kind)
    records = [{"v": value} for value in AWKWARD[kind]]
    expected = [RecordTyper(table).type_record(r) for r in records]
    # All values in one chunk (mixed classes in one column), and each on its own.
    together = ArrowTyper(table).type_records(records, "k")
    good = iter(together.table.column("v").to_pylist())
    reasons = iter(q.reason for q in together.quarantined)
    for record, (row, reason) in zip(records, expected, strict=True):
        if row is None:
            assert next(reasons) == reason, record
        else:
            got = next(good)
            assert got == row[0] and type(got) is type(row[0]), record
        assert arrow_type_record(table, record) == (row, reason), record
    assert next(good, "end") == "end" and next(reasons, "end") == "end"


def test_every_column_type_has_awkward_values():
    # Adding a column type is one entry in the conversion table and its values here.
    covered = {kind.partition("/")[0] for kind in AWKWARD}
    assert set(CONVERSIONS) <= covered, set(CONVERSIONS) - covered
    assert any(kind.startswith("decimal(") for kind in covered)


def test_decimals_are_exact_beyond_double_precision():
    table = corpus_table("decimal(38,18)")
    text = "12345678901234567890.123456789012345678"
    typed = ArrowTyper(table).type_records([{"v": text}, {"v": "0.000000000000000001"}], "k")
    assert typed.table.column("v").to_pylist() == [Decimal(text), Decimal("1E-18")]


# --- paths ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["a", "a.b", "a.b.c", '"x-total".n', "a[0]", "a[-1].b", "a.b[0]", "a[*].b"])
def test_the_column_getter_finds_what_extract_finds(path):
    records = [
        {"a": {"b": {"c": 1}}},
        {"a": {"b": [5, 6]}},
        {"a": [{"b": 2}, {"b": 3}]},
        {"a": "text"},
        {"a": None},
        {},
        {"x-total": {"n": 4}},
        {"a": {"b": None}},
        {"a": {"b": {"c": {"d": 1}}}},
    ]
    assert getter(path)(records) == [extract(r, path) for r in records]


def test_a_column_path_with_an_index_goes_through_jmespath():
    table = Table.model_validate(
        {
            "namespace": "n",
            "name": "t",
            "columns": [
                {"name": "first_tag", "path": "tags[0]", "type": "string"},
                {"name": "id", "path": 'meta."trade-id"', "type": "long"},
            ],
        }
    )
    typed = ArrowTyper(table).type_records([{"tags": ["x", "y"], "meta": {"trade-id": 3}}, {"tags": []}], "k")
    assert typed.table.to_pylist() == [{"first_tag": "x", "id": 3}, {"first_tag": None, "id": None}]


# --- batches -------------------------------------------------------------------------


def _pages() -> list[tuple[str, bytes]]:
    pages = []
    for p in range(7):
        records: list[Any] = [{"id": p * 10 + i, "price": f"{i}.5", "time": 1740830400000 + i} for i in range(p % 4)]
        if p % 3 == 1:
            records.append({"id": f"bad{p}"})
        if p == 5:
            records.append("not an object")
        pages.append((f"raw/page-{p}.json", json.dumps({"data": {"items": records}}).encode()))
    pages.insert(3, ("raw/broken.json", b"{"))
    return pages


@pytest.mark.parametrize("chunk", [1, 2, 3, 5, 1000])
def test_chunk_boundaries_change_nothing(table, chunk):
    whole = type_pages(ArrowTyper(table), _pages(), "data.items", chunk_records=1000)
    chunked = type_pages(ArrowTyper(table), _pages(), "data.items", chunk_records=chunk)
    assert chunked.table.equals(whole.table)
    assert chunked.table.schema == arrow_schema(table)
    assert sorted(chunked.quarantined, key=repr) == sorted(whole.quarantined, key=repr)
    assert chunked.table.column("trade_id").to_pylist() == [10, 20, 21, 30, 31, 32, 50, 60, 61]
    by_record = {q.record: q.raw_key for q in chunked.quarantined}
    assert by_record['{"id": "bad1"}'] == "raw/page-1.json"
    assert by_record['{"id": "bad4"}'] == "raw/page-4.json"
    assert by_record['"not an object"'] == "raw/page-5.json"
    assert by_record["{"] == "raw/broken.json"


def test_a_batch_with_no_pages_or_no_fitting_rows_is_an_empty_typed_table(table):
    assert type_pages(ArrowTyper(table), [], "data.items").table.schema == arrow_schema(table)
    batch = PageBatch(ArrowTyper(table), "data.items")
    batch.add_page("k", b'{"data": {"items": [{"id": "x"}]}}')
    typed = batch.finish()
    assert typed.table.num_rows == 0 and typed.table.schema == arrow_schema(table) and len(typed.quarantined) == 1


def test_typed_columns_are_arrow_not_python_objects(table):
    typed = type_pages(ArrowTyper(table), _pages(), "data.items", chunk_records=4)
    assert isinstance(typed.table, pa.Table)
    assert typed.table.num_rows == sum(p % 4 for p in range(7))
