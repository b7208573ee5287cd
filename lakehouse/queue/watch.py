"""Wait for a run's terminal state without blocking an event loop (redis.asyncio).

For waiters that run inside an asyncio loop, such as Airflow's triggerer: nothing
here blocks (no sync Redis call, no sleep), and nothing imports an engine.

How it waits: it subscribes to the queue's status channel (``Keys.status_channel``;
the Lua script that writes a terminal state publishes ``{"run_id", "state"}`` in the
same atomic step), then reads the run's hash. An announcement for the run wakes it at
once; without one it re-reads the hash every ``status_recheck_seconds`` anyway,
because pub/sub is not durable (a reconnect, a triggerer restart or a subscription
made a moment late loses messages) and the hash is the source of truth. Subscribing
before the first read leaves no gap in which an announcement could fall.

It also gives up early, with a message that says what to do, when the run has made
no progress for ``no_worker_seconds`` and no worker has been seen for as long
(``Keys.workers``: every lease, heartbeat and ack records its worker), and when the
deadline passes.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from lakehouse.errors import JobNotFoundError, QueueError, WaitTimeoutError
from lakehouse.queue.crawl_queue import status_from_hash
from lakehouse.queue.jobs import JobStatus
from lakehouse.queue.keys import Keys

if TYPE_CHECKING:
    import redis.asyncio

    from lakehouse.config.settings import RedisSettings


class NoWorkerError(QueueError):
    def __init__(
        self,
        run_id: str,
        state: str,
        queue: str,
        redis_url: str,
        seconds: float,
        last_seen: datetime | None,
        last_worker: str | None,
    ) -> None:
        self.run_id = run_id
        seen = (
            f"the last one ({last_worker}) was seen at {last_seen:%Y-%m-%d %H:%M:%S} UTC"
            if last_seen is not None
            else "none was ever seen"
        )
        super().__init__(
            f"crawl {run_id} is still {state} on queue {queue} ({redis_url}) and no worker has leased, "
            f"heartbeated or acked there for {seconds:g} s ({seen}). Start a worker on the same Redis and "
            "queue prefix: `python -m scrapworker` (or `lakehouse local up --with worker` for the local "
            "stack), then clear this task to wait again."
        )


class Outcome(StrEnum):
    FINISHED = "finished"
    FAILED = "failed"
    DEAD = "dead"
    NO_WORKER = "no_worker"
    TIMEOUT = "timeout"
    MISSING = "missing"


@dataclass(frozen=True)
class WaitResult:
    """How a wait ended. ``status`` is the run's last status read (None if missing);
    ``message`` explains the outcomes that are not a terminal state of the run."""

    run_id: str
    outcome: Outcome
    status: JobStatus | None
    message: str | None = None
    woken_by_announcement: bool = False


def async_client(settings: RedisSettings) -> redis.asyncio.Redis:
    """An asyncio client for the settings' Redis (the password stays in memory only)."""
    import redis.asyncio

    return redis.asyncio.Redis(
        host=settings.host,
        port=settings.port,
        db=settings.db,
        password=settings.password.get_secret_value() if settings.password else None,
        decode_responses=True,
    )


async def _status(client: redis.asyncio.Redis, keys: Keys, run_id: str) -> JobStatus | None:
    raw = await client.hgetall(keys.job(run_id))
    return status_from_hash(raw) if raw else None


async def _server_now(client: redis.asyncio.Redis) -> float:
    seconds, micros = await client.time()
    return float(seconds) + float(micros) / 1e6


async def _no_worker(
    client: redis.asyncio.Redis, keys: Keys, status: JobStatus, seconds: float, redis_url: str
) -> NoWorkerError | None:
    now = await _server_now(client)
    last = status.updated_at or status.queued_at
    if last is not None and last.timestamp() > now - seconds:
        return None  # the run changed recently: give a starting worker its time
    newest: list[tuple[str, float]] = await client.zrevrange(keys.workers, 0, 0, withscores=True)  # type: ignore[assignment]
    if newest and newest[0][1] > now - seconds:
        return None
    worker, seen = (newest[0][0], datetime.fromtimestamp(newest[0][1], tz=UTC)) if newest else (None, None)
    return NoWorkerError(status.run_id, status.state.value, keys.jobs, redis_url, seconds, seen, worker)


def _announces(message: dict[str, Any] | None, run_id: str) -> bool:
    if not message or message.get("type") != "message":
        return False
    try:
        return bool(json.loads(message["data"]).get("run_id") == run_id)
    except (ValueError, AttributeError, TypeError):
        return False


async def wait_for_terminal(
    client: redis.asyncio.Redis,
    keys: Keys,
    run_id: str,
    *,
    deadline: float,
    no_worker_seconds: float,
    recheck_seconds: float,
    redis_url: str = "redis",
    timeout_seconds: float | None = None,
) -> WaitResult:
    """Wait until the run is finished, failed or dead, no worker runs, or ``deadline``
    (a Unix time, so a resumed wait keeps the original one) passes. A Redis that
    stops answering meanwhile is waited out (until the deadline), not fatal."""
    pubsub: Any = None
    woken = False
    unreachable: Exception | None = None
    try:
        while True:
            try:
                if pubsub is None:
                    pubsub = client.pubsub()
                    await pubsub.subscribe(keys.status_channel)
                status = await _status(client, keys, run_id)
                unreachable = None
                if status is None:
                    return WaitResult(run_id, Outcome.MISSING, None, str(JobNotFoundError(run_id)))
                if status.state.terminal:
                    return WaitResult(run_id, Outcome(status.state.value), status, woken_by_announcement=woken)
                missing = await _no_worker(client, keys, status, no_worker_seconds, redis_url)
                if missing is not None:
                    return WaitResult(run_id, Outcome.NO_WORKER, status, str(missing))
                remaining = deadline - time.time()
                if remaining <= 0:
                    return WaitResult(
                        run_id,
                        Outcome.TIMEOUT,
                        status,
                        str(WaitTimeoutError(run_id, timeout_seconds or 0.0, status.state.value)),
                    )
                woken = await _next_announcement(pubsub, run_id, min(recheck_seconds, remaining))
            except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
                unreachable = exc
                await _close(pubsub)
                pubsub = None
                remaining = deadline - time.time()
                if remaining <= 0:
                    return WaitResult(
                        run_id,
                        Outcome.TIMEOUT,
                        None,
                        str(
                            WaitTimeoutError(
                                run_id, timeout_seconds or 0.0, f"unknown (Redis {redis_url}: {unreachable})"
                            )
                        ),
                    )
                await asyncio.sleep(min(recheck_seconds, remaining))
    finally:
        await _close(pubsub)


async def _close(pubsub: Any) -> None:
    if pubsub is None:
        return
    try:
        await pubsub.aclose()
    except Exception:  # noqa: BLE001 - closing a broken connection must not hide the result
        pass


async def _next_announcement(pubsub: Any, run_id: str, seconds: float) -> bool:
    """True when the run's announcement arrived within ``seconds``; False on timeout
    (other runs' announcements are skipped)."""
    end = asyncio.get_running_loop().time() + seconds
    while (left := end - asyncio.get_running_loop().time()) > 0:
        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=left)
        if _announces(message, run_id):
            return True
    return False
