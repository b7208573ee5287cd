"""The transform's orchestration, engine-free: landings in slot order -> batches of
whole slots -> one write per batch, through whichever SlotWriter the job chose.

Memory stays bounded on a long range: slots are typed and written in batches of about
``batch_rows`` records (whole slots only), each batch one replacement of exactly its
slots in the table and one in its quarantine table, so a slot's partition is always
replaced whole and at once. The next batch is read and typed while the previous one
is written (WriteThreads). A rerun of the range converges on the same rows (house
rule 4) even if it stopped between two batches.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import pyarrow as pa

from lakehouse.raw.layout import Manifest
from lakehouse.transform.batches import gc_paused
from lakehouse.transform.partitions import SlotPartition, slot_partition
from lakehouse.transform.reader import LandingReader
from lakehouse.transform.threads import WriteThreads
from lakehouse.transform.writers import SlotBatch, SlotWriter

log = logging.getLogger(__name__)

# Records per write (whole slots only: a bigger slot is written alone). About 100-200 MB
# of Arrow on the driver for typical records, and as much again in an engine's JVM on
# its way to its writer.
DEFAULT_BATCH_ROWS = 1_000_000
# Slots per write: bounds the OR-filter of one overwrite on a range of tiny slots.
MAX_SLOTS_PER_WRITE = 192


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


def write_landings(
    manifests: Iterable[Manifest],
    reader: LandingReader,
    writer: SlotWriter,
    threads: WriteThreads,
    result: TransformResult,
    summary: dict[str, str],
    batch_rows: int = DEFAULT_BATCH_ROWS,
) -> TransformResult:
    """Read, type and write ``manifests``' landings into ``result``'s tables; ``summary``
    goes into the snapshot summary of the first write."""
    result.writer = writer.name
    batch = writer.open_batch()
    batch.summary = summary
    try:
        for manifest in manifests:
            rows, quarantine = _read(reader, manifest, result)
            if batch.slots and _full(batch, rows.num_rows + quarantine.num_rows, batch_rows):
                _submit(threads, batch, result)
                batch = writer.open_batch()
            batch.add(slot_partition(manifest.slot_start), manifest.run_id, rows, quarantine)
            result.run_ids.append(manifest.run_id)
        if batch.slots:
            _submit(threads, batch, result)
        threads.wait()
    except BaseException:
        if not batch.submitted:
            batch.discard()  # its data may be written or being written, and no commit will take it
        raise
    result.write_seconds += writer.write_seconds
    log.info(
        "%s: %d rows in %d slot(s); %d records quarantined in %s "
        "(read and typed in %.1f s, written in %.1f s, partly overlapping)",
        result.table,
        result.rows,
        len(result.slots),
        result.quarantined,
        result.quarantine_table,
        result.read_seconds,
        result.write_seconds,
    )
    return result


def _read(reader: LandingReader, manifest: Manifest, result: TransformResult) -> tuple[pa.Table, pa.Table]:
    t0 = time.monotonic()
    with gc_paused():  # over the whole landing: see batches.gc_paused
        rows, quarantine = reader.read(manifest)
    result.read_seconds += time.monotonic() - t0
    log.info(
        "%s: %d rows, %d quarantined (slot %s)",
        manifest.run_id,
        rows.num_rows,
        quarantine.num_rows,
        slot_partition(manifest.slot_start),
    )
    return rows, quarantine


def _full(batch: SlotBatch, more: int, batch_rows: int) -> bool:
    return batch.rows + batch.quarantined + more > batch_rows or len(batch.slots) >= MAX_SLOTS_PER_WRITE


def _submit(threads: WriteThreads, batch: SlotBatch, result: TransformResult) -> None:
    threads.write(functools.partial(_write_batch, batch, result))
    batch.submitted = True


def _write_batch(batch: SlotBatch, result: TransformResult) -> None:
    batch.write()
    result.slots.extend(batch.slots)
    result.rows += batch.rows
    result.quarantined += batch.quarantined
    log.info(
        "%s: wrote %d rows, %d quarantined, for %d slot(s)",
        result.table,
        batch.rows,
        batch.quarantined,
        len(batch.slots),
    )
