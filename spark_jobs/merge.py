"""The writer of ``write: merge`` tables: upsert by primary key with Iceberg MERGE INTO.

Which version of an entity wins, everywhere by the same order: the ``order_by``
column (when declared), then the slot, then the record's place in the raw pages
(page index, then position). So:

- within one batch (one or more slots), the last record per key by that order is
  kept (lakehouse.transform.merge_rows.latest_per_key, on the driver in Arrow:
  stable and exact);
- against the table, a row is replaced only by a version that is not older by that
  order: ``s.order_by > t.order_by``, or equal and ``s.slot >= t.slot``. A rerun or a
  late backfill of an older slot therefore never overwrites a newer version, and a
  rerun of the same slot writes the same rows again (house rule 4). Rows whose
  ``order_by`` is NULL (written before the column was declared) are always replaced.
- merge never deletes: an entity missing from a later crawl keeps its last version.

Each row keeps the lineage of the version it holds: ``_run_id``, ``_ingested_at`` and
the (ds, hr, min) partition of the slot that delivered it, so the table stays
partitioned by slot and a slot's partition holds one run's rows. Quarantined records
never reach the merge; they go to the quarantine table, replaced per slot as for
overwrite tables. Last, each run's accounting goes to the merge log
(lakehouse.tables.merge_log), which the count check reads.

MERGE INTO is SQL only (the Iceberg session extensions, lakehouse.engines.spark_conf), so the
source is a temporary view and the snapshot summary comes from the session conf
``spark.sql.iceberg.snapshot-property.<key>`` (Iceberg 1.12), set around the statement.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

import pyarrow as pa

from lakehouse.endpoints import Table
from lakehouse.tables.merge_log import MERGE_LOG_DDL
from lakehouse.transform.merge_rows import latest_per_key, merge_log_rows
from spark_jobs.tables import SlotPartition, create_partitioned_table, quote, quote_parts

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

log = logging.getLogger(__name__)

# Frames an Arrow table with a DDL schema (raw_to_table's, so both writers send Arrow alike).
Frame = Callable[["SparkSession", pa.Table, str], "DataFrame"]

_SESSION_SNAPSHOT_PROPERTY = "spark.sql.iceberg.snapshot-property."
_SLOT = "struct({0}.ds, {0}.hr, {0}.`min`)"
_LOG_SCHEMA = f"{MERGE_LOG_DDL}, ds string, hr int, `min` int"


def prepare(spark: SparkSession, table: Table) -> None:
    """Create the table's merge log if missing (the endpoint table is created as for overwrite)."""
    create_partitioned_table(spark, table.merge_log_identifier, MERGE_LOG_DDL, run_id_column="run_id")


def _newer(table: Table) -> str:
    """The MERGE condition: the source version ``s`` is not older than the row ``t``."""
    slot = f"{_SLOT.format('s')} >= {_SLOT.format('t')}"
    if table.order_by is None:
        return slot
    o = quote_parts(table.order_by)
    return f"(t.{o} IS NULL OR s.{o} > t.{o} OR (s.{o} = t.{o} AND {slot}))"


def merge_rows(
    spark: SparkSession, table: Table, rows: pa.Table, frame: Frame, schema: str, summary: Mapping[str, str]
) -> int:
    """Upsert the latest version per key of ``rows`` into the table; returns the keys sent."""
    latest = latest_per_key(rows, table)
    view = f"lakehouse_merge_{uuid.uuid4().hex}"
    frame(spark, latest, schema).createOrReplaceTempView(view)
    on = " AND ".join(f"t.{quote_parts(k)} = s.{quote_parts(k)}" for k in table.primary_key)
    properties = {_SESSION_SNAPSHOT_PROPERTY + key: value for key, value in summary.items()}
    for key, value in properties.items():
        spark.conf.set(key, value)
    try:
        spark.sql(
            f"MERGE INTO {quote(table.identifier)} t USING {quote_parts(view)} s ON {on} "
            f"WHEN MATCHED AND {_newer(table)} THEN UPDATE SET * WHEN NOT MATCHED THEN INSERT *"
        )
    finally:
        for key in properties:
            spark.conf.unset(key)
        spark.catalog.dropTempView(view)
    log.info("%s: merged %d records as %d key(s)", table.identifier, rows.num_rows, latest.num_rows)
    return latest.num_rows


def write_merge_log(
    spark: SparkSession,
    table: Table,
    frame: Frame,
    rows: pa.Table,
    slots: Sequence[SlotPartition],
    run_ids: Sequence[str],
    condition: Column,
) -> None:
    """Replace the batch's slots in the merge log with each run's accounting of ``rows``
    (written last: an entry says its slot's merge and quarantine are written)."""
    (
        frame(spark, merge_log_rows(rows, table, slots, run_ids), _LOG_SCHEMA)
        .writeTo(quote(table.merge_log_identifier))
        .option("distribution-mode", "none")
        .overwrite(condition)
    )
