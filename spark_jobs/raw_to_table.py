"""Raw pages of complete landings -> the endpoint's typed, slot-partitioned Iceberg table.

    spark-submit spark_jobs/raw_to_table.py --endpoint sandbox_trades --run <prefix or manifest key>
    spark-submit spark_jobs/raw_to_table.py --endpoint sandbox_trades --from 2025-03-01T00:00Z --to 2025-03-02T00:00Z

Writes ``<namespace>.<name>`` (the endpoint's ``table:``) and, for records that do not
fit its columns, ``<namespace>.<name>__quarantine`` with the reason, the raw key and
the record. Both are partitioned by (ds, hr, min); a rerun replaces exactly the
slots it processed, in both tables.

Where the JSON is parsed: in Python on the driver, pages fetched with boto3. A slot
is a few hundred kilobytes to a few megabytes, far below what one process handles,
and the driver-side path gives what the contract needs and Spark's JSON reader does
not: records located by the same JMESPath extractor the crawler uses (so
``records_path`` means the same thing on both sides), a per-record, per-column
reason for every misfit instead of PERMISSIVE-mode NULLs, exact decimals (no
float detour), and checksums checked against the manifest before anything is
read. Spark then does what it is good at here: the typed, partitioned, atomic write.
A backfill of many days is run as several smaller ranges.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lakehouse.endpoints import EndpointConfig, Table, endpoint_path, load_endpoint
from lakehouse.errors import LakehouseError
from lakehouse.raw_layout import Manifest
from lakehouse.settings import Settings
from lakehouse.storage import s3_client
from spark_jobs.cli import base_parser, parse_slot, run_main, settings_and_options
from spark_jobs.raw_reader import (
    latest_per_slot,
    manifest_key_for,
    manifest_keys_in_range,
    read_manifest,
    read_page,
)
from spark_jobs.records import QuarantineEntry, RecordTyper, columns_ddl, page_problem, spark_type, split_page
from spark_jobs.session import build_session
from spark_jobs.tables import (
    SlotPartition,
    create_partitioned_table,
    quote,
    slot_partition,
    slots_filter,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client  # pragma: no cover
    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)

LINEAGE_DDL = "`_run_id` string, `_ingested_at` timestamp"
QUARANTINE_DDL = "reason string, raw_key string, record string, run_id string"


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


class TableSchemaMismatchError(LakehouseError):
    def __init__(self, table: str, problems: list[str]) -> None:
        super().__init__(
            f"{table} does not match the endpoint's declared columns: {'; '.join(problems)}. "
            "Evolve the table to match (ALTER TABLE ... ADD COLUMN / ALTER COLUMN), or write to a "
            "new table name in the endpoint config."
        )


@dataclass
class TransformResult:
    table: str
    quarantine_table: str
    run_ids: list[str] = field(default_factory=list)
    slots: list[SlotPartition] = field(default_factory=list)
    rows: int = 0
    quarantined: int = 0


def _resolve_manifests(
    client: "S3Client",
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


def _read_landing(
    client: "S3Client", bucket: str, typer: RecordTyper, manifest: Manifest, records_path: str
) -> tuple[list[tuple[Any, ...]], list[QuarantineEntry]]:
    rows: list[tuple[Any, ...]] = []
    quarantined: list[QuarantineEntry] = []
    for page in manifest.pages:
        fetched = read_page(client, bucket, page.key, page.sha256)
        if fetched.body is None:
            quarantined.append(page_problem(page.key, "page listed in the manifest is missing from the bucket"))
            continue
        if not fetched.checksum_ok:
            # Another crawl of this slot may be overwriting the pages right now; these
            # bytes are not the ones the manifest vouches for.
            quarantined.append(
                page_problem(page.key, "page sha256 differs from the manifest (overwritten by a later crawl?)",
                             fetched.body.decode("utf-8", errors="replace"))
            )
            continue
        result = split_page(typer, fetched.body, records_path, page.key)
        rows.extend(result.rows)
        quarantined.extend(result.quarantined)
    return rows, quarantined


def _table_schema(table: Table) -> str:
    return f"{columns_ddl(table)}, {LINEAGE_DDL}, ds string, hr int, `min` int"


def _quarantine_schema() -> str:
    return f"{QUARANTINE_DDL}, ds string, hr int, `min` int"


def _check_schema(spark: "SparkSession", identifier: str, table: Table) -> None:
    existing = {f.name: f.dataType.simpleString() for f in spark.table(quote(identifier)).schema.fields}
    problems = []
    for column in table.columns:
        expected = spark_type(column)
        if column.name not in existing:
            problems.append(f"column {column.name} ({expected}) is missing")
        elif existing[column.name] != expected:
            problems.append(f"column {column.name} is {existing[column.name]} in the table, {expected} in the config")
    if problems:
        raise TableSchemaMismatchError(identifier, problems)


def run(
    spark: "SparkSession",
    settings: Settings,
    endpoint: EndpointConfig,
    runs: Sequence[str] = (),
    slot_range: tuple[datetime, datetime] | None = None,
    client: "S3Client | None" = None,
) -> TransformResult:
    """Transform the landings named by ``runs`` (prefixes or manifest keys) and/or every
    complete landing with a slot start in ``slot_range`` = [start, end)."""
    if endpoint.table is None:
        raise NoTableDeclaredError(endpoint.name)
    if not runs and slot_range is None:
        raise ValueError("pass runs (prefixes or manifest keys) or a slot_range")
    table = endpoint.table
    client = client or s3_client(settings.s3)
    manifests = _resolve_manifests(client, settings, endpoint, runs, slot_range)
    typer = RecordTyper(table)
    result = TransformResult(table=table.identifier, quarantine_table=table.quarantine_identifier)

    rows: list[tuple[Any, ...]] = []
    bad: list[tuple[Any, ...]] = []
    for manifest in manifests:
        slot = slot_partition(manifest.slot_start)
        good, quarantined = _read_landing(client, settings.s3.bucket, typer, manifest, endpoint.response_map.records_path)
        # _ingested_at is when the landing completed, not when this job ran, so a rerun
        # of a slot writes identical rows (house rule 4).
        lineage = (manifest.run_id, manifest.finished_at)
        rows.extend(row + lineage + tuple(slot) for row in good)
        bad.extend((q.reason, q.raw_key, q.record, manifest.run_id) + tuple(slot) for q in quarantined)
        result.run_ids.append(manifest.run_id)
        result.slots.append(slot)
        log.info("%s: %d rows, %d quarantined (slot %s)", manifest.run_id, len(good), len(quarantined), slot)
    result.rows, result.quarantined = len(rows), len(bad)

    create_partitioned_table(spark, table.identifier, f"{columns_ddl(table)}, {LINEAGE_DDL}")
    _check_schema(spark, table.identifier, table)
    create_partitioned_table(spark, result.quarantine_table, QUARANTINE_DDL)
    # overwrite(<exactly these slots>) rather than overwritePartitions(): both are the
    # V2 writer and replace whole (ds, hr, min) partitions, but overwritePartitions only
    # touches partitions present in the data, so a rerun whose slot now has no good
    # rows (or no quarantined ones) would leave the previous run's rows behind.
    condition = slots_filter(result.slots)
    spark.createDataFrame(rows, _table_schema(table)).writeTo(quote(table.identifier)).overwrite(condition)
    spark.createDataFrame(bad, _quarantine_schema()).writeTo(quote(result.quarantine_table)).overwrite(condition)
    log.info("%s: %d rows in %d slot(s); %d records quarantined in %s", table.identifier, result.rows,
             len(result.slots), result.quarantined, result.quarantine_table)
    return result


def endpoint_by_name(name: str, directory: Path | None = None) -> EndpointConfig:
    return load_endpoint(endpoint_path(name, directory))


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--endpoint", required=True, help="endpoint name (config/endpoints/<name>.yaml)")
    parser.add_argument("--endpoints-dir", type=Path, default=None, help="directory of endpoint configs")
    parser.add_argument("--run", action="append", default=[], dest="runs",
                        help="a run's raw prefix or _manifest.json key (s3:// URIs too); repeatable")
    parser.add_argument("--from", dest="start", type=parse_slot, help="backfill: first slot start (inclusive)")
    parser.add_argument("--to", dest="end", type=parse_slot, help="backfill: slot starts before this (exclusive)")
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
        run(spark, settings, endpoint, args.runs, slot_range)
    finally:
        spark.stop()
    return 0


if __name__ == "__main__":
    run_main(main)
