"""Raw pages of complete landings -> the endpoint's typed, slot-partitioned Iceberg table.

    spark-submit spark_jobs/raw_to_table.py --endpoint sandbox_trades --run <prefix or manifest key>
    spark-submit spark_jobs/raw_to_table.py --endpoint sandbox_trades --from 2025-03-01T00:00Z --to 2025-03-02T00:00Z

Writes ``<namespace>.<name>`` (the endpoint's ``table:``) and, for records that do not
fit its columns, ``<namespace>.<name>__quarantine`` with the reason, the raw key and
the record. Both are partitioned by (ds, hr, min); a rerun replaces exactly the
slots it processed, in both tables.

The job is Spark's part and the orchestration: Spark creates and evolves the tables
(and a merge table's merge log), then the engine-free transform (lakehouse/transform)
reads, types and writes the landings through the SlotWriter chosen for the table
(spark_jobs/slot_writers.py). Where the JSON is parsed: in Python on the driver, pages
fetched several at a time off the GIL and checked against the manifest's checksums
before anything is read. The driver-side path gives what the contract needs and
Spark's JSON reader does not: records located by the same JMESPath extractor the
crawler uses (so ``records_path`` means the same thing on both sides), a per-record,
per-column reason for every misfit instead of PERMISSIVE-mode NULLs, and exact
decimals (no float detour). Records are typed into Arrow columns, never Python row
tuples, and written as they are: for overwrite tables by default (``spark.table_writer:
arrow``) as Parquet files by pyarrow, committed through the Iceberg catalog, or handed
to Spark as Arrow tables for its typed, partitioned, atomic write (``spark``, and
always for merge tables).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from lakehouse.config.settings import Settings
from lakehouse.endpoints import EndpointConfig, Table, endpoint_path, load_endpoint
from lakehouse.errors import LakehouseError
from lakehouse.raw.storage import s3_client
from lakehouse.tables.schema_evolution import SUMMARY_KEY, write_properties
from lakehouse.transform.landings import resolve_manifests
from lakehouse.transform.reader import LandingReader
from lakehouse.transform.run import DEFAULT_BATCH_ROWS, TransformResult, write_landings
from lakehouse.transform.threads import WriteThreads
from spark_jobs import merge
from spark_jobs.cli import (
    Master,
    Profile,
    Remote,
    Ui,
    job_app,
    parse_slot,
    run_app,
    run_main,
    settings_and_options,
)
from spark_jobs.session import build_session
from spark_jobs.slot_writers import LINEAGE_DDL, QUARANTINE_DDL, slot_writer
from spark_jobs.table_evolution import evolve_table
from spark_jobs.tables import columns_ddl, create_partitioned_table

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client  # pragma: no cover
    from pyspark.sql import SparkSession

__all__ = ["DEFAULT_BATCH_ROWS", "LINEAGE_DDL", "TransformResult", "main", "run"]


class NoTableDeclaredError(LakehouseError):
    def __init__(self, endpoint: str) -> None:
        super().__init__(
            f"endpoint {endpoint} declares no table: add a `table:` section (namespace, name, "
            f"columns) to config/endpoints/{endpoint}.yaml so raw_to_table knows the schema."
        )


def run(
    spark: SparkSession,
    settings: Settings,
    endpoint: EndpointConfig,
    runs: Sequence[str] = (),
    slot_range: tuple[datetime, datetime] | None = None,
    client: S3Client | None = None,
    batch_rows: int = DEFAULT_BATCH_ROWS,
) -> TransformResult:
    """Transform the landings named by ``runs`` (prefixes or manifest keys) and/or every
    complete landing with a slot start in ``slot_range`` = [start, end).

    Slots are written in batches of about ``batch_rows`` records (whole slots), each
    batch one atomic overwrite of its slots in the table and one in the quarantine."""
    if endpoint.table is None:
        raise NoTableDeclaredError(endpoint.name)
    if not runs and slot_range is None:
        raise ValueError("pass runs (prefixes or manifest keys) or a slot_range")
    table = endpoint.table
    client = client or s3_client(settings.s3)
    manifests = resolve_manifests(client, settings.s3, endpoint.name, runs, slot_range)
    reader = LandingReader(settings.s3, table, endpoint.response_map.records_path)
    result = TransformResult(table=table.identifier, quarantine_table=table.quarantine_identifier)
    result.evolution = prepare_tables(spark, table)
    # Schema changes make no snapshot: the first write records them in its summary.
    summary = {SUMMARY_KEY: result.evolution} if result.evolution else {}
    with WriteThreads() as threads:
        writer = slot_writer(spark, settings, table, threads)
        return write_landings(manifests, reader, writer, threads, result, summary, batch_rows)


def prepare_tables(spark: SparkSession, table: Table) -> str:
    """Create the table, its quarantine table (and a merge table's log) if missing, and
    evolve the table to its declared columns; returns the changes applied."""
    create_partitioned_table(
        spark,
        table.identifier,
        f"{columns_ddl(table)}, {LINEAGE_DDL}",
        run_id_column="_run_id",
        properties=write_properties(table),
    )
    evolution = evolve_table(spark, table.identifier, table).describe()
    create_partitioned_table(spark, table.quarantine_identifier, QUARANTINE_DDL, run_id_column="run_id")
    if table.write == "merge":
        merge.prepare(spark, table)
    return evolution


def endpoint_by_name(name: str, directory: Path | None = None) -> EndpointConfig:
    return load_endpoint(endpoint_path(name, directory))


app = job_app(__doc__)


@app.command()
def _raw_to_table(
    ctx: typer.Context,
    endpoint: Annotated[str, typer.Option(help="endpoint name (config/endpoints/<name>.yaml)")],
    endpoints_dir: Annotated[Path | None, typer.Option(help="directory of endpoint configs")] = None,
    runs: Annotated[
        list[str] | None,
        typer.Option("--run", help="a run's raw prefix or _manifest.json key (s3:// URIs too); repeatable"),
    ] = None,
    start: Annotated[
        datetime | None,
        typer.Option("--from", parser=parse_slot, metavar="TIME", help="backfill: first slot start (inclusive)"),
    ] = None,
    end: Annotated[
        datetime | None,
        typer.Option("--to", parser=parse_slot, metavar="TIME", help="backfill: slot starts before this (exclusive)"),
    ] = None,
    batch_rows: Annotated[
        int,
        typer.Option(help=f"records per write, whole slots only (default {DEFAULT_BATCH_ROWS:,})", show_default=False),
    ] = DEFAULT_BATCH_ROWS,
    profile: Profile = None,
    master: Master = None,
    ui: Ui = False,
    remote: Remote = None,
) -> int:
    if (start is None) != (end is None):
        ctx.fail("--from and --to go together")
    if not runs and start is None:
        ctx.fail("give --run (one or more) or --from/--to")
    settings, options = settings_and_options(
        f"raw_to_table:{endpoint}", profile=profile, master=master, ui=ui, remote=remote
    )
    config = endpoint_by_name(endpoint, endpoints_dir)
    spark = build_session(settings, options)
    try:
        slot_range = (start, end) if start is not None and end is not None else None
        run(spark, settings, config, runs or [], slot_range, batch_rows=batch_rows)
    finally:
        spark.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_app(app, argv, "raw_to_table")


if __name__ == "__main__":
    run_main(main)
