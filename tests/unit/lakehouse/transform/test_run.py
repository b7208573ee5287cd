"""The transform's orchestration without services: whole slots per batch, in slot order,
one write in flight, the evolution summary on the first write only, and a batch that
will never be written discarded."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pyarrow as pa
import pytest

from lakehouse.transform import run as transform_run
from lakehouse.transform.run import TransformResult, write_landings
from lakehouse.transform.threads import WriteThreads
from lakehouse.transform.writers import SlotBatch

pytestmark = pytest.mark.unit

START = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


class Batch(SlotBatch):
    def __init__(self, writer: Writer) -> None:
        super().__init__()
        self.writer = writer
        self.discarded = False

    def _take(self, rows: pa.Table, quarantine: pa.Table) -> None:
        self.writer.taken.append(rows.num_rows)

    def write(self) -> None:
        assert threading.current_thread().name.startswith("raw-write"), "writes run on the write thread"
        if self.writer.fail_on == len(self.writer.written):
            raise OSError("simulated: the write failed")
        self.writer.written.append((self.slots[:], dict(self.summary)))

    def discard(self) -> None:
        self.discarded = True


class Writer:
    name = "fake"
    write_seconds = 1.5

    def __init__(self, fail_on: int = -1) -> None:
        self.batches: list[Batch] = []
        self.taken: list[int] = []
        self.written: list[tuple[list, dict]] = []
        self.fail_on = fail_on

    def open_batch(self) -> Batch:
        self.batches.append(Batch(self))
        return self.batches[-1]


class Reader:
    """Each landing: ``rows`` typed rows and ``quarantined`` quarantine rows."""

    def __init__(self, sizes: dict[str, tuple[int, int]], fail_on: str | None = None) -> None:
        self.sizes = sizes
        self.fail_on = fail_on

    def read(self, manifest: SimpleNamespace) -> tuple[pa.Table, pa.Table]:
        if manifest.run_id == self.fail_on:
            raise OSError("simulated: the object store went away")
        rows, quarantined = self.sizes[manifest.run_id]
        return pa.table({"v": list(range(rows))}), pa.table({"reason": ["x"] * quarantined})


def _manifests(n: int) -> list[SimpleNamespace]:
    return [SimpleNamespace(run_id=f"r{i}", slot_start=START + timedelta(minutes=15 * i)) for i in range(n)]


def _run(writer: Writer, reader: Reader, n: int, batch_rows: int) -> TransformResult:
    result = TransformResult(table="n.t", quarantine_table="n.t__quarantine")
    with WriteThreads() as threads:
        return write_landings(_manifests(n), reader, writer, threads, result, {"k": "v"}, batch_rows)  # type: ignore[arg-type]


def test_whole_slots_per_batch_in_slot_order_and_the_summary_on_the_first_write_only():
    reader = Reader({f"r{i}": (3, 1) for i in range(5)})
    writer = Writer()
    result = _run(writer, reader, 5, batch_rows=9)
    # 4 rows a slot: two fit a batch of 9, a third does not.
    assert [[s.min for s in slots] for slots, _ in writer.written] == [[0, 15], [30, 45], [0]]
    assert [summary for _, summary in writer.written] == [{"k": "v"}, {}, {}]
    assert (result.rows, result.quarantined, len(result.slots)) == (15, 5, 5)
    assert result.run_ids == [f"r{i}" for i in range(5)]
    assert (result.writer, result.write_seconds) == ("fake", 1.5)


def test_a_slot_bigger_than_a_batch_is_written_alone_and_never_split():
    reader = Reader({"r0": (1, 0), "r1": (50, 0), "r2": (1, 0)})
    writer = Writer()
    _run(writer, reader, 3, batch_rows=10)
    assert [len(slots) for slots, _ in writer.written] == [1, 1, 1]


def test_at_most_max_slots_per_write(monkeypatch):
    monkeypatch.setattr(transform_run, "MAX_SLOTS_PER_WRITE", 2)
    writer = Writer()
    _run(writer, Reader({f"r{i}": (0, 0) for i in range(5)}), 5, batch_rows=10**6)
    assert [len(slots) for slots, _ in writer.written] == [2, 2, 1]


def test_a_read_that_fails_discards_the_batch_no_write_will_take():
    writer = Writer()
    with pytest.raises(OSError, match="object store went away"):
        _run(writer, Reader({"r0": (3, 0), "r1": (3, 0)}, fail_on="r1"), 2, batch_rows=100)
    assert writer.written == [] and [b.discarded for b in writer.batches] == [True]


def test_a_failed_write_stops_the_run_and_the_unsubmitted_batch_is_discarded():
    writer = Writer(fail_on=0)
    with pytest.raises(OSError, match="the write failed"):
        _run(writer, Reader({f"r{i}": (3, 0) for i in range(3)}), 3, batch_rows=3)
    # The first batch's write failed; the run stopped at the next flush, whose batch
    # was never handed to a write.
    assert writer.batches[0].submitted and not writer.batches[0].discarded
    assert writer.batches[1].discarded and not writer.batches[1].submitted
