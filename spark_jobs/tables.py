"""Iceberg table helpers shared by the jobs: identifiers, column DDL, slot partitions, creation."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from lakehouse.endpoints import Column as DeclaredColumn
from lakehouse.endpoints import Table

# Re-exported: every job here partitions by the engine-free transform's slot partition.
from lakehouse.transform.partitions import SlotPartition as SlotPartition
from lakehouse.transform.partitions import slot_partition as slot_partition

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

# Every slot-partitioned table ends with these, in this order (docs/architecture.md: Tables).
PARTITION_DDL = "ds string, hr int, min int"
PARTITION_COLUMNS: tuple[str, ...] = ("ds", "hr", "min")

# Format v2 for row-level deletes; zstd keeps small slot files smaller than gzip does.
# Distribution "none": writers get rows already grouped by slot, and Iceberg's default
# (hash) shuffles every write into spark.sql.shuffle.partitions tasks first; a 1M-row
# Arrow write took 13 s with it and 2-4 s without on 2 cores (benchmarks/transform_bench.py).
TABLE_PROPERTIES: dict[str, str] = {
    "format-version": "2",
    "write.parquet.compression-codec": "zstd",
    "write.distribution-mode": "none",
    # Concurrent slots of one table (a backfill) commit at once; each retry re-applies
    # the slot's overwrite on the refreshed table.
    "commit.retry.num-retries": "10",
    "commit.retry.min-wait-ms": "100",
    "commit.retry.max-wait-ms": "5000",
}


def run_id_metrics(column: str) -> dict[str, str]:
    """Full (untruncated) bounds for a table's run-id column, so the count check can
    prove from manifest statistics alone that a slot's files hold only one run
    (lakehouse.pipeline.steps.run_rows); Iceberg's default truncates strings to 16 chars."""
    return {f"write.metadata.metrics.column.{column}": "full"}


# The Spark SQL type of each endpoint column type (decimal(p,s) is spelled alike);
# its Arrow type and conversions are lakehouse/transform/conversions.py's.
SPARK_TYPES: dict[str, str] = {
    "string": "string",
    "int": "int",
    "long": "bigint",
    "double": "double",
    "boolean": "boolean",
    "date": "date",
    "timestamp": "timestamp",
}


def spark_type(column: DeclaredColumn) -> str:
    return column.type if column.decimal else SPARK_TYPES[column.type]


def columns_ddl(table: Table) -> str:
    return ", ".join(f"{quote_parts(c.name)} {spark_type(c)}" for c in table.columns)


# Every name that goes into Spark SQL text (a statement, or an identifier string that
# Spark parses: spark.table, writeTo, a procedure's table argument) goes through
# quote_parts, and every string value through sql_string. Names from a config are
# validated, but the catalog can list any name, and maintenance feeds listed names in.


def quote_parts(*parts: str) -> str:
    """`a`.`b` from the parts exactly as given: a backtick inside is doubled (Spark's
    escape inside a backtick-quoted identifier), a dot stays part of its name."""
    if not parts:
        raise ValueError("quote_parts needs at least one part")
    return ".".join("`" + part.replace("`", "``") + "`" for part in parts)


def quote(identifier: str) -> str:
    """`ns`.`name` of a dotted identifier whose parts hold no dot (config-validated
    names; ``default`` and ``min`` are SQL keywords, so always quote). A name listed
    by the catalog may hold a dot: quote its parts with quote_parts."""
    return quote_parts(*identifier.split("."))


def sql_string(text: str) -> str:
    """A Spark SQL string literal (backslash escapes are Spark's default parsing)."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def table_exists(spark: SparkSession, identifier: str) -> bool:
    return bool(spark.catalog.tableExists(identifier))


def create_partitioned_table(
    spark: SparkSession,
    identifier: str,
    columns_ddl: str,
    run_id_column: str | None = None,
    properties: Mapping[str, str] | None = None,
) -> None:
    """Create the table partitioned by (ds, hr, min) with identity transforms, if missing.

    Created by DDL rather than by the first write, so the partition spec is declared
    once and every write goes through DataFrameWriterV2 against a known spec.
    """
    every = {**TABLE_PROPERTIES, **(run_id_metrics(run_id_column) if run_id_column else {}), **(properties or {})}
    props = ", ".join(f"{sql_string(k)}={sql_string(v)}" for k, v in every.items())
    spark.sql(
        f"CREATE TABLE IF NOT EXISTS {quote(identifier)} ({columns_ddl}, {PARTITION_DDL}) "
        f"USING iceberg PARTITIONED BY (ds, hr, `min`) TBLPROPERTIES ({props})"
    )


def with_slot(df: DataFrame, slot: SlotPartition) -> DataFrame:
    from pyspark.sql import functions as F

    return (
        df.withColumn("ds", F.lit(slot.ds))
        .withColumn("hr", F.lit(slot.hr).cast("int"))
        .withColumn("min", F.lit(slot.min).cast("int"))
    )


def slots_filter(slots: list[SlotPartition]) -> Column:
    """A predicate matching exactly the rows of ``slots`` (one OR term per slot)."""
    from functools import reduce

    from pyspark.sql import functions as F

    if not slots:
        raise ValueError("slots_filter needs at least one slot")
    terms = [(F.col("ds") == s.ds) & (F.col("hr") == s.hr) & (F.col("min") == s.min) for s in dict.fromkeys(slots)]
    return reduce(lambda a, b: a | b, terms)
