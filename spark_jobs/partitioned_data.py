"""Write the static dataset into one slot's partition of ``default.partitioned_data``.

    spark-submit spark_jobs/partitioned_data.py --slot 2025-03-01T12:15:00Z

Rerunning a slot replaces exactly that slot's (ds, hr, min) partition.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING

from lakehouse.config.settings import Settings
from spark_jobs.cli import base_parser, parse_slot, run_main, settings_and_options
from spark_jobs.session import build_session
from spark_jobs.static_data import ROWS, SCHEMA, static_frame
from spark_jobs.tables import create_partitioned_table, quote, slot_partition, with_slot

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)

DEFAULT_TABLE = "default.partitioned_data"


def run(spark: SparkSession, settings: Settings, slot_start: datetime, table: str = DEFAULT_TABLE) -> int:
    """Overwrite the slot's partition of ``table`` with the static rows."""
    create_partitioned_table(spark, table, SCHEMA)
    slot = slot_partition(slot_start)
    df = with_slot(static_frame(spark), slot)
    # DataFrameWriterV2 resolves the catalog table and its spec. The V1 path
    # (write.format("iceberg").saveAsTable) wrote NULL partition values in the seed.
    df.writeTo(quote(table)).overwritePartitions()
    log.info("replaced partition %s of %s with %d rows", slot, table, len(ROWS))
    return len(ROWS)


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--slot", type=parse_slot, required=True, help="slot start, e.g. 2025-03-01T12:15:00Z")
    parser.add_argument("--table", default=DEFAULT_TABLE, help=f"target table (default {DEFAULT_TABLE})")
    args = parser.parse_args(argv)
    settings, options = settings_and_options(args, "partitioned_data")
    spark = build_session(settings, options)
    try:
        run(spark, settings, args.slot, args.table)
    finally:
        spark.stop()
    return 0


if __name__ == "__main__":
    run_main(main)
