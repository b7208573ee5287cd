"""Replace whole slot partitions of an Iceberg table from Arrow, without the JVM.

What the arrow writer (writers.ArrowOverwriteWriter, ``spark.table_writer: arrow``,
the default for overwrite tables) does with a batch: its typed Arrow rows are written as Parquet by
pyarrow, through pyiceberg (one file per slot partition per batch, with the table's
field ids, write properties and column metrics), and committed through the Iceberg
REST catalog as ONE overwrite snapshot per table: the slots' current data files
removed and the new ones added in the same commit, so a reader sees each slot's old
partition or its new one, never half, and a slot whose new data is empty is still
emptied. Spark's writer spends JVM CPU turning the Arrow batches back into rows for
Iceberg's row-wise Parquet writer; this one does not (docs/benchmarks.md).

Tables are still created and evolved by Spark (spark_jobs.tables,
spark_jobs.table_evolution): one place defines a table, and this writer writes to
whatever schema the catalog holds. Spark's Iceberg catalog has its cache off
(lakehouse.engines.spark_conf), so its next read sees these commits.

Concurrent slots of one table (a backfill) race for the commit: the loser reloads
the table and commits the same data files again (lakehouse.tables.catalog.commit_with_retry),
so no file is rewritten on a retry and no slot's partition is lost.

Files no snapshot references: a write_files call that fails deletes every file it
opened (the ones its failed part wrote before failing too); a commit that surely did
not land deletes its files; the transform deletes the files of batches it never
committed. Left behind, for Nessie GC (docs/spark.md, "Files no snapshot
references"): the files of a commit whose outcome is unknown (the catalog went away
mid-commit: they may be the table's now), and those of a process killed between
writing and committing.
"""

from __future__ import annotations

import logging
import threading
import time
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pyarrow as pa
from pyiceberg.io import FileIO, InputFile, OutputFile, OutputStream

from lakehouse.config.settings import Settings
from lakehouse.engines.engine import EngineDependencyUnavailableError
from lakehouse.errors import LakehouseError
from lakehouse.tables.catalog import catalog_properties, commit_with_retry, load_catalog, slot_filter
from lakehouse.transform.partitions import SlotPartition
from lakehouse.transform.pyiceberg_files import write_data_files

if TYPE_CHECKING:
    from pyiceberg.catalog import Catalog
    from pyiceberg.expressions import BooleanExpression
    from pyiceberg.manifest import DataFile
    from pyiceberg.table import Table as IcebergTable

log = logging.getLogger(__name__)


class RowLevelDeletesError(LakehouseError):
    def __init__(self, identifier: str, slots: Sequence[SlotPartition]) -> None:
        super().__init__(
            f"{identifier} has row-level delete files in slot(s) {', '.join(map(str, slots))}: the arrow "
            "writer replaces whole data files and cannot drop those. Compact the table (spark_jobs/maintenance.py "
            "rewrites them away), or set spark.table_writer: spark for this run."
        )


@dataclass(frozen=True)
class SlotsWritten:
    identifier: str
    files: int
    removed: int
    attempts: int
    seconds: float


def slots_expression(slots: Sequence[SlotPartition]) -> BooleanExpression:
    """The rows of exactly these (ds, hr, min) partitions, as a pyiceberg filter."""
    from pyiceberg.expressions import Or

    if not slots:
        raise ValueError("slots_expression needs at least one slot")
    terms = [slot_filter(s.ds, s.hr, s.min) for s in dict.fromkeys(slots)]
    return terms[0] if len(terms) == 1 else Or(*terms)


