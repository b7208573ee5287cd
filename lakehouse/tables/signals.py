"""The signal table: one fixed-schema row per landed run, in `scraper.signals`.

The schema never changes with what is scraped (`run_id, endpoint, s3_path, ds, hr,
min, published_at`, plus optional landing totals, an incremental endpoint's cursor
range and the content hash of the endpoint config that produced the landing);
downstream jobs discover new raw landings through it. Optional columns are only
ever added, nullable, at the end: ``signal_table`` adds the ones an older table
lacks (an Iceberg schema update, no rewrite), so existing tables evolve in place.
Publishing is idempotent per run_id: the row is replaced in one Iceberg commit
(delete-matching + append), so a rerun never adds a second row.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from lakehouse.config.settings import Settings
from lakehouse.raw.layout import partition_of
from lakehouse.tables.catalog import commit_with_retry, equal_to, load_catalog

if TYPE_CHECKING:
    import pyarrow as pa
    from pyiceberg.catalog import Catalog
    from pyiceberg.partitioning import PartitionSpec
    from pyiceberg.schema import Schema
    from pyiceberg.table import Table

SIGNAL_NAMESPACE = "scraper"
SIGNAL_TABLE = "signals"
SIGNAL_IDENTIFIER = f"{SIGNAL_NAMESPACE}.{SIGNAL_TABLE}"

#: the fixed columns, in order; the optional totals come after them
FIXED_COLUMNS = ("run_id", "endpoint", "s3_path", "ds", "hr", "min", "published_at")


@dataclass(frozen=True)
class Signal:
    run_id: str
    endpoint: str
    s3_path: str
    slot_start: datetime
    pages: int | None = None
    records: int | None = None
    bytes: int | None = None
    # An incremental landing's range (raw_layout.CursorRange): what it asked from, its mark.
    cursor_start: str | None = None
    cursor_end: str | None = None
    # EndpointConfig.content_hash, from the manifest (None for landings made before it).
    config_hash: str | None = None

    @property
    def partition(self) -> tuple[str, int, int]:
        p = partition_of(self.slot_start)
        return p.ds, int(p.hr), int(p.min)


def _schema() -> Schema:
    from pyiceberg.schema import Schema
    from pyiceberg.types import IntegerType, LongType, NestedField, StringType, TimestamptzType

    return Schema(
        NestedField(1, "run_id", StringType(), required=True),
        NestedField(2, "endpoint", StringType(), required=True),
        NestedField(3, "s3_path", StringType(), required=True),
        NestedField(4, "ds", StringType(), required=True),
        NestedField(5, "hr", IntegerType(), required=True),
        NestedField(6, "min", IntegerType(), required=True),
        NestedField(7, "published_at", TimestamptzType(), required=True),
        NestedField(8, "pages", LongType(), required=False),
        NestedField(9, "records", LongType(), required=False),
        NestedField(10, "bytes", LongType(), required=False),
        NestedField(11, "cursor_start", StringType(), required=False),
        NestedField(12, "cursor_end", StringType(), required=False),
        NestedField(13, "config_hash", StringType(), required=False),
        identifier_field_ids=[1],
    )


def _spec() -> PartitionSpec:
    from pyiceberg.partitioning import PartitionField, PartitionSpec
    from pyiceberg.transforms import IdentityTransform

    return PartitionSpec(PartitionField(source_id=4, field_id=1000, transform=IdentityTransform(), name="ds"))


#: - full (untruncated) min/max of run_id in every data file's metadata: with the
#:   default truncate(16) every run of an endpoint shares one bound prefix, so a
#:   replace by run id would open every file of the day;
#: - merge small manifests (one per publish otherwise): a replace plans its delete by
#:   reading every manifest of the day's partition, so a day of 96 publishes would
#:   read 96 manifests each;
#: - no pyiceberg commit retry: it cannot work on Nessie (see catalog.commit_with_retry).
SIGNAL_TABLE_PROPERTIES: dict[str, str] = {
    "write.metadata.metrics.column.run_id": "full",
    "commit.manifest-merge.enabled": "true",
    "commit.manifest.min-count-to-merge": "8",
    "commit.retry.num-retries": "0",
}


@dataclass(frozen=True)
class SignalRow:
    """One row of the signal table, as read back."""

    run_id: str
    endpoint: str
    s3_path: str
    ds: str
    hr: int
    min: int
    published_at: datetime
    pages: int | None = None
    records: int | None = None
    bytes: int | None = None
    cursor_start: str | None = None
    cursor_end: str | None = None
    config_hash: str | None = None


def signal_table(catalog: Catalog) -> Table:
    """The signal table, created on first use (the namespace is bootstrapped).

    Loaded first (one round trip when it exists, which is every publish but the
    first); tables created before SIGNAL_TABLE_PROPERTIES get them once.
    """
    from pyiceberg.exceptions import CommitFailedException, NoSuchTableError, TableAlreadyExistsError

    try:
        table = catalog.load_table(SIGNAL_IDENTIFIER)
    except NoSuchTableError:
        try:
            return catalog.create_table(
                SIGNAL_IDENTIFIER, schema=_schema(), partition_spec=_spec(), properties=SIGNAL_TABLE_PROPERTIES
            )
        except TableAlreadyExistsError:  # a concurrent first publish created it
            table = catalog.load_table(SIGNAL_IDENTIFIER)
    missing = {k: v for k, v in SIGNAL_TABLE_PROPERTIES.items() if table.properties.get(k) != v}
    if missing:
        try:
            table = table.transaction().set_properties(missing).commit_transaction()
        except CommitFailedException:  # another publisher upgraded it meanwhile
            table = catalog.load_table(SIGNAL_IDENTIFIER)
    return _evolved(catalog, table)


def _evolved(catalog: Catalog, table: Table) -> Table:
    """The table with every optional column of ``_schema`` that it lacks added (a
    table created before the column existed); a no-op once it has them all."""
    from pyiceberg.exceptions import CommitFailedException

    have = {f.name for f in table.schema().fields}
    new = [f for f in _schema().fields if f.name not in have]
    if not new:
        return table
    if any(f.required for f in new):
        names = [f.name for f in new]
        raise RuntimeError(f"signal schema: {names} must be optional to be added to {SIGNAL_IDENTIFIER}")
    try:
        with table.update_schema() as update:
            for f in new:
                update.add_column(f.name, f.field_type, doc=f.doc)
    except CommitFailedException:  # a concurrent publisher evolved it first
        pass
    return catalog.load_table(SIGNAL_IDENTIFIER)


def publish(settings: Settings, signal: Signal, catalog: Catalog | None = None) -> None:
    """Write the run's row, replacing any earlier row of the same run_id atomically.

    Slots of a backfill publish at the same time into one table; Iceberg lets only
    one commit win, and the others fail against the new snapshot. The losers redo
    the whole replace on a freshly loaded table (catalog.commit_with_retry), which is
    safe because the replace is idempotent per run_id.
    """

    catalog = catalog or load_catalog(settings)
    commit_with_retry(lambda: _replace_row(signal_table(catalog), signal))


def signal_row(signal: Signal, schema: pa.Schema) -> pa.Table:
    """The run's row as the table's Arrow schema has it, stamped now (the one place a
    signal row is built)."""
    import pyarrow as pa

    ds, hr, minute = signal.partition
    return pa.Table.from_pylist(
        [
            {
                "run_id": signal.run_id,
                "endpoint": signal.endpoint,
                "s3_path": signal.s3_path,
                "ds": ds,
                "hr": hr,
                "min": minute,
                "published_at": datetime.now(UTC),
                "pages": signal.pages,
                "records": signal.records,
                "bytes": signal.bytes,
                "cursor_start": signal.cursor_start,
                "cursor_end": signal.cursor_end,
                "config_hash": signal.config_hash,
            }
        ],
        schema=schema,
    )


def _replace_row(table: Table, signal: Signal) -> None:
    from pyiceberg.expressions import And

    from lakehouse.tables.catalog import equal_to

    row = signal_row(signal, table.schema().as_arrow())
    ds = signal.partition[0]
    with warnings.catch_warnings():
        # The first publish of a run deletes nothing; pyiceberg warns about that.
        warnings.filterwarnings("ignore", message="Delete operation did not match any records")
        # A run's row is always in its slot's ds partition: naming it prunes the
        # delete to that partition's manifests and files.
        table.overwrite(row, overwrite_filter=And(equal_to("ds", ds), equal_to("run_id", signal.run_id)))


def rows_for(settings: Settings, run_id: str, catalog: Catalog | None = None) -> list[SignalRow]:
    """The signal rows of one run (one after a publish, none before)."""

    table = signal_table(catalog or load_catalog(settings))
    found = table.scan(row_filter=equal_to("run_id", run_id)).to_arrow().to_pylist()
    names = {f.name for f in fields(SignalRow)}
    return [SignalRow(**{k: v for k, v in row.items() if k in names}) for row in found]
