"""`preview --write`'s YAML edit (lakehouse.endpoints.columns_yaml): comments, order
and quoting survive, an existing table is completed (never rewritten), and a result
that would not validate leaves the file untouched."""

from __future__ import annotations

from pathlib import Path

import pytest

from lakehouse.endpoints import load_endpoint
from lakehouse.endpoints.columns_yaml import write_columns
from lakehouse.endpoints.inference import infer
from lakehouse.errors import EndpointConfigError

pytestmark = pytest.mark.unit

HEAD = """\
# yaml-language-server: $schema=../endpoint.schema.json
# A hand-written note that must survive.
name: shop_orders
request:
  url: https://api.example.com/v1/orders   # the list route
  params: {since: "{slot_start_iso}"}
rate_limit: {requests_per_second: 5}
schedule: "*/15 * * * *"
response_map:
  records_path: data
"""
RECORDS = [
    {"id": 1, "total": "12.50", "placedAt": "2026-12-01T10:00:00Z", "customer": {"id": 7}},
    {"id": 2, "total": "3.10", "placedAt": "2026-12-01T10:05:00Z", "customer": {"id": 8}},
]


def test_adds_a_table_and_keeps_everything_written(tmp_path: Path) -> None:
    path = tmp_path / "shop_orders.yaml"
    path.write_text(HEAD)
    result = write_columns(path, infer(RECORDS).columns, "shop")
    text = path.read_text()
    assert text.startswith(HEAD)
    assert result.new_table and result.added == ("id", "total", "placed_at", "customer_id")
    config = load_endpoint(path)
    assert config.table is not None and config.table.identifier == "shop.shop_orders"
    assert [(c.name, c.path, c.type, c.format) for c in config.table.columns] == [
        ("id", "id", "long", None),
        ("total", "total", "decimal(8,2)", None),  # 2 + 2 digits seen, 4 of headroom
        ("placed_at", "placedAt", "timestamp", "iso"),
        ("customer_id", "customer.id", "long", None),
    ]
    assert "    - {name: id, path: id, type: long}\n" in text  # one line per column


def test_completes_declared_columns_without_touching_them(tmp_path: Path) -> None:
    path = tmp_path / "shop_orders.yaml"
    declared = HEAD + (
        "table:\n  namespace: shop\n  name: orders\n  columns:\n"
        "    - {name: order_id, path: id, type: string}   # kept as text on purpose\n"
    )
    path.write_text(declared)
    result = write_columns(path, infer(RECORDS).columns, "ignored")
    assert result.kept == 1 and not result.new_table
    assert result.added == ("total", "placed_at", "customer_id")  # id is declared already
    text = path.read_text()
    assert "- {name: order_id, path: id, type: string}   # kept as text on purpose" in text
    assert load_endpoint(path).table.name == "orders"  # type: ignore[union-attr]


def test_a_result_that_would_not_validate_leaves_the_file_alone(tmp_path: Path) -> None:
    path = tmp_path / "shop_orders.yaml"
    path.write_text(HEAD)
    with pytest.raises(EndpointConfigError, match="namespace"):
        write_columns(path, infer(RECORDS).columns, "Not A Namespace")
    assert path.read_text() == HEAD
    assert [p.name for p in tmp_path.iterdir()] == ["shop_orders.yaml"]
