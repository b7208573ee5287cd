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

Fencing: each lease gets a fresh id from a counter. Heartbeat, ack, release and
dead-letter succeed only if the run's hash still carries that id; a worker whose
lease was reaped (it stalled past expiry, then woke up) gets ``LeaseLostError`` and
must stop writing. An expired lease that nobody reaped yet may still be extended by
its holder: no one else can hold the run until the reaper moves it.

The invariant the scripts keep: a run whose state is ``queued`` has exactly one
payload in the ready list, and a run whose state is ``running`` is in the lease set
with a lease id. Nothing else pushes to the ready list.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
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
from lakehouse.jobs import (
    CrawlJob,
    DeadLetter,
    JobResult,
    JobState,
    JobStatus,
    Progress,
)
from lakehouse.keys import Keys
from lakehouse.queue_config import QueueSettings

if TYPE_CHECKING:
    from lakehouse.settings import Settings

# Lua mirror of jobs.RUN_ID_PATTERN (Lua patterns have no {n} counts).
_LUA_RUN_ID = "^[a-z][a-z0-9_]*__%d%d%d%d%d%d%d%dT%d%d%d%dZ$"

_LUA_COMMON = r"""
local function now_s()
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local function fmt(x) return string.format('%.6f', x) end
local function int(x) return string.format('%d', x) end
local function dead_letter(dead_key, cap, run_id, payload, reason, now, attempts, worker)
  local entry = {reason = reason, dead_at = now, payload = payload}
  if run_id then entry['run_id'] = run_id end
  if attempts then entry['attempts'] = attempts end
  if worker and worker ~= '' then entry['worker_id'] = worker end
  redis.call('LPUSH', dead_key, cjson.encode(entry))
  redis.call('LTRIM', dead_key, 0, cap - 1)
end
local function drop_dead_entries(dead_key, run_id)
  local removed = 0
  for _, e in ipairs(redis.call('LRANGE', dead_key, 0, -1)) do
    local ok, d = pcall(cjson.decode, e)
    if ok and type(d) == 'table' and d['run_id'] == run_id then
      removed = removed + redis.call('LREM', dead_key, 1, e)
    end
  end
  return removed
end
-- Clients decode replies as UTF-8; one undecodable payload handed back would make
-- every lease() call fail. Such payloads are dead-lettered with their high bytes
-- masked, so even the dead-letter list stays readable.
local function valid_utf8(s)
  if not string.find(s, '[\128-\255]') then return true end
  local i, n = 1, #s
  while i <= n do
    local c = string.byte(s, i)
    local len, lo, hi = 1, 0x80, 0xBF
    if c < 0x80 then len = 1
    elseif c >= 0xC2 and c <= 0xDF then len = 2
    elseif c >= 0xE0 and c <= 0xEF then
      len = 3
      if c == 0xE0 then lo = 0xA0 elseif c == 0xED then hi = 0x9F end
    elseif c >= 0xF0 and c <= 0xF4 then
      len = 4
      if c == 0xF0 then lo = 0x90 elseif c == 0xF4 then hi = 0x8F end
    else return false end
    for j = i + 1, i + len - 1 do
      local cc = string.byte(s, j)
      if j > i + 1 then lo, hi = 0x80, 0xBF end
      if not cc or cc < lo or cc > hi then return false end
    end
    i = i + len
  end
  return true
end
-- The lease check every holder-side transition starts with (the fencing token).
local function holder_check(job_key, lease_id)
  local h = redis.call('HMGET', job_key, 'state', 'lease_id', 'worker_id')
  if h[1] ~= 'running' or h[2] ~= lease_id then
    return {'lost', h[1] or '', h[3] or ''}
  end
  return nil
end
"""

