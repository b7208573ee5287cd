"""Faults after the crawl (issue 12): the catalog (Nessie) and the storage (SeaweedFS)
stopped, and the engine (the Spark Connect server) killed, while a slot is transformed
or its signal row is published, on the shared test stack's real services.

Each scenario first lands a slot and transforms it ("old": OLD_RECORDS rows), then
lands the same slot again with NEW_RECORDS records (a rerun's landing: same run id,
same keys) and injects the fault while the transform of that landing writes. Checked:

- the faulted attempt ends by itself, in bounded time (it fails, or it lands when the
  fault came too late to matter);
- the slot's partition is then exactly the old rows or exactly the new ones, never a
  mix, a sum or nothing;
- a retry lands it: the new rows, and the count check the DAG runs afterwards
  (``pipeline.check_table_counts``: table rows == manifest records) passes.

The transforms run what the DAG's transform task runs, in a process of their own:
``lakehouse_airflow.spark.run_on_connect("raw_to_table", ...)``, which calls
``lakehouse.engines.engine.ensure_engine`` first. The signal scenarios call
``pipeline.publish_signal`` (the publish task's body) in this process.

Moments: the short form injects once per scenario, when the transform logs that the
slot is read and typed (its write to the table starts right after). The long form
(``LAKEHOUSE_RELIABILITY_LONG=1``) repeats every scenario at several moments after
that line. Figures are printed with ``-s``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from benchmarks.engine_soak import endpoint_config, land
from lakehouse.config.settings import Settings
from lakehouse.engines.engine import ensure_engine
from lakehouse.local.services.spark_connect_server import SparkConnectService
from lakehouse.local.stack import LocalStack
from lakehouse.pipeline import steps as pipeline
from lakehouse.queue.crawl_queue import open_queue
from lakehouse.queue.jobs import CrawlJob, JobResult, JobState
from lakehouse.raw.layout import manifest_key, partition_of
from lakehouse.tables.catalog import clear_catalog_cache, load_catalog, slot_filter
from lakehouse.tables.signals import rows_for

LONG = os.environ.get("LAKEHOUSE_RELIABILITY_LONG") == "1"
ROOT = Path(__file__).resolve().parents[3]
OLD_RECORDS = 1_000
# Big enough that the write to the table takes a few seconds on this machine (the
# window the faults aim at), small enough to keep the short forms quick.
NEW_RECORDS = 60_000
PAGES = 10
# raw_to_table logs this when the slot is read and typed; its write starts right after.
READ_MARK = "quarantined (slot"
# The last line of a traceback: `<module>.<Name>Error: message`.
FINAL_ERROR = re.compile(r"^([\w.]+(?:Error|Exception)): ")
# What a faulted attempt may end with: the named, retryable errors of lakehouse.engines.engine.
RETRYABLE = (
    "lakehouse.engines.engine.SparkEngineUnavailableError",
    "lakehouse.engines.engine.EngineDependencyUnavailableError",
)
# Seconds after READ_MARK at which the long form injects (the short form: the first).
MOMENTS = (0.0, 1.0, 3.0) if LONG else (0.0,)
# The table writers the transform scenarios run with (spark.table_writer): the default
# (arrow) in the short form, Spark's writer too in the long form.
WRITERS = ("arrow", "spark") if LONG else ("arrow",)
# Several injections, each with a JVM restart, per long-form test.
pytestmark = pytest.mark.timeout(2700 if LONG else 900)
# A faulted attempt must end by itself within this.
ATTEMPT_BOUND = 240.0
# The DAG's transform task, in its own process (Connect client; Airflow imported as in a task).
TASK = "import sys\nfrom lakehouse_airflow.spark import run_on_connect\nrun_on_connect('raw_to_table', sys.argv[1:])\n"
# The same task with the arrow writer (spark.table_writer: arrow, the default) paused
# for a few seconds before one of its steps, after printing PAUSE_MARK: the fault is
# injected in the pause, so the step meets it for certain.
PAUSE_MARK = "arrow writer paused before"
PAUSED_TASK = """
import time
from lakehouse.transform import arrow_overwrite as arrow_writer
real = getattr(arrow_writer, {step!r})
def paused(*args, **kwargs):
    print({mark!r}, {step!r}, flush=True)
    time.sleep({seconds})
    return real(*args, **kwargs)
