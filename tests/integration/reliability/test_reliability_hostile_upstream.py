"""A hostile upstream (issue 18, items 1 and 3) against one running worker, with a
second "collector" server on another loopback port that records every request.

The upstream hands out links, Link headers and redirects to the collector, a
``file://`` next link to a canary file, and counts and bodies meant to wedge the crawl
(``total: 1e999``, ``total_pages: 1e999``, a bool, a 30-digit string, 100,000 nested
lists, a records_path that raises on the page). Each job must end ``failed`` within a
bounded time with a named reason, the collector must receive nothing, no canary byte
may land in the raw bucket, and the worker must then still finish good jobs (a
same-origin redirect and an allowed_hosts link among them).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import pytest
import yaml
from worker_harness import TOKEN, list_keys, make_job, wait_until

from lakehouse.endpoints import load_endpoint
from lakehouse.queue.jobs import JobState

RETRY = {"max_attempts": 2, "backoff_seconds": 0.05, "max_backoff_seconds": 0.2}
QUERY_KEY = {"type": "api_key", "in": "query", "name": "api_key", "key_env": "SANDBOX_TOKEN"}
HEADER_KEY = {"type": "api_key", "in": "header", "name": "X-API-Key", "key_env": "SANDBOX_TOKEN"}
BOUND_SECONDS = 10.0


class Collector:
    """An HTTP server that answers 200 to anything and records every request."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def _any(self) -> None:
                collector.requests.append(f"{self.command} {self.path}\n{self.headers}")
                body = b'{"data": [{"id": 1}]}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _any

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture()
def collector() -> Iterator[Collector]:
    c = Collector()
    yield c
    c.stop()


@dataclass
class Case:
    name: str
    path: str
    pagination: dict[str, Any]
    records_path: str = ""
    auth: dict[str, Any] = field(default_factory=lambda: {"type": "bearer", "token_env": "SANDBOX_TOKEN"})
    says: tuple[str, ...] = ()
    expect: JobState = JobState.FAILED
    allowed_hosts: list[str] = field(default_factory=list)
    timeout_seconds: float = 5
    retry: dict[str, Any] = field(default_factory=lambda: dict(RETRY))


NEXT = {"type": "cursor", "next_url_path": "next"}
LINK = {"type": "link_header"}
NONE = {"type": "none"}


def _cases(sandbox_url: str, collector: Collector, canary: Path, other_sandbox: str) -> list[Case]:
    steal = quote(collector.url + "/steal?x=1", safe="")
    other_host = other_sandbox.removeprefix("http://")
    return [
        Case("h_link_cross", f"/abuse/link_to?to={steal}", LINK, says=("next link", collector.url, "allowed_hosts")),
        Case(
            "h_link_cross_query_key",
            f"/abuse/link_to?to={steal}",
            LINK,
            auth=QUERY_KEY,
            says=("next link", collector.url),
        ),
        Case("h_next_cross", f"/abuse/next_to?to={steal}", NEXT, "data", says=("next link", collector.url)),
        Case(
            "h_next_cross_header_key",
            f"/abuse/next_to?to={steal}",
            NEXT,
            "data",
            auth=HEADER_KEY,
            says=("next link", collector.url),
        ),
        Case(
            "h_next_file",
            f"/abuse/next_to?to={quote('file://' + str(canary), safe='')}",
            NEXT,
            "data",
            says=("next link", "file URL"),
        ),
        Case(
            "h_next_backslash",
            f"/abuse/next_to?to={quote(collector.url + chr(92) + '@' + sandbox_url.removeprefix('http://'), safe='')}",
            NEXT,
            "data",
            says=("backslash",),
        ),
        Case("h_redirect_cross", f"/abuse/redirect_to?to={steal}", NONE, says=("redirect", collector.url)),
        Case(
            "h_redirect_cross_query_key",
            f"/abuse/redirect_to?to={steal}&status=307",
            NONE,
            auth=QUERY_KEY,
            says=("redirect", collector.url),
        ),
        # Scrapy's meta-refresh middleware followed this, X-API-Key header included.
        Case(
            "h_meta_refresh_cross",
            f"/abuse/meta_refresh?to={steal}",
            NONE,
            auth=HEADER_KEY,
            says=("not valid JSON",),
        ),
        Case("h_total_inf", "/abuse/count?field=total&value=1e999", OFFSET, "data", says=("total_path", "inf")),
        Case(
            "h_total_pages_inf",
            "/abuse/count?field=total_pages&value=1e999",
            PAGE,
            "data",
            says=("total_pages_path", "inf"),
        ),
        Case("h_total_bool", "/abuse/count?field=total&value=true", OFFSET, "data", says=("total_path", "bool")),
        Case(
            "h_total_digits",
            "/abuse/count?field=total&value=" + quote('"' + "9" * 30 + '"'),
            OFFSET,
            "data",
            says=("total_path", "not a whole number"),
        ),
        Case("h_deep", "/abuse/deep?depth=100000", NONE, says=("page 1", "RecursionError")),
        Case("h_callback_raises", "/abuse/mixed", NONE, "sort(data)", says=("page 1", "JMESPathTypeError")),
        # What must still work: a redirect on the API's own origin, and a host the config lists.
        Case(
            "h_redirect_same",
            "/abuse/redirect_to?to=" + quote("/abuse/slow?delay=0", safe=""),
            NONE,
            expect=JobState.FINISHED,
        ),
        Case(
            "h_link_allowed",
            f"/abuse/link_to?to={quote(other_sandbox + '/abuse/slow?delay=0', safe='')}",
            LINK,
            expect=JobState.FINISHED,
            allowed_hosts=[other_host],
        ),
    ]


