"""How a batch of whole slots reaches its tables: the ``SlotWriter`` interface, and its
engine-free implementation, the pyarrow overwrite writer.

A writer opens batches; the transform adds whole slots to a batch (typed rows and
quarantine rows, as Arrow) and hands the full batch to one write, which makes the
batch's slots of the table and of its quarantine table hold exactly those rows (one
atomic replacement per table). The Spark writers (overwrite, merge) live with their
engine, in spark_jobs/slot_writers.py, which also chooses among all three.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from concurrent.futures import Future
from typing import TYPE_CHECKING, Protocol

import pyarrow as pa

from lakehouse.config.settings import Settings
from lakehouse.endpoints import Table
from lakehouse.transform.arrow_overwrite import ArrowOverwrite
from lakehouse.transform.partitions import SlotPartition
from lakehouse.transform.threads import WriteThreads

if TYPE_CHECKING:
    from pyiceberg.manifest import DataFile


class SlotBatch(ABC):
    """Typed rows and quarantine rows of one or more whole slots, on their way to one write."""

    def __init__(self) -> None:
        self.slots: list[SlotPartition] = []
        self.run_ids: list[str] = []
        self.rows = 0
        self.quarantined = 0
        self.summary: dict[str, str] = {}  # snapshot-summary entries of its write
        self.submitted = False  # handed to a write, which commits its data or deletes it

    def add(self, slot: SlotPartition, run_id: str, rows: pa.Table, quarantine: pa.Table) -> None:
        self.slots.append(slot)
        self.run_ids.append(run_id)
        self._take(rows, quarantine)
        self.rows += rows.num_rows
        self.quarantined += quarantine.num_rows

    @abstractmethod
    def _take(self, rows: pa.Table, quarantine: pa.Table) -> None:
        """Hold one slot's rows (or start writing them)."""

    @abstractmethod
    def write(self) -> None:
        """Replace exactly the batch's slots in the table and in its quarantine table."""

    @abstractmethod
    def discard(self) -> None:
        """The batch will never be written: drop whatever ``_take`` started."""


class SlotWriter(Protocol):
    name: str  # reported as TransformResult.writer: "arrow" or "spark"

    def open_batch(self) -> SlotBatch: ...

    @property
    def write_seconds(self) -> float:
        """Time spent writing (files and commits), summed over every batch."""
        ...


class ArrowOverwriteWriter:
    """Overwrite tables written by pyarrow and committed through the Iceberg catalog: a
    slot's Parquet files are written in the background as soon as it is added (while
    the next slot is read), and the batch's write only swaps them in."""

    name = "arrow"

    def __init__(self, settings: Settings, table: Table, threads: WriteThreads) -> None:
        self.files = ArrowOverwrite(settings)
        self.table = table
        self.threads = threads
        self._commit_seconds = 0.0  # in the write thread only

    @property
    def write_seconds(self) -> float:
        # The file writes overlap the reading; they are timed by ArrowOverwrite.
        return self._commit_seconds + self.files.file_seconds

    def open_batch(self) -> ArrowBatch:
        return ArrowBatch(self)

    def commit(self, batch: ArrowBatch) -> None:
        """Swap the batch's slots to their written files: the table, then its quarantine."""
        files = self._written(batch.files)
        try:
            quarantine_files = self._written(batch.quarantine_files)
        except BaseException:
            self.files.discard(files)
            raise
        t0 = time.monotonic()
        try:
            self.files.commit_files(self.table.identifier, batch.slots, files, batch.summary)
        except BaseException:
            self.files.discard(quarantine_files)  # the table's own: commit_files discards them when sure
            raise
        self.files.commit_files(self.table.quarantine_identifier, batch.slots, quarantine_files)
        self._commit_seconds += time.monotonic() - t0

    def _written(self, futures: list[Future[list[DataFile]]]) -> list[DataFile]:
        """The data files of a batch's slots; if one slot's write failed, the others' files
        are deleted (no snapshot will reference them) and that failure is raised."""
        failure = next((f.exception() for f in futures if f.exception() is not None), None)
        if failure is not None:
            self.files.discard([d for f in futures if f.exception() is None for d in f.result()])
            raise failure
        return [d for f in futures for d in f.result()]


class ArrowBatch(SlotBatch):
    def __init__(self, writer: ArrowOverwriteWriter) -> None:
        super().__init__()
        self._writer = writer
        self.files: list[Future[list[DataFile]]] = []
        self.quarantine_files: list[Future[list[DataFile]]] = []

    def _take(self, rows: pa.Table, quarantine: pa.Table) -> None:
        files, table = self._writer.files, self._writer.table
        written, quarantined = self._writer.threads.in_background(
            lambda: files.write_files(table.identifier, rows),
            lambda: files.write_files(table.quarantine_identifier, quarantine),
        )
        self.files.append(written)
        self.quarantine_files.append(quarantined)

    def write(self) -> None:
        self._writer.commit(self)

    def discard(self) -> None:
        """Delete the data files of the batch once written (a failed write deleted its own)."""
        for future in self.files + self.quarantine_files:
            if future.exception() is None:  # waits
                self._writer.files.discard(future.result())
