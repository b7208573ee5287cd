"""The Spark SlotWriters (overwrite, merge), and the one place a table's writer is chosen.

Both hand Spark the batch's Arrow tables as they are (no per-row conversion) for its
typed, partitioned, atomic V2 write. overwrite(<exactly these slots>) rather than
overwritePartitions(): both replace whole (ds, hr, min) partitions, but
overwritePartitions only touches partitions present in the data, so a rerun whose slot
now has no good rows (or no quarantined ones) would leave the previous run's rows behind.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import pyarrow as pa

from lakehouse.config.settings import Settings
from lakehouse.endpoints import Table
from lakehouse.transform.threads import WriteThreads
from lakehouse.transform.writers import ArrowOverwriteWriter, SlotBatch, SlotWriter
from spark_jobs import merge
from spark_jobs.tables import columns_ddl, quote, slots_filter

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

LINEAGE_DDL = "`_run_id` string, `_ingested_at` timestamp"
QUARANTINE_DDL = "reason string, raw_key string, record string, run_id string"


def table_schema(table: Table) -> str:
    return f"{columns_ddl(table)}, {LINEAGE_DDL}, ds string, hr int, `min` int"


def quarantine_schema() -> str:
    return f"{QUARANTINE_DDL}, ds string, hr int, `min` int"


def frame(spark: SparkSession, data: pa.Table, schema: str) -> DataFrame:
    """An Arrow table as a DataFrame: no per-row conversion on the way (classic and Connect)."""
    df = spark.createDataFrame(data.combine_chunks(), schema)
    # Classic Spark makes one partition per Arrow batch (10k rows); a few tasks write
    # fewer, bigger files. The rows are in slot order, so each task holds few slots.
    return df.coalesce(int(spark.conf.get("spark.sql.shuffle.partitions") or 4))


class SparkBatch(SlotBatch):
    def __init__(self, writer: SparkOverwriteWriter) -> None:
        super().__init__()
        self._writer = writer
        self.tables: list[pa.Table] = []
        self.quarantines: list[pa.Table] = []

    def _take(self, rows: pa.Table, quarantine: pa.Table) -> None:
        self.tables.append(rows)
        self.quarantines.append(quarantine)

    def write(self) -> None:
        self._writer.write(self)

    def discard(self) -> None:
        """Nothing was written: the rows are only held here."""


class SparkOverwriteWriter:
    """Overwrite tables through Spark's V2 writer (``spark.table_writer: spark``)."""

    name = "spark"

    def __init__(self, spark: SparkSession, table: Table) -> None:
        self.spark = spark
        self.table = table
        self.write_seconds = 0.0  # in the write thread only

    def open_batch(self) -> SparkBatch:
        return SparkBatch(self)

    def write(self, batch: SparkBatch) -> None:
        t0 = time.monotonic()
        condition = slots_filter(batch.slots)
        rows = pa.concat_tables(batch.tables)
        quarantine = pa.concat_tables(batch.quarantines)
        batch.tables, batch.quarantines = [], []
        self._write_rows(batch, rows, condition)
        (
            frame(self.spark, quarantine, quarantine_schema())
            .writeTo(quote(self.table.quarantine_identifier))
            .option("distribution-mode", "none")
            .overwrite(condition)
        )
        self._after_quarantine(batch, rows, condition)
        self.write_seconds += time.monotonic() - t0

    def _write_rows(self, batch: SparkBatch, rows: pa.Table, condition: Column) -> None:
        # Rows already sit in slot order: no shuffle into the table's partitioning (also a
        # table property of new tables; given here for tables created before it).
        writer = frame(self.spark, rows, table_schema(self.table)).writeTo(quote(self.table.identifier))
        for key, value in batch.summary.items():
            writer = writer.option(f"snapshot-property.{key}", value)
        writer.option("distribution-mode", "none").overwrite(condition)

    def _after_quarantine(self, batch: SparkBatch, rows: pa.Table, condition: Column) -> None:
        """Nothing for an overwrite table."""


class SparkMergeWriter(SparkOverwriteWriter):
    """``write: merge`` tables: MERGE INTO by primary key (spark_jobs/merge.py), then the merge log."""

    def _write_rows(self, batch: SparkBatch, rows: pa.Table, condition: Column) -> None:
        merge.merge_rows(self.spark, self.table, rows, frame, table_schema(self.table), batch.summary)

    def _after_quarantine(self, batch: SparkBatch, rows: pa.Table, condition: Column) -> None:
        # Last: a slot's log entry says its merge and quarantine are written.
        merge.write_merge_log(self.spark, self.table, frame, rows, batch.slots, batch.run_ids, condition)


WriterFactory = Callable[["SparkSession", Settings, Table, WriteThreads], SlotWriter]

# Overwrite tables: by settings ``spark.table_writer``.
OVERWRITE_WRITERS: dict[str, WriterFactory] = {
    "arrow": lambda spark, settings, table, threads: ArrowOverwriteWriter(settings, table, threads),
    "spark": lambda spark, settings, table, threads: SparkOverwriteWriter(spark, table),
}


def slot_writer(spark: SparkSession, settings: Settings, table: Table, threads: WriteThreads) -> SlotWriter:
    """The writer of ``table``: the one place it is chosen. Merge tables always go
    through Spark's MERGE INTO; overwrite tables by ``spark.table_writer``."""
    if table.write == "merge":
        return SparkMergeWriter(spark, table)
    return OVERWRITE_WRITERS[settings.spark.table_writer](spark, settings, table, threads)
