--! include: dead_letters transitions
-- KEYS: ready, leased, dead, runs.
-- ARGV: job_prefix, cutoff_ms ('' = server now), ttl, dead_cap, batch, status_channel
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
    if attempts >= max then
      local reason = 'lease expired on attempt ' .. attempts .. ' of max_attempts ' .. max .. ' (worker ' .. worker ..
        ' stopped heartbeating: killed, hung or overloaded). Inspect the worker logs, then retry it.'
      redis.call('HSET', jk, 'error', reason)
      end_run(jk, KEYS[4], ARGV[6], run_id, 'dead', ARGV[3], now)
      dead_letter(KEYS[3], cap, run_id, h[4], reason, now, attempts, worker)
      table.insert(dead, run_id)
    else
      requeue_at_head(jk, KEYS[1], KEYS[4], run_id, h[4],
        'attempt ' .. attempts .. ': lease expired (worker ' .. worker .. ' stopped heartbeating); queued again', now)
      table.insert(requeued, run_id)
    end
  end
end
return {requeued, dead}
