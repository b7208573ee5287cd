"""Column inference from sample records (lakehouse.endpoints.inference): each type the
issue names, the evidence for timestamps, shares of records per type, nested objects
and lists named, and that what it proposes types every record it saw in the real
transform (no quarantine)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from lakehouse.endpoints import Column, Table
from lakehouse.endpoints.inference import column_name, infer, json_path, list_paths
from lakehouse.transform.typer import RecordTyper
from sandbox import MarketConfig, expected_records

pytestmark = pytest.mark.unit


def _by_name(records: list[Any]) -> dict[str, Any]:
    return {c.name: c for c in infer(records).columns}


def test_each_type_is_inferred_with_its_format() -> None:
    records = [
        {
            "id": 1 + i,
            "price": f"{100 + i}.12345678",
            "ratio": 0.5 + i,
            "ok": i % 2 == 0,
            "name": f"n{i}",
            "created_at": f"2026-12-0{1 + i}T10:00:00Z",
            "day": f"2026-12-0{1 + i}",
            "trade_time": 1_764_633_600_000 + i,
            "updated_s": 1_764_633_600 + i,
            "seq": 1_764_633_600_000 + i,  # in the epoch range, but no time name
        }
        for i in range(3)
    ]
    cols = _by_name(records)
    assert (cols["id"].type, cols["id"].format) == ("long", None)
    assert cols["price"].type == "decimal(15,8)"  # 3 + 8 digits seen, plus 4 of headroom
    assert cols["ratio"].type == "double"
    assert cols["ok"].type == "boolean"
    assert cols["name"].type == "string"
    assert (cols["created_at"].type, cols["created_at"].format) == ("timestamp", "iso")
    assert (cols["day"].type, cols["day"].format) == ("date", "iso")
    assert (cols["trade_time"].type, cols["trade_time"].format) == ("timestamp", "epoch_ms")
    assert "2025-12-02T00:00:00Z" in cols["trade_time"].evidence
    assert (cols["updated_s"].type, cols["updated_s"].format) == ("timestamp", "epoch_s")
    # An id that happens to look like a time stays a long, with the hint as evidence.
    assert cols["seq"].type == "long" and "epoch_ms" in cols["seq"].evidence


def test_shares_count_the_records_each_type_fits() -> None:
    records = [{"v": 1}, {"v": 2.5}, {"v": "x"}, {"v": None}]
    (col,) = infer(records).columns
    assert col.type == "string" and col.present == 3 and col.records == 4
    fits = {f.type: f.records for f in col.fits}
    assert fits == {"long": 1, "decimal(6,1)": 2, "double": 2, "string": 3}
    assert [round(col.share(f), 2) for f in col.fits] == [0.25, 0.5, 0.5, 0.75]


def test_mixed_numbers_widen_to_double_and_text_numbers_to_decimal() -> None:
    assert _by_name([{"v": 1}, {"v": 2.5}])["v"].type == "double"
    assert _by_name([{"v": "1"}, {"v": "2.5"}])["v"].type == "decimal(6,1)"
    assert _by_name([{"v": "7"}, {"v": "8"}])["v"].type == "long"
    assert _by_name([{"v": None}])["v"].type == "string"


def test_nested_objects_become_dotted_columns_and_lists_are_named() -> None:
    records = [
        {"venue": {"code": "X", "geo": {"region": "eu"}}, "fills": [{"q": 1}, {"q": 2}], "tags": ["a"]},
        {"venue": {"code": "Y", "geo": {"region": "us"}}, "fills": []},
    ]
    result = infer(records)
    assert [(c.name, c.path) for c in result.columns] == [
        ("venue_code", "venue.code"),
        ("venue_geo_region", "venue.geo.region"),
    ]
    nested = {n.path: n for n in result.nested}
    assert nested["venue"].kind == "object" and nested["venue.geo"].kind == "object"
    assert nested["fills"].kind == "list" and "objects" in nested["fills"].detail and nested["fills"].records == 2
    assert nested["tags"].kind == "list" and "scalars" in nested["tags"].detail


def test_names_and_paths_are_valid_for_the_config_model() -> None:
    assert column_name(["tradeId"]) == "trade_id"
    assert column_name(["x-total", "2nd"]) == "x_total_2nd"
    assert column_name(["9lives"]) == "c_9lives"
    assert json_path(["data", "x-total"]) == 'data."x-total"'
    cols = infer([{"ds": 1, "Ds": 2, "x-total": 3, "min": "a"}]).columns
    # Partition column names are taken, and no name twice ("Ds" is "ds" too).
    assert [c.name for c in cols] == ["ds_value", "ds_value_2", "x_total", "min_value"]
    assert [c.path for c in cols] == ["ds", "Ds", '"x-total"', "min"]
    # Every proposal is accepted by the config model.
    Table(namespace="n", name="t", columns=[Column(**c.as_config()) for c in cols])


def test_list_paths_finds_lists_of_objects_shallowest_first() -> None:
    doc = {"meta": {"count": 2}, "result": {"rows": [{"a": 1}, {"a": 2}]}, "ids": [1, 2], "top": [{"b": 1}]}
    assert list_paths(doc) == [("top", 1), ("result.rows", 2)]
    assert list_paths([{"a": 1}]) == [("", 1)]


def test_proposed_columns_type_every_sandbox_record_in_the_transform() -> None:
    start, end = datetime(2024, 1, 2, 3, tzinfo=UTC), datetime(2024, 1, 2, 3, 15, tzinfo=UTC)
    records = [dict(r) for r in expected_records(MarketConfig(), start, end)][:200]
    result = infer(records)
    table = Table(namespace="n", name="t", columns=[Column(**c.as_config()) for c in result.columns])
    typer = RecordTyper(table)
    reasons = [typer.type_record(r)[1] for r in records]
    assert reasons == [None] * len(records)
    assert {c.name: c.type for c in result.columns}["time"] == "timestamp"