# KEYS: job, ready, dead, runs. ARGV: run_id, payload, force, max_attempts, endpoint
_ENQUEUE = _LUA_COMMON + r"""
local state = redis.call('HGET', KEYS[1], 'state')
if state == 'queued' then return 'already_queued' end
if state == 'running' then return 'already_running' end
if state == 'finished' and ARGV[3] ~= '1' then return 'already_finished' end
local now = now_s()
local outcome = 'queued'
if state then outcome = 'requeued' end
if state == 'dead' then drop_dead_entries(KEYS[3], ARGV[1]) end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'run_id', ARGV[1], 'endpoint', ARGV[5], 'payload', ARGV[2],
  'state', 'queued', 'attempts', '0', 'max_attempts', ARGV[4], 'queued_at', fmt(now), 'updated_at', fmt(now))
redis.call('RPUSH', KEYS[2], ARGV[2])
redis.call('ZADD', KEYS[4], now, ARGV[1])
return outcome
"""

# KEYS: ready, leased, dead, lease_seq, runs.
# ARGV: job_prefix, worker_id, lease_ms, default_max_attempts, dead_cap, scan_limit
_LEASE = _LUA_COMMON + r"""
local now = now_s()
local cap = tonumber(ARGV[5])
-- Returns the lease reply, or nil when the payload was dead-lettered instead.
local function take(payload)
  if not valid_utf8(payload) then
    dead_letter(KEYS[3], cap, nil, string.gsub(payload, '[\128-\255]', '?'),
      'payload is not valid UTF-8 (bytes >= 0x80 shown as ?)', now, nil, nil)
    return nil
  end
  local ok, doc = pcall(cjson.decode, payload)
  local run_id = nil
  if ok and type(doc) == 'table' then run_id = doc['run_id'] end
  if type(run_id) ~= 'string' or #run_id > 200 or not string.match(run_id, '""" + _LUA_RUN_ID + r"""') then
    local why = 'payload has no valid run_id (expected <endpoint>__<YYYYmmddTHHMM>Z)'
    if not ok then why = 'payload is not valid JSON'
    elseif type(doc) ~= 'table' or doc[1] ~= nil then why = 'payload is not a JSON object' end
    dead_letter(KEYS[3], cap, nil, payload, why, now, nil, nil)
    return nil
  end
  local jk = ARGV[1] .. run_id
  local state = redis.call('HGET', jk, 'state')
  if state and state ~= 'queued' then
    -- Cannot happen through enqueue(); a hand-pushed copy of a live or finished run
    -- must not start a second crawl, and must not vanish silently either.
    dead_letter(KEYS[3], cap, run_id, payload, 'duplicate payload: run ' .. run_id .. ' is already ' .. state ..
      '; push jobs with enqueue() (force=True crawls a finished run again), not straight onto the list', now, nil, nil)
    return nil
  end
  if not state then
    -- Pushed by a producer that bypassed enqueue(): adopt it, so it is tracked,
    -- fenced and counted like any other job.
    local max = tonumber(doc['max_attempts'])
    if not max or max < 1 then max = tonumber(ARGV[4]) end
    local ep = doc['endpoint']
    if type(ep) ~= 'string' then ep = '' end
    redis.call('HSET', jk, 'run_id', run_id, 'endpoint', ep, 'payload', payload, 'attempts', '0',
      'max_attempts', int(math.floor(max)), 'queued_at', fmt(now))
  end
  local attempts = redis.call('HINCRBY', jk, 'attempts', 1)
  local lease_id = redis.call('INCR', KEYS[4])
  local expires = math.floor(now * 1000) + tonumber(ARGV[3])
  redis.call('HSET', jk, 'state', 'running', 'worker_id', ARGV[2], 'lease_id', int(lease_id),
    'lease_expires', int(expires), 'started_at', fmt(now), 'heartbeat_at', fmt(now), 'updated_at', fmt(now))
  redis.call('PERSIST', jk)
  redis.call('ZADD', KEYS[2], expires, run_id)
  redis.call('ZADD', KEYS[5], now, run_id)
  return {run_id, int(lease_id), payload, int(attempts), int(expires)}
end
for _ = 1, tonumber(ARGV[6]) do
  local payload = redis.call('LPOP', KEYS[1])
  if not payload then return false end
  local reply = take(payload)
  if reply then return reply end
end
return 'again'
"""

