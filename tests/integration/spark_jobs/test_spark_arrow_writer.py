"""The arrow writer (lakehouse/transform: arrow_overwrite.py, writers.py) on the real
stack: concurrent slots of one table all land with their files written once, the
files are what Spark reads and the count check proves from metadata, no S3 key
reaches a log record, and a write or a transform that fails before its commit leaves
none of its data files in the bucket."""

from __future__ import annotations

import logging
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyarrow import fs

from lakehouse.config.settings import Settings
from lakehouse.endpoints import EndpointConfig
from lakehouse.pipeline import steps as pipeline
from lakehouse.raw.layout import partition_of
from lakehouse.tables.catalog import load_catalog
from lakehouse.transform import arrow_overwrite
from lakehouse.transform.arrow_overwrite import ArrowOverwrite
from lakehouse.transform.reader import LandingReader
from spark_jobs import raw_to_table
from spark_jobs.raw_to_table import LINEAGE_DDL
from spark_jobs.tables import create_partitioned_table, quote, slot_partition
from tests.integration.landings import endpoint_doc, land

FIRST = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
SLOTS = 16


def _rows(table: pa.Schema, run_id: str, start: datetime, n: int) -> pa.Table:
    slot = slot_partition(start)
    columns = {
        "trade_id": pa.array(range(n), pa.int64()),
        "price": pa.array([None] * n, pa.decimal128(18, 8)),
        "_run_id": pa.array([run_id] * n, pa.string()),
        "_ingested_at": pa.array([start] * n, pa.timestamp("us", tz="UTC")),
        "ds": pa.array([slot.ds] * n, pa.string()),
        "hr": pa.array([slot.hr] * n, pa.int32()),
        "min": pa.array([slot.min] * n, pa.int32()),
    }
    return pa.table(columns).select(table.names)


@pytest.fixture()
def identifier(spark, table_suffix: str) -> str:
    ident = f"default.arrow_{table_suffix}"
    create_partitioned_table(
        spark, ident, f"trade_id bigint, price decimal(18,8), {LINEAGE_DDL}", run_id_column="_run_id"
    )
    return ident


