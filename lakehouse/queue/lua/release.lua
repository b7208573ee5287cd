--! include: transitions
-- KEYS: job, leased, ready, runs. ARGV: run_id, lease_id
local lost = holder_check(KEYS[1], ARGV[2])
if lost then return lost end
local now = now_s()
local h = redis.call('HMGET', KEYS[1], 'payload', 'worker_id')
redis.call('ZREM', KEYS[2], ARGV[1])
-- A graceful hand-back is not the job's fault: it does not use up an attempt.
redis.call('HINCRBY', KEYS[1], 'attempts', -1)
requeue_at_head(KEYS[1], KEYS[3], KEYS[4], ARGV[1], h[1],
  'released by worker ' .. (h[2] or '?') .. ' (shutting down); queued again', now)
return {'ok'}
