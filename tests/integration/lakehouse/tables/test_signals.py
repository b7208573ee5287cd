"""The signal table through Nessie: fixed schema, one row per run_id however often published."""

from __future__ import annotations

from datetime import UTC, datetime

from lakehouse.config.settings import load_settings
from lakehouse.local.stack import LocalStack
from lakehouse.tables.catalog import load_catalog
from lakehouse.tables.signals import FIXED_COLUMNS, SIGNAL_IDENTIFIER, Signal, publish, rows_for

SLOT = datetime(2026, 11, 27, 9, 15, tzinfo=UTC)


def _signal(run_id: str, records: int) -> Signal:
    return Signal(
        run_id=run_id,
        endpoint="sandbox_trades",
        s3_path=f"s3://warehouse/raw/sandbox_trades/ds=2026-11-27/hr=09/min=15/{run_id}/_manifest.json",
        slot_start=SLOT,
        pages=3,
        records=records,
        bytes=1234,
    )


def test_publishing_twice_leaves_one_row_with_the_latest_values(stack: LocalStack) -> None:
    settings = load_settings()
    run_id = "sandbox_trades__20261127T0915Z"
    publish(settings, _signal(run_id, 250))
    publish(settings, _signal(run_id, 300))
    rows = rows_for(settings, run_id)
    assert len(rows) == 1
    row = rows[0]
    assert (row.ds, row.hr, row.min) == ("2026-11-27", 9, 15)
    assert row.records == 300
    assert row.s3_path.endswith(f"{run_id}/_manifest.json")


def test_other_runs_rows_are_untouched(stack: LocalStack) -> None:
    settings = load_settings()
    publish(settings, _signal("sandbox_trades__20261127T0930Z", 10))
    publish(settings, _signal("sandbox_trades__20261127T0945Z", 20))
    publish(settings, _signal("sandbox_trades__20261127T0930Z", 11))
    assert [r.records for r in rows_for(settings, "sandbox_trades__20261127T0945Z")] == [20]
    assert [r.records for r in rows_for(settings, "sandbox_trades__20261127T0930Z")] == [11]


def test_schema_starts_with_the_fixed_columns(stack: LocalStack) -> None:
    table = load_catalog(load_settings()).load_table(SIGNAL_IDENTIFIER)
    names = [f.name for f in table.schema().fields]
    assert tuple(names[: len(FIXED_COLUMNS)]) == FIXED_COLUMNS
    assert [f.name for f in table.spec().fields] == ["ds"]


def test_concurrent_publishes_of_different_runs_all_land_once(stack: LocalStack) -> None:
    from concurrent.futures import ThreadPoolExecutor

    settings = load_settings()
    run_ids = [f"sandbox_trades__20261127T1{h}00Z" for h in range(4)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda r: publish(settings, _signal(r, 7)), run_ids))
    for run_id in run_ids:
        assert len(rows_for(settings, run_id)) == 1
