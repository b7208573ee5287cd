"""Faults across a real DAG run (issue 12): the ingest DAG of a table endpoint
(``ingest_e2e_faults``: crawl, publish, transform on the Spark Connect server, count
check) triggered through the running scheduler's REST API, with three workers
serving its queue (the session's worker and two started here), while its worker,
Redis, S3, Nessie or the Spark engine fails. The same faults are checked at the
worker level and through the task functions in tests/integration/reliability/; here
Airflow's deferral, retries and task boundaries are in the loop.

Injections are timed against the running DAG run:

- a worker kill at a named moment: a victim worker started with the test hook
  ``worker.pause_at`` (scrapworker.fault_points) holds there and is killed. So that
  the victim is the one that leases the run's job, the other two workers are held
  back (SIGSTOP) until it has, then go on (SIGCONT) and serve the rest of the run;
- Redis, S3 and the worker during the crawl: the sandbox's count of served pages and
  the job's status in Redis; the wait task's state (``deferred``) over the REST API;
- Nessie during publish: the publish task instance turning ``running``;
- S3, Nessie and the engine during the transform: the transform attempt's task log
  reaching the line ``raw_to_table`` logs once the slot is read and typed (its write
  to the table, ending in the table commit, starts right after; the line comes
  before any writer's commit, Spark's or another).

Services are killed (``kill -9``, Redis, S3) or stopped (Nessie, as an operator's
restart does) through the stack's own records and brought back by ``LocalStack.up``;
the engine is brought back by the next transform attempt (``ensure_engine``).

After every run, from the real stores: the run succeeded (retries allowed, counted),
the crawl finished once (one "finished" line across the three workers' logs), the
manifest lists pages 1..n and the run prefix holds exactly those and the manifest,
with matching checksums and the slot's records each once; exactly one signal row with
the manifest's records; ``check_table_counts`` (table rows + quarantined == manifest
records) and no trade twice in the partition; across the whole endpoint no orphan
state (every landing complete, every signal row with its table rows, every table
run with its signal row); the stack healthy again.

Short form (default suite): four runs that combine the eight faults, and Redis killed
while the wait task still polls inline (before it defers). Long form
(``LAKEHOUSE_RELIABILITY_LONG=1``): each fault in a run of its own as well, at seeded
random moments, and the other kill points (``manifest``, ``ack``).
"""

from __future__ import annotations

import os
import random
import re
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import psutil
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scrapworker"))

from worker_harness import (  # noqa: E402
    Worker,
    check_landing,
    finished_lines,
    kill_service,
    launch_worker,
    list_keys,
    wait_until,
    worker_id_of,
)

from lakehouse.config.settings import Settings, load_settings  # noqa: E402
from lakehouse.endpoints import endpoint_path, load_endpoint  # noqa: E402
from lakehouse.local.services.spark_connect_server import SparkConnectService  # noqa: E402
from lakehouse.local.stack import LocalStack  # noqa: E402
from lakehouse.pipeline import steps as pipeline  # noqa: E402
from lakehouse.queue.crawl_queue import open_queue  # noqa: E402
from lakehouse.queue.jobs import JobState, run_id_for  # noqa: E402
from lakehouse.raw.layout import MANIFEST_NAME, partition_of, run_prefix_of  # noqa: E402
from lakehouse.raw.storage import s3_client  # noqa: E402
from lakehouse.tables.catalog import clear_catalog_cache, load_catalog, slot_filter  # noqa: E402
from lakehouse.tables.signals import SIGNAL_IDENTIFIER, rows_for  # noqa: E402
from sandbox import expected_records  # noqa: E402

from .conftest import FAULT_MARKET, FAULT_RECORDS, SLOT_END, TERMINAL_RUN_STATES, TOKEN, AirflowServer  # noqa: E402

