"""Raw pages of complete landings -> the endpoint's typed, slot-partitioned Iceberg table.

    spark-submit spark_jobs/raw_to_table.py --endpoint sandbox_trades --run <prefix or manifest key>
    spark-submit spark_jobs/raw_to_table.py --endpoint sandbox_trades --from 2025-03-01T00:00Z --to 2025-03-02T00:00Z

Writes ``<namespace>.<name>`` (the endpoint's ``table:``) and, for records that do not
fit its columns, ``<namespace>.<name>__quarantine`` with the reason, the raw key and
the record. Both are partitioned by (ds, hr, min); a rerun replaces exactly the
slots it processed, in both tables.

Where the JSON is parsed: in Python on the driver, pages fetched by
spark_jobs.page_fetch (pyarrow's S3 filesystem, several at a time, off the GIL) and
checked against the manifest's checksums before anything is read. The driver-side
path gives what the contract needs and Spark's JSON reader does not: records
located by the same JMESPath extractor the crawler uses (so ``records_path`` means
the same thing on both sides), a per-record, per-column reason for every misfit
instead of PERMISSIVE-mode NULLs, and exact decimals (no float detour). Records are
typed into Arrow columns (spark_jobs.records.ArrowTyper), never Python row tuples,
and are written as they are: for overwrite tables by default (``spark.table_writer:
arrow``) as Parquet files by pyarrow, committed through the Iceberg catalog
(spark_jobs.arrow_writer), or handed to Spark as Arrow tables for its typed,
partitioned, atomic write (``spark``, and always for merge tables). Spark creates and
evolves the tables either way.

Memory stays bounded on a long range: slots are typed and written in batches of
about ``batch_rows`` records (whole slots only), each batch one
overwrite of exactly its slots in the table and one in its quarantine table (one
catalog commit each), so a slot's partition is always replaced whole and at once.
The next batch is read and typed while the previous one is written (one write in
flight, writes in slot order); with the arrow writer each slot's Parquet files are
written as soon as the slot is typed, while the next one is read, and the batch's
commit only swaps them in. A rerun of the range converges on the same rows (house
rule 4) even if it stopped between two batches.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

from lakehouse.config.settings import Settings
from lakehouse.endpoints import EndpointConfig, Table, endpoint_path, load_endpoint
from lakehouse.errors import LakehouseError
from lakehouse.raw.layout import Manifest
from lakehouse.raw.storage import s3_client
from lakehouse.tables.schema_evolution import SUMMARY_KEY, write_properties
from spark_jobs import merge
from spark_jobs.arrow_json import FastPageBatch
from spark_jobs.arrow_writer import ArrowSlotWriter
from spark_jobs.cli import base_parser, parse_slot, run_main, settings_and_options
from spark_jobs.page_fetch import PageFetcher
from spark_jobs.raw_reader import (
    latest_per_slot,
    manifest_key_for,
    manifest_keys_in_range,
    read_manifest,
)
from spark_jobs.records import TIMESTAMP, ArrowTyper, columns_ddl, gc_paused, page_problem
from spark_jobs.session import build_session
from spark_jobs.table_evolution import evolve_table
from spark_jobs.tables import (
    SlotPartition,
    create_partitioned_table,
    quote,
    slot_partition,
    slots_filter,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client  # pragma: no cover
    from pyiceberg.manifest import DataFile
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)

LINEAGE_DDL = "`_run_id` string, `_ingested_at` timestamp"
QUARANTINE_DDL = "reason string, raw_key string, record string, run_id string"
QUARANTINE_SCHEMA = pa.schema(
    [("reason", pa.string()), ("raw_key", pa.string()), ("record", pa.string()), ("run_id", pa.string())]
)
PARTITION_SCHEMA = pa.schema([("ds", pa.string()), ("hr", pa.int32()), ("min", pa.int32())])
# Records per write (whole slots only: a bigger slot is written alone). About 100-200 MB
# of Arrow on the driver for typical records, and as much again in the JVM on its way
# to the writer; Spark's 1M-row Arrow writes run at full speed from this size up.
DEFAULT_BATCH_ROWS = 1_000_000
# Slots per write: bounds the OR-filter of one overwrite on a range of tiny slots.
MAX_SLOTS_PER_WRITE = 192
# Threads writing the arrow writer's Parquet files (pyarrow encodes and uploads off the
# GIL): a slot's files are written while the next slot is typed.
FILE_THREADS = 2


class NoTableDeclaredError(LakehouseError):
    def __init__(self, endpoint: str) -> None:
        super().__init__(
            f"endpoint {endpoint} declares no table: add a `table:` section (namespace, name, "
            f"columns) to config/endpoints/{endpoint}.yaml so raw_to_table knows the schema."
        )


class EndpointMismatchError(LakehouseError):
    def __init__(self, key: str, found: str, expected: str) -> None:
        super().__init__(
            f"{key} is a landing of endpoint {found}, not {expected}: pass --endpoint {found}, "
            "or the prefix of a run of the endpoint you meant."
        )


@dataclass
class TransformResult:
    table: str
    quarantine_table: str
    run_ids: list[str] = field(default_factory=list)
    slots: list[SlotPartition] = field(default_factory=list)
    rows: int = 0
    quarantined: int = 0
    read_seconds: float = 0.0  # fetching, checking and typing pages
    write_seconds: float = 0.0  # the table and quarantine overwrites (Parquet files and commits)
    writer: str = "spark"  # who wrote the table: "arrow" or "spark" (settings spark.table_writer)
    evolution: str = ""  # the schema changes applied before writing (lakehouse.tables.schema_evolution)


def _resolve_manifests(
    client: S3Client,
    settings: Settings,
    endpoint: EndpointConfig,
    runs: Sequence[str],
    slot_range: tuple[datetime, datetime] | None,
) -> list[Manifest]:
    bucket = settings.s3.bucket
    keys = [manifest_key_for(ref, bucket) for ref in runs]
    if slot_range is not None:
        keys += manifest_keys_in_range(client, settings.s3, endpoint.name, *slot_range)
    manifests = []
    for key in dict.fromkeys(keys):
        manifest = read_manifest(client, bucket, key)
        if manifest.endpoint != endpoint.name:
            raise EndpointMismatchError(key, manifest.endpoint, endpoint.name)
        manifests.append(manifest)
    return latest_per_slot(manifests)


@dataclass
class SlotBatch:
    """Typed rows and quarantine rows of one or more whole slots, as Arrow, ready to write."""

    slots: list[SlotPartition] = field(default_factory=list)
    run_ids: list[str] = field(default_factory=list)
    tables: list[pa.Table] = field(default_factory=list)
    quarantines: list[pa.Table] = field(default_factory=list)
    # The arrow writer's data files, being written (instead of tables/quarantines).
    files: list[Future[list[DataFile]]] = field(default_factory=list)
    quarantine_files: list[Future[list[DataFile]]] = field(default_factory=list)
    rows: int = 0
    quarantined: int = 0
    summary: dict[str, str] = field(default_factory=dict)  # snapshot-summary entries of its write
    submitted: bool = False  # handed to _write, which commits its files or deletes them


def _constant(value: object, n: int, arrow_type: pa.DataType) -> pa.Array:
    return pa.array([value], arrow_type).take(pa.array(np.zeros(n, dtype=np.int32)))


def _slot_columns(n: int, slot: SlotPartition) -> list[pa.Array]:
    return [_constant(slot.ds, n, pa.string()), _constant(slot.hr, n, pa.int32()), _constant(slot.min, n, pa.int32())]


def _read_landing(
    fetcher: PageFetcher, typer: ArrowTyper, manifest: Manifest, records_path: str
) -> tuple[pa.Table, pa.Table]:
    """One landing -> (its typed rows with lineage and partition columns, its quarantine rows)."""
    batch = FastPageBatch(typer, records_path)
    for page, fetched in zip(manifest.pages, fetcher.pages(manifest.pages, batch.prepare), strict=True):
        if fetched.body is None:
            batch.add_problem(page_problem(page.key, "page listed in the manifest is missing from the bucket"))
        elif not fetched.checksum_ok:
            # Another crawl of this slot may be overwriting the pages right now; these
            # bytes are not the ones the manifest vouches for.
            batch.add_problem(
                page_problem(
                    page.key,
                    "page sha256 differs from the manifest (overwritten by a later crawl?)",
                    fetched.body.decode("utf-8", errors="replace"),
                )
            )
        else:
            batch.add_page(page.key, fetched.body, fetched.prepared)
    typed = batch.finish()
    slot = slot_partition(manifest.slot_start)
    n = typed.table.num_rows
    # _ingested_at is when the landing completed, not when this job ran, so a rerun
    # of a slot writes identical rows (house rule 4).
    rows = typed.table
    for name, column in (
        ("_run_id", _constant(manifest.run_id, n, pa.string())),
        ("_ingested_at", _constant(manifest.finished_at, n, TIMESTAMP)),
    ):
        rows = rows.append_column(name, column)
    for name, column in zip(PARTITION_SCHEMA.names, _slot_columns(n, slot), strict=True):
        rows = rows.append_column(name, column)
    q = typed.quarantined
    quarantine = pa.Table.from_arrays(
        [
            pa.array([e.reason for e in q], pa.string()),
            pa.array([e.raw_key for e in q], pa.string()),
            pa.array([e.record for e in q], pa.string()),
            _constant(manifest.run_id, len(q), pa.string()),
            *_slot_columns(len(q), slot),
        ],
        schema=pa.schema([*QUARANTINE_SCHEMA, *PARTITION_SCHEMA]),
    )
    return rows, quarantine


def _table_schema(table: Table) -> str:
    return f"{columns_ddl(table)}, {LINEAGE_DDL}, ds string, hr int, `min` int"


def _quarantine_schema() -> str:
    return f"{QUARANTINE_DDL}, ds string, hr int, `min` int"


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
    manifests = _resolve_manifests(client, settings, endpoint, runs, slot_range)
    typer = ArrowTyper(table)
    fetcher = PageFetcher(settings.s3)
    result = TransformResult(table=table.identifier, quarantine_table=table.quarantine_identifier)

    create_partitioned_table(
        spark,
        table.identifier,
        f"{columns_ddl(table)}, {LINEAGE_DDL}",
        run_id_column="_run_id",
        properties=write_properties(table),
    )
    result.evolution = evolve_table(spark, table.identifier, table).describe()
    # Schema changes make no snapshot: the first write records them in its summary.
    summary = {SUMMARY_KEY: result.evolution} if result.evolution else {}
    create_partitioned_table(spark, result.quarantine_table, QUARANTINE_DDL, run_id_column="run_id")
    if table.write == "merge":
        merge.prepare(spark, table)
    arrow = ArrowSlotWriter(settings) if table.write != "merge" and settings.spark.table_writer == "arrow" else None
    result.writer = "arrow" if arrow is not None else "spark"

    # One write in flight while the next batch is read and typed (Spark works in its
    # JVM meanwhile); batches are written one after another, in slot order, so at most
    # two batches are held at once.
    with (
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="raw-write") as writer,
        ThreadPoolExecutor(max_workers=FILE_THREADS, thread_name_prefix="raw-files") as file_writer,
    ):
        in_flight: Future[None] | None = None
        pending: deque[Future[list[DataFile]]] = deque()

        def flush(done: SlotBatch) -> None:
            nonlocal in_flight, summary
            if in_flight is not None:
                in_flight.result()
            done.summary, summary = summary, {}
            in_flight = writer.submit(_write, spark, table, result, done, arrow)
            done.submitted = True

        batch = SlotBatch()
        try:
            for manifest in manifests:
                t0 = time.monotonic()
                with gc_paused():  # over the whole landing: see records.gc_paused
                    rows, quarantine = _read_landing(fetcher, typer, manifest, endpoint.response_map.records_path)
                result.read_seconds += time.monotonic() - t0
                slot = slot_partition(manifest.slot_start)
                log.info(
                    "%s: %d rows, %d quarantined (slot %s)", manifest.run_id, rows.num_rows, quarantine.num_rows, slot
                )
                if batch.slots and (
                    batch.rows + batch.quarantined + rows.num_rows + quarantine.num_rows > batch_rows
                    or len(batch.slots) >= MAX_SLOTS_PER_WRITE
                ):
                    flush(batch)
                    batch = SlotBatch()
                batch.slots.append(slot)
                batch.run_ids.append(manifest.run_id)
                if arrow is not None:
                    # Bounded: at most a few slots' rows wait for their files at once.
                    while len(pending) >= 2 * FILE_THREADS:
                        pending.popleft().exception()
                    batch.files.append(file_writer.submit(arrow.write_files, table.identifier, rows))
                    batch.quarantine_files.append(
                        file_writer.submit(arrow.write_files, result.quarantine_table, quarantine)
                    )
                    pending.extend(batch.files[-1:] + batch.quarantine_files[-1:])
                else:
                    batch.tables.append(rows)
                    batch.quarantines.append(quarantine)
                batch.rows += rows.num_rows
                batch.quarantined += quarantine.num_rows
                result.run_ids.append(manifest.run_id)
            if batch.slots:
                flush(batch)
            if in_flight is not None:
                in_flight.result()
        except BaseException:
            if arrow is not None and not batch.submitted:
                # Its files are written or being written, and no commit will take them.
                _discard_batch(arrow, batch)
            raise
    if arrow is not None:
        result.write_seconds += arrow.file_seconds
    log.info(
        "%s: %d rows in %d slot(s); %d records quarantined in %s "
        "(read and typed in %.1f s, written in %.1f s, partly overlapping)",
        table.identifier,
        result.rows,
        len(result.slots),
        result.quarantined,
        result.quarantine_table,
        result.read_seconds,
        result.write_seconds,
    )
    return result


def _frame(spark: SparkSession, data: pa.Table, schema: str) -> DataFrame:
    """An Arrow table as a DataFrame: no per-row conversion on the way (classic and Connect)."""
    df = spark.createDataFrame(data.combine_chunks(), schema)
    # Classic Spark makes one partition per Arrow batch (10k rows); a few tasks write
    # fewer, bigger files. The rows are in slot order, so each task holds few slots.
    return df.coalesce(int(spark.conf.get("spark.sql.shuffle.partitions") or 4))


def _write(
    spark: SparkSession, table: Table, result: TransformResult, batch: SlotBatch, arrow: ArrowSlotWriter | None = None
) -> None:
    # overwrite(<exactly these slots>) rather than overwritePartitions(): both are the
    # V2 writer and replace whole (ds, hr, min) partitions, but overwritePartitions only
    # touches partitions present in the data, so a rerun whose slot now has no good
    # rows (or no quarantined ones) would leave the previous run's rows behind.
    if arrow is not None:
        _commit_arrow(arrow, table, result, batch)
    else:
        _write_spark(spark, table, result, batch)
    result.slots.extend(batch.slots)
    result.rows += batch.rows
    result.quarantined += batch.quarantined
    log.info(
        "%s: wrote %d rows, %d quarantined, for %d slot(s)",
        table.identifier,
        batch.rows,
        batch.quarantined,
        len(batch.slots),
    )


def _write_spark(spark: SparkSession, table: Table, result: TransformResult, batch: SlotBatch) -> None:
    t0 = time.monotonic()
    condition = slots_filter(batch.slots)
    rows = pa.concat_tables(batch.tables)
    quarantine = pa.concat_tables(batch.quarantines)
    batch.tables, batch.quarantines = [], []
    if table.write == "merge":
        merge.merge_rows(spark, table, rows, _frame, _table_schema(table), batch.summary)
    else:
        # Rows already sit in slot order: no shuffle into the table's partitioning (also a
        # table property of new tables; given here for tables created before it).
        writer = _frame(spark, rows, _table_schema(table)).writeTo(quote(table.identifier))
        for key, value in batch.summary.items():
            writer = writer.option(f"snapshot-property.{key}", value)
        writer.option("distribution-mode", "none").overwrite(condition)
    (
        _frame(spark, quarantine, _quarantine_schema())
        .writeTo(quote(result.quarantine_table))
        .option("distribution-mode", "none")
        .overwrite(condition)
    )
    if table.write == "merge":
        # Last: a slot's log entry says its merge and quarantine are written.
        merge.write_merge_log(spark, table, _frame, rows, batch.slots, batch.run_ids, condition)
    result.write_seconds += time.monotonic() - t0


def _commit_arrow(arrow: ArrowSlotWriter, table: Table, result: TransformResult, batch: SlotBatch) -> None:
    """Swap the batch's slots to their written files: the table, then its quarantine."""
    files = _written(arrow, batch.files)
    try:
        quarantine_files = _written(arrow, batch.quarantine_files)
    except BaseException:
        arrow.discard(files)
        raise
    t0 = time.monotonic()  # the file writes are timed by the writer (they overlap the reading)
    try:
        arrow.commit_files(table.identifier, batch.slots, files, batch.summary)
    except BaseException:
        arrow.discard(quarantine_files)  # the table's own: commit_files discards them when sure
        raise
    arrow.commit_files(result.quarantine_table, batch.slots, quarantine_files)
    result.write_seconds += time.monotonic() - t0


