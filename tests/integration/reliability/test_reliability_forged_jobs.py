"""Trust boundary, the queue writer (issue 18): whoever can write to Redis can make a
worker crawl a configured endpoint's slot, but cannot point it anywhere or make it
send a credential the endpoint config does not name.

Forged jobs go straight onto the ready list (as a notebook user holding the Redis
password could push them), aimed at a "collector" HTTP server on another loopback
port and naming the worker's S3 secret key as their credential. Each is
dead-lettered with its reason; neither the collector nor the sandbox sees a request;
a good job enqueued after them finishes, and its manifest and signal row name the
config hash it was crawled with.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import yaml
from worker_harness import make_job, read_manifest, wait_until

from lakehouse.config.settings import Settings
from lakehouse.endpoints import load_endpoint
from lakehouse.pipeline.steps import publish_signal
from lakehouse.queue.jobs import JobState
from lakehouse.tables.signals import rows_for

SECRET_ENV = "LAKEHOUSE_S3__SECRET_ACCESS_KEY"


class Collector:
    """An HTTP server that records every request it gets (an attacker's server)."""

    def __init__(self) -> None:
        seen: list[dict[str, Any]] = []
        self.seen = seen

        class Handler(BaseHTTPRequestHandler):
            def _record(self) -> None:
                seen.append({"method": self.command, "path": self.path, "headers": dict(self.headers)})
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"[]")

            do_GET = do_POST = _record

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture()
def collector() -> Iterator[Collector]:
    server = Collector()
    yield server
    server.close()


def test_forged_jobs_are_dead_lettered_and_send_nothing(
    settings: Settings, make_sandbox, endpoints, queue, s3, start_worker, collector: Collector
) -> None:
    sandbox = make_sandbox(records_per_slot=100)
    config = endpoints.write("forged_target", sandbox.url, "offset", rate=200)
    steal = {"type": "bearer", "token_env": SECRET_ENV}
    to_collector = {"url": collector.url + "/collect", "auth": steal}

    def doc(n: int) -> dict[str, Any]:
        return json.loads(make_job(settings, config, n).to_payload())

    # (a) the payload names where to send and which variable to send: refused as invalid.
    forged: dict[str, tuple[dict[str, Any], str]] = {
        "request_block": ({**doc(1), "request": to_collector}, "request: Extra inputs are not permitted"),
        "auth_and_url": ({**doc(2), **to_collector}, "auth: Extra inputs are not permitted"),
        "v2_job": (
            {k: v for k, v in doc(3).items() if k != "config_hash"} | {"schema_version": 2, "request": to_collector},
            "schema version 2, this worker reads version 3",
        ),
    }
    # (b) a well-formed job made from another config: here the producer's copy points
    # at the collector; the worker's copy (the one it trusts) at the sandbox.
    producer_dir = endpoints.directory.parent / "producer-endpoints"
    producer_dir.mkdir()
    producer_doc = yaml.safe_load((endpoints.directory / "forged_target.yaml").read_text())
    producer_doc["request"] |= {"url": collector.url + "/v1/offset", "auth": steal}
    (producer_dir / "forged_target.yaml").write_text(yaml.safe_dump(producer_doc))
    producer = load_endpoint(producer_dir / "forged_target.yaml")
    other_hash = json.loads(make_job(settings, producer, 4).to_payload())
    forged["other_config"] = (other_hash, f"{producer.content_hash}, but this worker's")
    payloads = {name: json.dumps(d) for name, (d, _) in forged.items()}
    queue.client.rpush(queue.keys.jobs, *payloads.values())

    started = time.monotonic()
    secret = settings.s3.secret_access_key.get_secret_value()
    worker = start_worker(env_extra={SECRET_ENV: secret})
    letters = wait_until(
        lambda: len(found := queue.dead_letters(20)) >= len(forged) and found, 60, "every forged job's dead letter", 0.1
    )
    refused_in = time.monotonic() - started
    reasons = {letter.payload: letter.reason for letter in letters}
    for name, (_, says) in forged.items():
        assert says in reasons.get(payloads[name], ""), (name, reasons)
    other_reason = reasons[payloads["other_config"]]
    assert config.content_hash in other_reason and producer.content_hash in other_reason
    assert "Deploy one config to both" in other_reason
    assert all(secret not in r and collector.url not in r for r in reasons.values())
    for name in ("request_block", "auth_and_url", "other_config"):
        run_id = forged[name][0]["run_id"]
        status = queue.get_status(run_id)
        assert status is not None and status.state is JobState.DEAD, (name, status)

    # The worker keeps serving: a good job after them finishes.
    good = make_job(settings, config, 0)
    queue.enqueue(good)
    status = wait_until(
        lambda: (s := queue.get_status(good.run_id)) and s.state.terminal and s, 60, "the good job", 0.1
    )
    assert status.state is JobState.FINISHED, f"{status.error}\n{worker.text()[-3000:]}"
    manifest = read_manifest(s3, settings, good)
    # Every landed slot names the config that produced it: its manifest and signal row.
    assert manifest.config_hash == config.content_hash
    ours = settings.model_copy(update={"queue": settings.queue.model_copy(update={"prefix": queue.options.prefix})})
    assert publish_signal(ours, good.run_id).config_hash == config.content_hash
    (row,) = rows_for(ours, good.run_id)
    assert row.config_hash == config.content_hash
    assert collector.seen == [], collector.seen
    # Every sandbox request was the good job's: its pages, no more.
    assert sandbox.server.stats().total_requests == manifest.total_pages
    assert worker.proc.poll() is None and "Traceback" not in worker.text()
    print(
        f"{len(forged)} forged jobs dead-lettered {refused_in:.2f} s after the worker started "
        f"(invalid payload x{len(forged) - 1}, other config hash x1); collector got {len(collector.seen)} "
        f"requests, the sandbox only the good job's {manifest.total_pages}"
    )
