"""Names every notebook kernel in the Compose deployment starts with.

    settings              the docker profile's settings (secrets masked when printed)
    catalog()             pyiceberg's REST client for Nessie
    spark()               a SparkSession on the standalone cluster; master, catalog and
                          jars come from $SPARK_CONF_DIR/spark-defaults.conf
    duckdb_table(name)    an Iceberg table scanned into DuckDB, e.g.
                          duckdb_table("scraper.signals").sql("select count(*) from scraper_signals")

Nothing connects at kernel start: each helper connects on first use, so a notebook
opens even while Nessie or Spark is restarting.
"""

from functools import cache

from lakehouse.settings import load_settings

settings = load_settings()


@cache
def catalog():
    from lakehouse.catalog import load_catalog

    return load_catalog(settings)


@cache
def spark():
    from pyspark.sql import SparkSession

    return SparkSession.builder.appName("jupyter").getOrCreate()


def duckdb_table(identifier: str, connection=None):
    """Scan `identifier` with pyiceberg and register it in DuckDB as `ns_table`."""
    import duckdb

    connection = connection or duckdb.connect()
    table = catalog().load_table(identifier)
    return table.scan().to_duckdb(table_name=identifier.replace(".", "_"), connection=connection)
