"""Write a small static reference dataset to ``default.static_data``, replaced each run.

spark-submit spark_jobs/static_data.py [--table default.static_data]
"""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import TYPE_CHECKING

from lakehouse.config.settings import Settings
from spark_jobs.cli import base_parser, run_main, settings_and_options
from spark_jobs.session import build_session
from spark_jobs.tables import TABLE_PROPERTIES, quote

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)

DEFAULT_TABLE = "default.static_data"

# Trading pairs the sandbox serves: stable reference data that joins to the trades.
SCHEMA = "symbol string, base_asset string, quote_asset string, tick_size decimal(18,8), listed boolean"
ROWS: tuple[tuple[str, str, str, Decimal, bool], ...] = (
    ("BTCUSDT", "BTC", "USDT", Decimal("0.01000000"), True),
    ("ETHUSDT", "ETH", "USDT", Decimal("0.01000000"), True),
    ("SOLUSDT", "SOL", "USDT", Decimal("0.00100000"), True),
    ("ETHBTC", "ETH", "BTC", Decimal("0.00000100"), True),
    ("DOGEUSDT", "DOGE", "USDT", Decimal("0.00001000"), False),
)


def static_frame(spark: SparkSession) -> DataFrame:
    return spark.createDataFrame(list(ROWS), SCHEMA)


def run(spark: SparkSession, settings: Settings, table: str = DEFAULT_TABLE) -> int:
    """Replace ``table`` with the static rows; returns the row count written."""
    df = static_frame(spark)
    # createOrReplace is one atomic REPLACE TABLE commit: readers see the old rows or
    # the new ones, never an empty table, and the table keeps its snapshot history.
    writer = df.writeTo(quote(table)).using("iceberg")
    for key, value in TABLE_PROPERTIES.items():
        writer = writer.tableProperty(key, value)
    writer.createOrReplace()
    log.info("wrote %d rows to %s", len(ROWS), table)
    return len(ROWS)


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--table", default=DEFAULT_TABLE, help=f"target table (default {DEFAULT_TABLE})")
    args = parser.parse_args(argv)
    settings, options = settings_and_options(args, "static_data")
    spark = build_session(settings, options)
    try:
        run(spark, settings, args.table)
    finally:
        spark.stop()
    return 0


if __name__ == "__main__":
    run_main(main)
