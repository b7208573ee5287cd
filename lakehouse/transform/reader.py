"""One complete landing -> its typed rows and its quarantine rows, as Arrow tables.

Pages are fetched several at a time (fetch.py) and checked against the manifest's
checksums before anything is read; each page is typed by the fast path when it can
(arrow_pages.py) and by the orjson path otherwise (batches.py). Every row gets the
lineage columns (``_run_id``, ``_ingested_at``) and its slot's partition columns.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from lakehouse.config.settings import S3Settings
from lakehouse.endpoints import Table
from lakehouse.raw.layout import Manifest
from lakehouse.transform.batches import FastPageBatch
from lakehouse.transform.conversions import TIMESTAMP
from lakehouse.transform.fetch import PageFetcher
from lakehouse.transform.pages import page_problem
from lakehouse.transform.partitions import PARTITION_SCHEMA, SlotPartition, slot_partition
from lakehouse.transform.typer import ArrowTyper, QuarantineEntry

QUARANTINE_SCHEMA = pa.schema(
    [("reason", pa.string()), ("raw_key", pa.string()), ("record", pa.string()), ("run_id", pa.string())]
)


def constant(value: object, n: int, arrow_type: pa.DataType) -> pa.Array:
    return pa.array([value], arrow_type).take(pa.array(np.zeros(n, dtype=np.int32)))


def slot_columns(n: int, slot: SlotPartition) -> list[pa.Array]:
    return [constant(slot.ds, n, pa.string()), constant(slot.hr, n, pa.int32()), constant(slot.min, n, pa.int32())]


class LandingReader:
    """Reads the landings of one endpoint's table (one per transform run)."""

    def __init__(self, s3: S3Settings, table: Table, records_path: str, fetcher: PageFetcher | None = None) -> None:
        self.typer = ArrowTyper(table)
        self.records_path = records_path
        self.fetcher = fetcher if fetcher is not None else PageFetcher(s3)

    def read(self, manifest: Manifest) -> tuple[pa.Table, pa.Table]:
        """(its typed rows with lineage and partition columns, its quarantine rows)."""
        batch = FastPageBatch(self.typer, self.records_path)
        for page, fetched in zip(manifest.pages, self.fetcher.pages(manifest.pages, batch.prepare), strict=True):
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
        return _with_lineage(typed.table, manifest, slot), _quarantine_rows(typed.quarantined, manifest.run_id, slot)


def _with_lineage(rows: pa.Table, manifest: Manifest, slot: SlotPartition) -> pa.Table:
    n = rows.num_rows
    # _ingested_at is when the landing completed, not when this job ran, so a rerun
    # of a slot writes identical rows (house rule 4).
    for name, column in (
        ("_run_id", constant(manifest.run_id, n, pa.string())),
        ("_ingested_at", constant(manifest.finished_at, n, TIMESTAMP)),
    ):
        rows = rows.append_column(name, column)
    for name, column in zip(PARTITION_SCHEMA.names, slot_columns(n, slot), strict=True):
        rows = rows.append_column(name, column)
    return rows


def _quarantine_rows(entries: list[QuarantineEntry], run_id: str, slot: SlotPartition) -> pa.Table:
    return pa.Table.from_arrays(
        [
            pa.array([e.reason for e in entries], pa.string()),
            pa.array([e.raw_key for e in entries], pa.string()),
            pa.array([e.record for e in entries], pa.string()),
            constant(run_id, len(entries), pa.string()),
            *slot_columns(len(entries), slot),
        ],
        schema=pa.schema([*QUARANTINE_SCHEMA, *PARTITION_SCHEMA]),
    )