LONG = os.environ.get("LAKEHOUSE_RELIABILITY_LONG") == "1"
ENDPOINT = "e2e_faults"
DAG_ID = f"ingest_{ENDPOINT}"
RECORDS_PATH = "data.items"
# Slots no other test lands: one per scenario.
FIRST_LOGICAL = SLOT_END + timedelta(days=2)
SEED = 12
VICTIM_LEASE = "3"  # seconds: a killed victim's job goes back quickly
# The other workers' leases outlast the Redis outage: a holder cannot heartbeat while
# Redis is down, and a lease that expires meanwhile costs the run an attempt.
LEASE = "15"
READ_MARK = "quarantined (slot"  # raw_to_table: the slot is read; the write starts now
REACHED = re.compile(r"fault point (\w+) reached")
REDIS_DOWN = 8.0  # longer than redis-py's own retries (3.7 s)
S3_DOWN = 10.0
# A faulted run must end within this (a Spark engine restart alone can take ~2 min).
RUN_BOUND = 900.0 if LONG else 600.0
pytestmark = pytest.mark.timeout(3600 if LONG else 1500)


@dataclass(frozen=True)
class Plan:
    """The faults of one DAG run."""

    id: str
    kill_at: str | None = None  # the victim's pause_at point, killed there
    hit: int = 1  # which occurrence of the point
    redis: str | None = None  # kill -9 Redis mid-crawl while the wait is "deferred" or "inline"
    s3_crawl: bool = False  # kill -9 S3 for S3_DOWN s mid-crawl
    kill_in_outage: bool = False  # ...and kill the worker holding the job during it
    publish: bool = False  # stop Nessie when publish_signal starts
    # per transform attempt, in order: (fault, seconds after READ_MARK); fault is
    # "s3" (kill -9, back after S3_DOWN s), "nessie" (stopped, started again at once)
    # or "engine" (kill -9; the next attempt's ensure_engine restarts it)
    transform: tuple[tuple[str, float], ...] = ()

    @property
    def victim(self) -> bool:
        return self.kill_at is not None or self.kill_in_outage


SHORT = [
    Plan("kill_at_upload_then_redis", kill_at="page_upload", hit=3, redis="deferred"),
    Plan("s3_down_mid_crawl_with_a_kill", s3_crawl=True, kill_in_outage=True),
    Plan("redis_inline_nessie_at_publish_and_commit", redis="inline", publish=True, transform=(("nessie", 0.0),)),
    Plan("s3_then_engine_in_transform", transform=(("s3", 0.0), ("engine", 0.0))),
]


def _long_plans() -> list[Plan]:
    rng = random.Random(SEED)
    plans = list(SHORT)
    for kind in ("page_upload", "manifest", "ack"):
        hit = rng.randint(1, 6) if kind == "page_upload" else 1
        plans.append(Plan(f"kill_at_{kind}_{hit}", kill_at=kind, hit=hit))
    plans += [
        Plan("kill_at_manifest_then_redis", kill_at="manifest", redis="deferred"),
        Plan("redis_during_the_inline_wait", redis="inline"),
        Plan("s3_down_mid_crawl", s3_crawl=True),
        Plan("nessie_at_publish", publish=True),
    ]
    for fault in ("s3", "nessie", "engine"):
        for _ in range(2):
            moment = round(rng.uniform(0.0, 3.0), 1)
            plans.append(Plan(f"{fault}_in_transform_at_{moment}s", transform=((fault, moment),)))
    return plans


PLANS = _long_plans() if LONG else SHORT


