-- The state changes that more than one script makes, written once.

-- A fresh run, queued at the tail with its attempts reset (enqueue, retry_dead).
local function queue_fresh(job_key, ready_key, runs_key, run_id, endpoint, payload, max_attempts, now)
  redis.call('DEL', job_key)
  redis.call('HSET', job_key, 'run_id', run_id, 'endpoint', endpoint, 'payload', payload,
    'state', 'queued', 'attempts', '0', 'max_attempts', max_attempts, 'queued_at', fmt(now), 'updated_at', fmt(now))
  redis.call('RPUSH', ready_key, payload)
  redis.call('ZADD', runs_key, now, run_id)
end

-- A leased run handed back, queued again at the head: a job that was already running
-- should not wait behind a backlog (reap of an expired lease, release).
local function requeue_at_head(job_key, ready_key, runs_key, run_id, payload, why, now)
  redis.call('HDEL', job_key, 'lease_id', 'lease_expires')
  redis.call('HSET', job_key, 'state', 'queued', 'queued_at', fmt(now), 'updated_at', fmt(now), 'error', why)
  redis.call('LPUSH', ready_key, payload)
  redis.call('ZADD', runs_key, now, run_id)
end

-- A terminal state (finished, failed, dead): written, indexed, set to expire, and
-- announced on the status channel in the same atomic step. The announcement carries
-- only run_id and state; waiters read everything else from the hash, which stays
-- the source of truth (pub/sub is not durable).
local function end_run(job_key, runs_key, channel, run_id, state, ttl, now)
  redis.call('HDEL', job_key, 'lease_id', 'lease_expires')
  redis.call('HSET', job_key, 'state', state, 'finished_at', fmt(now), 'updated_at', fmt(now))
  redis.call('EXPIRE', job_key, ttl)
  redis.call('ZADD', runs_key, now, run_id)
  redis.call('PUBLISH', channel, cjson.encode({run_id = run_id, state = state}))
end

-- Worker presence: worker_id -> last seen (server clock, s), for "no worker" checks.
local function seen(workers_key, worker_id, now)
  if worker_id and worker_id ~= '' then redis.call('ZADD', workers_key, now, worker_id) end
end
