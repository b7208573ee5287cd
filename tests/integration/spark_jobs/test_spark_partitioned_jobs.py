"""static_data and partitioned_data on the real catalog: partitions, reruns, readers."""

from __future__ import annotations

from datetime import UTC, datetime

import psutil

from lakehouse.tables.catalog import load_catalog
from spark_jobs import partitioned_data, static_data
from spark_jobs.tables import quote

SLOT_A = datetime(2025, 3, 1, 12, 15, tzinfo=UTC)
SLOT_B = datetime(2025, 3, 1, 12, 30, tzinfo=UTC)


def _files(spark, table: str) -> dict[str, tuple[str, int, int]]:
    rows = spark.sql(f"SELECT file_path, partition FROM {quote(table)}.files").collect()
    return {r.file_path: (r.partition.ds, r.partition.hr, r.partition.min) for r in rows}


def test_static_data_is_replaced_not_appended(spark, spark_settings, table_suffix):
    table = f"default.static_data_{table_suffix}"
    assert static_data.run(spark, spark_settings, table) == len(static_data.ROWS)
    static_data.run(spark, spark_settings, table)
    rows = spark.table(quote(table)).orderBy("symbol").collect()
    assert len(rows) == len(static_data.ROWS)
    assert {r.symbol for r in rows} == {r[0] for r in static_data.ROWS}


def test_partitions_table_shows_real_slot_values(spark, spark_settings, table_suffix):
    table = f"default.partitioned_{table_suffix}"
    partitioned_data.run(spark, spark_settings, SLOT_A, table)
    partitioned_data.run(spark, spark_settings, SLOT_B, table)
    parts = {
        (r.partition.ds, r.partition.hr, r.partition.min)
        for r in spark.sql(f"SELECT partition FROM {quote(table)}.partitions").collect()
    }
    assert parts == {("2025-03-01", 12, 15), ("2025-03-01", 12, 30)}


def test_rerun_replaces_only_its_partition(spark, spark_settings, table_suffix):
    table = f"default.rerun_{table_suffix}"
    partitioned_data.run(spark, spark_settings, SLOT_A, table)
    partitioned_data.run(spark, spark_settings, SLOT_B, table)
    before = _files(spark, table)
    rows_b_before = sorted(spark.table(quote(table)).where("`min` = 30").collect())

    partitioned_data.run(spark, spark_settings, SLOT_A, table)

    after = _files(spark, table)
    untouched = {p for p, part in before.items() if part[2] == 30}
    assert untouched and untouched <= set(after), "slot B's files must survive a rerun of slot A"
    replaced_a = {p for p, part in before.items() if part[2] == 15}
    new_a = {p for p, part in after.items() if part[2] == 15}
    assert new_a and not (new_a & replaced_a), "slot A's partition must hold freshly written files"
    assert sorted(spark.table(quote(table)).where("`min` = 30").collect()) == rows_b_before
    counts = {r["min"]: r["count"] for r in spark.table(quote(table)).groupBy("min").count().collect()}
    assert counts == {15: len(static_data.ROWS), 30: len(static_data.ROWS)}


def test_pyiceberg_and_duckdb_read_the_same_rows(spark, spark_settings, table_suffix):
    table = f"default.readers_{table_suffix}"
    partitioned_data.run(spark, spark_settings, SLOT_A, table)
    spark_rows = sorted((r.symbol, r.tick_size, r.ds, r.hr, r["min"]) for r in spark.table(quote(table)).collect())

    scan = load_catalog(spark_settings).load_table(table).scan()
    arrow = scan.to_arrow()
    columns = ("symbol", "tick_size", "ds", "hr", "min")
    ice_rows = sorted(zip(*(arrow.column(c).to_pylist() for c in columns), strict=True))
    assert ice_rows == spark_rows

    # DuckDB's iceberg extension is downloaded at run time (impossible offline), so
    # DuckDB reads the files pyiceberg planned, as an Arrow-backed view.
    con = scan.to_duckdb("t")
    duck_rows = sorted(con.execute('SELECT symbol, tick_size, ds, hr, "min" FROM t').fetchall())
    assert duck_rows == spark_rows


def test_s3_secret_stays_out_of_spark_conf_and_process_args(spark, spark_settings):
    _, secret = spark_settings.s3.require_credentials()
    assert secret not in spark.sparkContext.getConf().toDebugString()
    jvm_args = [" ".join(p.cmdline()) for p in psutil.Process().children(recursive=True) if "java" in p.name()]
    assert jvm_args, "expected the driver JVM as a child of the test process"
    assert all(secret not in args for args in jvm_args)