@dataclass
class Crew:
    """The three workers serving the DAG's queue: the session's (``e2e-worker``), a
    steady one, and a victim (per scenario) or its replacement."""

    endpoints_dir: Path
    logs_dir: Path
    session_log: Path
    session_pid: int
    steady: Worker
    others: list[Worker] = field(default_factory=list)

    def start(self, name: str, env_extra: dict[str, str] | None = None, lease: str = LEASE) -> Worker:
        worker = launch_worker(
            self.logs_dir / f"{name}.log",
            "--lease-seconds",
            lease,
            "--shutdown-grace",
            "5",
            "--concurrency",
            "1",
            endpoints_dir=self.endpoints_dir,
            worker_id=name,
            token=TOKEN,
            env_extra=env_extra,
        )
        self.others.append(worker)
        wait_until(lambda: "serving queue" in worker.text(), 120, f"worker {name} to start", 0.2)
        return worker

    @property
    def logs(self) -> list[Path]:
        return [self.session_log, self.steady.log, *(w.log for w in self.others)]

    @contextmanager
    def only(self, victim: Worker) -> Iterator[None]:
        """Hold the session's and the steady worker back (SIGSTOP) so that ``victim``
        leases the next job; they go on (SIGCONT) however the block ends."""
        held = [self.session_pid, self.steady.proc.pid]
        for pid in held:
            os.kill(pid, signal.SIGSTOP)
        try:
            yield
        finally:
            for pid in held:
                os.kill(pid, signal.SIGCONT)

    def kill(self, worker: Worker) -> None:
        worker.proc.send_signal(signal.SIGKILL)
        worker.proc.wait()

    def stop_others(self) -> None:
        for worker in self.others:
            if worker.proc.poll() is None:
                worker.proc.send_signal(signal.SIGTERM)
        for worker in self.others:
            worker.wait(60)
        self.others.clear()


def _session_worker_pid() -> int:
    for child in psutil.Process().children():
        cmdline = child.cmdline()
        if "scrapworker" in cmdline and "e2e-worker" in cmdline:
            return child.pid
    raise AssertionError("the session's worker (e2e-worker) is not running")


@pytest.fixture(scope="module")
def crew(
    airflow_server: AirflowServer, worker: Path, endpoints_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Crew]:
    """The DAG unpaused (its own scheduled run finished first), and the workers."""
    logs_dir = tmp_path_factory.mktemp("dag-fault-workers")
    steady = launch_worker(
        logs_dir / "steady.log",
        "--lease-seconds",
        LEASE,
        "--concurrency",
        "2",
        endpoints_dir=endpoints_dir,
        worker_id="steady",
        token=TOKEN,
    )
    crew = Crew(endpoints_dir, logs_dir, worker, _session_worker_pid(), steady)
    server = airflow_server
    server.wait_for_dag(DAG_ID, timeout=300)
    wait_until(lambda: "serving queue" in steady.text(), 120, "the steady worker to start", 0.2)
    with server.paused_afterwards(DAG_ID):
        server.set_paused(DAG_ID, False)
        # Unpausing schedules the latest slot: let it end first, so no other job of
        # this endpoint is in flight when a victim waits for one.
        server.wait_for_runs(DAG_ID, lambda rs: bool(rs) and all(r["state"] in TERMINAL_RUN_STATES for r in rs), 600)
        try:
            yield crew
        finally:
            crew.stop_others()
            steady.proc.send_signal(signal.SIGTERM)
            steady.wait(60)


