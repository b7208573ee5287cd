"""The (ds, hr, min) partition of a slot, as every slot-partitioned table holds it."""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

import pyarrow as pa

from lakehouse.raw.layout import partition_of

# Every slot-partitioned table ends with these columns, in this order (ARCHITECTURE: Tables).
PARTITION_SCHEMA = pa.schema([("ds", pa.string()), ("hr", pa.int32()), ("min", pa.int32())])


class SlotPartition(NamedTuple):
    ds: str  # YYYY-MM-DD
    hr: int
    min: int


def slot_partition(slot_start: datetime) -> SlotPartition:
    """(ds, hr, min) of a slot, in UTC, from the same function that names raw keys."""
    p = partition_of(slot_start)
    return SlotPartition(p.ds, int(p.hr), int(p.min))