OFFSET = {"type": "offset", "offset_param": "offset", "limit_param": "limit", "page_size": 5, "total_path": "total"}
PAGE = {"type": "page", "page_param": "page", "page_size": 5, "total_pages_path": "total_pages"}


def _write(endpoints: Any, base_url: str, case: Case) -> Any:
    path, _, query = case.path.partition("?")
    params = dict(p.split("=", 1) for p in query.split("&")) if query else {}

    doc = {
        "name": case.name,
        "request": {
            "url": base_url + path,
            "params": {k: unquote(v) for k, v in params.items()},
            "auth": case.auth,
            "timeout_seconds": case.timeout_seconds,
            **({"allowed_hosts": case.allowed_hosts} if case.allowed_hosts else {}),
        },
        "pagination": case.pagination,
        "response_map": {"records_path": case.records_path},
        "rate_limit": {"requests_per_second": 100, "burst": 1},
        "retry": case.retry,
        "schedule": "*/15 * * * *",
    }
    file = endpoints.directory / f"{case.name}.yaml"
    file.write_text(yaml.safe_dump(doc, sort_keys=False))
    return load_endpoint(file)


def test_a_hostile_upstream_gets_no_credential_and_wedges_no_crawl(
    settings, make_sandbox, endpoints, queue, s3, start_worker, collector, tmp_path
) -> None:
    sandbox = make_sandbox(records_per_slot=100)
    other = make_sandbox(records_per_slot=100)
    canary_text = "canary-identities-" + TOKEN[-12:]
    canary = tmp_path / "identities.json"
    canary.write_text('{"identities": "' + canary_text + '"}')
    cases = _cases(sandbox.url, collector, canary, other.url)
    configs = {case.name: _write(endpoints, sandbox.url, case) for case in cases}
    jobs = {name: make_job(settings, config, 0) for name, config in configs.items()}
    worker = start_worker("--concurrency", "8")
    wait_until(lambda: "serving queue" in worker.text(), 60, "the worker to start")

    started = time.monotonic()
    for job in jobs.values():
        queue.enqueue(job)
    ended: dict[str, float] = {}

    def all_ended() -> bool:
        for name, job in jobs.items():
            if name not in ended and (s := queue.get_status(job.run_id)) and s.state.terminal:
                ended[name] = time.monotonic() - started
        return len(ended) == len(jobs)

    wait_until(all_ended, 60, "every hostile job to end", 0.05)
    rows, problems = [], []
    for case in cases:
        status = queue.get_status(jobs[case.name].run_id)
        error = status.error or ""
        rows.append(f"{case.name}: {status.state.value} after {ended[case.name]:.2f} s: {error[:220]}")
        if status.state != case.expect:
            problems.append(f"{case.name}: expected {case.expect.value}, got {status.state.value}: {error}")
        for phrase in case.says:
            if phrase.lower() not in error.lower():
                problems.append(f"{case.name}: reason does not say {phrase!r}: {error}")
        if TOKEN in error:
            problems.append(f"{case.name}: the reason carries the credential")
        if ended[case.name] > BOUND_SECONDS:
            problems.append(f"{case.name}: took {ended[case.name]:.1f} s (bound {BOUND_SECONDS} s)")
    print("\n".join(rows))
    assert not problems, "\n".join(problems + rows)
    # The collector got no request at all (so none carried a secret).
    assert collector.requests == [], collector.requests
    # No canary byte in the raw bucket: the file:// link was never read.
    for name, job in jobs.items():
        for key in list_keys(s3, settings, job.raw_prefix):
            body = s3.get_object(Bucket=settings.s3.bucket, Key=key)["Body"].read()
            assert canary_text.encode() not in body, (name, key)
            assert TOKEN.encode() not in body, (name, key)
    # The worker still serves: a good crawl after all of that.
    good = endpoints.write("h_good_after", sandbox.url, "offset")
    good_job = make_job(settings, good, 0)
    queue.enqueue(good_job)
    wait_until(
        lambda: (s := queue.get_status(good_job.run_id)) and s.state.terminal, 30, "the good job after the hostile ones"
    )
    assert queue.get_status(good_job.run_id).state == JobState.FINISHED, worker.text()[-3000:]
    assert worker.proc.poll() is None
    assert TOKEN not in worker.text()


