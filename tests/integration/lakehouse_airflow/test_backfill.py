"""`airflow backfill create` against a running Airflow (scheduler + LocalExecutor):
every slot lands once."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from lakehouse.config.settings import load_settings
from lakehouse.queue.crawl_queue import open_queue
from lakehouse.queue.jobs import JobState, run_id_for
from lakehouse.tables.signals import rows_for

from .conftest import E2E_DAG, TERMINAL_RUN_STATES, AirflowServer, AirflowTimeoutError

# Three */15 slots well before "now", so the scheduled run that unpausing creates
# (catchup is off: only the latest slot) never overlaps them.
SLOTS = [datetime(2026, 11, 20, 10, minute, tzinfo=UTC) for minute in (0, 15, 30)]
FROM, TO = SLOTS[0].isoformat(), SLOTS[-1].isoformat()


def _pages_landed(crawl_run_ids: set[str]) -> dict[str, int]:
    queue = open_queue(load_settings())
    landed = {}
    for run_id in crawl_run_ids:
        status = queue.get_status(run_id)
        if status is not None and status.state == JobState.FINISHED:
            landed[run_id] = status.pages
    return landed


def _slot_runs(runs: list[dict]) -> list[dict]:
    """The backfill runs of SLOTS (the REST API does not say which backfill a run is in)."""
    wanted = {slot.strftime("%Y-%m-%dT%H:%M") for slot in SLOTS}
    return [r for r in runs if r["run_type"] == "backfill" and (r["logical_date"] or "")[:16] in wanted]


def _landed_by_runs(server: AirflowServer, runs: list[dict]) -> dict[str, int]:
    """Pages of every landed crawl that these DAG runs used."""
    crawls = {server.crawl_run_id(E2E_DAG, r["dag_run_id"]) for r in runs if r["state"] in TERMINAL_RUN_STATES}
    return _pages_landed(crawls)


def _all_done(runs: list[dict]) -> bool:
    return bool(runs) and all(r["state"] in TERMINAL_RUN_STATES for r in runs)


def _backfill(server: AirflowServer, *extra: str) -> int:
    """Create a backfill the way a user does and return its id."""
    before = {b["id"] for b in server.get("backfills", dag_id=E2E_DAG)["backfills"]}
    out = server.cli("backfill", "create", "--dag-id", E2E_DAG, "--from-date", FROM, "--to-date", TO, *extra)
    assert out.returncode == 0, (out.stdout + out.stderr)[-4000:]
    created = [b for b in server.get("backfills", dag_id=E2E_DAG)["backfills"] if b["id"] not in before]
    assert len(created) == 1, created
    return created[0]["id"]


def _wait_for_backfill(server: AirflowServer, backfill_id: int) -> list[dict]:
    """Every run of the DAG finished, the backfill's own runs after it was created."""
    created = datetime.fromisoformat(server.get(f"backfills/{backfill_id}")["created_at"])

    def finished(runs: list[dict]) -> bool:
        mine = _slot_runs(runs)
        return (
            _all_done(runs)
            and len(mine) == len(SLOTS)
            and all(datetime.fromisoformat(r["end_date"]) > created for r in mine)
        )

    return server.wait_for_runs(E2E_DAG, finished, timeout=300)


def _wait_until_marked_complete(server: AirflowServer, backfill_id: int, timeout: float = 90) -> None:
    """Airflow refuses a second backfill of a DAG until the first is marked complete,
    which the scheduler does only every 30 s after its runs finish."""
    deadline = time.monotonic() + timeout
    while server.get(f"backfills/{backfill_id}")["completed_at"] is None:
        if time.monotonic() > deadline:
            raise AirflowTimeoutError(f"backfill {backfill_id} not marked complete after {timeout:.0f} s")
        time.sleep(2)


def test_a_backfill_lands_each_slot_once(airflow_server: AirflowServer, sandboxes) -> None:
    server = airflow_server
    settings = load_settings()
    # The run at each logical date ingests the slot that ends there.
    expected = {run_id_for("e2e_no_table", slot - timedelta(minutes=15)) for slot in SLOTS}
    sandbox = sandboxes["good"]

    # Crawls that landed before this test (another test's runs) cost the API nothing now.
    already = _landed_by_runs(server, server.runs(E2E_DAG))
    served_before = sandbox.stats().total_requests
    # DAGs are paused on creation and the scheduler queues no task of a paused DAG,
    # backfill runs included: a user unpauses first.
    out = server.cli("dags", "unpause", E2E_DAG)
    assert out.returncode == 0, (out.stdout + out.stderr)[-3000:]
    with server.paused_afterwards(E2E_DAG):
        first = _backfill(server)
        runs = _wait_for_backfill(server, first)

        backfill_runs = _slot_runs(runs)
        assert sorted(r["logical_date"][:16] for r in backfill_runs) == [s.strftime("%Y-%m-%dT%H:%M") for s in SLOTS]
        assert {r["state"] for r in backfill_runs} == {"success"}, [
            (r["dag_run_id"], r["state"]) for r in backfill_runs
        ]
        assert {server.crawl_run_id(E2E_DAG, r["dag_run_id"]) for r in backfill_runs} == expected

        for run_id in expected:
            rows = rows_for(settings, run_id)
            assert len(rows) == 1, (run_id, rows)
            status = open_queue(settings).get_status(run_id)
            assert status is not None and status.state == JobState.FINISHED, (run_id, status)
        # Every crawl since unpausing (the backfill's three, and the latest slot that
        # unpausing scheduled) fetched each of its pages exactly once.
        landed = _landed_by_runs(server, runs)
        assert expected <= landed.keys()
        new = {k: v for k, v in landed.items() if k not in already}
        assert sandbox.stats().total_requests - served_before == sum(new.values()), new

        # The operator reruns the range: the completed runs are cleared and run again.
        # Their crawls finished, so the API is not asked again, and each slot still
        # has exactly one signal row. (On SQLite this used to fail at random with
        # "database is locked": lakehouse_airflow/sqlite_savepoints.py.)
        _wait_until_marked_complete(server, first)
        served_before = sandbox.stats().total_requests
        seen = set(landed)
        second = _backfill(server, "--reprocess-behavior", "completed")
        runs = _wait_for_backfill(server, second)
        rerun = _slot_runs(runs)
        assert {r["state"] for r in rerun} == {"success"}, [(r["dag_run_id"], r["state"]) for r in rerun]
        assert {server.crawl_run_id(E2E_DAG, r["dag_run_id"]) for r in rerun} == expected
        for run_id in expected:
            assert len(rows_for(settings, run_id)) == 1, run_id
        # Only a scheduled run of a newer slot (a */15 boundary passing meanwhile) may crawl.
        newer = {k: v for k, v in _landed_by_runs(server, runs).items() if k not in seen}
        assert sandbox.stats().total_requests - served_before == sum(newer.values()), newer
