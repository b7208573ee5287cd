"""Secrets canary (issue 12): recognisable canary values for the sandbox API token,
the S3 key pair and the Redis password, a stack of its own (Redis + S3) started with
them, a crawl that lands and crawls that fail (the token travels in the query string,
the worst case) and one with OAuth2 client credentials (a client secret canary, and
every access token the sandbox issues starts with a token canary), then a search of
everything the run left behind: every log file of the stack, Redis' append-only
files and a dump of every key, every S3 object, the worker's output and the CLI's.
Zero hits.

Only the places that must hold a secret are skipped: the secrets dir, redis.conf
(requirepass) and SeaweedFS' identities file and data dir (its key pair).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import yaml
from worker_harness import ROOT, make_job, market_for, wait_until

from lakehouse.config.settings import load_settings
from lakehouse.endpoints import load_endpoint
from lakehouse.local.services.redis_server import RedisService
from lakehouse.local.services.s3_server import S3Service
from lakehouse.local.stack import LocalStack
from lakehouse.queue.config import QueueSettings
from lakehouse.queue.crawl_queue import JobQueue
from lakehouse.queue.jobs import JobState
from lakehouse.raw.storage import ensure_bucket, s3_client
from sandbox import OAuth2Options, SandboxOptions, SandboxServer
from tests.conftest import stack_env
from tests.secrets_search import SecretSearch

LAKEHOUSE = str(Path(sys.executable).with_name("lakehouse"))


def _canaries() -> dict[str, str]:
    tag = uuid.uuid4().hex[:12]
    return {
        "SANDBOX_TOKEN": f"canaryTOKEN{tag}",
        "LAKEHOUSE_S3__ACCESS_KEY_ID": f"canaryAKID{tag}",
        "LAKEHOUSE_S3__SECRET_ACCESS_KEY": f"canarySECRET{tag}",
        "LAKEHOUSE_REDIS__PASSWORD": f"canaryREDIS{tag}",
        # The worker never uses the catalog; its token must not leak through it either.
        "LAKEHOUSE_CATALOG__TOKEN": f"canaryCATALOG{tag}",
        "CANARY_OAUTH2_SECRET": f"canaryOAUTH2SECRET{tag}",
        # Not a variable: the prefix of every token the sandbox issues.
        "OAUTH2_ACCESS_TOKEN": f"canaryACCESSTOKEN{tag}",
    }


def _endpoint(directory: Path, name: str, url: str, auth: dict, pagination: dict, records_path: str = ""):
    doc = {
        "name": name,
        "request": {
            "url": url,
            "params": {"symbol": "BTCUSDT", "start_time": "{slot_start_ms}", "end_time": "{slot_end_ms}"},
            "auth": auth,
            "timeout_seconds": 5,
        },
        "pagination": pagination,
        "response_map": {"records_path": records_path},
        "rate_limit": {"requests_per_second": 50},
        "retry": {"max_attempts": 2, "backoff_seconds": 0.05, "max_backoff_seconds": 0.1},
        "schedule": "*/15 * * * *",
    }
    (directory / f"{name}.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    return load_endpoint(directory / f"{name}.yaml")


def test_no_secret_reaches_logs_redis_or_s3(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make_sandbox) -> None:
    started = time.monotonic()
    canaries = _canaries()
    env = {
        **stack_env(tmp_path / "state"),
        **canaries,
        "CANARY_OAUTH2_ID": "canary-client",
        "LAKEHOUSE_QUEUE__PREFIX": "canary",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings = load_settings()
    assert settings.redis.password.get_secret_value() == canaries["LAKEHOUSE_REDIS__PASSWORD"]
    stack = LocalStack(settings, services=(RedisService, S3Service))
    stack.up()
    try:
        ensure_bucket(settings.s3)
        sandbox = make_sandbox(records_per_slot=300, token=canaries["SANDBOX_TOKEN"])
        directory = tmp_path / "endpoints"
        directory.mkdir()
        in_query = {"type": "api_key", "in": "query", "name": "api_key", "key_env": "SANDBOX_TOKEN"}
        ok = _endpoint(
            directory,
            "canary_ok",
            sandbox.url + "/v1/link",
            in_query,
            {"type": "link_header", "limit_param": "per_page", "page_size": 100},
        )
        html = _endpoint(directory, "canary_html", sandbox.url + "/abuse/html", in_query, {"type": "none"})
        bearer = _endpoint(
            directory,
            "canary_missing",
            sandbox.url + "/v1/missing",
            {"type": "bearer", "token_env": "SANDBOX_TOKEN"},
            {"type": "none"},
        )
        issuer = OAuth2Options(
            "canary-client", canaries["CANARY_OAUTH2_SECRET"], token_prefix=canaries["OAUTH2_ACCESS_TOKEN"]
        )
        oauth_api = SandboxServer(SandboxOptions(market=market_for(300), oauth2=issuer)).start()
        oauth = _endpoint(
            directory,
            "canary_oauth2",
            oauth_api.url + "/v1/link",
            {
                "type": "oauth2_client_credentials",
                "token_url": oauth_api.url + "/oauth/token",
                "client_id_env": "CANARY_OAUTH2_ID",
                "client_secret_env": "CANARY_OAUTH2_SECRET",
            },
            {"type": "link_header", "limit_param": "per_page", "page_size": 100},
        )
        client = settings.redis.client()
        queue = JobQueue(client, QueueSettings(prefix="canary"))
        jobs = [make_job(settings, config, 0) for config in (ok, html, bearer, oauth)]
        log = tmp_path / "worker.log"
        with log.open("wb") as out:
            worker = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "scrapworker",
                    "--endpoints-dir",
                    str(directory),
                    "--worker-id",
                    "canary",
                    "--queue-prefix",
                    "canary",
                    "--max-jobs",
                    str(len(jobs)),
                    "--log-level",
                    "debug",
                ],
                cwd=ROOT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        try:
            for job in jobs:
                queue.enqueue(job)
            # Also a hand-pushed payload that cannot be parsed: its dead letter is stored too.
            client.rpush(queue.keys.jobs, '{"run_id": "canary_x__20240102T0300Z", "request": "nope"}')
            states = wait_until(
                lambda: (
                    (s := [queue.get_status(j.run_id) for j in jobs]) and all(x and x.state.terminal for x in s) and s
                ),
                90,
                "the canary jobs to end",
                0.2,
            )
            assert [s.state for s in states] == [
                JobState.FINISHED,
                JobState.FAILED,
                JobState.FAILED,
                JobState.FINISHED,
            ], (
                [s.error for s in states],
                log.read_text()[-3000:],
            )
            assert worker.wait(timeout=60) == 0
        finally:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
            oauth_api.stop()
        assert oauth_api.stats().tokens_issued == 1 and oauth_api.stats().unauthorized == 0
        cli = [
            subprocess.run([LAKEHOUSE, *args], capture_output=True, timeout=60)
            for args in (["queue", "status"], ["queue", "dead-letters", "--json"], ["settings"])
        ]
        assert all(proc.returncode == 0 for proc in cli), [p.stderr for p in cli]

        search = SecretSearch(canaries)
        search.check("worker output", "worker output", log.read_bytes())
        for n, proc in enumerate(cli):
            search.check("cli", f"cli {n}", proc.stdout + proc.stderr)
        for path in sorted((settings.local.state_dir / "logs").rglob("*")):
            if path.is_file():
                search.check("log", f"log {path.name}", path.read_bytes())
        for path in sorted((settings.local.state_dir / "redis").rglob("*")):
            if path.is_file() and path.name != "redis.conf":
                search.check("redis file", f"redis file {path.name}", path.read_bytes())
        search.check_redis(client)
        search.check_s3(s3_client(settings.s3), [settings.s3.bucket])
        searched, found = search.searched, search.found
        assert (
            searched.get("s3 object", 0) >= 3 and searched.get("redis key", 0) >= 5 and searched.get("log", 0) >= 2
        ), searched
        assert not found, f"canary secrets found: {found}"
        print(f"canary: searched {searched}, zero hits, in {time.monotonic() - started:.1f} s")
    finally:
        stack.down()
