"""The merge log of a ``write: merge`` table: what each run delivered, for the count check.

An overwrite table proves a slot complete by counting: the slot's rows plus its
quarantined records equal the manifest's records. A merge table cannot: a run's
records collapse to one row per key, and a newer version from another slot may
replace them later. So the transform writes one row per run into
``<table>__merge_log`` (partitioned by slot like the quarantine table, replaced per
slot on a rerun): ``records``, the typed records the run delivered, and ``keys``, how
many distinct keys they held. The count check (lakehouse.pipeline.steps.check_table_counts)
then proves ``records + quarantined == manifest records`` and that the table holds at
most ``keys`` rows of the run (more would be duplicate keys). The Spark job
(spark_jobs/merge.py) writes the log with the columns below; this module reads it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from lakehouse.errors import LakehouseError
from lakehouse.raw.layout import partition_of
from lakehouse.tables.catalog import equal_to, slot_filter

if TYPE_CHECKING:
    from pyiceberg.catalog import Catalog

    from lakehouse.endpoints import Table

#: Columns of the merge log before the (ds, hr, min) partition columns.
MERGE_LOG_DDL = "run_id string, records bigint, keys bigint"


@dataclass(frozen=True)
class MergeLogEntry:
    run_id: str
    records: int
    keys: int


class MergeCountMismatchError(LakehouseError):
    def __init__(
        self, table: str, run_id: str, expected: int, entry: MergeLogEntry, quarantined: int, held: int
    ) -> None:
        super().__init__(
            f"{table} (a merge table): run {run_id} delivered {entry.records} records with {entry.keys} distinct "
            f"key(s) (+{quarantined} quarantined) and the table holds {held} row(s) of it; its manifest has "
            f"{expected} records, and a run can hold at most one row per key. Rerun the transform task; if it "
            "persists, compare the raw pages with the merge log."
        )


class MergeLogMissingError(LakehouseError):
    def __init__(self, table: str, run_id: str) -> None:
        super().__init__(
            f"{table} has no merge-log entry for run {run_id}: its transform has not finished (the log is "
            "written after the merge). Run the transform task (or `raw_to_table`) for the slot."
        )


def read_entry(catalog: Catalog, table: Table, run_id: str, slot_start: datetime) -> MergeLogEntry | None:
    """The run's entry in the table's merge log, or None when there is none."""
    from pyiceberg.exceptions import NoSuchTableError
    from pyiceberg.expressions import And

    try:
        log = catalog.load_table(table.merge_log_identifier)
    except NoSuchTableError:
        return None
    p = partition_of(slot_start)
    rows = (
        log.scan(
            row_filter=And(slot_filter(p.ds, int(p.hr), int(p.min)), equal_to("run_id", run_id)),
            selected_fields=("records", "keys"),
        )
        .to_arrow()
        .to_pylist()
    )
    if not rows:
        return None
    return MergeLogEntry(run_id, int(rows[0]["records"]), int(rows[0]["keys"]))


def check(table: str, run_id: str, expected: int, entry: MergeLogEntry, quarantined: int, held: int) -> None:
    """Raise MergeCountMismatchError unless the run's accounting adds up."""
    if entry.records + quarantined != expected or not held <= entry.keys <= entry.records:
        raise MergeCountMismatchError(table, run_id, expected, entry, quarantined, held)
