"""Maintenance on a table with many small files: fewer files, same rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from spark_jobs import maintenance
from spark_jobs.maintenance import MaintenancePolicy
from spark_jobs.tables import create_partitioned_table, quote, slot_partition, with_slot


def _count(spark, sql: str) -> int:
    return spark.sql(sql).first().n


@pytest.mark.parametrize("gc_enabled", [False, True], ids=["nessie-default-gc-off", "gc-on"])
def test_compaction_reduces_files_and_keeps_rows(spark, spark_settings, table_suffix, gc_enabled):
    table = f"default.small_files_{table_suffix}"
    create_partitioned_table(spark, table, "id bigint, v string")
    if gc_enabled:
        spark.sql(f"ALTER TABLE {quote(table)} SET TBLPROPERTIES ('gc.enabled'='true')")
    slot = slot_partition(datetime(2025, 3, 1, 12, 0, tzinfo=UTC))
    # Six small files in one partition, in one commit: six input splits, and no
    # clustering by partition before the write (Iceberg's default would merge them).
    df = spark.createDataFrame([(i, f"v{i}") for i in range(60)], "id bigint, v string").repartition(6)
    with_slot(df, slot).writeTo(quote(table)).option("distribution-mode", "none").append()
    assert _count(spark, f"SELECT count(*) AS n FROM {quote(table)}.files") == 6
    rows_before = sorted(spark.table(quote(table)).collect())

    # A cut-off in the future and retain_last=1: every superseded snapshot may go.
    [result] = maintenance.run(
        spark,
        spark_settings,
        [table],
        MaintenancePolicy(min_input_files=2, expire_older_than=timedelta(0), retain_last=1),
        now=datetime.now(UTC) + timedelta(minutes=1),
    )

    assert (result.rewritten_files, result.added_files) == (6, 1)
    assert _count(spark, f"SELECT count(*) AS n FROM {quote(table)}.files") == 1
    assert sorted(spark.table(quote(table)).collect()) == rows_before
    # Nessie serves metadata with only the current snapshot (history is its commit
    # log), so there is nothing for Iceberg's expiry to remove and no file it may delete.
    assert _count(spark, f"SELECT count(*) AS n FROM {quote(table)}.snapshots") == 1
    assert result.expired_snapshots == 0
    assert result.deleted_data_files == (0 if gc_enabled else None)


def test_a_catalog_listed_name_with_a_backtick_is_compacted_and_injects_nothing(spark, spark_settings, table_suffix):
    """Maintenance feeds the names the catalog lists into SQL. A table whose name holds
    a backtick (with SQL after it), a dot and a space is listed as it is, compacted as
    itself, and the table its name tries to reach is not touched."""
    from spark_jobs.tables import quote_parts

    victim = f"victim_{table_suffix}"
    hostile = f"{victim}` WHERE 1=0 --. odd name"
    for name in (victim, hostile):
        spark.sql(
            f"CREATE TABLE {quote_parts('default', name)} (id bigint, v string, ds string, hr int, `min` int) "
            "USING iceberg PARTITIONED BY (ds, hr, `min`)"
        )
        slot = slot_partition(datetime(2025, 3, 1, 12, 0, tzinfo=UTC))
        df = spark.createDataFrame([(i, f"v{i}") for i in range(60)], "id bigint, v string").repartition(6)
        with_slot(df, slot).writeTo(quote_parts("default", name)).option("distribution-mode", "none").append()

    listed = [t for t in maintenance.list_tables(spark, spark_settings) if t[-1].startswith(victim)]
    assert sorted(listed) == sorted([("default", victim), ("default", hostile)])
    [result] = maintenance.run(
        spark, spark_settings, [("default", hostile)], MaintenancePolicy(min_input_files=2, expire=False)
    )

    assert (result.table, result.rewritten_files, result.added_files) == (f"default.{hostile}", 6, 1)
    files = f"SELECT count(*) AS n FROM {quote_parts('default', hostile, 'files')}"
    assert _count(spark, files) == 1
    assert _count(spark, f"SELECT count(*) AS n FROM {quote_parts('default', victim, 'files')}") == 6
    assert spark.table(quote_parts("default", hostile)).count() == 60