setattr(arrow_writer, {step!r}, paused)
"""


@dataclass
class Attempt:
    """One transform task attempt in a subprocess; its log is read as it runs."""

    proc: subprocess.Popen[str]
    mark: str = READ_MARK
    started: float = field(default_factory=time.monotonic)
    lines: list[str] = field(default_factory=list)
    marked: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)
            if self.mark in line:
                self.marked.set()

    def wait_mark(self, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while not self.marked.wait(0.2):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.proc.kill()
                time.sleep(0.2)
                raise AssertionError(f"the transform never read its slot: {self.text[-3000:]}")

    def wait(self, timeout: float = ATTEMPT_BOUND) -> tuple[int, float]:
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise AssertionError(f"the attempt did not end within {timeout:.0f} s: {self.text[-3000:]}") from None
        time.sleep(0.2)  # the reader thread drains the pipe
        return code, time.monotonic() - self.started

    @property
    def text(self) -> str:
        return "".join(self.lines)

    def final_error(self) -> str:
        """The exception the task ended with (the last line of its traceback)."""
        ends = [m[1] for line in self.lines if (m := FINAL_ERROR.match(line))]
        return ends[-1] if ends else ""


@dataclass
class Slot:
    """One slot of a table endpoint of its own: landings, transform attempts, its partition."""

    settings: Settings
    name: str
    endpoints_dir: Path
    start: datetime

    @property
    def run_id(self) -> str:
        return self.job.run_id

    @property
    def job(self) -> CrawlJob:
        return CrawlJob.for_slot(
            endpoint=self.name,
            slot_start=self.start,
            slot_end=self.start + timedelta(minutes=15),
            config_hash="0" * 64,  # landed by the test, never crawled
            raw_base=self.settings.s3.raw_prefix,
        )

    def land(self, records: int) -> str:
        """Land the slot (pages, then the manifest) and record its crawl as finished,
        as the worker does. A second landing of the slot overwrites the same keys."""
        prefix = land(self.settings, self.name, self.start, records, PAGES)
        assert prefix == self.job.raw_prefix
        queue = open_queue(self.settings)
        if queue.get_status(self.run_id) is None:
            queue.enqueue(self.job)
            lease = queue.lease("fault-test")
            assert lease is not None and lease.run_id == self.run_id
            queue.ack(lease, JobResult(state=JobState.FINISHED, manifest_path=manifest_key(prefix), pages=PAGES))
        return prefix

    def transform(self, task: str = TASK, mark: str = READ_MARK) -> Attempt:
        env = {**os.environ, "LAKEHOUSE_ENDPOINTS_DIR": str(self.endpoints_dir), "PYTHONUNBUFFERED": "1"}
        proc = subprocess.Popen(
            [sys.executable, "-c", task, "--endpoint", self.name, "--run", self.job.raw_prefix],
            cwd=ROOT,
            env=env,
            # Airflow's logging (imported by the task module) writes to stdout.
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        return Attempt(proc, mark)

    def transform_ok(self) -> float:
        attempt = self.transform()
        code, seconds = attempt.wait()
        assert code == 0, attempt.text[-4000:]
        return seconds

    def partition(self) -> tuple[int, int, int]:
        """(rows, distinct trade ids, highest trade id + 1) of the slot's partition."""
        p = partition_of(self.start)
        clear_catalog_cache()  # the catalog may have restarted under a cached client
        table = load_catalog(self.settings).load_table(f"market.{self.name}")
        ids = table.scan(row_filter=slot_filter(p.ds, int(p.hr), int(p.min)), selected_fields=("trade_id",))
        column = ids.to_arrow().column("trade_id").to_pylist()
        return len(column), len(set(column)), (max(column) + 1 if column else 0)

    def counts(self) -> pipeline.TableCounts:
        config = endpoint_config(self.name)
        assert config.table is not None
        clear_catalog_cache()
        return pipeline.check_table_counts(self.settings, config.table, self.run_id)


OLD = (OLD_RECORDS,) * 3
NEW = (NEW_RECORDS,) * 3


@pytest.fixture()
def fault_settings(settings: Settings) -> Settings:
    """The shared stack's settings on a queue prefix of this test's own."""
    return settings.model_copy(
        update={"queue": settings.queue.model_copy(update={"prefix": f"f{uuid.uuid4().hex[:10]}"})}
    )


