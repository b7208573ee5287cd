"""The deferrable crawl wait without services: the trigger survives serialisation as
the triggerer stores it, carries no secret, imports no engine, and the operator's
resume step turns each event into the outcome a user sees."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from airflow.sdk.exceptions import AirflowFailException

from lakehouse.pipeline.steps import CrawlFailedError
from lakehouse_airflow.operators import CrawlWaitOperator
from lakehouse_airflow.triggers import CrawlStatusTrigger

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[3]
RUN = "sandbox_trades__20250301T1215Z"


def _trigger(**overrides: object) -> CrawlStatusTrigger:
    kwargs: dict = {
        "run_id": RUN,
        "queue_prefix": "scrapworker",
        "deadline": time.time() + 3600,
        "no_worker_seconds": 60.0,
        "recheck_seconds": 2.0,
        "timeout_seconds": 3600.0,
    }
    kwargs.update(overrides)
    return CrawlStatusTrigger(**kwargs)


def test_the_trigger_round_trips_through_airflows_serialisation() -> None:
    from airflow.sdk._shared.module_loading import import_string
    from airflow.sdk.serde import deserialize, serialize

    trigger = _trigger()
    classpath, kwargs = trigger.serialize()
    assert classpath == "lakehouse_airflow.triggers.CrawlStatusTrigger"
    json.dumps(kwargs)  # JSON-able as stored in the metadata DB
    # What the triggerer (and `airflow dags test`) does: serde-encode, decode, rebuild.
    rebuilt = import_string(classpath)(**deserialize(serialize(kwargs)))
    assert rebuilt.serialize() == (classpath, kwargs)


def test_no_secret_travels_in_the_trigger(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAKEHOUSE_REDIS__PASSWORD", "redis-secret-value")
    _, kwargs = _trigger().serialize()
    assert "redis-secret-value" not in json.dumps(kwargs)
    assert set(kwargs) == {
        "run_id",
        "queue_prefix",
        "deadline",
        "no_worker_seconds",
        "recheck_seconds",
        "timeout_seconds",
        "profile",
    }


def test_the_trigger_module_imports_no_engine() -> None:
    code = (
        "import sys, lakehouse_airflow.triggers, lakehouse.queue.watch, lakehouse.config.settings\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pyiceberg', 'pyspark', 'scrapy')))"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "[]"


def _event(state: str, **extra: object) -> dict:
    return {
        "run_id": RUN,
        "state": state,
        "manifest_path": None,
        "error": None,
        "attempts": 0,
        "pages": 0,
        "records": 0,
        "bytes": 0,
        "worker_id": "w1",
        "message": None,
        "announced": True,
        "waited_seconds": 0.1,
        **extra,
    }


def test_resume_on_finished_returns_the_manifest_path() -> None:
    op = CrawlWaitOperator(task_id="wait_for_crawl", crawl_run_id=RUN)
    event = _event("finished", manifest_path="raw/x/_manifest.json", pages=9, records=900, bytes=1234)
    assert op.execute_complete({}, event) == "raw/x/_manifest.json"


@pytest.mark.parametrize("state", ["failed", "dead"])
def test_resume_on_failure_fails_with_the_workers_reason(state: str) -> None:
    op = CrawlWaitOperator(task_id="wait_for_crawl", crawl_run_id=RUN)
    reason = "HTTP 500 from http://127.0.0.1:1/v1/offset after 2 attempts"
    with pytest.raises(AirflowFailException) as info:
        op.execute_complete({}, _event(state, error=reason, attempts=2))
    assert str(info.value) == str(CrawlFailedError(RUN, state, reason, 2))
    assert reason in str(info.value)


@pytest.mark.parametrize("state", ["no_worker", "timeout", "missing"])
def test_resume_on_a_wait_that_gave_up_fails_with_its_message(state: str) -> None:
    op = CrawlWaitOperator(task_id="wait_for_crawl", crawl_run_id=RUN)
    with pytest.raises(AirflowFailException, match="start one here"):
        op.execute_complete({}, _event(state, message="start one here"))


def test_the_wait_task_has_no_retries_and_takes_the_run_id_from_enqueue() -> None:
    from lakehouse.endpoints import endpoint_path, load_endpoint
    from lakehouse_airflow.ingest import ingest_dag

    dag = ingest_dag(load_endpoint(endpoint_path("sandbox_trades", ROOT / "config" / "endpoints")))
    wait = dag.get_task("wait_for_crawl")
    assert isinstance(wait, CrawlWaitOperator)
    assert wait.retries == 0
    assert wait.upstream_task_ids == {"enqueue_crawl"}
    assert "crawl_run_id" in wait.template_fields


class _Settings:
    class airflow:  # noqa: N801 - stands in for the settings section of that name
        inline_wait_seconds = 1.0


def test_a_crawl_that_ends_during_the_inline_wait_needs_no_deferral(monkeypatch: pytest.MonkeyPatch) -> None:
    from lakehouse.pipeline import steps as pipeline
    from lakehouse_airflow.operators import CrawlWaitOperator

    answers = iter([None, None, "finished-status"])
    monkeypatch.setattr(pipeline, "crawl_status", lambda settings, run_id: next(answers))
    assert CrawlWaitOperator._wait_inline(_Settings(), "r1") == "finished-status"


def test_a_crawl_still_running_after_the_inline_wait_is_left_to_the_trigger(monkeypatch: pytest.MonkeyPatch) -> None:
    from lakehouse.pipeline import steps as pipeline
    from lakehouse_airflow.operators import CrawlWaitOperator

    calls: list[str] = []
    monkeypatch.setattr(pipeline, "crawl_status", lambda settings, run_id: calls.append(run_id))
    assert CrawlWaitOperator._wait_inline(_Settings(), "r1") is None
    assert 2 <= len(calls) <= 6  # polled, not spun


def test_a_crawl_that_fails_during_the_inline_wait_fails_with_the_workers_reason(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from airflow.sdk.exceptions import AirflowFailException

    from lakehouse.pipeline import steps as pipeline
    from lakehouse_airflow.operators import CrawlWaitOperator

    def failed(settings: object, run_id: str) -> None:
        raise pipeline.CrawlFailedError(run_id, "failed", "HTTP 500 on page 1", 3)

    monkeypatch.setattr(pipeline, "crawl_status", failed)
    with pytest.raises(AirflowFailException, match="HTTP 500 on page 1"):
        CrawlWaitOperator._wait_inline(_Settings(), "r1")


@pytest.mark.parametrize("error", ["redis", "queue"])
def test_redis_down_during_the_inline_wait_leaves_the_wait_to_the_trigger(
    monkeypatch: pytest.MonkeyPatch, error: str
) -> None:
    """The wait task has no retries: a Redis outage (killed, restarting) must not fail
    the DAG run; the trigger waits it out (lakehouse.queue.watch). Seen across a DAG
    run: open_queue's check raised QueueUnavailableError and the run failed."""
    from redis.exceptions import ConnectionError as RedisConnectionError

    from lakehouse.errors import QueueUnavailableError
    from lakehouse.pipeline import steps as pipeline
    from lakehouse_airflow.operators import CrawlWaitOperator

    answers = iter([None])
    refused = "Error 111 connecting to 127.0.0.1:6379. Connection refused."

    def status(settings: object, run_id: str) -> None:
        if next(answers, "down") == "down":
            if error == "queue":
                raise QueueUnavailableError("redis://127.0.0.1:6379/0", refused)
            raise RedisConnectionError(refused)

    monkeypatch.setattr(pipeline, "crawl_status", status)
    assert CrawlWaitOperator._wait_inline(_Settings(), "r1") is None

    deferred: list[object] = []
    monkeypatch.setattr(pipeline, "crawl_status", lambda settings, run_id: status(settings, run_id))
    monkeypatch.setattr("lakehouse_airflow.operators.load_settings", lambda profile=None: _FullSettings())
    operator = CrawlWaitOperator(task_id="wait_for_crawl", crawl_run_id="r1")
    monkeypatch.setattr(operator, "defer", lambda **kwargs: deferred.append(kwargs["trigger"]))
    operator.execute({})
    assert len(deferred) == 1 and deferred[0].run_id == "r1"


class _FullSettings:
    class airflow:  # noqa: N801 - stands in for the settings section of that name
        inline_wait_seconds = 1.0
        crawl_timeout_seconds = 60.0

    class queue:  # noqa: N801
        prefix = "scrapworker"
        no_worker_seconds = 60.0
        status_recheck_seconds = 2.0
