"""The API token never appears in S3 objects, Redis keys or values, or worker logs,
even with the key in the query string (the API echoes it into its next links) and
with DEBUG logging of every request."""

from __future__ import annotations

from typing import Any

from worker_harness import TOKEN, list_keys, make_job

from lakehouse.queue.jobs import JobState


def _redis_dump(client: Any) -> str:
    parts: list[str] = []
    for key in client.scan_iter(count=1000):
        parts.append(key)
        kind = client.type(key)
        if kind == "string":
            parts.append(str(client.get(key)))
        elif kind == "hash":
            parts.extend(f"{k}={v}" for k, v in client.hgetall(key).items())
        elif kind == "list":
            parts.extend(client.lrange(key, 0, -1))
        elif kind == "zset":
            parts.extend(client.zrange(key, 0, -1))
    return "\n".join(parts)


def test_token_never_leaks(
    settings: Any, make_sandbox: Any, endpoints: Any, queue: Any, s3: Any, start_worker: Any
) -> None:
    sandbox = make_sandbox(records_per_slot=400)
    query_auth = {"type": "api_key", "in": "query", "name": "api_key", "key_env": "SANDBOX_TOKEN"}
    linked = endpoints.write("sbx_secret_link", sandbox.url, "link_header", auth=query_auth)
    bearer = endpoints.write("sbx_secret_bearer", sandbox.url, "cursor")
    broken = endpoints.write("sbx_secret_broken", sandbox.url + "/nowhere", "offset", auth=query_auth)
    jobs = [make_job(settings, c) for c in (linked, bearer, broken)]
    for job in jobs:
        queue.enqueue(job, force=True)
    worker = start_worker("--max-jobs", "3", "--log-level", "DEBUG")
    assert worker.wait(60) == 0, worker.text()[-3000:]

    states = [queue.get_status(j.run_id).state for j in jobs]
    assert states == [JobState.FINISHED, JobState.FINISHED, JobState.FAILED]
    assert "HTTP 404" in (queue.get_status(jobs[2].run_id).error or "")
    assert sandbox.server.stats().unauthorized == 0  # the token really was sent

    log = worker.text()
    assert "Crawled (200)" in log  # the URLs were logged, so this checks their redaction
    assert TOKEN not in log
    objects = [k for j in jobs for k in list_keys(s3, settings, j.raw_prefix)]
    assert objects
    for key in objects:
        assert TOKEN.encode() not in s3.get_object(Bucket=settings.s3.bucket, Key=key)["Body"].read(), key
    assert TOKEN not in _redis_dump(queue.client)