@pytest.fixture()
def make_slot(fault_settings: Settings, tmp_path: Path, spark_connect_url: str) -> Callable[..., Slot]:
    """Slots of a fresh table endpoint, one slot per call, transformed once ("old")."""
    name = f"fault_{uuid.uuid4().hex[:8]}"
    directory = tmp_path / "endpoints"
    directory.mkdir()
    doc = endpoint_config(name).model_dump(mode="json", exclude_defaults=True)
    (directory / f"{name}.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    made = 0

    def make(transformed: bool = True) -> Slot:
        nonlocal made
        slot = Slot(
            fault_settings, name, directory, datetime(2025, 6, 1, 8, 0, tzinfo=UTC) + timedelta(minutes=15 * made)
        )
        made += 1
        slot.land(OLD_RECORDS)
        if transformed:
            slot.transform_ok()
            assert slot.partition() == OLD
        slot.land(NEW_RECORDS)
        return slot

    return make


@pytest.fixture(params=WRITERS)
def writer(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The transform tasks' table writer (their process reads it from the environment)."""
    monkeypatch.setenv("LAKEHOUSE_SPARK__TABLE_WRITER", request.param)
    return str(request.param)


@pytest.fixture()
def core(stack: LocalStack) -> Iterator[LocalStack]:
    """The shared stack, brought back whole after the test whatever happened in it."""
    yield stack
    stack.up()


def _engine_pid(settings: Settings) -> int:
    row = next(s for s in LocalStack(settings).status() if s.service == SparkConnectService.name)
    assert row.pid, row
    return row.pid


def _report(scenario: str, rows: list[str]) -> None:
    print(f"\n{scenario}:\n  " + "\n  ".join(rows))


def _fault_then_retry(
    slot: Slot, moment: float, fault: Fault, paused_step: str | None = None, must_fail: bool = False
) -> str:
    """Transform the new landing, inject at READ_MARK + moment (or in the arrow writer's
    pause before ``paused_step``), let the attempt end and the fault end, check the
    partition, retry until the new rows land; a line of figures."""
    if paused_step is None:
        attempt = slot.transform()
    else:
        hook = PAUSED_TASK.format(step=paused_step, mark=PAUSE_MARK, seconds=4)
        attempt = slot.transform(hook + TASK, PAUSE_MARK)
    attempt.wait_mark()
    time.sleep(moment)
    injected = fault.inject()
    injected_at = time.monotonic()
    code, _ = attempt.wait()
    ended = time.monotonic() - injected_at
    fault.recover()
    after = slot.partition()
    assert after in (OLD, NEW), f"half a partition after the fault: {after} (old {OLD}, new {NEW})"
    error = attempt.final_error()
    if must_fail:
        assert code != 0 and after == OLD, (code, after, attempt.text[-3000:])
    if code != 0:
        # A named error that says what to do, not a JVM stack trace.
        assert error in RETRYABLE, (error, attempt.text[-3000:])
    retry_seconds = slot.transform_ok() if after != NEW or code != 0 else 0.0
    assert slot.partition() == NEW
    counts = slot.counts()
    assert (counts.rows, counts.quarantined, counts.expected) == (NEW_RECORDS, 0, NEW_RECORDS)
    outcome = f"failed ({error.rsplit('.', 1)[-1]})" if code != 0 else "landed"
    state = "old" if after == OLD else "new"
    return (
        f"+{moment:.1f} s: {injected}; attempt {outcome} {ended:.1f} s after it, partition {state} "
        f"({after[0]} rows); retry {retry_seconds:.1f} s; counts {counts.rows} == manifest {counts.expected}"
    )


class Fault:
    def inject(self) -> str:
        raise NotImplementedError

    def recover(self) -> None:
        """Wait until the fault is over (the service is back)."""


@dataclass
class EngineKill(Fault):
    settings: Settings

    def inject(self) -> str:
        pid = _engine_pid(self.settings)
        os.kill(pid, 9)
        return f"kill -9 of the engine (pid {pid})"


@dataclass
class Outage(Fault):
    """Stop a service of the stack and start it again ``seconds`` after the stop
    began, in the background (the attempt runs on meanwhile)."""

    stack: LocalStack
    service: str
    seconds: float
    _restarter: threading.Thread | None = None

    def inject(self) -> str:
        t0 = time.monotonic()
        outcome = self.stack.stop_service(self.service)
        stopped = time.monotonic() - t0

        def back() -> None:
            time.sleep(max(0.0, self.seconds - (time.monotonic() - t0)))
            self.stack.up()

        self._restarter = threading.Thread(target=back)
        self._restarter.start()
        return f"{self.service} {outcome} in {stopped:.1f} s, started again at +{self.seconds:.0f} s"

    def recover(self) -> None:
        if self._restarter is not None:
            self._restarter.join()


def test_spark_engine_killed_during_a_transform(
    make_slot: Callable[..., Slot], fault_settings: Settings, writer: str
) -> None:
    rows = []
    for moment in MOMENTS:
        rows.append(_fault_then_retry(make_slot(), moment, EngineKill(fault_settings)))
        # The next task's ensure_engine brings it back: the retry's, or, when the arrow
        # writer landed the slot without the engine (its write needs no Spark), the next
        # transform's.
        ensure_engine(fault_settings)
        assert SparkConnectService(fault_settings).is_healthy()
    _report(f"engine killed mid-transform ({writer} writer)", rows)


def test_s3_stopped_for_10_s_during_a_transform(make_slot: Callable[..., Slot], core: LocalStack, writer: str) -> None:
    rows = [_fault_then_retry(make_slot(), moment, Outage(core, "s3", 10)) for moment in MOMENTS]
    _report(f"S3 stopped 10 s mid-transform ({writer} writer)", rows)


def test_nessie_stopped_during_the_table_commit(make_slot: Callable[..., Slot], core: LocalStack, writer: str) -> None:
    rows = [_fault_then_retry(make_slot(), moment, Outage(core, "nessie", 3)) for moment in MOMENTS]
    _report(f"Nessie stopped mid-transform ({writer} writer)", rows)


def test_s3_stopped_while_the_arrow_writer_writes_its_files(make_slot: Callable[..., Slot], core: LocalStack) -> None:
    rows = [_fault_then_retry(make_slot(), 0.0, Outage(core, "s3", 10), "write_data_files", must_fail=True)]
    _report("S3 stopped before the arrow writer's Parquet files", rows)


def test_nessie_stopped_at_the_arrow_writers_commit(make_slot: Callable[..., Slot], core: LocalStack) -> None:
    rows = [_fault_then_retry(make_slot(), 0.0, Outage(core, "nessie", 10), "_commit_overwrite", must_fail=True)]
    _report("Nessie stopped at the arrow writer's commit", rows)


# -- the signal row: Nessie stopped during publish -------------------------------------


class ReplyLost(Exception):
    """The commit reached Nessie, its answer did not (what a restart mid-request looks like)."""


def _hooked_publish(settings: Settings, run_id: str, stack: LocalStack, when: str) -> str:
    """pipeline.publish_signal with Nessie stopped at its Iceberg commit: ``before`` the
    commit request (data file written, commit refused), or ``after`` it landed but
    before the task heard back. Returns what the attempt raised."""
    catalog = load_catalog(settings, fresh=True)
    real_commit = catalog.commit_table

    def commit(*args: object, **kwargs: object) -> object:
        if when == "before":
            stack.stop_service("nessie")
            return real_commit(*args, **kwargs)
        real_commit(*args, **kwargs)
        stack.stop_service("nessie")
        raise ReplyLost("injected: the commit landed, its reply was lost")

    catalog.commit_table = commit  # type: ignore[method-assign]
    # The task's publish, on this catalog client (load_catalog hands it out).
    with pytest.raises(Exception) as failed:
        pipeline.publish_signal(settings, run_id)
    return f"{type(failed.value).__name__}: {str(failed.value)[:120]}"


def test_nessie_stopped_during_publish(
    make_slot: Callable[..., Slot], fault_settings: Settings, core: LocalStack
) -> None:
    """No duplicate signal row, no half state; a retry of the task lands the row."""
    rows = []
    for when in ("before", "after") * (2 if LONG else 1):
        slot = make_slot(transformed=False)
        clear_catalog_cache()
        pipeline.publish_signal(fault_settings, slot.run_id)  # the old landing's row
        (old,) = rows_for(fault_settings, slot.run_id)
        # The re-landing's manifest has NEW_RECORDS; a publish replaces the row.
        t0 = time.monotonic()
        raised = _hooked_publish(fault_settings, slot.run_id, core, when)
        clear_catalog_cache()
        core.up()
        outage = time.monotonic() - t0
        (between,) = rows_for(fault_settings, slot.run_id)  # one row, never none or two
        assert between.published_at == old.published_at if when == "before" else between.published_at > old.published_at
        clear_catalog_cache()
        t1 = time.monotonic()
        pipeline.publish_signal(fault_settings, slot.run_id)  # the task's retry
        retry = time.monotonic() - t1
        signals = rows_for(fault_settings, slot.run_id)
        assert len(signals) == 1 and signals[0].published_at > between.published_at, signals
        state = "old row" if between.published_at == old.published_at else "new row"
        rows.append(
            f"{when} the commit: {raised}; {state} kept, 1 row; Nessie back after {outage:.1f} s; retry {retry:.1f} s"
        )
    _report("Nessie stopped during publish", rows)
