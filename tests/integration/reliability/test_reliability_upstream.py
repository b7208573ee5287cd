"""Upstream abuse (issue 12): the sandbox's /abuse/ routes against one running worker.

Each job ends in a bounded time, measured here, with a named reason in its failed
status, or lands correctly where that is right (a 50 MB page, a 429 with
``Retry-After: 0`` that then answers). ``LAKEHOUSE_RELIABILITY_LONG=1`` adds a 150 MB
page and an upstream that answers ``Retry-After: 0`` forever.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import psutil
import yaml
from worker_harness import make_job, read_manifest, wait_until

from lakehouse.endpoints import load_endpoint
from lakehouse.queue.jobs import JobState
from sandbox.abuse import huge_body

LONG = os.environ.get("LAKEHOUSE_RELIABILITY_LONG") == "1"
RETRY = {"max_attempts": 3, "backoff_seconds": 0.2, "max_backoff_seconds": 1.0}


@dataclass
class Case:
    name: str
    path: str
    params: dict[str, str] = field(default_factory=dict)
    pagination: dict[str, Any] = field(default_factory=lambda: {"type": "none"})
    records_path: str = ""
    expect: JobState = JobState.FAILED
    says: str = ""
    bound_seconds: float = 10.0
    timeout_seconds: float = 10.0
    rate_key: str | None = None
    retry: dict[str, Any] = field(default_factory=lambda: dict(RETRY))


CASES = [
    Case(
        "abuse_slow",
        "/abuse/slow",
        {"delay": "5"},
        says="took longer than 1",
        bound_seconds=8,
        timeout_seconds=1,
        retry={"max_attempts": 2, "backoff_seconds": 0.2, "max_backoff_seconds": 1.0},
    ),
    Case("abuse_html", "/abuse/html", says="not valid JSON", bound_seconds=5),
    Case("abuse_huge", "/abuse/huge", {"mb": "50"}, expect=JobState.FINISHED, bound_seconds=30),
    Case(
        "abuse_too_huge", "/abuse/huge", {"mb": "80"}, says="larger than the worker's download limit", bound_seconds=20
    ),
    Case(
        "abuse_retry_after_zero",
        "/abuse/retry_after",
        {"value": "0", "times": "3"},
        expect=JobState.FINISHED,
        bound_seconds=8,
    ),
    Case(
        "abuse_retry_after_huge",
        "/abuse/retry_after",
        {"value": "86400", "times": "1000"},
        says="Retry-After 86400 s",
        bound_seconds=5,
        rate_key="abuse_shared",
    ),
    Case(
        "abuse_after_huge_pause",
        "/abuse/retry_after",
        {"value": "0", "times": "0"},
        expect=JobState.FINISHED,
        bound_seconds=8,
        rate_key="abuse_shared",
    ),
    Case(
        "abuse_cursor_repeat",
        "/abuse/cursor_repeat",
        pagination={"type": "cursor", "cursor_param": "cursor", "next_cursor_path": "next_cursor"},
        records_path="data",
        says="pagination loop",
        bound_seconds=5,
    ),
    Case(
        "abuse_next_loop",
        "/abuse/next_loop",
        pagination={"type": "cursor", "next_url_path": "next"},
        records_path="data",
        says="pagination loop",
        bound_seconds=5,
    ),
    Case(
        "abuse_link_loop",
        "/abuse/link_loop",
        pagination={"type": "link_header"},
        says="pagination loop",
        bound_seconds=5,
    ),
]
if LONG:
    CASES += [
        Case(
            "abuse_retry_after_forever",
            "/abuse/retry_after",
            {"value": "0", "times": "1000"},
            says="HTTP 429 51 times",
            bound_seconds=120,
            retry={"max_attempts": 3, "backoff_seconds": 0.2, "max_backoff_seconds": 2.0},
        ),
        Case(
            "abuse_huge_150",
            "/abuse/huge",
            {"mb": "150"},
            says="larger than the worker's download limit",
            bound_seconds=30,
        ),
    ]


def _write(endpoints, base_url: str, case: Case):
    doc = {
        "name": case.name,
        "request": {
            "url": base_url + case.path,
            "params": case.params,
            "auth": {"type": "bearer", "token_env": "SANDBOX_TOKEN"},
            "timeout_seconds": case.timeout_seconds,
        },
        "pagination": case.pagination,
        "response_map": {"records_path": case.records_path},
        "rate_limit": {"requests_per_second": 50, "burst": 1, **({"key": case.rate_key} if case.rate_key else {})},
        "retry": case.retry,
        "schedule": "*/15 * * * *",
    }
    path = endpoints.directory / f"{case.name}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return load_endpoint(path)


def _peak_rss(pid: int, stop: threading.Event, out: list[int]) -> None:
    try:
        proc = psutil.Process(pid)
        while not stop.is_set():
            out.append(sum(p.memory_info().rss for p in [proc, *proc.children(recursive=True)]))
            time.sleep(0.05)
    except psutil.NoSuchProcess:
        pass


def test_abusive_upstreams_end_bounded_with_named_reasons(
    settings, make_sandbox, endpoints, queue, s3, start_worker
) -> None:
    sandbox = make_sandbox(records_per_slot=300)
    configs = {case.name: _write(endpoints, sandbox.url, case) for case in CASES}
    jobs = {name: make_job(settings, config, 0) for name, config in configs.items()}
    worker = start_worker("--concurrency", str(len(CASES)))
    wait_until(lambda: "serving queue" in worker.text(), 60, "the worker to start")
    idle_rss = psutil.Process(worker.proc.pid).memory_info().rss
    rss: list[int] = []
    stop = threading.Event()
    sampler = threading.Thread(target=_peak_rss, args=(worker.proc.pid, stop, rss), daemon=True)
    sampler.start()
    started = {}
    for case in CASES:
        if case.name == "abuse_after_huge_pause":
            # Queued once the huge Retry-After failed: the shared bucket must not be paused.
            wait_until(
                lambda: (s := queue.get_status(jobs["abuse_retry_after_huge"].run_id)) and s.state.terminal,
                30,
                "the huge Retry-After job to end",
            )
        started[case.name] = time.monotonic()
        queue.enqueue(jobs[case.name])
    ended: dict[str, float] = {}

    def all_ended() -> bool:
        for name, job in jobs.items():
            if name not in ended and (s := queue.get_status(job.run_id)) and s.state.terminal:
                ended[name] = time.monotonic()
        return len(ended) == len(jobs)

    wait_until(all_ended, max(c.bound_seconds for c in CASES) + 60, "every abuse job to end", 0.1)
    stop.set()
    sampler.join(5)
    log = worker.text()
    rows, problems = [], []
    for case in CASES:
        status = queue.get_status(jobs[case.name].run_id)
        seconds = ended[case.name] - started[case.name]
        rows.append(f"{case.name}: {status.state.value} in {seconds:.2f} s: {(status.error or '')[:160]}")
        if status.state != case.expect:
            problems.append(f"{case.name}: expected {case.expect.value}, got {status.state.value}: {status.error}")
        elif case.says and case.says.lower() not in (status.error or "").lower():
            problems.append(f"{case.name}: reason does not say {case.says!r}: {status.error}")
        if seconds > case.bound_seconds:
            problems.append(f"{case.name}: took {seconds:.1f} s, bound {case.bound_seconds} s")
    print("\n" + "\n".join(rows))
    print(f"worker RSS idle {idle_rss / 2**20:.0f} MiB, peak {max(rss or [0]) / 2**20:.0f} MiB")
    assert not problems, "\n".join(problems) + "\n" + log[-3000:]
    assert worker.proc.poll() is None, "the worker stopped serving"

    # Retry-After: 0 was honoured as "no pause", but the page still backed off (0.2, 0.4, 0.8 s).
    per_query = sandbox.server.app._abuse_hits  # noqa: SLF001 - times per query
    times = sorted(next(v for k, v in per_query.items() if "times=3" in k))
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert len(times) == 4, times
    for n, gap in enumerate(gaps, start=1):
        assert gap >= 0.9 * min(1.0, 0.2 * 2 ** (n - 1)), f"429 re-sent after {gap:.3f} s (attempt {n}): no backoff"
    print("Retry-After: 0 re-sends after", ", ".join(f"{g:.2f} s" for g in gaps))
    huge = read_manifest(s3, settings, jobs["abuse_huge"])
    body, count = huge_body(50)
    assert (huge.total_records, huge.total_bytes) == (count, len(body))
    assert max(rss) - idle_rss < 1024 * 2**20, f"a 50 MB page cost {(max(rss) - idle_rss) / 2**20:.0f} MiB"