@dataclass
class Run:
    """One DAG run of a scenario, watched over the REST API."""

    server: AirflowServer
    stack: LocalStack
    settings: Settings
    plan: Plan
    index: int
    endpoints_dir: Path
    served_base: int = 0  # pages the faults sandbox had served before the run
    runs_before: int = 0  # DAG runs before this one
    events: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)

    def config(self) -> Any:
        return load_endpoint(endpoint_path(ENDPOINT, self.endpoints_dir))

    @property
    def logical(self) -> Any:
        return FIRST_LOGICAL + timedelta(minutes=15 * self.index)

    @property
    def slot_start(self) -> Any:
        return self.logical - timedelta(minutes=15)

    @property
    def dag_run_id(self) -> str:
        return f"faults_{self.index:02d}_{self.plan.id}"

    @property
    def crawl_run_id(self) -> str:
        return run_id_for(ENDPOINT, self.slot_start)

    def note(self, what: str) -> None:
        self.events.append(f"{what} @{time.monotonic() - self.started:.1f}s")

    def trigger(self) -> None:
        resp = self.server.api().post(
            f"{self.server.url}/api/v2/dags/{DAG_ID}/dagRuns",
            json={"logical_date": self.logical.isoformat(), "dag_run_id": self.dag_run_id},
            timeout=30,
        )
        resp.raise_for_status()
        self.started = time.monotonic()

    def tasks(self) -> dict[str, dict]:
        got = self.server.get(f"dags/{DAG_ID}/dagRuns/{self.dag_run_id}/taskInstances")
        return {t["task_id"]: t for t in got["task_instances"]}

    def task_state(self, task_id: str) -> tuple[str | None, int]:
        task = self.tasks().get(task_id) or {}
        return task.get("state"), int(task.get("try_number") or 0)

    def state(self) -> str:
        return str(self.server.get(f"dags/{DAG_ID}/dagRuns/{self.dag_run_id}")["state"])

    def wait_task(self, task_id: str, states: set[str], timeout: float = 300) -> None:
        def there() -> bool:
            state, _ = self.task_state(task_id)
            if self.state() in TERMINAL_RUN_STATES:
                raise AssertionError(f"{self.dag_run_id} ended before {task_id} was {states}: {self.tasks()}")
            return state in states

        wait_until(there, timeout, f"{task_id} to be {states}", 0.3)

    def status(self) -> Any:
        return open_queue(self.settings).get_status(self.crawl_run_id)

    def attempt_log(self, task_id: str, attempt: int) -> Path | None:
        pattern = f"dag_id={DAG_ID}/run_id={self.dag_run_id}/task_id={task_id}/attempt={attempt}.log"
        found = list((self.server.service.home / "logs").glob(pattern))
        return found[0] if found else None

    def wait_transform_mark(self, attempt: int, timeout: float = 300) -> bool:
        """True once attempt ``attempt`` of the transform logged READ_MARK; False if the
        transform succeeded before that attempt (an earlier fault came too late)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            log = self.attempt_log("transform", attempt)
            if log is not None and READ_MARK in log.read_text(errors="replace"):
                return True
            state, tries = self.task_state("transform")
            if state == "success" and tries < attempt or self.state() in TERMINAL_RUN_STATES:
                return False
            time.sleep(0.1)
        raise AssertionError(f"transform attempt {attempt} never read its slot: {self.tasks()}")

    def wait_done(self) -> str:
        wait_until(lambda: self.state() in TERMINAL_RUN_STATES, RUN_BOUND, f"{self.dag_run_id} to end", 1.0)
        return self.state()


def _served(sandboxes: dict) -> int:
    return int(sandboxes["faults"].stats().ok)


def _restart_later(stack: LocalStack, seconds: float, since: float) -> threading.Thread:
    def back() -> None:
        time.sleep(max(0.0, seconds - (time.monotonic() - since)))
        stack.up()

    thread = threading.Thread(target=back)
    thread.start()
    return thread


def _slot_rows(settings: Settings, run: Run) -> int:
    """The slot's rows in the table, read once the restarted stores answer again."""
    from pyiceberg.exceptions import NoSuchTableError

    p = partition_of(run.slot_start)
    deadline = time.monotonic() + 60
    while True:
        clear_catalog_cache()  # the catalog may have restarted under a cached client
        try:
            table = load_catalog(settings).load_table(f"market.{ENDPOINT}")
            return int(table.scan(row_filter=slot_filter(p.ds, int(p.hr), int(p.min))).count())
        except NoSuchTableError:
            return 0
        except OSError:  # a just-restarted SeaweedFS answers InternalError for a moment
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


