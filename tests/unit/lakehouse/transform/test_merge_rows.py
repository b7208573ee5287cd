"""The engine-free half of the merge writer (lakehouse/transform/merge_rows.py): which
version per key wins, and the merge log's accounting. (The MERGE itself runs in the
Spark integration tests.)"""

from __future__ import annotations

import pyarrow as pa
import pytest

from lakehouse.endpoints import Table
from lakehouse.transform.merge_rows import latest_per_key, merge_log_rows
from lakehouse.transform.partitions import SlotPartition

pytestmark = pytest.mark.unit


def _table(order_by: str | None) -> Table:
    return Table.model_validate(
        {
            "namespace": "shop",
            "name": "orders",
            "write": "merge",
            "primary_key": ["id"],
            "order_by": order_by,
            "columns": [
                {"name": "id", "path": "id", "type": "long", "required": True},
                {"name": "version", "path": "v", "type": "int", "required": True},
                {"name": "status", "path": "s", "type": "string"},
            ],
        }
    )


ROWS = pa.table(
    {
        "id": pa.array([1, 2, 1, 1, 3, 2], pa.int64()),
        "version": pa.array([1, 1, 3, 2, 1, 1], pa.int32()),
        "status": ["new", "new", "paid", "late-but-older", "new", "again"],
        "_run_id": ["a", "a", "a", "a", "b", "b"],
    }
)


def test_the_ordering_column_decides_then_the_later_record() -> None:
    latest = latest_per_key(ROWS, _table("version"))
    # id 1: version 3 wins over the later record with version 2; id 2: a tie on
    # version goes to the later record; the winners keep their order in the batch.
    assert latest.column("status").to_pylist() == ["paid", "new", "again"]
    assert latest.column("id").to_pylist() == [1, 3, 2]


def test_without_an_ordering_column_the_last_record_wins() -> None:
    latest = latest_per_key(ROWS, _table(None))
    assert sorted(zip(latest.column("id").to_pylist(), latest.column("status").to_pylist(), strict=True)) == [
        (1, "late-but-older"),
        (2, "again"),
        (3, "new"),
    ]
    assert latest_per_key(ROWS.slice(0, 0), _table(None)).num_rows == 0, "a slot of only misfits merges nothing"


def test_the_merge_log_counts_records_and_keys_per_run_even_a_run_without_rows() -> None:
    slots = [
        SlotPartition("2025-03-01", 12, 15),
        SlotPartition("2025-03-01", 12, 30),
        SlotPartition("2025-03-01", 12, 45),
    ]
    log = merge_log_rows(ROWS, _table("version"), slots, ["a", "b", "c"])
    assert log.to_pylist() == [
        {"run_id": "a", "records": 4, "keys": 2, "ds": "2025-03-01", "hr": 12, "min": 15},
        {"run_id": "b", "records": 2, "keys": 2, "ds": "2025-03-01", "hr": 12, "min": 30},
        {"run_id": "c", "records": 0, "keys": 0, "ds": "2025-03-01", "hr": 12, "min": 45},
    ]
