"""pyiceberg through Nessie's REST catalog onto the S3 server, and what survives a restart."""

from __future__ import annotations

import socket

import psutil
import pyarrow as pa
import pytest
from pyiceberg.partitioning import PartitionField, PartitionSpec
from pyiceberg.schema import Schema
from pyiceberg.transforms import IdentityTransform
from pyiceberg.types import IntegerType, LongType, NestedField, StringType

from lakehouse.config.settings import load_settings
from lakehouse.local.stack import LocalStack
from lakehouse.raw.storage import s3_client
from lakehouse.tables.catalog import load_catalog

SCHEMA = Schema(
    NestedField(1, "id", LongType(), required=False),
    NestedField(2, "payload", StringType(), required=False),
    NestedField(3, "ds", StringType(), required=False),
    NestedField(4, "hr", IntegerType(), required=False),
)
SPEC = PartitionSpec(
    PartitionField(source_id=3, field_id=1000, transform=IdentityTransform(), name="ds"),
    PartitionField(source_id=4, field_id=1001, transform=IdentityTransform(), name="hr"),
)
ROWS = pa.table(
    {
        "id": pa.array([1, 2, 3, 4], pa.int64()),
        "payload": ["a", "b", "c", "d"],
        "ds": ["2026-11-27"] * 4,
        "hr": pa.array([9, 9, 10, 10], pa.int32()),
    }
)


@pytest.fixture(scope="module")
def table(stack: LocalStack):
    catalog = load_catalog(load_settings())
    identifier = "default.catalog_roundtrip"
    if catalog.table_exists(identifier):
        catalog.drop_table(identifier)
    tbl = catalog.create_table(identifier, schema=SCHEMA, partition_spec=SPEC)
    tbl.append(ROWS)
    return identifier


def test_partitioned_rows_read_back(table: str) -> None:
    tbl = load_catalog(load_settings()).load_table(table)
    got = tbl.scan().to_arrow().sort_by("id")
    assert got.column("id").to_pylist() == [1, 2, 3, 4]
    partitions = sorted((f.file.partition[0], f.file.partition[1]) for f in tbl.scan().plan_files())
    assert partitions == [("2026-11-27", 9), ("2026-11-27", 10)]


def test_data_files_are_objects_in_the_s3_server(table: str) -> None:
    settings = load_settings()
    tbl = load_catalog(settings).load_table(table)
    files = [f.file.file_path for f in tbl.scan().plan_files()]
    assert files and all(p.startswith(f"s3://{settings.s3.bucket}/") for p in files)
    client = s3_client(settings.s3)
    for path in files:
        key = path.split("/", 3)[3]
        head = client.head_object(Bucket=settings.s3.bucket, Key=key)
        assert head["ContentLength"] > 0


def test_table_and_rows_survive_down_and_up(table: str, stack: LocalStack) -> None:
    pids = [row.pid for row in stack.status()]
    ports = [row.port for row in stack.status()]
    stack.down()
    # `down` leaves no process of the stack running and frees its ports.
    assert not any(psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE for pid in pids)
    for port in ports:
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", port))
    result = stack.up()
    assert sorted(result.started) == ["nessie", "redis", "s3"]
    tbl = load_catalog(load_settings()).load_table(table)
    assert tbl.scan().to_arrow().num_rows == ROWS.num_rows
