"""The steps of one slot's ingestion, free of any orchestrator.

Airflow tasks (lakehouse_airflow/), the `lakehouse crawl` command and the demo call
these; each step is idempotent for a slot, so any of them can be retried alone:
enqueue (same run_id, same job) → wait (reads the status) → publish the signal row
(replaced per run_id) → transform (partition overwrite) → check counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from pydantic import ValidationError

from lakehouse.config.settings import Settings
from lakehouse.endpoints import EndpointConfig
from lakehouse.endpoints.slots import previous_slots, slot_window, to_utc
from lakehouse.errors import EndpointConfigError, LakehouseError
from lakehouse.pipeline import incremental
from lakehouse.pipeline.incremental import AskedRange
from lakehouse.queue.crawl_queue import open_queue
from lakehouse.queue.crawl_request import resolve_request
from lakehouse.queue.jobs import CrawlJob, JobState, JobStatus
from lakehouse.raw.layout import Manifest, partition_of, s3_uri
from lakehouse.raw.storage import s3_client
from lakehouse.tables import merge_log
from lakehouse.tables.catalog import equal_to, load_catalog, slot_filter
from lakehouse.tables.signals import Signal, publish, signal_table

if TYPE_CHECKING:
    from pyiceberg.catalog import Catalog
    from pyiceberg.io import FileIO
    from pyiceberg.table import Table as IcebergTable

    from lakehouse.endpoints import Table
    from lakehouse.tables.signals import Signal


class CrawlFailedError(LakehouseError):
    def __init__(self, run_id: str, state: str, error: str | None, attempts: int) -> None:
        self.run_id = run_id
        self.error = error
        super().__init__(
            f"crawl {run_id} ended {state} after {attempts} attempt(s): {error or 'no reason recorded'}. "
            f"Fix the cause, then `lakehouse queue retry {run_id}` or clear the task to enqueue it again."
        )


class CrawlStatusMissingError(LakehouseError):
    def __init__(self, run_id: str) -> None:
        super().__init__(
            f"no status for crawl {run_id} in Redis: it was never enqueued, or its status expired. "
            "Clear the enqueue task to enqueue it again."
        )


class CountMismatchError(LakehouseError):
    def __init__(self, table: str, run_id: str, expected: int, landed: int, quarantined: int) -> None:
        super().__init__(
            f"{table}: run {run_id} landed {landed} rows (+{quarantined} quarantined) but its manifest "
            f"has {expected} records. Rerun the transform task; if it persists, compare the raw pages."
        )


def job_for_slot(
    config: EndpointConfig,
    slot_start: datetime,
    slot_end: datetime,
    raw_base: str,
    *,
    force: bool = False,
    cursor: AskedRange | None = None,
) -> CrawlJob:
    """The crawl job of one endpoint's slot: the slot, the config's content hash and,
    for an incremental endpoint, ``cursor`` (from ``plan_cursor``). The worker builds
    the request from its own copy of the config (crawl_request.resolve_request).

    A config that passed ``lakehouse validate`` always builds one; if not, the error
    names the endpoint and the job field instead of surfacing pydantic's raw text.
    The request is resolved here too, so a config that could not build one fails at
    the producer, not on a worker."""
    if config.incremental is not None and cursor is None:
        raise ValueError(f"{config.name} is incremental: pass the slot's cursor (lakehouse.pipeline.steps.plan_cursor)")
    try:
        job = CrawlJob.for_slot(
            endpoint=config.name,
            slot_start=slot_start,
            slot_end=slot_end,
            config_hash=config.content_hash,
            cursor=cursor.job_cursor() if cursor is not None and config.incremental is not None else None,
            raw_base=raw_base,
            force=force,
        )
    except ValidationError as exc:
        raise EndpointConfigError.from_validation(f"endpoint {config.name} (its crawl job)", exc) from None
    resolve_request(config, job)
    return job


def plan_cursor(settings: Settings, config: EndpointConfig, slot_start: datetime) -> AskedRange | None:
    """The cursor range an incremental endpoint's slot asks for, from the durable
    marks in S3 (lakehouse.pipeline.incremental); None for other endpoints."""
    if config.incremental is None:
        return None

    s3 = settings.s3
    return incremental.plan_range(s3_client(s3), s3.bucket, s3.raw_prefix, config, slot_start)


def slot_job(
    settings: Settings, config: EndpointConfig, slot_start: datetime, slot_end: datetime, *, force: bool = False
) -> CrawlJob:
    """The slot's job as a producer enqueues it (with its cursor when incremental)."""
    cursor = plan_cursor(settings, config, slot_start)
    return job_for_slot(config, slot_start, slot_end, settings.s3.raw_prefix, force=force, cursor=cursor)


