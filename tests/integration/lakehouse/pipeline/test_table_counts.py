"""The count check of a slot answers from Iceberg metadata, without opening a data
file, and concurrent overwrites of different slots of one table all land."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest
import s3fs
from pyiceberg.partitioning import PartitionField, PartitionSpec
from pyiceberg.schema import Schema
from pyiceberg.transforms import IdentityTransform
from pyiceberg.types import IntegerType, LongType, NestedField, StringType

from lakehouse.config.settings import Settings, load_settings
from lakehouse.local.stack import LocalStack
from lakehouse.pipeline import steps as pipeline
from lakehouse.queue.crawl_queue import open_queue
from lakehouse.queue.jobs import CrawlJob, JobResult, JobState
from lakehouse.raw.layout import Manifest, ManifestPage, page_key, partition_of
from lakehouse.raw.storage import s3_client
from lakehouse.tables.catalog import commit_with_retry, load_catalog, slot_filter

FIRST = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
SLOT = timedelta(minutes=15)

SCHEMA = Schema(
    NestedField(1, "trade_id", LongType()),
    NestedField(2, "_run_id", StringType()),
    NestedField(3, "ds", StringType()),
    NestedField(4, "hr", IntegerType()),
    NestedField(5, "min", IntegerType()),
)
QUARANTINE_SCHEMA = Schema(
    NestedField(1, "reason", StringType()),
    NestedField(2, "run_id", StringType()),
    NestedField(3, "ds", StringType()),
    NestedField(4, "hr", IntegerType()),
    NestedField(5, "min", IntegerType()),
)


def _spec(schema: Schema) -> PartitionSpec:
    return PartitionSpec(
        *(
            PartitionField(schema.find_field(n).field_id, 1000 + i, IdentityTransform(), n)
            for i, n in enumerate(("ds", "hr", "min"))
        )
    )


@dataclass(frozen=True)
class TableRef:
    """What check_table_counts needs of an endpoint's declared table."""

    identifier: str
    quarantine_identifier: str
    write: str = "overwrite"  # merge tables are checked through their merge log (test_spark_merge_tables)


@pytest.fixture()
def settings(stack: LocalStack) -> Settings:
    """The stack's settings on a queue prefix of this test's own."""
    base = load_settings()
    return base.model_copy(update={"queue": base.queue.model_copy(update={"prefix": f"t{uuid.uuid4().hex[:10]}"})})


def _land(settings: Settings, endpoint: str, slot_start: datetime, records: int) -> str:
    """A finished crawl of one slot: manifest in S3, FINISHED status in Redis. Returns its run id."""
    job = CrawlJob.for_slot(
        endpoint=endpoint,
        slot_start=slot_start,
        slot_end=slot_start + SLOT,
        config_hash="0" * 64,  # landed by the test, never crawled
        raw_base=settings.s3.raw_prefix,
    )
    now = datetime.now(UTC)
    page = ManifestPage(
        index=1,
        key=page_key(job.raw_prefix, 1, 1),
        url="http://127.0.0.1:9/v1/trades",
        status_code=200,
        records=records,
        bytes=100,
        sha256="0" * 64,
        fetched_at=now,
        elapsed_seconds=0.1,
    )
    manifest = Manifest.build(
        run_id=job.run_id,
        endpoint=endpoint,
        slot_start=slot_start,
        slot_end=slot_start + SLOT,
        prefix=job.raw_prefix,
        pages=[page],
        started_at=now,
        finished_at=now,
        attempt=1,
    )
    s3_client(settings.s3).put_object(Bucket=settings.s3.bucket, Key=manifest.key, Body=manifest.to_json_bytes())
    queue = open_queue(settings)
    queue.enqueue(job)
    lease = queue.lease("counts-test")
    assert lease is not None
    queue.ack(
        lease, JobResult(state=JobState.FINISHED, manifest_path=manifest.key, pages=1, records=records, bytes=100)
    )
    return job.run_id


def _columns(run_id: str, slot_start: datetime, n: int) -> dict[str, pa.Array]:
    p = partition_of(slot_start)
    return {
        "_run_id": pa.array([run_id] * n, pa.string()),
        "ds": pa.array([p.ds] * n, pa.string()),
        "hr": pa.array([int(p.hr)] * n, pa.int32()),
        "min": pa.array([int(p.min)] * n, pa.int32()),
    }


def _tables(full_bounds: bool) -> TableRef:
    catalog = load_catalog(load_settings())
    ident = f"default.counts_{uuid.uuid4().hex[:8]}"
    catalog.create_table(
        ident,
        schema=SCHEMA,
        partition_spec=_spec(SCHEMA),
        properties={"write.metadata.metrics.column._run_id": "full"} if full_bounds else {},
    )
    catalog.create_table(
        f"{ident}__quarantine",
        schema=QUARANTINE_SCHEMA,
        partition_spec=_spec(QUARANTINE_SCHEMA),
        properties={"write.metadata.metrics.column.run_id": "full"} if full_bounds else {},
    )
    return TableRef(ident, f"{ident}__quarantine")