def _crawl_faults(run: Run, crew: Crew, sandboxes: dict, rng: random.Random) -> None:
    plan = run.plan
    victim: Worker | None = None
    if plan.victim:
        env = (
            {
                "LAKEHOUSE_WORKER__PAUSE_AT": plan.kill_at,
                "LAKEHOUSE_WORKER__PAUSE_HIT": str(plan.hit),
                "LAKEHOUSE_WORKER__PAUSE_SECONDS": "300",
            }
            if plan.kill_at
            else None
        )
        victim = crew.start(f"victim-{run.index}", env, lease=VICTIM_LEASE)
        with crew.only(victim):
            run.trigger()
            wait_until(
                lambda: (s := run.status()) is not None and s.worker_id == worker_id_of(victim),
                120,
                "the victim to lease the run's job",
                0.1,
            )
        run.note("victim leased")
    else:
        run.trigger()
    served_at_kill = 0
    if plan.kill_at:
        assert victim is not None
        wait_until(lambda: REACHED.search(victim.text()), 120, f"fault point {plan.kill_at}", 0.1)
        if plan.redis == "deferred":
            run.wait_task("wait_for_crawl", {"deferred"})
        time.sleep(rng.uniform(0.0, 0.3))
        crew.kill(victim)
        served_at_kill = _served(sandboxes)
        status = run.status()
        assert status is not None and status.state == JobState.RUNNING, status
        # Killed before its manifest: the prefix must not look complete.
        landed = list_keys(s3_client(run.settings.s3), run.settings, f"{_prefix_of(run)}{MANIFEST_NAME}")
        assert bool(landed) == (plan.kill_at == "ack"), (plan.kill_at, landed)
        run.note(f"kill -9 of the victim at {plan.kill_at} (hit {plan.hit})")
        crew.start(f"replacement-{run.index}")
    if plan.s3_crawl:
        wait_until(lambda: _served(sandboxes) >= 6 + run.served_base, 120, "6 pages crawled", 0.05)
        killed_at = kill_service(run.stack, "s3")
        run.note("kill -9 of S3")
        if plan.kill_in_outage:
            assert victim is not None
            time.sleep(3.0)
            crew.kill(victim)
            run.note("kill -9 of the victim (its uploads retrying)")
        restart = _restart_later(run.stack, S3_DOWN, killed_at)
        restart.join()
        run.note(f"S3 back after {time.monotonic() - killed_at:.1f} s")
        if plan.kill_in_outage:
            crew.start(f"replacement-{run.index}")
    if plan.redis:
        if plan.redis == "inline":
            run.wait_task("wait_for_crawl", {"running"})
        else:
            run.wait_task("wait_for_crawl", {"deferred"})
            wait_until(
                lambda: (
                    (s := run.status()) is not None
                    and s.state == JobState.RUNNING
                    and s.attempts >= (2 if plan.kill_at else 1)
                    and _served(sandboxes) >= served_at_kill + 4
                ),
                120,
                "the rerun to crawl 4 pages",
                0.05,
            )
        status = run.status()
        assert status is not None and status.state == JobState.RUNNING, f"the crawl ended before Redis died: {status}"
        killed_at = kill_service(run.stack, "redis")
        run.note(f"kill -9 of Redis (wait_for_crawl {plan.redis})")
        time.sleep(REDIS_DOWN)
        result = run.stack.up()
        assert result.restarted == ["redis"], result
        run.note(f"Redis back after {time.monotonic() - killed_at:.1f} s")


def _prefix_of(run: Run) -> str:
    config = run.config()
    return pipeline.job_for_slot(
        config, run.slot_start, run.slot_start + timedelta(minutes=15), run.settings.s3.raw_prefix
    ).raw_prefix


