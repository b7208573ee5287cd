"""Contract test of the pyiceberg private API behind lakehouse/transform/pyiceberg_files.py.

Fails on a pyiceberg upgrade that changes _dataframe_to_data_files or
_check_pyarrow_schema_compatible, with a message naming the pinned version; the
integration tests (tests/integration/spark_jobs/test_spark_arrow_writer.py) write
through them on the real stack."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyiceberg.io.pyarrow import PyArrowFileIO
from pyiceberg.partitioning import PartitionField, PartitionSpec
from pyiceberg.schema import Schema
from pyiceberg.table import StaticTable
from pyiceberg.table.metadata import new_table_metadata
from pyiceberg.table.sorting import UNSORTED_SORT_ORDER
from pyiceberg.transforms import IdentityTransform
from pyiceberg.types import LongType, NestedField, StringType

from lakehouse.engines.private_api import PrivateApiChangedError, installed_version, pinned_version
from lakehouse.transform import pyiceberg_files

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("api", [pyiceberg_files.DATAFRAME_TO_DATA_FILES, pyiceberg_files.CHECK_SCHEMA_COMPATIBLE])
def test_the_pinned_pyiceberg_has_the_private_api_the_arrow_writer_calls(api):
    try:
        api.resolve()
    except PrivateApiChangedError as exc:
        pytest.fail(str(exc))
    assert installed_version("pyiceberg") == pinned_version("pyiceberg"), (
        f"pyiceberg {installed_version('pyiceberg')} is installed, {pinned_version('pyiceberg')} pinned: "
        "re-check lakehouse/transform/pyiceberg_files.py against the new version"
    )


def test_data_files_are_written_per_partition_with_the_tables_field_ids(tmp_path):
    schema = Schema(
        NestedField(1, "id", LongType(), required=False),
        NestedField(2, "ds", StringType(), required=False),
    )
    spec = PartitionSpec(PartitionField(source_id=2, field_id=1000, transform=IdentityTransform(), name="ds"))
    metadata = new_table_metadata(schema, spec, UNSORTED_SORT_ORDER, location=tmp_path.as_uri(), properties={})
    table = StaticTable(("n", "t"), metadata, str(tmp_path / "metadata.json"), PyArrowFileIO(), catalog=None)  # type: ignore[arg-type]
    data = pa.table({"id": pa.array([1, 2, 3], pa.int64()), "ds": ["a", "b", "a"]})

    files = pyiceberg_files.write_data_files(table, data, PyArrowFileIO())

    assert sorted((f.partition[0], f.record_count) for f in files) == [("a", 2), ("b", 1)]
    for data_file in files:
        written = pq.read_schema(data_file.file_path.removeprefix("file://"))
        assert [written.field(n).metadata[b"PARQUET:field_id"] for n in ("id", "ds")] == [b"1", b"2"]
    assert pyiceberg_files.write_data_files(table, data.slice(0, 0), PyArrowFileIO()) == []
    with pytest.raises(ValueError, match="more columns: other"):  # the schema check runs first
        pyiceberg_files.write_data_files(table, pa.table({"other": [1]}), PyArrowFileIO())