def test_a_run_with_no_progress_is_failed_by_the_watchdog_and_the_worker_goes_on(
    settings, make_sandbox, endpoints, queue, start_worker
) -> None:
    """A page upload that hangs (the ``page_upload`` fault point holds it 30 s, as a
    stuck S3 would) leaves the run waiting with its lease heart-beaten: the watchdog
    fails it after ``worker.stall_seconds`` and the worker takes the next job."""
    sandbox = make_sandbox(records_per_slot=100)
    quick = {"max_attempts": 1, "backoff_seconds": 0.1, "max_backoff_seconds": 0.1, "max_retry_after_seconds": 0.1}
    config = _write(
        endpoints, sandbox.url, Case("h_stalled", "/abuse/slow?delay=0", NONE, timeout_seconds=1, retry=quick)
    )
    worker = start_worker(
        "--stall-seconds",
        "1",
        env_extra={"LAKEHOUSE_WORKER__PAUSE_AT": "page_upload", "LAKEHOUSE_WORKER__PAUSE_SECONDS": "30"},
    )
    wait_until(lambda: "serving queue" in worker.text(), 60, "the worker to start")
    job = make_job(settings, config, 0)
    started = time.monotonic()
    queue.enqueue(job)
    wait_until(lambda: (s := queue.get_status(job.run_id)) and s.state.terminal, 15, "the watchdog to end the run")
    seconds = time.monotonic() - started
    status = queue.get_status(job.run_id)
    print(f"h_stalled: {status.state.value} after {seconds:.2f} s (attempt {status.attempts}): {status.error}")
    assert status.state == JobState.FAILED and "no progress for" in (status.error or ""), status
    assert status.attempts == 1 and seconds < 10
    good = endpoints.write("h_after_stall", sandbox.url, "offset")
    good_job = make_job(settings, good, 0)
    queue.enqueue(good_job)
    wait_until(lambda: (s := queue.get_status(good_job.run_id)) and s.state.terminal, 30, "the next job")
    assert queue.get_status(good_job.run_id).state == JobState.FINISHED, worker.text()[-3000:]