class ArrowOverwrite:
    """Writes batches of whole slots into tables of one catalog (one per transform run)."""

    def __init__(self, settings: Settings, catalog: Catalog | None = None) -> None:
        from pyiceberg.io.pyarrow import PyArrowFileIO

        self.settings = settings
        self.catalog = catalog or load_catalog(settings)
        # Data files go through pyarrow's S3 client (C++, off the GIL, so the next batch
        # is typed meanwhile), not the table's FileIO: Nessie hands out fsspec's s3fs,
        # whose Python event loop would hold the GIL for every uploaded part. Manifests
        # (small) still go through the table's FileIO.
        self.data_io: FileIO = PyArrowFileIO(catalog_properties(settings))
        # The tables' metadata for writing files (a run's schema does not change while
        # it writes: evolution runs before); commits always load the table afresh.
        self._tables: dict[str, IcebergTable] = {}
        self._lock = threading.Lock()
        self.file_seconds = 0.0  # summed over the file-writing threads

    def replace_slots(
        self,
        identifier: str,
        data: pa.Table,
        slots: Sequence[SlotPartition],
        summary: dict[str, str] | None = None,
    ) -> SlotsWritten:
        """Make ``slots`` of ``identifier`` hold exactly ``data`` (which must lie in them),
        in one catalog commit; ``summary`` goes into the snapshot's summary."""
        t0 = time.monotonic()
        files = self.write_files(identifier, data)
        return self.commit_files(identifier, slots, files, summary, started=t0)

    def write_files(self, identifier: str, data: pa.Table) -> list[DataFile]:
        """Parquet files of ``data`` for ``identifier``, referenced by no snapshot yet.

        Safe to call from several threads at once (the transform writes a slot's files
        while it types the next slot): the table's metadata is loaded once, and the
        file writes are pyarrow's, off the GIL."""
        t0 = time.monotonic()
        recorder = _WriteRecorder(self.data_io)
        try:
            with self._unreachable_as_named_error():
                files = write_data_files(self._table(identifier), data, recorder)
        except BaseException:
            recorder.abort()
            raise
        with self._lock:
            self.file_seconds += time.monotonic() - t0
        return files

    def commit_files(
        self,
        identifier: str,
        slots: Sequence[SlotPartition],
        files: list[DataFile],
        summary: dict[str, str] | None = None,
        started: float | None = None,
    ) -> SlotsWritten:
        """One catalog commit: ``slots`` of ``identifier`` hold exactly ``files`` (from
        write_files). The files are deleted again when the commit surely did not land."""
        t0 = time.monotonic() if started is None else started
        attempts: list[float] = []  # one entry per try, for SlotsWritten

        def commit() -> int:
            attempts.append(time.monotonic())
            with self._unreachable_as_named_error():
                return _commit_overwrite(identifier, self.catalog.load_table(identifier), slots, files, summary or {})

        try:
            removed = commit_with_retry(commit)
        except BaseException as exc:
            if _surely_not_committed(exc):
                self.discard(files)
            raise
        written = SlotsWritten(identifier, len(files), removed, len(attempts), time.monotonic() - t0)
        log.debug("%s", written)
        return written

    def discard(self, files: list[DataFile]) -> None:
        """Delete data files no snapshot will reference (best effort)."""
        _delete_quietly(self.data_io, files)

    def _table(self, identifier: str) -> IcebergTable:
        with self._lock:
            table = self._tables.get(identifier)
        if table is None:
            table = self.catalog.load_table(identifier)
            with self._lock:
                self._tables[identifier] = table
        return table

    @contextmanager
    def _unreachable_as_named_error(self) -> Iterator[None]:
        """The catalog or the object store gone mid-write as the transform's named,
        retryable error (what the Spark path raises for the same fault)."""
        try:
            yield
        except LakehouseError:
            raise
        except Exception as exc:
            unreachable = _unreachable_service(exc, self.settings)
            if unreachable is None:
                raise
            raise EngineDependencyUnavailableError(*unreachable) from exc


def _commit_overwrite(
    identifier: str, table: IcebergTable, slots: Sequence[SlotPartition], files: list[DataFile], summary: dict[str, str]
) -> int:
    """One OVERWRITE snapshot: every current data file of ``slots`` out, ``files`` in.
    Returns how many files it removed."""
    condition = slots_expression(slots)
    with warnings.catch_warnings():
        # A scan of a table without snapshots warns that it finds nothing.
        warnings.simplefilter("ignore")
        tasks = list(table.scan(row_filter=condition).plan_files())
    if any(task.delete_files for task in tasks):
        raise RowLevelDeletesError(identifier, slots)
    old = [task.file for task in tasks]
    if not old and not files:
        return 0  # nothing there, nothing new: no empty snapshot
    tx = table.transaction()
    with tx.update_snapshot(snapshot_properties=summary).overwrite() as overwrite:
        # The predicate scopes pyiceberg's conflict checks and manifest pruning to the slots.
        overwrite.delete_by_predicate(condition)
        for data_file in old:
            overwrite.delete_data_file(data_file)
        for data_file in files:
            overwrite.append_data_file(data_file)
    tx.commit_transaction()
    return len(old)


