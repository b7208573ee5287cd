"""Locating landings, and the shipped endpoint tables against what the sandbox serves."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from lakehouse.config import paths
from lakehouse.endpoints import load_endpoint, load_endpoints
from lakehouse.queue.jobs import run_id_for
from lakehouse.raw.layout import Manifest, run_prefix
from lakehouse.transform.landings import ForeignBucketError, latest_per_slot, manifest_key_for
from lakehouse.transform.typer import ArrowTyper, RecordTyper
from sandbox.market import MarketConfig, trades

SLOT = datetime(2025, 3, 1, 12, 15, tzinfo=UTC)
PREFIX = run_prefix("raw", "sandbox_trades", SLOT, run_id_for("sandbox_trades", SLOT))


@pytest.mark.parametrize(
    "ref",
    [
        PREFIX,
        PREFIX.rstrip("/"),
        PREFIX + "_manifest.json",
        f"s3://warehouse/{PREFIX}",
        f"s3://warehouse/{PREFIX}_manifest.json",
    ],
)
def test_a_run_is_named_by_prefix_manifest_key_or_uri(ref):
    assert manifest_key_for(ref, "warehouse") == PREFIX + "_manifest.json"


def test_a_uri_in_another_bucket_is_refused():
    with pytest.raises(ForeignBucketError, match="not in the configured bucket 'warehouse'"):
        manifest_key_for(f"s3://elsewhere/{PREFIX}", "warehouse")


def _manifest(finished_minute: int) -> Manifest:
    return Manifest.build(
        run_id=run_id_for("sandbox_trades", SLOT),
        endpoint="sandbox_trades",
        slot_start=SLOT,
        slot_end=SLOT + timedelta(minutes=15),
        prefix=PREFIX,
        pages=[],
        started_at=SLOT + timedelta(minutes=15),
        finished_at=SLOT + timedelta(minutes=finished_minute),
    )


def test_one_landing_per_slot_the_latest_wins():
    early, late = _manifest(16), _manifest(40)
    assert latest_per_slot([late, early]) == [late]


def test_every_sandbox_trade_fits_the_sandbox_trades_table():
    table = load_endpoint(paths.endpoints_dir() / "sandbox_trades.yaml").table
    typer = RecordTyper(table)
    records = trades(MarketConfig(), "BTCUSDT", range(500))
    for record in records:
        row, reason = typer.type_record(record)
        assert reason is None, (record, reason)
        assert row is not None and row[0] == record["id"]
    typed = ArrowTyper(table).type_records(records, "k")
    assert typed.quarantined == []
    assert typed.table.column("trade_id").to_pylist() == [r["id"] for r in records]
    assert [tuple(row.values()) for row in typed.table.to_pylist()] == [typer.type_record(r)[0] for r in records]


def test_every_shipped_table_builds_a_typer():
    for config in load_endpoints():
        if config.table is not None:
            RecordTyper(config.table)
            ArrowTyper(config.table)