def slot_of_run(
    config: EndpointConfig, interval_start: datetime, interval_end: datetime | None
) -> tuple[datetime, datetime]:
    """The slot a DAG run ingests: the latest slot already complete when the run's
    data interval ends.

    Airflow 3's default cron timetable gives scheduled and manual runs a zero-width
    interval at the trigger time (a scheduled run at 09:45 has 09:45..09:45), so the
    slot that *starts* there has not happened yet; the one ending there has. A
    data-interval timetable that hands over exactly one slot is taken as it is.
    Either way a rerun or backfill of a logical date ingests the same slot.
    """
    start = to_utc(interval_start, "data_interval_start")
    end = to_utc(interval_end, "data_interval_end") if interval_end is not None else start
    if end > start and slot_window(config.schedule, start) == (start, end):
        return start, end
    ((slot_start, slot_end),) = previous_slots(config.schedule, end, 1)
    return slot_start, slot_end


@dataclass(frozen=True)
class Enqueued:
    run_id: str
    outcome: str
    raw_prefix: str
    #: the content hash of the endpoint config the job was made from
    config_hash: str


def enqueue(
    settings: Settings, config: EndpointConfig, slot_start: datetime, slot_end: datetime, force: bool = False
) -> Enqueued:

    job = slot_job(settings, config, slot_start, slot_end, force=force)
    result = open_queue(settings).enqueue(job, force=force)
    return Enqueued(
        run_id=job.run_id, outcome=result.outcome.value, raw_prefix=job.raw_prefix, config_hash=job.config_hash
    )


def crawl_status(settings: Settings, run_id: str) -> JobStatus | None:
    """The finished status, None while queued or running; raises when it failed."""

    status = open_queue(settings).get_status(run_id)
    if status is None:
        raise CrawlStatusMissingError(run_id)
    if status.state == JobState.FINISHED:
        return status
    if status.state in (JobState.FAILED, JobState.DEAD):
        raise CrawlFailedError(run_id, status.state.value, status.error, status.attempts)
    return None


def read_manifest(settings: Settings, manifest_key: str) -> Manifest:

    body = s3_client(settings.s3).get_object(Bucket=settings.s3.bucket, Key=manifest_key)["Body"].read()
    return Manifest.from_json(body)


def _finished_manifest_key(settings: Settings, run_id: str, not_finished: str) -> str:
    """The manifest key of a finished crawl; LakehouseError(not_finished) before that."""
    status = crawl_status(settings, run_id)
    if status is None:
        raise LakehouseError(not_finished)
    return status.manifest_path or ""


def _read_manifest_with(io: FileIO, settings: Settings, manifest_key: str) -> Manifest:
    """The manifest read through a table's FileIO: a catalog step then needs no second
    S3 client stack (boto3's imports next to pyiceberg's s3fs are a cost every task
    would pay; the figure is in docs/benchmarks.md)."""
    with io.new_input(s3_uri(settings.s3.bucket, manifest_key)).open() as stream:
        return Manifest.from_json(stream.read())


def publish_signal(settings: Settings, run_id: str) -> Signal:
    """Publish the finished run's signal row (idempotent per run_id)."""

    key = _finished_manifest_key(
        settings, run_id, f"crawl {run_id} has not finished yet; the publish step runs only after the wait step"
    )
    catalog = load_catalog(settings)
    manifest = _read_manifest_with(signal_table(catalog).io, settings, key)
    signal = Signal(
        run_id=run_id,
        endpoint=manifest.endpoint,
        s3_path=s3_uri(settings.s3.bucket, manifest.key),
        slot_start=manifest.slot_start,
        pages=manifest.total_pages,
        records=manifest.total_records,
        bytes=manifest.total_bytes,
        cursor_start=manifest.incremental.start if manifest.incremental else None,
        cursor_end=manifest.incremental.end if manifest.incremental else None,
        config_hash=manifest.config_hash,
    )
    publish(settings, signal, catalog)
    return signal


@dataclass(frozen=True)
class RunRows:
    """How many rows of one run a table holds, and how that was learned."""

    rows: int
    #: True when Iceberg metadata alone answered (manifests' per-file record counts
    #: and run-id bounds); False when data files had to be read.
    from_metadata: bool


@dataclass(frozen=True)
class TableCounts:
    """A slot's count check: rows + quarantined == expected (the manifest's records)."""

    table: str
    run_id: str
    expected: int
    rows: int
    quarantined: int
    #: both counts came from catalog metadata, no data file was opened
    from_metadata: bool
    #: merge tables only: rows of the table that hold this run's version of their key
    #: (``rows`` is then the records the run delivered, from the merge log)
    held: int | None = None