def _after_crawl_faults(run: Run) -> None:
    plan = run.plan
    if plan.publish:
        run.wait_task("publish_signal", {"running"})
        t0 = time.monotonic()
        outcome = run.stack.stop_service("nessie")
        _restart_later(run.stack, 0.0, t0).join()
        run.note(f"Nessie {outcome} when publish_signal ran; back after {time.monotonic() - t0:.1f} s")
    for attempt, (fault, moment) in enumerate(plan.transform, start=1):
        if not run.wait_transform_mark(attempt):
            run.note(f"transform landed before attempt {attempt}: {fault} not injected")
            break
        time.sleep(moment)
        t0 = time.monotonic()
        if fault == "s3":
            restart = _restart_later(run.stack, S3_DOWN, kill_service(run.stack, "s3"))
        elif fault == "nessie":
            outcome = run.stack.stop_service("nessie")
            restart = _restart_later(run.stack, 0.0, t0)
        else:
            pid = next(s.pid for s in run.stack.status() if s.service == SparkConnectService.name)
            assert pid, "the Spark Connect server is not running"
            os.kill(pid, signal.SIGKILL)
            restart = None
        if restart is not None:
            restart.join()
        # The attempt ends (fails, or lands if the fault came too late), then: the
        # slot's partition is nothing or the whole landing, never part of it.
        wait_until(
            lambda a=attempt: (st := run.task_state("transform"))[0] != "running" or st[1] > a,
            300,
            f"transform attempt {attempt} to end",
            0.3,
        )
        rows = _slot_rows(run.settings, run)
        assert rows in (0, FAULT_RECORDS), f"half a partition after the {fault} fault: {rows} rows"
        run.note(f"{fault} fault at transform attempt {attempt} +{moment:.1f} s; partition then {rows} rows")
        if fault == "engine" and run.task_state("transform") == ("success", attempt):
            # Killed after the attempt had landed: no later attempt restarts it.
            from tests.conftest import spark_connect_stack

            spark_connect_stack().up()
            run.note("the attempt had landed before the engine kill; engine restarted by the test")


def _check(run: Run, crew: Crew, sandboxes: dict) -> dict[str, int]:
    """Everything the run left, from the stores; the tasks' retries."""
    settings = run.settings
    tasks = run.tasks()
    assert {t: i["state"] for t, i in tasks.items()} == dict.fromkeys(tasks, "success"), tasks
    retries = {t: int(i["try_number"]) - 1 for t, i in tasks.items() if int(i["try_number"]) > 1}
    run_id = run.crawl_run_id
    assert run.server.crawl_run_id(DAG_ID, run.dag_run_id) == run_id
    status = run.status()
    assert status is not None and status.state == JobState.FINISHED, status
    assert finished_lines(crew.logs, run_id) == 1, f"{run_id} finished {finished_lines(crew.logs, run_id)} times"
    s3 = s3_client(settings.s3)
    config = run.config()
    job = pipeline.job_for_slot(config, run.slot_start, run.slot_start + timedelta(minutes=15), settings.s3.raw_prefix)
    ids = [r["id"] for r in expected_records(FAULT_MARKET, run.slot_start, run.slot_start + timedelta(minutes=15))]
    manifest = check_landing(s3, settings, job, ids, RECORDS_PATH)
    assert manifest.total_records == len(ids) == FAULT_RECORDS
    signals = rows_for(settings, run_id)
    assert len(signals) == 1 and signals[0].records == manifest.total_records, signals
    assert config.table is not None
    clear_catalog_cache()
    counts = pipeline.check_table_counts(settings, config.table, run_id)
    assert counts.rows + counts.quarantined == manifest.total_records, counts
    p = partition_of(run.slot_start)
    table = load_catalog(settings).load_table(config.table.identifier)
    trades = table.scan(row_filter=slot_filter(p.ds, int(p.hr), int(p.min)), selected_fields=("trade_id",))
    column = trades.to_arrow().column("trade_id").to_pylist()
    assert len(column) == len(set(column)) == counts.rows, "a trade twice in the partition"
    served = _served(sandboxes) - run.served_base
    if len(run.server.runs(DAG_ID)) == run.runs_before + 1:
        # Each attempt crawls at most the slot's pages; without a worker kill, one attempt.
        assert served <= manifest.total_pages * status.attempts, (served, status.attempts)
        if not run.plan.victim:
            assert (served, status.attempts) == (manifest.total_pages, 1), "a page was fetched twice"
    else:
        served = -1  # a scheduled run (a slot boundary passed) crawled the sandbox too
    return {"attempts": status.attempts, "pages served": served, **{f"{t} retries": n for t, n in retries.items()}}


