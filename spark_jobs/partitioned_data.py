"""Write the static dataset into one slot's partition of ``default.partitioned_data``.

    spark-submit spark_jobs/partitioned_data.py --slot 2025-03-01T12:15:00Z

Rerunning a slot replaces exactly that slot's (ds, hr, min) partition.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import typer

from lakehouse.config.settings import Settings
from spark_jobs.cli import Master, Profile, Remote, Ui, job_app, parse_slot, run_app, run_main, settings_and_options
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


app = job_app(__doc__)


@app.command()
def _partitioned_data(
    slot: Annotated[
        datetime,
        typer.Option(parser=parse_slot, metavar="TIME", help="slot start, e.g. 2025-03-01T12:15:00Z"),
    ],
    table: Annotated[str, typer.Option(help=f"target table (default {DEFAULT_TABLE})", show_default=False)] = (
        DEFAULT_TABLE
    ),
    profile: Profile = None,
    master: Master = None,
    ui: Ui = False,
    remote: Remote = None,
) -> int:
    settings, options = settings_and_options("partitioned_data", profile=profile, master=master, ui=ui, remote=remote)
    spark = build_session(settings, options)
    try:
        run(spark, settings, slot, table)
    finally:
        spark.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_app(app, argv, "partitioned_data")


if __name__ == "__main__":
    run_main(main)