def _write_slot(ref: TableRef, run_id: str, slot_start: datetime, rows: int, quarantined: int) -> None:
    catalog = load_catalog(load_settings())
    cols = _columns(run_id, slot_start, rows)
    if rows:
        catalog.load_table(ref.identifier).append(
            pa.table({"trade_id": pa.array(range(rows), pa.int64()), **cols}, schema=SCHEMA.as_arrow())
        )
    if quarantined:
        q = _columns(run_id, slot_start, quarantined)
        q["run_id"] = q.pop("_run_id")
        catalog.load_table(ref.quarantine_identifier).append(
            pa.table({"reason": pa.array(["bad"] * quarantined, pa.string()), **q}, schema=QUARANTINE_SCHEMA.as_arrow())
        )


@pytest.fixture()
def opened(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every object pyiceberg opens through its S3 file system, in order."""
    paths: list[str] = []
    original = s3fs.S3FileSystem._open

    def spy(self, path, *args, **kwargs):  # type: ignore[no-untyped-def]
        paths.append(str(path))
        return original(self, path, *args, **kwargs)

    monkeypatch.setattr(s3fs.S3FileSystem, "_open", spy)
    return paths


def test_counts_come_from_metadata_without_opening_a_data_file(settings: Settings, opened: list[str]) -> None:
    ref = _tables(full_bounds=True)
    slots = {FIRST: (900, 3), FIRST + SLOT: (850, 0), FIRST + 2 * SLOT: (0, 7)}
    runs = {}
    for start, (rows, bad) in slots.items():
        runs[start] = _land(settings, "counts_trades", start, rows + bad)
        _write_slot(ref, runs[start], start, rows, bad)
    opened.clear()
    for start, (rows, bad) in slots.items():
        counts = pipeline.check_table_counts(settings, ref, runs[start])  # type: ignore[arg-type]
        assert counts == pipeline.TableCounts(
            table=ref.identifier,
            run_id=runs[start],
            expected=rows + bad,
            rows=rows,
            quarantined=bad,
            from_metadata=True,
        )
    assert opened, "the spy saw no manifest reads: it is not on pyiceberg's read path"
    assert not [p for p in opened if p.endswith(".parquet")], opened


def test_without_full_run_id_bounds_the_check_reads_the_slot_and_agrees(settings: Settings, opened: list[str]) -> None:
    ref = _tables(full_bounds=False)
    run_id = _land(settings, "counts_trades", FIRST, 45)
    _write_slot(ref, run_id, FIRST, 40, 5)
    opened.clear()
    counts = pipeline.check_table_counts(settings, ref, run_id)  # type: ignore[arg-type]
    assert (counts.rows, counts.quarantined, counts.from_metadata) == (40, 5, False)
    assert [p for p in opened if p.endswith(".parquet")]


def test_a_short_slot_is_a_count_mismatch(settings: Settings) -> None:
    ref = _tables(full_bounds=True)
    run_id = _land(settings, "counts_trades", FIRST, 100)
    _write_slot(ref, run_id, FIRST, 90, 5)
    with pytest.raises(pipeline.CountMismatchError, match="landed 90 rows \\(\\+5 quarantined\\)"):
        pipeline.check_table_counts(settings, ref, run_id)  # type: ignore[arg-type]


def test_a_table_not_created_yet_is_named_as_such(settings: Settings) -> None:
    run_id = _land(settings, "counts_trades", FIRST, 10)
    ref = TableRef("default.never_written", "default.never_written__quarantine")
    with pytest.raises(pipeline.TableNotLandedError, match="does not exist yet"):
        pipeline.check_table_counts(settings, ref, run_id)  # type: ignore[arg-type]


def test_sixteen_concurrent_slot_overwrites_of_one_table_all_land(stack: LocalStack) -> None:
    """As a backfill's transforms do: each replaces its own (ds, hr, min) partition at
    the same time. All 16 start from the same snapshot, so 15 lose the first race;
    commit_with_retry redoes each on a fresh table until it lands."""
    catalog = load_catalog(load_settings())
    ident = f"default.concurrent_{uuid.uuid4().hex[:8]}"
    catalog.create_table(
        ident,
        schema=SCHEMA,
        partition_spec=_spec(SCHEMA),
        properties={"write.metadata.metrics.column._run_id": "full", "commit.retry.num-retries": "0"},
    )
    starts = [FIRST + i * SLOT for i in range(16)]
    same_start = threading.Barrier(len(starts))
    attempts = [0] * len(starts)

    def overwrite(i: int) -> None:
        p = partition_of(starts[i])
        rows = 10 + i
        data = pa.table(
            {"trade_id": pa.array(range(rows), pa.int64()), **_columns(f"run{i:02d}", starts[i], rows)},
            schema=SCHEMA.as_arrow(),
        )

        def attempt() -> None:
            table = load_catalog(load_settings()).load_table(ident)
            attempts[i] += 1
            if attempts[i] == 1:
                same_start.wait(timeout=60)  # every writer holds the same snapshot now
            table.overwrite(data, overwrite_filter=slot_filter(p.ds, int(p.hr), int(p.min)))

        commit_with_retry(attempt)

    with ThreadPoolExecutor(max_workers=len(starts)) as pool:
        list(pool.map(overwrite, range(len(starts))))

    assert sum(attempts) >= 2 * len(starts) - 1, attempts  # 15 lost the first race at least
    table = catalog.load_table(ident)
    for i, start in enumerate(starts):
        got = pipeline.run_rows(table, "_run_id", f"run{i:02d}", start)
        assert got == pipeline.RunRows(10 + i, from_metadata=True), (i, got)
    assert table.scan().count() == sum(10 + i for i in range(16))