def _discard_batch(arrow: ArrowSlotWriter, batch: SlotBatch) -> None:
    """Delete the data files of a batch that will never be committed, once written."""
    for future in batch.files + batch.quarantine_files:
        if future.exception() is None:  # waits; a failed write deleted its own files
            arrow.discard(future.result())


def _written(arrow: ArrowSlotWriter, futures: list[Future[list[DataFile]]]) -> list[DataFile]:
    """The data files of a batch's slots; if one slot's write failed, the others' files
    are deleted (no snapshot will reference them) and that failure is raised."""
    failure = next((f.exception() for f in futures if f.exception() is not None), None)
    if failure is not None:
        arrow.discard([d for f in futures if f.exception() is None for d in f.result()])
        raise failure
    return [d for f in futures for d in f.result()]


def endpoint_by_name(name: str, directory: Path | None = None) -> EndpointConfig:
    return load_endpoint(endpoint_path(name, directory))


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--endpoint", required=True, help="endpoint name (config/endpoints/<name>.yaml)")
    parser.add_argument("--endpoints-dir", type=Path, default=None, help="directory of endpoint configs")
    parser.add_argument(
        "--run",
        action="append",
        default=[],
        dest="runs",
        help="a run's raw prefix or _manifest.json key (s3:// URIs too); repeatable",
    )
    parser.add_argument("--from", dest="start", type=parse_slot, help="backfill: first slot start (inclusive)")
    parser.add_argument("--to", dest="end", type=parse_slot, help="backfill: slot starts before this (exclusive)")
    parser.add_argument(
        "--batch-rows",
        type=int,
        default=DEFAULT_BATCH_ROWS,
        help=f"records per write, whole slots only (default {DEFAULT_BATCH_ROWS:,})",
    )
    args = parser.parse_args(argv)
    if (args.start is None) != (args.end is None):
        parser.error("--from and --to go together")
    if not args.runs and args.start is None:
        parser.error("give --run (one or more) or --from/--to")
    settings, options = settings_and_options(args, f"raw_to_table:{args.endpoint}")
    endpoint = endpoint_by_name(args.endpoint, args.endpoints_dir)
    spark = build_session(settings, options)
    try:
        slot_range = (args.start, args.end) if args.start is not None else None
        run(spark, settings, endpoint, args.runs, slot_range, batch_rows=args.batch_rows)
    finally:
        spark.stop()
    return 0


if __name__ == "__main__":
    run_main(main)