# KEYS: ready, leased, dead, runs. ARGV: job_prefix, cutoff_ms ('' = server now), ttl, dead_cap, batch
_REAP = _LUA_COMMON + r"""
local now = now_s()
local cutoff = math.floor(now * 1000)
if ARGV[2] ~= '' then cutoff = tonumber(ARGV[2]) end
local cap = tonumber(ARGV[4])
local requeued, dead = {}, {}
for _, run_id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', cutoff, 'LIMIT', 0, tonumber(ARGV[5]))) do
  redis.call('ZREM', KEYS[2], run_id)
  local jk = ARGV[1] .. run_id
  local h = redis.call('HMGET', jk, 'state', 'attempts', 'max_attempts', 'payload', 'worker_id')
  if h[1] == 'running' and h[4] then
    local attempts = tonumber(h[2]) or 0
    local max = tonumber(h[3]) or 1
    local worker = h[5] or '?'
    redis.call('HDEL', jk, 'lease_id', 'lease_expires')
    if attempts >= max then
      local reason = 'lease expired on attempt ' .. attempts .. ' of max_attempts ' .. max .. ' (worker ' .. worker ..
        ' stopped heartbeating: killed, hung or overloaded). Inspect the worker logs, then retry it.'
      redis.call('HSET', jk, 'state', 'dead', 'error', reason, 'finished_at', fmt(now), 'updated_at', fmt(now))
      redis.call('EXPIRE', jk, ARGV[3])
      dead_letter(KEYS[3], cap, run_id, h[4], reason, now, attempts, worker)
      table.insert(dead, run_id)
    else
      redis.call('HSET', jk, 'state', 'queued', 'queued_at', fmt(now), 'updated_at', fmt(now),
        'error', 'attempt ' .. attempts .. ': lease expired (worker ' .. worker .. ' stopped heartbeating); queued again')
      -- At the head: a job that was already running should not wait behind a backlog.
      redis.call('LPUSH', KEYS[1], h[4])
      table.insert(requeued, run_id)
    end
    redis.call('ZADD', KEYS[4], now, run_id)
  end
end
return {requeued, dead}
"""

# KEYS: job, leased, runs. ARGV: run_id, lease_id, lease_ms, pages, records, bytes ('' = no progress)
_HEARTBEAT = _LUA_COMMON + r"""
local lost = holder_check(KEYS[1], ARGV[2])
if lost then return lost end
local now = now_s()
local expires = math.floor(now * 1000) + tonumber(ARGV[3])
redis.call('ZADD', KEYS[2], expires, ARGV[1])
redis.call('HSET', KEYS[1], 'lease_expires', int(expires), 'heartbeat_at', fmt(now), 'updated_at', fmt(now))
if ARGV[4] ~= '' then
  redis.call('HSET', KEYS[1], 'pages', ARGV[4], 'records', ARGV[5], 'bytes', ARGV[6])
end
redis.call('ZADD', KEYS[3], now, ARGV[1])
return {'ok', int(expires)}
"""

# KEYS: job, leased, runs. ARGV: run_id, lease_id, state, pages, records, bytes, manifest_path, error, ttl
_ACK = _LUA_COMMON + r"""
local lost = holder_check(KEYS[1], ARGV[2])
if lost then return lost end
local now = now_s()
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[1], 'lease_id', 'lease_expires', 'manifest_path', 'error')
redis.call('HSET', KEYS[1], 'state', ARGV[3], 'pages', ARGV[4], 'records', ARGV[5], 'bytes', ARGV[6],
  'finished_at', fmt(now), 'updated_at', fmt(now))
if ARGV[7] ~= '' then redis.call('HSET', KEYS[1], 'manifest_path', ARGV[7]) end
if ARGV[8] ~= '' then redis.call('HSET', KEYS[1], 'error', ARGV[8]) end
redis.call('EXPIRE', KEYS[1], ARGV[9])
redis.call('ZADD', KEYS[3], now, ARGV[1])
return {'ok'}
"""

