"""OAuth2 client credentials through the public paths: endpoint YAML, the queue, a
worker process, the sandbox's token endpoint and the API it protects.

One worker serves six jobs against five sandboxes:

- long-lived tokens: two jobs share one token (one token request in all);
- tokens that live 1 s and say so: refreshed early, never a 401;
- tokens that die after 1 s but claim an hour (a revoked token): each 401 is
  followed by exactly one new token and the page is sent again;
- tokens dead on arrival: one refresh, then the second 401 fails the job;
- a wrong client secret: the job fails naming the token endpoint.

And no token or client secret reaches the worker's log, S3 or Redis.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from test_worker_secrets import _redis_dump
from worker_harness import Sandbox, landed_records, list_keys, make_job, market_for, read_manifest, wait_until

from lakehouse.queue.jobs import JobState
from sandbox import OAuth2Options, SandboxOptions, SandboxServer

CLIENT_ID = "lakehouse-worker"
SECRET = "oauth2-client-secret-5f1c9a"  # distinctive: a hit anywhere is a leak
PREFIX = "sbx-oauth2-canary-"  # every issued token starts with it
RECORDS = 1500  # 30 pages of 50 at 10 pages/s: a 3 s crawl outlives a 1 s token


def _oauth_sandbox(started: list[SandboxServer], lifetime: float, expires_in: float | None = None) -> Sandbox:
    market = market_for(RECORDS)
    options = OAuth2Options(CLIENT_ID, SECRET, lifetime, expires_in, frozenset({"trades:read"}), PREFIX)
    server = SandboxServer(SandboxOptions(market=market, oauth2=options)).start()
    started.append(server)
    return Sandbox(server, market)


def _auth(sandbox: Sandbox, secret_env: str = "OAUTH_SECRET", **extra: Any) -> dict[str, Any]:
    return {
        **extra,
        "type": "oauth2_client_credentials",
        "token_url": sandbox.url + "/oauth/token",
        "client_id_env": "OAUTH_CLIENT_ID",
        "client_secret_env": secret_env,
        "scopes": ["trades:read"],
    }


@pytest.fixture()
def sandboxes() -> Any:
    started: list[SandboxServer] = []
    yield started
    for server in started:
        server.stop()


def test_oauth2_tokens_are_reused_refreshed_and_never_leak(
    settings: Any,
    sandboxes: list[SandboxServer],
    endpoints: Any,
    queue: Any,
    s3: Any,
    start_worker: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OAUTH_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("OAUTH_SECRET", SECRET)
    monkeypatch.setenv("OAUTH_WRONG_SECRET", "not-the-secret")
    shared = _oauth_sandbox(sandboxes, lifetime=600)
    short = _oauth_sandbox(sandboxes, lifetime=1.0)
    revoked = _oauth_sandbox(sandboxes, lifetime=1.0, expires_in=3600)
    refusing = _oauth_sandbox(sandboxes, lifetime=600)
    doomed = _oauth_sandbox(sandboxes, lifetime=0.001, expires_in=3600)
    paging = {"page_size": 50}
    configs = {
        "shared": endpoints.write("oa_shared", shared.url, auth=_auth(shared), rate=50, pagination=paging),
        # Its token requests draw from its bucket; the others' do not.
        "short": endpoints.write(
            "oa_short", short.url, auth=_auth(short, rate_limited=True), rate=10, pagination=paging
        ),
        "revoked": endpoints.write("oa_revoked", revoked.url, auth=_auth(revoked), rate=10, pagination=paging),
        "refused": endpoints.write(
            "oa_refused", refusing.url, auth=_auth(refusing, "OAUTH_WRONG_SECRET"), pagination=paging
        ),
        "doomed": endpoints.write("oa_doomed", doomed.url, auth=_auth(doomed), pagination=paging),
    }
    jobs = {
        "shared0": make_job(settings, configs["shared"], 0),
        "shared1": make_job(settings, configs["shared"], 1),
        "short": make_job(settings, configs["short"]),
        "revoked": make_job(settings, configs["revoked"]),
        "refused": make_job(settings, configs["refused"]),
        "doomed": make_job(settings, configs["doomed"]),
    }
    payloads = "\n".join(job.to_payload() for job in jobs.values())
    # Neither the secret nor its variable name nor the token URL travels: the worker
    # takes them from its own config (job schema 3).
    assert "OAUTH_SECRET" not in payloads and SECRET not in payloads and "127.0.0.1" not in payloads
    for job in jobs.values():
        queue.enqueue(job, force=True)
    worker = start_worker("--max-jobs", str(len(jobs)), "--log-level", "DEBUG")
    statuses = wait_until(
        lambda: (
            (s := {k: queue.get_status(j.run_id) for k, j in jobs.items()})
            and all(x and x.state.terminal for x in s.values())
            and s
        ),
        90,
        "the OAuth2 jobs to end",
        0.2,
    )
    assert worker.wait(60) == 0, worker.text()[-3000:]
    log = worker.text()
    states = {k: s.state for k, s in statuses.items()}
    assert states == {
        "shared0": JobState.FINISHED,
        "shared1": JobState.FINISHED,
        "short": JobState.FINISHED,
        "revoked": JobState.FINISHED,
        "refused": JobState.FAILED,
        "doomed": JobState.FAILED,
    }, ({k: s.error for k, s in statuses.items()}, log[-3000:])

    # Every record of every finished slot landed.
    for key, sandbox, n in (("shared0", shared, 0), ("shared1", shared, 1), ("short", short, 0)):
        manifest = read_manifest(s3, settings, jobs[key])
        assert landed_records(s3, settings, manifest, "data.items") == sandbox.expected(n), key
    revoked_manifest = read_manifest(s3, settings, jobs["revoked"])
    assert landed_records(s3, settings, revoked_manifest, "data.items") == revoked.expected(0)
    assert revoked_manifest.total_pages == RECORDS // 50

    # One token for both jobs of one client.
    one = shared.server.stats()
    assert (one.token_requests, one.tokens_issued, one.unauthorized) == (1, 1, 0)
    # Short tokens: refreshed before they expire, so the API never saw a dead one.
    early = short.server.stats()
    assert early.unauthorized == 0 and early.tokens_issued >= 3, early
    # Tokens that die early: one new token per 401, and the page sent again at once.
    dead = revoked.server.stats()
    assert dead.unauthorized >= 1 and dead.tokens_issued == dead.unauthorized + 1, dead
    assert dead.per_path["/v1/offset"] == revoked_manifest.total_pages + dead.unauthorized
    # The refusing endpoint is named, with its error code; no page was requested.
    error = statuses["refused"].error or ""
    assert f"OAuth2 token endpoint {refusing.url}/oauth/token refused the token request: HTTP 401" in error
    assert "invalid_client" in error and "OAUTH_WRONG_SECRET" in error
    assert refusing.server.stats().per_path.get("/v1/offset", 0) == 0
    # A fresh token refused too: refreshed once only, then failed with the reason.
    assert (doomed.server.stats().tokens_issued, doomed.server.stats().unauthorized) == (2, 2)
    assert "HTTP 401 from " in (statuses["doomed"].error or "")
    assert f"again with a new token from the OAuth2 token endpoint {doomed.url}/oauth/token" in (
        statuses["doomed"].error or ""
    )

    # The rate limiter granted every page send, and the token requests of the one auth
    # with rate_limited: true (Scrapy's stats dump when the worker stops).
    servers = (shared, short, revoked, refusing, doomed)
    pages_sent = sum(sb.server.stats().per_path.get("/v1/offset", 0) for sb in servers)
    granted = int(re.search(r"'scrapworker/requests': (\d+)", log).group(1))  # type: ignore[union-attr]
    assert granted == pages_sent + early.token_requests, (granted, pages_sent, early.token_requests)

    # Neither the client secret nor any token anywhere.
    assert "Crawled (200)" in log and "new OAuth2 token" in log and "fetching a new OAuth2 token" in log
    assert SECRET not in log and PREFIX not in log
    for job in jobs.values():
        for key in list_keys(s3, settings, job.raw_prefix):
            body = s3.get_object(Bucket=settings.s3.bucket, Key=key)["Body"].read()
            assert SECRET.encode() not in body and PREFIX.encode() not in body, key
    dump = _redis_dump(queue.client)
    assert SECRET not in dump and PREFIX not in dump