def _surely_not_committed(exc: BaseException) -> bool:
    """The commit certainly did not land (a lost race or a refused change), so the
    new data files are referenced by no snapshot."""
    from pyiceberg.exceptions import CommitFailedException, ValidationException

    return isinstance(exc, CommitFailedException | ValidationException | RowLevelDeletesError)


def _delete_quietly(io: FileIO, files: list[DataFile]) -> None:
    for data_file in files:
        try:
            io.delete(data_file.file_path)
        except Exception:  # best effort: left to Nessie GC (docs/spark.md)
            log.warning("could not delete uncommitted data file %s", data_file.file_path)


class _TrackedOutput(OutputFile):
    """An output file whose stream the recorder can see (to wait for it to close)."""

    def __init__(self, inner: OutputFile) -> None:
        super().__init__(inner.location)
        self._inner = inner
        self.stream: OutputStream | None = None
        self.failed = False  # create() raised: no stream to wait for
        self.opened_at = time.monotonic()

    def __len__(self) -> int:
        return len(self._inner)

    def exists(self) -> bool:
        return self._inner.exists()

    def to_input_file(self) -> InputFile:
        return self._inner.to_input_file()

    def create(self, overwrite: bool = False) -> OutputStream:
        try:
            self.stream = self._inner.create(overwrite=overwrite)
        except BaseException:
            self.failed = True
            raise
        return self.stream

    def settled(self, now: float) -> bool:
        """Nothing more will be written to it: its stream was closed (whatever it wrote is
        in the store now), or its writer failed before opening one."""
        if self.failed:
            return True
        if self.stream is None:
            # pyiceberg opens the stream right after new_output; still none after a few
            # seconds: that task failed in between.
            return now - self.opened_at > 5.0
        return bool(getattr(self.stream, "closed", True))


class _WriteRecorder(FileIO):
    """The FileIO of one write_files call: records every data file the call opens, so
    a failed call deletes exactly its own files (pyiceberg writes a call's files in
    parallel and raises at the first failure, while the others may still be writing)."""

    # How long abort() waits for the call's other files to finish (an upload of one
    # target-size file); a file never opened is never written.
    SETTLE_SECONDS = 120.0

    def __init__(self, io: FileIO) -> None:
        super().__init__(io.properties)
        self._io = io
        self._lock = threading.Lock()
        self._outputs: list[_TrackedOutput] = []
        self._aborted = False

    def new_input(self, location: str) -> InputFile:
        return self._io.new_input(location)

    def new_output(self, location: str) -> OutputFile:
        with self._lock:
            if self._aborted:
                raise WriteAbortedError(location)
            output = _TrackedOutput(self._io.new_output(location))
            self._outputs.append(output)
        return output

    def delete(self, location: str | InputFile | OutputFile) -> None:
        self._io.delete(location)

    def abort(self) -> None:
        """Open no more files, wait for the open ones to close, delete them all."""
        with self._lock:
            self._aborted = True
            outputs = list(self._outputs)
        deadline = time.monotonic() + self.SETTLE_SECONDS
        while time.monotonic() < deadline and not all(o.settled(time.monotonic()) for o in outputs):
            time.sleep(0.05)  # pyiceberg gives no handle on its writer threads to join
        for output in outputs:
            try:
                self._io.delete(output.location)
            except FileNotFoundError:
                pass  # its upload failed: nothing was written
            except Exception:  # best effort: left to Nessie GC (docs/spark.md)
                log.warning("could not delete data file %s of a failed write", output.location)


class WriteAbortedError(LakehouseError):
    def __init__(self, location: str) -> None:
        super().__init__(f"not writing {location}: another file of the same write failed (see its error)")


def _unreachable_service(exc: BaseException, settings: Settings) -> tuple[str, str, str] | None:
    """(service, address, detail) when ``exc`` says the catalog or the object store
    could not be reached; None for any other failure."""
    import requests
    from pyiceberg.exceptions import CommitStateUnknownException, ServerError

    catalog = ("the Iceberg catalog (Nessie)", settings.catalog.uri)
    detail = f"{type(exc).__name__}: {str(exc)[:200]}"
    if isinstance(exc, requests.ConnectionError | requests.Timeout):
        return (*catalog, detail)
    if isinstance(exc, CommitStateUnknownException | ServerError):
        # Nessie answered 5xx: it could not reach its own store, or is going down.
        return (*catalog, detail)
    if isinstance(exc, OSError) and ("AWS Error" in str(exc) or "curl" in str(exc).lower()):
        return ("the object store (S3)", settings.s3.endpoint_url, detail)
    return None
