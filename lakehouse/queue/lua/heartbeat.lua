--! include: transitions
-- KEYS: job, leased, runs, workers. ARGV: run_id, lease_id, lease_ms, pages, records, bytes ('' = no progress)
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
seen(KEYS[4], redis.call('HGET', KEYS[1], 'worker_id'), now)
return {'ok', int(expires)}
