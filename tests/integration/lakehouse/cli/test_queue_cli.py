"""`lakehouse queue status | dead-letters | retry` against a real redis-server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lakehouse.cli import app
from lakehouse.errors import RetryRefusedError
from lakehouse.queue.crawl_queue import JobQueue
from lakehouse.queue.jobs import CrawlJob, JobResult, JobState

pytestmark = pytest.mark.integration

SECRET = "tok-cli-must-not-print-7c1"
CLI_DB = 3  # the CLI uses the default prefix; a db of its own keeps it apart


@pytest.fixture()
def cli_env(redis_settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    env = {
        "LAKEHOUSE_PROFILE": "local",
        "LAKEHOUSE_REDIS__PORT": str(redis_settings.redis.port),
        "LAKEHOUSE_REDIS__DB": str(CLI_DB),
        "SANDBOX_TOKEN": SECRET,
        "COLUMNS": "400",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    client = redis_settings.redis.model_copy(update={"db": CLI_DB}).client()
    client.flushdb()
    yield env
    client.flushdb()
    client.close()


@pytest.fixture()
def cli_queue(redis_settings, cli_env: dict[str, str]) -> JobQueue:
    from lakehouse.config.settings import load_settings
    from lakehouse.queue.crawl_queue import open_queue

    return open_queue(load_settings())


def _run(*args: str) -> str:
    result = CliRunner().invoke(app, ["queue", *args], catch_exceptions=False, terminal_width=200)
    assert result.exit_code == 0, result.output
    assert SECRET not in result.output
    return result.output


def test_status_dead_letters_and_retry(cli_queue: JobQueue, make_job: Callable[..., CrawlJob]) -> None:
    done, doomed, waiting = make_job(minute=0), make_job(minute=15, max_attempts=1), make_job(minute=30)
    for job in (done, doomed, waiting):
        cli_queue.enqueue(job)
    lease = cli_queue.lease("cli-test-worker")
    assert lease is not None and lease.run_id == done.run_id
    cli_queue.ack(
        lease, JobResult(state=JobState.FINISHED, pages=3, records=30, bytes=300, manifest_path=done.manifest_key)
    )
    lease = cli_queue.lease("cli-test-worker")
    assert lease is not None and lease.run_id == doomed.run_id
    cli_queue.reap(now=lease.expires_at + timedelta(seconds=1))
    cli_queue.client.lpush(cli_queue.keys.jobs, "{oops")  # at the head, ahead of `waiting`
    # The garbage payload is dead-lettered, and the waiting job behind it is leased.
    assert (lease := cli_queue.lease("cli-test-worker")) is not None and lease.run_id == waiting.run_id

    out = _run("status")
    assert "scrapworker:jobs" in out
    for run_id in (done.run_id, doomed.run_id, waiting.run_id):
        assert run_id in out
    assert done.manifest_key in out and "cli-test-worker" in out

    out = _run("dead-letters")
    assert doomed.run_id in out and "lease expired" in out and "(unreadable)" in out and "not valid JSON" in out

    letters = json.loads(_run("dead-letters", "--json", "--limit", "1"))
    assert len(letters) == 1  # newest first: the unreadable payload
    assert letters[0]["run_id"] is None and letters[0]["payload"] == "{oops"
    letters = json.loads(_run("dead-letters", "--json"))
    assert [d["run_id"] for d in letters] == [None, doomed.run_id]

    out = _run("retry", doomed.run_id)
    assert f"{doomed.run_id}: requeued" in out
    status = cli_queue.get_status(doomed.run_id)
    assert status is not None and status.state is JobState.QUEUED and status.attempts == 0
    assert [d["run_id"] for d in json.loads(_run("dead-letters", "--json"))] == [None]

    with pytest.raises(RetryRefusedError):
        CliRunner().invoke(app, ["queue", "retry", doomed.run_id], catch_exceptions=False)


def test_errors_are_one_clear_line_and_a_non_zero_exit(cli_env: dict[str, str], redis_settings) -> None:
    exe = Path(sys.executable).with_name("lakehouse")
    env = {**os.environ, **cli_env}
    proc = subprocess.run(
        [str(exe), "queue", "retry", "sandbox_trades__20250101T0000Z"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode != 0
    assert "not in the dead-letter list" in proc.stderr and "Traceback" not in proc.stderr

    env["LAKEHOUSE_REDIS__PORT"] = "1"  # nothing listens there
    proc = subprocess.run([str(exe), "queue", "status"], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    assert "cannot reach Redis" in proc.stderr and "lakehouse local up" in proc.stderr
    assert "Traceback" not in proc.stderr
