"""The reliable job queue over Redis: idempotent enqueue, leases with fencing,
heartbeats, acks, a reaper, and a dead-letter list.

Why leases: the seed popped jobs with BLPOP, so a worker killed mid-crawl lost its job.
Here a worker *leases* a job: the job moves atomically from the ready list into a
sorted set scored by the lease's expiry, and stays recorded there until the worker
acks a terminal status or releases it. If the worker dies (kill -9, OOM, host loss),
its heartbeats stop, the lease expires, and ``reap`` (run by every ``lease`` call, so
no separate reaper process is needed) puts the job back, counting the attempt.

Why Lua: every transition reads state and then writes several keys (the run's hash,
the ready list, the lease set, the dead letters). Done as separate commands, two
workers could both see "queued" and both take the job, or a kill between "pop" and
"record lease" could lose it. A script runs atomically on the server, so each
transition is all-or-nothing and no interleaving exists. Scripts use the server's
clock (``TIME``) so hosts with skewed clocks still agree on lease expiry.

Fencing: each lease gets a fresh id from a counter that never falls below the Redis
server's clock in milliseconds, so ids keep growing even after Redis loses its data
(landings in S3 are ordered by them: ``lakehouse.raw.layout``). Heartbeat, ack, release and
dead-letter succeed only if the run's hash still carries that id; a worker whose
lease was reaped (it stalled past expiry, then woke up) gets ``LeaseLostError`` and
must stop writing. An expired lease that nobody reaped yet may still be extended by
its holder: no one else can hold the run until the reaper moves it.

The scripts are ``.lua`` files in ``lakehouse/queue/lua/`` (one per transition, plus the
fragments they share), composed by ``lakehouse.queue.lua.script_text``. Terminal states are
announced on ``Keys.status_channel`` by the script that writes them, and every lease,
heartbeat and ack records its worker in ``Keys.workers``; ``lakehouse.queue.watch``
uses both to wait for a run without polling hard and to notice that no worker runs.

The invariant the scripts keep: a run whose state is ``queued`` has exactly one
payload in the ready list, and a run whose state is ``running`` is in the lease set
with a lease id. Nothing else pushes to the ready list.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import redis

from lakehouse.errors import (
    InvalidJobPayloadError,
    JobNotFoundError,
    LeaseLostError,
    QueueUnavailableError,
    RetryRefusedError,
    WaitTimeoutError,
)
from lakehouse.queue.config import QueueSettings
from lakehouse.queue.jobs import (
    RUN_ID_MAX_LENGTH,
    RUN_ID_PATTERN,
    CrawlJob,
    DeadLetter,
    JobResult,
    JobState,
    JobStatus,
    Progress,
)
from lakehouse.queue.keys import Keys
from lakehouse.queue.lua import script_text

if TYPE_CHECKING:
    from lakehouse.config.settings import Settings

# Bounds one lease script's run time when the list is full of junk: it returns
# 'again' and Python calls it once more, so other clients get the server in between.
_LEASE_SCAN_LIMIT = 100
_REAP_BATCH = 500
# Worker presence entries older than this are dropped (worker ids change per process).
_WORKERS_KEEP_SECONDS = 86_400

_STATUS_INTERNAL_FIELDS = ("payload", "lease_id", "lease_expires")
_STATUS_TIME_FIELDS = ("queued_at", "started_at", "heartbeat_at", "finished_at", "updated_at")


class EnqueueOutcome(StrEnum):
    QUEUED = "queued"
    ALREADY_QUEUED = "already_queued"
    ALREADY_RUNNING = "already_running"
    ALREADY_FINISHED = "already_finished"
    REQUEUED = "requeued"  # it had finished (forced), failed or died before


@dataclass(frozen=True)
class EnqueueResult:
    run_id: str
    outcome: EnqueueOutcome


@dataclass(frozen=True)
class Lease:
    """A worker's hold on one run. ``lease_id`` is the fencing token."""

    job: CrawlJob
    lease_id: int
    worker_id: str
    attempt: int
    expires_at: datetime  # Redis server clock
    lease_seconds: float

    @property
    def run_id(self) -> str:
        return self.job.run_id


@dataclass(frozen=True)
class ReapResult:
    requeued: list[str] = field(default_factory=list)
    dead: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class QueueStats:
    ready: int
    leased: int
    dead_letters: int
    by_state: dict[JobState, int]


def _text(value: Any) -> Any:
    return value.decode() if isinstance(value, bytes) else value


def _from_ms(ms: int | str) -> datetime:
    return datetime.fromtimestamp(int(ms) / 1000, tz=UTC)