class TableNotLandedError(LakehouseError):
    """The slot's table does not exist yet: nothing has been transformed into it."""

    def __init__(self, table: str, run_id: str) -> None:
        super().__init__(
            f"{table} does not exist yet, so run {run_id} has no rows in it: run the transform "
            "task (or `raw_to_table`) for the slot first."
        )


def run_rows(table: IcebergTable, run_column: str, run_id: str, slot_start: datetime) -> RunRows:
    """The rows of ``run_id`` in its slot's (ds, hr, min) partition, from metadata when
    it proves them.

    The transform overwrites whole slot partitions and a run id names one slot, so
    a slot's partition holds one run. Planning the slot's partition reads only
    manifests; when every data file in it has no delete files, a fully matched
    partition filter, and ``run_column`` bounds lower == upper == run_id (which
    needs untruncated bounds: table property
    ``write.metadata.metrics.column.<run_column>=full``), the sum of the files'
    record counts is the answer. Anything else falls back to reading the slot's
    files with the run-id filter.
    """
    from pyiceberg.expressions import AlwaysTrue, And

    p = partition_of(slot_start)
    slot = slot_filter(p.ds, int(p.hr), int(p.min))
    field_id = table.schema().find_field(run_column).field_id
    wanted = run_id.encode()
    total = 0
    proven = True
    for task in table.scan(row_filter=slot, selected_fields=(run_column,)).plan_files():
        f = task.file
        if (
            task.delete_files
            or task.residual != AlwaysTrue()
            or (f.lower_bounds or {}).get(field_id) != wanted
            or (f.upper_bounds or {}).get(field_id) != wanted
            or (f.null_value_counts or {}).get(field_id, 0) != 0
        ):
            proven = False
            break
        total += f.record_count
    if proven:
        return RunRows(total, from_metadata=True)
    scan = table.scan(row_filter=And(slot, equal_to(run_column, run_id)), selected_fields=(run_column,))
    return RunRows(scan.count(), from_metadata=False)


def check_table_counts(settings: Settings, table: Table, run_id: str) -> TableCounts:
    """The run's rows in its table plus its quarantined records must equal the
    records its manifest lists; otherwise the slot is not complete.

    A merge table (``write: merge``) holds one row per key, possibly another run's:
    there the run's records come from its merge-log entry (lakehouse.tables.merge_log) and
    ``held`` counts the rows that still hold its version.

    Raises TableNotLandedError when the table does not exist yet, CountMismatchError
    (MergeCountMismatchError, MergeLogMissingError for merge tables) when the counts
    differ; catalog failures propagate as they are.
    """
    from pyiceberg.exceptions import NoSuchTableError

    key = _finished_manifest_key(settings, run_id, f"crawl {run_id} has not finished; nothing to check yet")
    catalog = load_catalog(settings)
    try:
        main = catalog.load_table(table.identifier)
    except NoSuchTableError as exc:
        raise TableNotLandedError(table.identifier, run_id) from exc
    manifest = _read_manifest_with(main.io, settings, key)
    expected = manifest.total_records
    landed = run_rows(main, "_run_id", run_id, manifest.slot_start)
    try:
        quarantine: RunRows = run_rows(
            catalog.load_table(table.quarantine_identifier), "run_id", run_id, manifest.slot_start
        )
    except NoSuchTableError:
        quarantine = RunRows(0, from_metadata=True)
    if table.write == "merge":
        return _merge_table_counts(catalog, table, run_id, expected, manifest, landed, quarantine)
    if landed.rows + quarantine.rows != expected:
        raise CountMismatchError(table.identifier, run_id, expected, landed.rows, quarantine.rows)
    return TableCounts(
        table=table.identifier,
        run_id=run_id,
        expected=expected,
        rows=landed.rows,
        quarantined=quarantine.rows,
        from_metadata=landed.from_metadata and quarantine.from_metadata,
    )


def _merge_table_counts(
    catalog: Catalog, table: Table, run_id: str, expected: int, manifest: Manifest, held: RunRows, quarantine: RunRows
) -> TableCounts:
    """A merge table keeps one row per key, possibly another run's: the run's records
    come from its merge-log entry instead (lakehouse.tables.merge_log)."""

    entry = merge_log.read_entry(catalog, table, run_id, manifest.slot_start)
    if entry is None:
        raise merge_log.MergeLogMissingError(table.identifier, run_id)
    merge_log.check(table.identifier, run_id, expected, entry, quarantine.rows, held.rows)
    return TableCounts(
        table=table.identifier,
        run_id=run_id,
        expected=expected,
        rows=entry.records,
        quarantined=quarantine.rows,
        from_metadata=False,
        held=held.rows,
    )
