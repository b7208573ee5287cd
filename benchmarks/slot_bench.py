"""Slot benchmark (a script, not a test): slots through the running Airflow scheduler.

    .venv/bin/python benchmarks/slot_bench.py                 # (a) 5 single slots, (b) a 16-slot backfill
    .venv/bin/python benchmarks/slot_bench.py --slots 96      # (b) as a day of 96 slots
    .venv/bin/python benchmarks/slot_bench.py --single 0 --slots 96   # the day only

Starts its own local stack on free ports (Redis, SeaweedFS, Nessie, the sandbox API,
a scrapworker, the Spark Connect server when ``spark.engine`` is ``connect``, and
Airflow: scheduler, dag-processor, triggerer, api-server, LocalExecutor on SQLite),
with one endpoint, ``bench_trades`` (sandbox_trades' request and table, ~900 records
per 15-minute slot), and talks to Airflow only through its REST API, logged in with
the generated admin password (the api-server's JWT token endpoint), as the UI does:

(a) one slot at a time: ``POST /api/v2/dags/<dag>/dagRuns`` for a slot's logical
    date, then wait for the run's success; wall time from the POST to the run
    seen successful (every row is in the table then: check_counts is the last task),
    median of ``--single`` runs after one warm-up run, with a per-task breakdown
    from the run's task instances (time from the previous task's end to being
    queued, time queued, run time);
(b) a backfill of ``--slots`` slots created with ``POST /api/v2/backfills`` (what the
    UI's "Run Backfill" sends), with max_active_runs at the DAG's maximum; wall time
    from the POST to the last run's success, and seconds per slot.

Every slot is then checked: its rows plus quarantined records equal its manifest's
records (``lakehouse.pipeline.steps.check_table_counts``). The targets and the runs are
in docs/benchmarks.md.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests
import typer
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.own_stack import own_stack  # noqa: E402
from lakehouse.config.settings import load_settings  # noqa: E402
from lakehouse.engines.airflow_env import MAX_ACTIVE_RUNS, PARALLELISM, SPARK_POOL_SLOTS  # noqa: E402
from lakehouse.queue.jobs import run_id_for  # noqa: E402
from tests.conftest import free_port  # noqa: E402

ENDPOINT = "bench_trades"
DAG_ID = f"ingest_{ENDPOINT}"
SLOT = timedelta(minutes=15)
#: slots far enough in the past that no scheduled run touches them; (a) and (b) use different days
SINGLE_DAY = datetime(2026, 11, 2, tzinfo=UTC)
BACKFILL_DAY = datetime(2026, 11, 3, tzinfo=UTC)
TARGET_SINGLE = 10.0
TARGET_PER_SLOT = 6.0
TASK_ORDER = ("enqueue_crawl", "wait_for_crawl", "publish_signal", "transform", "check_counts")
TERMINAL = {"success", "failed"}


def _engine() -> str:
    settings = load_settings()
    return str(getattr(settings.spark, "engine", "connect" if settings.spark.connect_url else "submit"))


def _write_endpoint(directory: Path, sandbox_url: str) -> None:
    doc = yaml.safe_load((ROOT / "config" / "endpoints" / "sandbox_trades.yaml").read_text())
    doc["name"] = ENDPOINT
    doc["request"]["url"] = doc["request"]["url"].replace("http://127.0.0.1:18080", sandbox_url)
    doc["rate_limit"]["key"] = ENDPOINT
    doc["table"]["name"] = ENDPOINT
    doc["tags"] = ["bench"]
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{ENDPOINT}.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))


def _ts(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


@dataclass
class Api:
    url: str
    session: requests.Session

    @classmethod
    def login(cls, url: str, user: str, password: str) -> Api:
        resp = requests.post(f"{url}/auth/token", json={"username": user, "password": password}, timeout=30)
        resp.raise_for_status()
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {resp.json()['access_token']}"
        return cls(url, session)

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        resp = self.session.request(method, f"{self.url}/api/v2/{path}", timeout=60, **kwargs)
        if resp.status_code >= 400:
            raise RuntimeError(f"{method} {path}: {resp.status_code} {resp.text[:2000]}")
        return resp.json() if resp.content else None

    def runs(self, **params: Any) -> list[dict]:
        found: list[dict] = []
        while True:
            page = self.call(
                "GET",
                f"dags/{DAG_ID}/dagRuns",
                params={"limit": 100, "offset": len(found), "order_by": "logical_date", **params},
            )
            found += page["dag_runs"]
            if len(found) >= page["total_entries"] or not page["dag_runs"]:
                return found

    def task_instances(self, dag_run_id: str) -> list[dict]:
        return self.call("GET", f"dags/{DAG_ID}/dagRuns/{requests.utils.quote(dag_run_id, safe='')}/taskInstances")[
            "task_instances"
        ]


def _wait(what: str, done, timeout: float, poll: float = 0.25) -> Any:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = done()
        if last:
            return last
        time.sleep(poll)
    raise SystemExit(f"timed out after {timeout:.0f} s waiting for {what}")


def _idle(api: Api, timeout: float = 600) -> None:
    """No run of the DAG is queued or running (e.g. the one that unpausing schedules)."""
    _wait("the DAG's runs to finish", lambda: all(r["state"] in TERMINAL for r in api.runs()), timeout, poll=1)


@dataclass
class TaskTimes:
    #: previous task's end (or the run's start) -> this task queued: the scheduler's part
    to_queue: float
    queued: float
    run: float


def task_times(api: Api, run: dict) -> dict[str, TaskTimes]:
    tis = {ti["task_id"]: ti for ti in api.task_instances(run["dag_run_id"])}
    out: dict[str, TaskTimes] = {}
    previous_end = _ts(run.get("start_date")) or _ts(run.get("queued_at"))
    for task_id in [t for t in TASK_ORDER if t in tis] + sorted(set(tis) - set(TASK_ORDER)):
        ti = tis[task_id]
        queued, start, end = _ts(ti.get("queued_when")), _ts(ti.get("start_date")), _ts(ti.get("end_date"))
        if start is None or end is None:
            continue
        queued = queued or start
        out[task_id] = TaskTimes(
            to_queue=max(0.0, (queued - previous_end).total_seconds()) if previous_end else 0.0,
            queued=max(0.0, (start - queued).total_seconds()),
            run=(end - start).total_seconds(),
        )
        previous_end = end
    # The scheduler's part outside the tasks: run queued -> started, last task -> run done.
    run_queued, run_start, run_end = _ts(run.get("queued_at")), _ts(run.get("start_date")), _ts(run.get("end_date"))
    if run_queued and run_start:
        out["(run start)"] = TaskTimes(to_queue=0.0, queued=max(0.0, (run_start - run_queued).total_seconds()), run=0.0)
    if previous_end and run_end:
        out["(run end)"] = TaskTimes(to_queue=max(0.0, (run_end - previous_end).total_seconds()), queued=0.0, run=0.0)
    return out


def print_breakdown(title: str, per_run: list[dict[str, TaskTimes]]) -> None:
    cols: dict[str, list[TaskTimes]] = defaultdict(list)
    for run in per_run:
        for task_id, t in run.items():
            cols[task_id].append(t)
    print(f"\n{title} (median over {len(per_run)} runs, seconds)")
    print(f"  {'task':16} {'to queue':>9} {'queued':>8} {'run':>8}")
    for task_id in [t for t in TASK_ORDER if t in cols] + sorted(set(cols) - set(TASK_ORDER)):
        ts = cols[task_id]
        print(
            f"  {task_id:16} {statistics.median(t.to_queue for t in ts):9.2f} "
            f"{statistics.median(t.queued for t in ts):8.2f} {statistics.median(t.run for t in ts):8.2f}"
        )


def single_slot(api: Api, logical: datetime) -> tuple[float, dict]:
    t0 = time.monotonic()
    run = api.call("POST", f"dags/{DAG_ID}/dagRuns", json={"logical_date": logical.isoformat(), "conf": {}})
    rid = requests.utils.quote(run["dag_run_id"], safe="")

    def finished() -> dict | None:
        r = api.call("GET", f"dags/{DAG_ID}/dagRuns/{rid}")
        return r if r["state"] in TERMINAL else None

    done = _wait(f"run {run['dag_run_id']}", finished, timeout=600, poll=0.1)
    wall = time.monotonic() - t0
    if done["state"] != "success":
        raise SystemExit(f"run {run['dag_run_id']} ended {done['state']}: {api.task_instances(run['dag_run_id'])}")
    return wall, done


def backfill(api: Api, first_logical: datetime, slots: int) -> tuple[float, list[dict]]:
    last_logical = first_logical + (slots - 1) * SLOT
    t0 = time.monotonic()
    created = api.call(
        "POST",
        "backfills",
        json={
            "dag_id": DAG_ID,
            "from_date": first_logical.isoformat(),
            "to_date": last_logical.isoformat(),
            "run_backwards": False,
            "dag_run_conf": {},
            "reprocess_behavior": "none",
            "max_active_runs": MAX_ACTIVE_RUNS,
        },
    )
    wanted = {(first_logical + i * SLOT) for i in range(slots)}

    def finished() -> list[dict] | None:
        runs = [r for r in api.runs(run_type="backfill") if _ts(r["logical_date"]) in wanted]
        return runs if len(runs) == slots and all(r["state"] in TERMINAL for r in runs) else None

    runs = _wait(f"backfill {created['id']} of {slots} slots", finished, timeout=120 + 60 * slots, poll=0.5)
    wall = time.monotonic() - t0
    failed = [r["dag_run_id"] for r in runs if r["state"] != "success"]
    if failed:
        print(f"  {len(failed)} run(s) failed: {failed[:5]}")
    # The wall time ends at the last run's own end (polling adds up to a poll interval).
    ends = [_ts(r["end_date"]) for r in runs if r.get("end_date")]
    created_at = _ts(created.get("created_at"))
    if ends and created_at:
        wall = min(wall, (max(ends) - created_at).total_seconds())  # type: ignore[type-var]
    return wall, runs


def verify(settings, logicals: list[datetime]) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    """Every slot complete: rows + quarantined == manifest records. Returns (rows, from_metadata)."""
    from lakehouse.endpoints import load_endpoint
    from lakehouse.pipeline import steps as pipeline

    config = load_endpoint(Path(os.environ["LAKEHOUSE_ENDPOINTS_DIR"]) / f"{ENDPOINT}.yaml")
    rows = metadata = 0
    for logical in logicals:
        counts = pipeline.check_table_counts(settings, config.table, run_id_for(ENDPOINT, logical - SLOT))
        rows += counts.rows + counts.quarantined
        metadata += counts.from_metadata
    return rows, metadata


app = typer.Typer(add_completion=False)


@app.command(help=__doc__.split("\n\n")[0] if __doc__ else None)
def main(
    single: int = typer.Option(5, help="single-slot runs for (a), after one warm-up (0: skip (a))"),
    slots: int = typer.Option(16, help="slots of the backfill (b) (0: skip (b))"),
    keep: Path | None = typer.Option(None, help="keep the stack state and logs (task logs too) in this directory"),
) -> int:

    results: list[tuple[str, float, float, str]] = []
    with ExitStack() as cleanup:
        if keep:
            tmp = keep.resolve()
            tmp.mkdir(parents=True, exist_ok=True)
        else:
            tmp = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="slot-bench-")))
        sandbox_port = free_port()
        endpoints = tmp / "endpoints"
        _write_endpoint(endpoints, f"http://127.0.0.1:{sandbox_port}")
        os.environ.update(
            {
                "LAKEHOUSE_SANDBOX_PORT": str(sandbox_port),
                "LAKEHOUSE_AIRFLOW__API_PORT": str(free_port()),
                "LAKEHOUSE_ENDPOINTS_DIR": str(endpoints),
                "LAKEHOUSE_AIRFLOW__RETRY_DELAY_SECONDS": "2",
                "LAKEHOUSE_AIRFLOW__TASK_RETRIES": "6",
            }
        )
        engine = _engine()
        extras = ["sandbox", "worker"] + (["spark-connect"] if engine == "connect" else []) + ["airflow"]
        t = time.monotonic()
        stack = cleanup.enter_context(own_stack(tmp / "stack", extras=extras))
        print(
            f"stack up in {time.monotonic() - t:.1f} s: {', '.join(r.service for r in stack.status())}; "
            f"transform engine: {engine}; executor parallelism {PARALLELISM}, spark pool {SPARK_POOL_SLOTS} slots, "
            f"backfill max_active_runs {MAX_ACTIVE_RUNS}"
        )
        settings = stack.settings

        from lakehouse.local.services.airflow_server import ADMIN_USER, AirflowService

        service = AirflowService(settings)
        api = Api.login(service.url, ADMIN_USER, service.admin_password() or "")
        t = time.monotonic()

        def parsed() -> bool:
            try:
                api.call("GET", f"dags/{DAG_ID}")
                return True
            except RuntimeError:
                return False

        _wait(f"{DAG_ID} to be parsed", parsed, timeout=300, poll=1)
        api.call("PATCH", f"dags/{DAG_ID}", json={"is_paused": False})
        time.sleep(3)  # unpausing schedules the latest slot's run (catchup off): let it finish first
        _idle(api)
        print(f"{DAG_ID} parsed, unpaused and idle after {time.monotonic() - t:.1f} s")

        if single:
            logicals = [SINGLE_DAY + (i + 1) * SLOT for i in range(single + 1)]
            walls, breakdown = [], []
            for i, logical in enumerate(logicals):
                wall, run = single_slot(api, logical)
                label = "warm-up" if i == 0 else f"run {i}"
                print(f"(a) {label}: slot ending {logical:%H:%M}: {wall:.2f} s")
                if i:
                    walls.append(wall)
                    breakdown.append(task_times(api, run))
            print_breakdown("(a) one slot at a time, per task", breakdown)
            rows, metadata = verify(settings, logicals)
            print(f"(a) verified {len(logicals)} slots: {rows} records landed, {metadata} counted from metadata alone")
            median = statistics.median(walls)
            results.append(
                (
                    f"(a) one slot, trigger to table rows, median of {len(walls)}",
                    median,
                    TARGET_SINGLE,
                    f"min {min(walls):.2f}, max {max(walls):.2f}",
                )
            )

        if slots:
            logicals = [BACKFILL_DAY + (i + 1) * SLOT for i in range(slots)]
            wall, runs = backfill(api, logicals[0], slots)
            print_breakdown(f"(b) backfill of {slots} slots, per task", [task_times(api, r) for r in runs])
            ok = [_ts(r["logical_date"]) for r in runs if r["state"] == "success"]
            rows, metadata = verify(settings, [t for t in logicals if t in ok])
            print(
                f"(b) verified the {len(ok)} successful of {slots} slots: {rows} records landed, "
                f"{metadata} counted from metadata alone"
            )
            results.append(
                (
                    f"(b) backfill of {slots} slots via POST /api/v2/backfills, per slot",
                    wall / slots,
                    TARGET_PER_SLOT,
                    f"wall {wall:.1f} s, {len(ok)}/{slots} runs succeeded",
                )
            )

    print(f"\n{'measure':70} {'seconds':>8} {'target':>7}  verdict   notes")
    for name, value, target, notes in results:
        verdict = "ok" if value <= target else "MISSED"
        print(f"{name:70} {value:8.2f} {target:7.1f}  {verdict:8}  {notes}")
    return 0


if __name__ == "__main__":
    app()
