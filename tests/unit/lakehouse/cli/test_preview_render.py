"""`lakehouse preview`'s report from pages (no services): lines fit 80 columns, paths
print as written (not as markup), the next page reads as the parameters it changes,
and a records_path that finds nothing lists the paths holding lists of objects."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any

import pytest
from rich.console import Console

from lakehouse.cli.commands.preview import next_delta, render
from lakehouse.endpoints import EndpointConfig
from lakehouse.pipeline.preview import read_pages

pytestmark = pytest.mark.unit

SLOT = (datetime(2026, 12, 1, 10, 0, tzinfo=UTC), datetime(2026, 12, 1, 10, 15, tzinfo=UTC))
URL = "https://api.example.com/v1/orders?since=2026-12-01T10%3A00%3A00Z&page=1&per_page=50"


def _config(records_path: str) -> EndpointConfig:
    return EndpointConfig.model_validate(
        {
            "name": "shop_orders",
            "request": {"url": "https://api.example.com/v1/orders"},
            "pagination": {"type": "page", "page_param": "page", "page_size_param": "per_page", "page_size": 50},
            "response_map": {"records_path": records_path},
            "rate_limit": {"requests_per_second": 5},
            "schedule": "*/15 * * * *",
        }
    )


def _page(data: Any, records: int | None, nxt: str | None) -> dict[str, Any]:
    return {"url": URL, "status": 200, "records": records, "next": nxt, "data": data}


def _rendered(config: EndpointConfig, pages: list[dict[str, Any]]) -> str:
    console = Console(width=80, record=True, file=io.StringIO())
    render(read_pages(config, SLOT, 2, pages, None), console)
    return console.export_text()


def test_report_fits_80_columns_and_prints_paths_as_written() -> None:
    records = [{"id": i, "x-total": "1.5", "items": [{"sku": "a"}], "meta": {"[b]": True}} for i in range(50)]
    out = _rendered(
        _config("data[0].rows"), [_page({"data": [{"rows": records}]}, 50, URL.replace("page=1", "page=2"))]
    )
    lines = out.splitlines()
    assert not [line for line in lines if len(line) > 80], out
    assert "50 records at data[0].rows" in out
    assert "next ?page=2" in out
    assert '"x-total"' in out and "decimal(6,1)" in out
    assert 'meta."[b]"' in out  # the JMESPath of a key in brackets, not a markup tag
    assert "items: list of objects (up to 1), not declared, in 100% of records" in out


def test_no_records_lists_the_paths_that_hold_lists_of_objects() -> None:
    body = {"result": {"orders": [{"id": 1}, {"id": 2}]}, "count": 2}
    out = _rendered(_config("data"), [_page(body, 0, None)])
    assert "no records at records_path 'data'" in out
    assert "result.orders  2 items" in out
    assert "next none: the crawl would end here" in out


def test_next_delta() -> None:
    assert next_delta(URL, URL.replace("page=1", "page=2")) == "?page=2"
    assert next_delta(URL, "https://api.example.com/v2/orders?cursor=x") == "https://api.example.com/v2/orders?cursor=x"
    assert next_delta("https://a/x?c=1&n=2", "https://a/x?n=2") == "the same URL -c"