# KEYS: job, leased, ready, runs. ARGV: run_id, lease_id
_RELEASE = _LUA_COMMON + r"""
local lost = holder_check(KEYS[1], ARGV[2])
if lost then return lost end
local now = now_s()
local h = redis.call('HMGET', KEYS[1], 'payload', 'worker_id')
redis.call('ZREM', KEYS[2], ARGV[1])
-- A graceful hand-back is not the job's fault: it does not use up an attempt.
redis.call('HINCRBY', KEYS[1], 'attempts', -1)
redis.call('HDEL', KEYS[1], 'lease_id', 'lease_expires')
redis.call('HSET', KEYS[1], 'state', 'queued', 'queued_at', fmt(now), 'updated_at', fmt(now),
  'error', 'released by worker ' .. (h[2] or '?') .. ' (shutting down); queued again')
redis.call('LPUSH', KEYS[3], h[1])
redis.call('ZADD', KEYS[4], now, ARGV[1])
return {'ok'}
"""

# KEYS: job, leased, dead, runs. ARGV: run_id, lease_id, reason, ttl, dead_cap
_DEAD_LETTER_LEASED = _LUA_COMMON + r"""
local lost = holder_check(KEYS[1], ARGV[2])
if lost then return lost end
local now = now_s()
local h = redis.call('HMGET', KEYS[1], 'payload', 'attempts', 'worker_id')
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[1], 'lease_id', 'lease_expires')
redis.call('HSET', KEYS[1], 'state', 'dead', 'error', ARGV[3], 'finished_at', fmt(now), 'updated_at', fmt(now))
redis.call('EXPIRE', KEYS[1], ARGV[4])
dead_letter(KEYS[3], tonumber(ARGV[5]), ARGV[1], h[1] or '', ARGV[3], now, tonumber(h[2]), h[3])
redis.call('ZADD', KEYS[4], now, ARGV[1])
return {'ok'}
"""

# KEYS: job, ready, dead, runs. ARGV: run_id, payload, max_attempts, endpoint
_RETRY_DEAD = _LUA_COMMON + r"""
local state = redis.call('HGET', KEYS[1], 'state')
if state == 'queued' or state == 'running' or state == 'finished' then return {'refused', state} end
if drop_dead_entries(KEYS[3], ARGV[1]) == 0 then return {'missing', state or ''} end
local now = now_s()
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'run_id', ARGV[1], 'endpoint', ARGV[4], 'payload', ARGV[2],
  'state', 'queued', 'attempts', '0', 'max_attempts', ARGV[3], 'queued_at', fmt(now), 'updated_at', fmt(now))
redis.call('RPUSH', KEYS[2], ARGV[2])
redis.call('ZADD', KEYS[4], now, ARGV[1])
return {'ok', ''}
"""

# Bounds one lease script's run time when the list is full of junk: it returns
# 'again' and Python calls it once more, so other clients get the server in between.
_LEASE_SCAN_LIMIT = 100
_REAP_BATCH = 500

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
    return datetime.fromtimestamp(int(ms) / 1000, tz=timezone.utc)