class JobQueue:
    """The queue for one Redis and key prefix. Safe to share between threads (redis-py
    pools connections); every method is one or a few atomic server-side steps."""

    def __init__(self, client: redis.Redis, options: QueueSettings | None = None) -> None:
        self.client = client
        self.options = options or QueueSettings()
        self.keys = Keys(self.options.prefix)

        def reg(name: str) -> Any:
            return client.register_script(script_text(name))

        self._enqueue = reg("enqueue")
        self._lease = reg("lease")
        self._reap = reg("reap")
        self._heartbeat = reg("heartbeat")
        self._ack = reg("ack")
        self._release = reg("release")
        self._dead_letter_leased = reg("dead_letter_leased")
        self._retry_dead = reg("retry_dead")

    # -- producer side ---------------------------------------------------------------

    def enqueue(self, job: CrawlJob, force: bool = False) -> EnqueueResult:
        """Queue the job unless its run is already queued or running, or finished
        (then only with ``force`` or ``job.force``). Failed and dead runs are requeued
        with their attempts reset: enqueueing again is an explicit request to retry."""
        k = self.keys
        outcome = self._enqueue(
            keys=[k.job(job.run_id), k.jobs, k.dead, k.runs],
            args=[job.run_id, job.to_payload(), "1" if (force or job.force) else "0", job.max_attempts, job.endpoint],
        )
        return EnqueueResult(job.run_id, EnqueueOutcome(_text(outcome)))

    # -- worker side -----------------------------------------------------------------

    def lease(
        self,
        worker_id: str,
        lease_seconds: float | None = None,
        *,
        wait_seconds: float = 0.0,
        poll_interval: float = 0.5,
    ) -> Lease | None:
        """Take the next job, or None if none arrives within ``wait_seconds`` (a job
        that arrives meanwhile is taken at once; ``poll_interval`` bounds each block,
        so leases of dead workers are reaped at least that often while waiting).

        Payloads that fail validation are dead-lettered with the reason on the way,
        never raised: one bad producer must not stop the workers."""
        if not worker_id:
            raise ValueError("worker_id must be non-empty: it is how operators find the worker holding a job")
        seconds = lease_seconds if lease_seconds is not None else self.options.lease_seconds
        lease_ms = max(1, int(seconds * 1000))
        deadline = time.monotonic() + wait_seconds
        k = self.keys
        while True:
            self.reap()
            got = self._lease(
                keys=[k.jobs, k.leased, k.dead, k.lease_seq, k.runs, k.workers],
                args=[
                    k.job_prefix,
                    worker_id,
                    lease_ms,
                    self.options.default_max_attempts,
                    self.options.dead_letter_cap,
                    _LEASE_SCAN_LIMIT,
                    _WORKERS_KEEP_SECONDS,
                ],
            )
            if _text(got) == "again":
                continue
            if got is None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                # Block until a job arrives instead of sleeping a poll interval: a job
                # pushed now starts now. LMOVE LEFT LEFT on one list is "pop the head and
                # put it back": it changes nothing, and Redis has no plain "wait until
                # non-empty". It also wakes on jobs pushed without enqueue() and on
                # requeues. Every blocked worker is woken in turn and races for the job.
                # (redis-py types the timeout as int; Redis takes fractional seconds.)
                wait = min(poll_interval, remaining)
                self.client.blmove(k.jobs, k.jobs, wait, src="LEFT", dest="LEFT")  # type: ignore[arg-type]
                continue
            run_id, lease_id, payload, attempts, expires = (_text(v) for v in got)
            try:
                job = CrawlJob.from_payload(payload)
            except InvalidJobPayloadError as exc:
                # The lease is already recorded, so a crash right here loses nothing:
                # the reaper hands the payload out again and it lands here once more.
                try:
                    self._holder_call(
                        self._dead_letter_leased,
                        run_id,
                        int(lease_id),
                        keys=[k.job(run_id), k.leased, k.dead, k.runs],
                        args=[
                            f"invalid payload: {exc.details}",
                            self.options.status_ttl_seconds,
                            self.options.dead_letter_cap,
                            k.status_channel,
                        ],
                    )
                except LeaseLostError:
                    pass  # a sub-millisecond lease was reaped already; its next holder dead-letters it
                continue
            return Lease(
                job=job,
                lease_id=int(lease_id),
                worker_id=worker_id,
                attempt=int(attempts),
                expires_at=_from_ms(expires),
                lease_seconds=seconds,
            )

    def heartbeat(self, lease: Lease, progress: Progress | None = None) -> datetime:
        """Extend the lease by its length from now (server clock) and record progress.
        Returns the new expiry; raises LeaseLostError if the run was reaped meanwhile,
        in which case the caller must stop writing for this run at once."""
        k = self.keys
        counts = [progress.pages, progress.records, progress.bytes] if progress else ["", "", ""]
        reply = self._holder_call(
            self._heartbeat,
            lease.run_id,
            lease.lease_id,
            keys=[k.job(lease.run_id), k.leased, k.runs, k.workers],
            args=[max(1, int(lease.lease_seconds * 1000)), *counts],
        )
        return _from_ms(reply[1])

    def ack(self, lease: Lease, result: JobResult) -> None:
        """Record a terminal outcome and end the lease. Raises LeaseLostError when the
        lease was lost: then another worker owns the run and this result is discarded."""
        k = self.keys
        self._holder_call(
            self._ack,
            lease.run_id,
            lease.lease_id,
            keys=[k.job(lease.run_id), k.leased, k.runs, k.workers],
            args=[
                result.state.value,
                result.pages,
                result.records,
                result.bytes,
                result.manifest_path or "",
                result.error or "",
                self.options.status_ttl_seconds,
                k.status_channel,
            ],
        )

    def release(self, lease: Lease) -> None:
        """Hand the job back untouched (on SIGTERM): it is queued again at the head,
        and the attempt is not counted."""
        k = self.keys
        self._holder_call(
            self._release, lease.run_id, lease.lease_id, keys=[k.job(lease.run_id), k.leased, k.jobs, k.runs], args=[]
        )

    def dead_letter(self, lease: Lease, reason: str) -> None:
        """Give up on a job that can never succeed as sent (e.g. its endpoint has no
        config on this worker): dead-letter it now instead of burning attempts."""
        k = self.keys
        self._holder_call(
            self._dead_letter_leased,
            lease.run_id,
            lease.lease_id,
            keys=[k.job(lease.run_id), k.leased, k.dead, k.runs],
            args=[reason[:4000], self.options.status_ttl_seconds, self.options.dead_letter_cap, k.status_channel],
        )

    def reap(self, now: datetime | None = None) -> ReapResult:
        """Requeue runs whose lease expired before ``now`` (default: the Redis server's
        clock), or dead-letter them once they have used ``max_attempts``. Safe to call
        from any number of processes at once."""
        k = self.keys
        cutoff = "" if now is None else str(int(now.timestamp() * 1000))
        requeued, dead = self._reap(
            keys=[k.jobs, k.leased, k.dead, k.runs],
            args=[
                k.job_prefix,
                cutoff,
                self.options.status_ttl_seconds,
                self.options.dead_letter_cap,
                _REAP_BATCH,
                k.status_channel,
            ],
        )
        return ReapResult([_text(r) for r in requeued], [_text(d) for d in dead])

    def _holder_call(self, script: Any, run_id: str, lease_id: int, *, keys: list[str], args: list[Any]) -> list[Any]:
        reply = [_text(v) for v in script(keys=keys, args=[run_id, lease_id, *args])]
        if reply[0] == "lost":
            raise LeaseLostError(run_id, lease_id, reply[1] or None, reply[2] or None)
        return reply

    # -- observers -------------------------------------------------------------------

    def get_status(self, run_id: str) -> JobStatus | None:
        raw = self.client.hgetall(self.keys.job(run_id))
        return status_from_hash(raw) if raw else None

    def wait_for(
        self,
        run_id: str,
        timeout: float,
        poll_interval: float = 1.0,
        on_poll: Callable[[JobStatus], None] | None = None,
    ) -> JobStatus:
        """Poll until the run reaches a terminal state (finished, failed, dead).
        ``on_poll`` sees every status read before that (e.g. for a live status line).
        Asynchronous waiters that must not poll (Airflow's triggerer) use
        ``lakehouse.queue.watch`` instead."""
        deadline = time.monotonic() + timeout
        while True:
            status = self.get_status(run_id)
            if status is None:
                raise JobNotFoundError(run_id)
            if status.state.terminal:
                return status
            if on_poll is not None:
                on_poll(status)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise WaitTimeoutError(run_id, timeout, status.state.value)
            time.sleep(min(poll_interval, remaining))

    def workers_seen(self) -> dict[str, datetime]:
        """Workers that leased, heartbeated or acked within the last day, by the time
        they were last seen (Redis server clock)."""
        seen: list[tuple[str, float]] = self.client.zrange(self.keys.workers, 0, -1, withscores=True)  # type: ignore[assignment]
        return {_text(worker): datetime.fromtimestamp(float(score), tz=UTC) for worker, score in seen}

    def recent_statuses(self, limit: int = 20) -> list[JobStatus]:
        """The runs changed most recently, newest first."""
        run_ids = [_text(r) for r in self.client.zrevrange(self.keys.runs, 0, max(0, limit - 1))]
        pipe = self.client.pipeline(transaction=False)
        for run_id in run_ids:
            pipe.hgetall(self.keys.job(run_id))
        statuses, gone = [], []
        for run_id, raw in zip(run_ids, pipe.execute(), strict=True):
            if raw:
                statuses.append(status_from_hash(raw))
            else:
                gone.append(run_id)
        if gone:  # their terminal status expired: drop them from the index too
            self.client.zrem(self.keys.runs, *gone)
        return statuses

    def queue_stats(self) -> QueueStats:
        k = self.keys
        pipe = self.client.pipeline(transaction=False)
        pipe.llen(k.jobs)
        pipe.zcard(k.leased)
        pipe.llen(k.dead)
        pipe.zrange(k.runs, 0, -1)
        ready, leased, dead, run_ids = pipe.execute()
        run_ids = [_text(r) for r in run_ids]
        for run_id in run_ids:
            pipe.hget(k.job(run_id), "state")
        by_state = {s: 0 for s in JobState}
        gone = []
        for run_id, state in zip(run_ids, pipe.execute(), strict=True):
            if state is None:
                gone.append(run_id)
            else:
                by_state[JobState(_text(state))] += 1
        if gone:
            self.client.zrem(k.runs, *gone)
        return QueueStats(ready=ready, leased=leased, dead_letters=dead, by_state=by_state)

    def dead_letters(self, limit: int = 50) -> list[DeadLetter]:
        """Newest first."""
        out = []
        for entry in self.client.lrange(self.keys.dead, 0, max(0, limit - 1)):
            out.append(DeadLetter.model_validate_json(_text(entry), strict=False))
        return out

    def retry_dead(self, run_id: str) -> EnqueueResult:
        """Move a dead run back to the queue with its attempts reset."""
        if len(run_id) > RUN_ID_MAX_LENGTH or not re.fullmatch(RUN_ID_PATTERN, run_id):
            # Said before any lookup, and without echoing an argument that may be huge.
            shown = run_id if len(run_id) <= 80 else f"{run_id[:40]}... ({len(run_id)} characters)"
            raise RetryRefusedError(
                f"{shown!r} is not a run id (<endpoint>__YYYYMMDDTHHMMZ, at most {RUN_ID_MAX_LENGTH} "
                "characters); `lakehouse queue dead-letters` lists the ones that can be retried"
            )
        payload = next((d.payload for d in self._all_dead() if d.run_id == run_id), None)
        if payload is None:
            raise RetryRefusedError(f"run {run_id} is not in the dead-letter list (see `lakehouse queue dead-letters`)")
        try:
            job = CrawlJob.from_payload(payload)
        except InvalidJobPayloadError as exc:
            raise RetryRefusedError(
                f"run {run_id} cannot be retried: its payload is invalid ({exc.details}). Fix the "
                "producer and enqueue a new job for the slot."
            ) from exc
        k = self.keys
        verdict, state = (
            _text(v)
            for v in self._retry_dead(
                keys=[k.job(run_id), k.jobs, k.dead, k.runs],
                args=[run_id, job.to_payload(), job.max_attempts, job.endpoint],
            )
        )
        if verdict == "refused":
            raise RetryRefusedError(
                f"run {run_id} is {state} now, so its dead letter is stale: nothing to retry"
                + (" (enqueue with force to crawl it again)" if state == "finished" else "")
            )
        if verdict == "missing":
            raise RetryRefusedError(f"run {run_id} left the dead-letter list meanwhile (retried by someone else?)")
        return EnqueueResult(run_id, EnqueueOutcome.REQUEUED)

    def _all_dead(self) -> list[DeadLetter]:
        return self.dead_letters(limit=self.options.dead_letter_cap)


def status_from_hash(raw: dict[Any, Any]) -> JobStatus:
    """A run's status from its hash as HGETALL returns it (also for async clients)."""
    data: dict[str, Any] = {_text(key): _text(v) for key, v in raw.items()}
    for name in _STATUS_INTERNAL_FIELDS:
        data.pop(name, None)
    for name in _STATUS_TIME_FIELDS:
        if data.get(name):
            data[name] = datetime.fromtimestamp(float(data[name]), tz=UTC)
    if not data.get("endpoint"):
        data.pop("endpoint", None)
    return JobStatus.model_validate(data, strict=False)


def open_queue(settings: Settings, prefix: str | None = None) -> JobQueue:
    """The queue described by the settings, checked reachable (a named error if not);
    ``prefix`` replaces the settings' key prefix (a separate queue on the same Redis)."""
    client = settings.redis.client()
    try:
        client.ping()
    except redis.RedisError as exc:
        raise QueueUnavailableError(settings.redis.display_url, str(exc)) from exc
    options = settings.queue.model_copy(update={"prefix": prefix}) if prefix else settings.queue
    return JobQueue(client, options)
