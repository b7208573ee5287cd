"""The engine-free half of the merge writer: which version per key a batch sends, and
the merge log's accounting of a batch (the MERGE itself is spark_jobs/merge.py's,
which also says the order versions win by)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lakehouse.endpoints import Table
from lakehouse.transform.partitions import SlotPartition

_POSITION = "_position"


def latest_per_key(rows: pa.Table, table: Table) -> pa.Table:
    """One row per primary key: the last by (order_by, position in ``rows``), in the
    order the winners had in ``rows`` (slot order)."""
    indexed = rows.append_column(_POSITION, pa.array(np.arange(rows.num_rows, dtype=np.int64)))
    order = [(table.order_by, "ascending")] if table.order_by else []
    ordered = indexed.sort_by([*order, (_POSITION, "ascending")])
    # use_threads=False: "last" then follows the sorted order exactly.
    winners = ordered.group_by(table.primary_key, use_threads=False).aggregate([(_POSITION, "last")])
    positions = winners.column(f"{_POSITION}_last")
    return rows.take(positions.take(pc.sort_indices(positions)))


def merge_log_rows(rows: pa.Table, table: Table, slots: Sequence[SlotPartition], run_ids: Sequence[str]) -> pa.Table:
    """One merge-log row per run of the batch: its typed records and distinct keys."""
    records = _count_by_run(rows)
    keys = _count_by_run(rows.group_by(["_run_id", *table.primary_key]).aggregate([]))
    return pa.table(
        {
            "run_id": pa.array(run_ids, pa.string()),
            "records": pa.array([records.get(r, 0) for r in run_ids], pa.int64()),
            "keys": pa.array([keys.get(r, 0) for r in run_ids], pa.int64()),
            "ds": pa.array([s.ds for s in slots], pa.string()),
            "hr": pa.array([s.hr for s in slots], pa.int32()),
            "min": pa.array([s.min for s in slots], pa.int32()),
        }
    )


def _count_by_run(rows: pa.Table) -> dict[str, int]:
    counts = rows.group_by("_run_id").aggregate([("_run_id", "count")])
    return dict(zip(counts.column("_run_id").to_pylist(), counts.column("_run_id_count").to_pylist(), strict=True))
