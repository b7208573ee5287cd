"""The daily aggregate job's arguments: which days, which columns."""

from __future__ import annotations

import pytest

from lakehouse.endpoints import endpoint_path, load_endpoint
from spark_jobs.daily_aggregate import AggregateColumnError, check_sums, daily_identifier, parse_days

pytestmark = pytest.mark.unit


def test_days_are_sorted_unique_iso_days_or_all() -> None:
    assert parse_days("2026-11-25, 2026-11-24,2026-11-25") == ["2026-11-24", "2026-11-25"]
    assert parse_days("all") is None
    assert parse_days("") == []
    with pytest.raises(ValueError):
        parse_days("yesterday")


def test_only_numeric_columns_of_the_table_are_summed() -> None:
    config = load_endpoint(endpoint_path("sandbox_trades"))
    check_sums(config, ["qty", "quote_qty", "trade_id"])
    with pytest.raises(AggregateColumnError) as caught:
        check_sums(config, ["symbol", "volume"])
    assert "'symbol' is string, not numeric" in str(caught.value)
    assert "'volume' is not a column" in str(caught.value)


def test_the_daily_table_sits_beside_its_source() -> None:
    assert daily_identifier("market.sandbox_trades") == "market.sandbox_trades_daily"
