"""Write a small static reference dataset to ``default.static_data``, replaced each run.

spark-submit spark_jobs/static_data.py [--table default.static_data]
"""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated

import typer

from lakehouse.config.settings import Settings
from spark_jobs.cli import Master, Profile, Remote, Ui, job_app, run_app, run_main, settings_and_options
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


app = job_app(__doc__)


@app.command()
def _static_data(
    table: Annotated[str, typer.Option(help=f"target table (default {DEFAULT_TABLE})", show_default=False)] = (
        DEFAULT_TABLE
    ),
    profile: Profile = None,
    master: Master = None,
    ui: Ui = False,
    remote: Remote = None,
) -> int:
    settings, options = settings_and_options("static_data", profile=profile, master=master, ui=ui, remote=remote)
    spark = build_session(settings, options)
    try:
        run(spark, settings, table)
    finally:
        spark.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_app(app, argv, "static_data")


if __name__ == "__main__":
    run_main(main)