def test_sixteen_concurrent_slots_of_one_table_all_land_and_write_their_files_once(
    spark, spark_settings: Settings, identifier: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A backfill's slots commit at once from the same snapshot: 15 lose the first race
    and commit the same files again on the refreshed table (pyiceberg's own retry, by
    the table's commit.retry.* properties, which Spark's writes use too; past those,
    catalog.commit_with_retry plans the slots again)."""
    starts = [FIRST + i * timedelta(minutes=15) for i in range(SLOTS)]
    same_start = threading.Barrier(SLOTS)
    commits: Counter[str] = Counter()
    real_commit = arrow_overwrite._commit_overwrite

    def commit(ident, table, slots, files, summary):  # type: ignore[no-untyped-def]
        commits[slots[0].ds + str(slots[0].hr) + str(slots[0].min)] += 1
        if sum(commits.values()) <= SLOTS:
            same_start.wait(timeout=120)  # every writer holds the same snapshot now
        return real_commit(ident, table, slots, files, summary)

    monkeypatch.setattr(arrow_overwrite, "_commit_overwrite", commit)
    schema = load_catalog(spark_settings).load_table(identifier).schema().as_arrow()
    writer = ArrowOverwrite(spark_settings)

    def write(i: int) -> arrow_overwrite.SlotsWritten:
        data = _rows(schema, f"run{i:02d}", starts[i], 10 + i)
        return writer.replace_slots(identifier, data, [slot_partition(starts[i])], {"test.slot": str(i)})

    with caplog.at_level(logging.WARNING, logger="pyiceberg"), ThreadPoolExecutor(max_workers=SLOTS) as pool:
        written = list(pool.map(write, range(SLOTS)))

    lost = sum("Commit failed due to a concurrent update" in r.getMessage() for r in caplog.records)
    lost += sum(w.attempts - 1 for w in written)
    assert lost >= SLOTS - 1, "all started from one snapshot: 15 lost the first race at least"
    assert all(w.files == 1 for w in written)
    table = load_catalog(spark_settings).load_table(identifier)
    for i, start in enumerate(starts):
        got = pipeline.run_rows(table, "_run_id", f"run{i:02d}", start)
        assert got == pipeline.RunRows(10 + i, from_metadata=True), (i, got)
    assert spark.table(quote(identifier)).count() == sum(10 + i for i in range(SLOTS))
    # One data file per slot in the bucket: a lost race did not write its files again.
    location = table.location().removeprefix("s3://").removeprefix("s3a://")
    s3 = fs.S3FileSystem(
        access_key=spark_settings.s3.require_credentials()[0],
        secret_key=spark_settings.s3.require_credentials()[1],
        endpoint_override=spark_settings.s3.endpoint_url,
        region=spark_settings.s3.region,
    )
    data_files = [f for f in s3.get_file_info(fs.FileSelector(f"{location}/data", recursive=True)) if f.is_file]
    assert len(data_files) == SLOTS, [f.path for f in data_files]


def test_files_match_what_spark_writes_and_the_table_properties(
    spark, spark_settings: Settings, identifier: str
) -> None:
    start = FIRST
    slot = slot_partition(start)
    catalog = load_catalog(spark_settings)
    schema = catalog.load_table(identifier).schema().as_arrow()
    data = _rows(schema, "run-a", start, 5)
    ArrowOverwrite(spark_settings).replace_slots(identifier, data, [slot], {"lakehouse.schema-evolution": "added x"})

    table = catalog.load_table(identifier)
    snapshot = table.current_snapshot()
    assert snapshot is not None and snapshot.summary["lakehouse.schema-evolution"] == "added x"
    (task,) = table.scan().plan_files()
    p = partition_of(start)
    assert tuple(task.file.partition) == (p.ds, int(p.hr), int(p.min))
    location = task.file.file_path.removeprefix("s3://")
    key, secret = spark_settings.s3.require_credentials()
    s3 = fs.S3FileSystem(
        access_key=key,
        secret_key=secret,
        endpoint_override=spark_settings.s3.endpoint_url,
        region=spark_settings.s3.region,
    )
    meta = pq.ParquetFile(s3.open_input_file(location)).metadata
    assert meta.row_group(0).column(0).compression == "ZSTD", "write.parquet.compression-codec of the table"
    physical = {meta.schema.column(i).name: meta.schema.column(i).physical_type for i in range(meta.num_columns)}
    assert physical["price"] == "INT64", "a decimal(18,8) as Iceberg's Java writer stores it"
    # Spark reads the same types it declared.
    types = dict(spark.table(quote(identifier)).dtypes)
    assert (types["trade_id"], types["price"], types["_ingested_at"], types["hr"]) == (
        "bigint",
        "decimal(18,8)",
        "timestamp",
        "int",
    )
    row = spark.table(quote(identifier)).where("trade_id = 3").collect()[0]
    assert row._ingested_at == start.replace(tzinfo=None) and row._run_id == "run-a"


def test_an_empty_batch_empties_its_slots_and_no_s3_key_is_logged(
    spark_settings: Settings, identifier: str, caplog: pytest.LogCaptureFixture
) -> None:
    catalog = load_catalog(spark_settings)
    schema = catalog.load_table(identifier).schema().as_arrow()
    slot = slot_partition(FIRST)
    writer = ArrowOverwrite(spark_settings)
    # Everything at INFO, and the loggers that see the catalog's properties (which carry
    # the S3 keys) at DEBUG. (botocore's own DEBUG log prints the key id of every request
    # it signs, for any boto3 client of the project.)
    caplog.set_level(logging.INFO)
    with caplog.at_level(logging.DEBUG, logger="pyiceberg"), caplog.at_level(logging.DEBUG, logger="spark_jobs"):
        writer.replace_slots(identifier, _rows(schema, "run-a", FIRST, 3), [slot])
        emptied = writer.replace_slots(identifier, _rows(schema, "run-a", FIRST, 0), [slot])
    assert (emptied.files, emptied.removed) == (0, 1)
    assert catalog.load_table(identifier).scan().to_arrow().num_rows == 0
    key, secret = spark_settings.s3.require_credentials()
    logged = "\n".join(f"{r.getMessage()} {r.args}" for r in caplog.records)
    assert key not in logged and secret not in logged


def _data_files(settings: Settings, identifier: str) -> list[str]:
    """Every object under the table's data directory, committed or not."""
    location = load_catalog(settings).load_table(identifier).location().removeprefix("s3://").removeprefix("s3a://")
    key, secret = settings.s3.require_credentials()
    s3 = fs.S3FileSystem(
        access_key=key, secret_key=secret, endpoint_override=settings.s3.endpoint_url, region=settings.s3.region
    )
    selector = fs.FileSelector(f"{location}/data", recursive=True, allow_not_found=True)
    return sorted(f.path for f in s3.get_file_info(selector) if f.is_file)


def test_a_write_that_fails_midway_deletes_every_file_it_wrote(spark_settings: Settings, identifier: str) -> None:
    """Three slots in one write_files call: pyiceberg writes three files in parallel.
    The second file's upload lands an object and then fails; the other two land. The
    call raises that failure, and the bucket holds none of the three afterwards
    (before: every file of the call stayed, referenced by no snapshot)."""
    schema = load_catalog(spark_settings).load_table(identifier).schema().as_arrow()
    starts = [FIRST + i * timedelta(minutes=15) for i in range(3)]
    data = pa.concat_tables([_rows(schema, "run-f", start, 5) for start in starts])
    writer = ArrowOverwrite(spark_settings)
    real_io = writer.data_io
    opened: list[str] = []
    lock = threading.Lock()

    class FailingOutput:
        """Writes some bytes (an object lands, as a partial upload can), then fails."""

        def __init__(self, inner) -> None:  # type: ignore[no-untyped-def]
            self.inner = inner
            self.location = inner.location

        def create(self, overwrite: bool = False):  # type: ignore[no-untyped-def]
            with self.inner.create(overwrite=overwrite) as stream:
                stream.write(b"PAR1 half a file")
            raise OSError("simulated: upload failed after part of the file was stored")

        def __len__(self) -> int:
            return len(self.inner)

    class FaultyIO(type(real_io)):  # type: ignore[misc]
        def new_output(self, location: str):  # type: ignore[no-untyped-def]
            with lock:
                opened.append(location)
                second = len(opened) == 2
            output = real_io.new_output(location)
            return FailingOutput(output) if second else output

    writer.data_io = FaultyIO(real_io.properties)
    with pytest.raises(OSError, match="simulated: upload failed"):
        writer.write_files(identifier, data)

    assert len(opened) >= 2, "one file per slot partition, written in parallel"
    assert _data_files(spark_settings, identifier) == []


def test_a_transform_that_fails_before_its_commit_leaves_no_data_files(
    spark, spark_settings: Settings, table_suffix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first slot's files (table and quarantine) are written while the second
    slot is read; reading the second fails, so the batch is never committed. Its
    files are deleted (before: they stayed in the bucket, referenced by nothing)."""
    monkeypatch.setattr(spark_settings.spark, "table_writer", "arrow")
    endpoint = EndpointConfig.model_validate(endpoint_doc(f"orph_{table_suffix}"))
    trades = [{"id": i, "price": "1.5", "time": 1740831300000 + i} for i in range(1, 4)]
    prefixes = [
        land(spark_settings, endpoint.name, start, [trades + [{"id": None, "time": 1}]])
        for start in (FIRST, FIRST + timedelta(minutes=15))
    ]
    real_read = LandingReader.read
    reads = 0

    def read(*args, **kwargs):  # type: ignore[no-untyped-def]
        nonlocal reads
        reads += 1
        if reads == 2:
            raise OSError("simulated: the object store went away reading the second landing")
        return real_read(*args, **kwargs)

    monkeypatch.setattr(LandingReader, "read", read)
    with pytest.raises(OSError, match="simulated: the object store went away"):
        raw_to_table.run(spark, spark_settings, endpoint, prefixes)

    assert endpoint.table is not None
    for identifier in (endpoint.table.identifier, f"{endpoint.table.identifier}__quarantine"):
        assert load_catalog(spark_settings).load_table(identifier).current_snapshot() is None
        assert _data_files(spark_settings, identifier) == [], identifier