def _no_orphans(settings: Settings, endpoints_dir: Path) -> int:
    """Across the endpoint: every landing complete (pages 1..n and the manifest, no
    stray object), every manifest's run finished with one signal row and its table
    rows, every signal row and every table run backed by a landing."""
    from pyiceberg.expressions import EqualTo

    s3 = s3_client(settings.s3)
    keys = list_keys(s3, settings, f"{settings.s3.raw_prefix}/{ENDPOINT}/")
    prefixes = sorted({prefix for k in keys if (prefix := run_prefix_of(k)) is not None})
    config = load_endpoint(endpoint_path(ENDPOINT, endpoints_dir))
    assert config.table is not None
    queue = open_queue(settings)
    runs = set()
    for prefix in prefixes:
        run_id = prefix.rstrip("/").rsplit("/", 1)[-1]
        assert f"{prefix}{MANIFEST_NAME}" in keys, f"pages without a manifest under {prefix}"
        manifest = pipeline.read_manifest(settings, f"{prefix}{MANIFEST_NAME}")
        assert sorted(k for k in keys if k.startswith(prefix)) == sorted(
            [p.key for p in manifest.pages] + [manifest.key]
        ), prefix
        status = queue.get_status(run_id)
        if status is not None and not status.state.terminal:
            continue  # a crawl in flight (a scheduled run at a slot boundary) lands pages first
        assert status is not None and status.state == JobState.FINISHED, (run_id, status)
        assert len(rows_for(settings, run_id)) == 1, run_id
        counts = pipeline.check_table_counts(settings, config.table, run_id)
        assert counts.rows + counts.quarantined == manifest.total_records
        runs.add(run_id)
    clear_catalog_cache()
    catalog = load_catalog(settings)
    signalled = catalog.load_table(SIGNAL_IDENTIFIER).scan(row_filter=EqualTo("endpoint", ENDPOINT))
    assert set(signalled.to_arrow().column("run_id").to_pylist()) == runs
    tabled = catalog.load_table(config.table.identifier).scan(selected_fields=("_run_id",))
    assert set(tabled.to_arrow().column("_run_id").to_pylist()) <= runs
    return len(runs)


def _healthy_again(run: Run, crew: Crew, check: bool) -> None:
    """Bring back whatever a scenario left down and stop its extra workers (always);
    with ``check``, nothing was left down."""
    from tests.conftest import spark_connect_stack

    crew.stop_others()
    result = run.stack.up()
    engine = spark_connect_stack().up()
    if not check:
        return
    assert result.restarted == [] and engine.restarted == [], f"left down: {result.restarted, engine.restarted}"
    # Airflow's record carries the fixture's own port: its service object checks it.
    unhealthy = [s.service for s in run.stack.status() if not s.healthy and s.service != "airflow"]
    assert not unhealthy, unhealthy
    assert SparkConnectService(run.settings).is_healthy() and run.server.service.is_healthy()


@pytest.mark.parametrize("plan", PLANS, ids=[p.id for p in PLANS])
def test_a_dag_run_survives(
    plan: Plan, crew: Crew, airflow_server: AirflowServer, stack: LocalStack, sandboxes: dict, spark_connect_url: str
) -> None:
    settings = load_settings()
    index = PLANS.index(plan)
    runs_before = len(airflow_server.runs(DAG_ID))
    run = Run(airflow_server, stack, settings, plan, index, crew.endpoints_dir, _served(sandboxes), runs_before)
    rng = random.Random(f"{SEED}-{plan.id}")
    t0 = time.monotonic()
    passed = False
    try:
        _crawl_faults(run, crew, sandboxes, rng)
        _after_crawl_faults(run)
        state = run.wait_done()
        seconds = time.monotonic() - t0
        assert state == "success", (state, run.tasks(), run.events)
        figures = _check(run, crew, sandboxes)
        landings = _no_orphans(settings, crew.endpoints_dir)
        passed = True
    finally:
        _healthy_again(run, crew, check=passed)
    print(
        f"\n{plan.id}: {'; '.join(run.events)}; run {state} in {seconds:.0f} s, "
        f"{figures}; {landings} landings of the endpoint complete, no orphan"
    )