class JobQueue:
    """The queue for one Redis and key prefix. Safe to share between threads (redis-py
    pools connections); every method is one or a few atomic server-side steps."""

    def __init__(self, client: redis.Redis, options: QueueSettings | None = None) -> None:
        self.client = client
        self.options = options or QueueSettings()
        self.keys = Keys(self.options.prefix)
        reg = client.register_script
        self._enqueue = reg(_ENQUEUE)
        self._lease = reg(_LEASE)
        self._reap = reg(_REAP)
        self._heartbeat = reg(_HEARTBEAT)
        self._ack = reg(_ACK)
        self._release = reg(_RELEASE)
        self._dead_letter_leased = reg(_DEAD_LETTER_LEASED)
        self._retry_dead = reg(_RETRY_DEAD)

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
                keys=[k.jobs, k.leased, k.dead, k.lease_seq, k.runs],
                args=[k.job_prefix, worker_id, lease_ms, self.options.default_max_attempts,
                      self.options.dead_letter_cap, _LEASE_SCAN_LIMIT],
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
                self.client.blmove(k.jobs, k.jobs, min(poll_interval, remaining), src="LEFT", dest="LEFT")
                continue
            run_id, lease_id, payload, attempts, expires = (_text(v) for v in got)
            try:
                job = CrawlJob.from_payload(payload)
            except InvalidJobPayloadError as exc:
                # The lease is already recorded, so a crash right here loses nothing:
                # the reaper hands the payload out again and it lands here once more.
                try:
                    self._holder_call(self._dead_letter_leased, run_id, int(lease_id),
                                      keys=[k.job(run_id), k.leased, k.dead, k.runs],
                                      args=[f"invalid payload: {exc.details}", self.options.status_ttl_seconds,
                                            self.options.dead_letter_cap])
                except LeaseLostError:
                    pass  # a sub-millisecond lease was reaped already; its next holder dead-letters it
                continue
            return Lease(job=job, lease_id=int(lease_id), worker_id=worker_id, attempt=int(attempts),
                         expires_at=_from_ms(expires), lease_seconds=seconds)

    def heartbeat(self, lease: Lease, progress: Progress | None = None) -> datetime:
        """Extend the lease by its length from now (server clock) and record progress.
        Returns the new expiry; raises LeaseLostError if the run was reaped meanwhile,
        in which case the caller must stop writing for this run at once."""
        k = self.keys
        counts = [progress.pages, progress.records, progress.bytes] if progress else ["", "", ""]
        reply = self._holder_call(
            self._heartbeat, lease.run_id, lease.lease_id,
            keys=[k.job(lease.run_id), k.leased, k.runs],
            args=[max(1, int(lease.lease_seconds * 1000)), *counts],
        )
        return _from_ms(reply[1])

    def ack(self, lease: Lease, result: JobResult) -> None:
        """Record a terminal outcome and end the lease. Raises LeaseLostError when the
        lease was lost: then another worker owns the run and this result is discarded."""
        k = self.keys
        self._holder_call(
            self._ack, lease.run_id, lease.lease_id,
            keys=[k.job(lease.run_id), k.leased, k.runs],
            args=[result.state.value, result.pages, result.records, result.bytes,
                  result.manifest_path or "", result.error or "", self.options.status_ttl_seconds],
        )

    def release(self, lease: Lease) -> None:
        """Hand the job back untouched (on SIGTERM): it is queued again at the head,
        and the attempt is not counted."""
        k = self.keys
        self._holder_call(self._release, lease.run_id, lease.lease_id,
                          keys=[k.job(lease.run_id), k.leased, k.jobs, k.runs], args=[])

    def dead_letter(self, lease: Lease, reason: str) -> None:
        """Give up on a job that can never succeed as sent (e.g. its endpoint has no
        config on this worker): dead-letter it now instead of burning attempts."""
        k = self.keys
        self._holder_call(self._dead_letter_leased, lease.run_id, lease.lease_id,
                          keys=[k.job(lease.run_id), k.leased, k.dead, k.runs],
                          args=[reason[:4000], self.options.status_ttl_seconds, self.options.dead_letter_cap])

    def reap(self, now: datetime | None = None) -> ReapResult:
        """Requeue runs whose lease expired before ``now`` (default: the Redis server's
        clock), or dead-letter them once they have used ``max_attempts``. Safe to call
        from any number of processes at once."""
        k = self.keys
        cutoff = "" if now is None else str(int(now.timestamp() * 1000))
        requeued, dead = self._reap(
            keys=[k.jobs, k.leased, k.dead, k.runs],
            args=[k.job_prefix, cutoff, self.options.status_ttl_seconds, self.options.dead_letter_cap, _REAP_BATCH],
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
        return _status_from_hash(raw) if raw else None

    def wait_for(self, run_id: str, timeout: float, poll_interval: float = 1.0) -> JobStatus:
        """Poll until the run reaches a terminal state (finished, failed, dead)."""
        deadline = time.monotonic() + timeout
        while True:
            status = self.get_status(run_id)
            if status is None:
                raise JobNotFoundError(run_id)
            if status.state.terminal:
                return status
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise WaitTimeoutError(run_id, timeout, status.state.value)
            time.sleep(min(poll_interval, remaining))

    def recent_statuses(self, limit: int = 20) -> list[JobStatus]:
        """The runs changed most recently, newest first."""
        run_ids = [_text(r) for r in self.client.zrevrange(self.keys.runs, 0, max(0, limit - 1))]
        pipe = self.client.pipeline(transaction=False)
        for run_id in run_ids:
            pipe.hgetall(self.keys.job(run_id))
        statuses, gone = [], []
        for run_id, raw in zip(run_ids, pipe.execute()):
            if raw:
                statuses.append(_status_from_hash(raw))
            else:
                gone.append(run_id)
        if gone:  # their terminal status expired: drop them from the index too
            self.client.zrem(self.keys.runs, *gone)
        return statuses

    def queue_stats(self) -> QueueStats:
        k = self.keys
        pipe = self.client.pipeline(transaction=False)
        pipe.llen(k.jobs).zcard(k.leased).llen(k.dead).zrange(k.runs, 0, -1)
        ready, leased, dead, run_ids = pipe.execute()
        run_ids = [_text(r) for r in run_ids]
        for run_id in run_ids:
            pipe.hget(k.job(run_id), "state")
        by_state = {s: 0 for s in JobState}
        gone = []
        for run_id, state in zip(run_ids, pipe.execute()):
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
        payload = next((d.payload for d in self._all_dead() if d.run_id == run_id), None)
        if payload is None:
            raise RetryRefusedError(
                f"run {run_id} is not in the dead-letter list (see `lakehouse queue dead-letters`)"
            )
        try:
            job = CrawlJob.from_payload(payload)
        except InvalidJobPayloadError as exc:
            raise RetryRefusedError(
                f"run {run_id} cannot be retried: its payload is invalid ({exc.details}). Fix the "
                "producer and enqueue a new job for the slot."
            ) from exc
        k = self.keys
        verdict, state = (_text(v) for v in self._retry_dead(
            keys=[k.job(run_id), k.jobs, k.dead, k.runs],
            args=[run_id, job.to_payload(), job.max_attempts, job.endpoint],
        ))
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


def _status_from_hash(raw: dict[Any, Any]) -> JobStatus:
    data: dict[str, Any] = {_text(key): _text(v) for key, v in raw.items()}
    for name in _STATUS_INTERNAL_FIELDS:
        data.pop(name, None)
    for name in _STATUS_TIME_FIELDS:
        if data.get(name):
            data[name] = datetime.fromtimestamp(float(data[name]), tz=timezone.utc)
    if not data.get("endpoint"):
        data.pop("endpoint", None)
    return JobStatus.model_validate(data, strict=False)


def open_queue(settings: "Settings", prefix: str | None = None) -> JobQueue:
    """The queue described by the settings, checked reachable (a named error if not);
    ``prefix`` replaces the settings' key prefix (a separate queue on the same Redis)."""
    client = settings.redis.client()
    try:
        client.ping()
    except redis.RedisError as exc:
        raise QueueUnavailableError(settings.redis.display_url, str(exc)) from exc
    options = settings.queue.model_copy(update={"prefix": prefix}) if prefix else settings.queue
    return JobQueue(client, options)
