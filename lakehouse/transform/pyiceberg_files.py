"""pyiceberg's Parquet writer without a commit: the one adapter to its private API.

Why not the public API: ``Table.append`` and ``Table.overwrite`` write their data files
inside the commit's transaction, so a commit that loses a race (a backfill's slots of
one table commit at once) writes every file again, and a slot's files cannot be
written while the next slot is typed. pyiceberg 0.12 has no public call that writes a
table's data files (its partitioning, field ids, write properties and column metrics)
without committing them; ``add_files`` takes files written elsewhere, without the
table's field ids, and reads each one back for its statistics (the request for a
public one: apache/iceberg-python#1751). What Table.append runs inside its
transaction is these two private functions, so the arrow writer calls them, through
this module only, gated on the signatures they had at the pinned version.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from lakehouse.engines.private_api import PrivateApi

if TYPE_CHECKING:
    import pyarrow as pa
    from pyiceberg.io import FileIO
    from pyiceberg.manifest import DataFile
    from pyiceberg.table import Table as IcebergTable

DATAFRAME_TO_DATA_FILES = PrivateApi(
    "pyiceberg",
    "pyiceberg.io.pyarrow",
    "_dataframe_to_data_files",
    ("table_metadata", "df", "io", "write_uuid"),
    __name__,
)
CHECK_SCHEMA_COMPATIBLE = PrivateApi(
    "pyiceberg",
    "pyiceberg.io.pyarrow",
    "_check_pyarrow_schema_compatible",
    ("requested_schema", "provided_schema", "format_version"),
    __name__,
)


@functools.cache
def _private() -> tuple[Callable[..., Any], Callable[..., Any]]:
    return DATAFRAME_TO_DATA_FILES.resolve(), CHECK_SCHEMA_COMPATIBLE.resolve()


def check() -> None:
    """Raise PrivateApiChangedError now if the installed pyiceberg changed either function."""
    _private()


def write_data_files(table: IcebergTable, data: pa.Table, io: FileIO) -> list[DataFile]:
    """Parquet files of ``data`` for ``table`` (one per partition), referenced by no snapshot.

    Casts to the table's schema by name, applies the write properties (codec, target
    size) and the metrics modes (full bounds of the run-id column, which the count
    check relies on)."""
    to_data_files, check_schema = _private()
    if data.num_rows == 0:
        return []
    check_schema(
        requested_schema=table.metadata.schema(),
        provided_schema=data.schema,
        format_version=table.metadata.format_version,
    )
    return list(to_data_files(table_metadata=table.metadata, df=data, io=io, write_uuid=uuid.uuid4()))
