--! include: transitions
-- KEYS: job, leased, runs, workers.
-- ARGV: run_id, lease_id, state, pages, records, bytes, manifest_path, error, ttl, status_channel
local lost = holder_check(KEYS[1], ARGV[2])
if lost then return lost end
local now = now_s()
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[1], 'manifest_path', 'error')
redis.call('HSET', KEYS[1], 'pages', ARGV[4], 'records', ARGV[5], 'bytes', ARGV[6])
if ARGV[7] ~= '' then redis.call('HSET', KEYS[1], 'manifest_path', ARGV[7]) end
if ARGV[8] ~= '' then redis.call('HSET', KEYS[1], 'error', ARGV[8]) end
seen(KEYS[4], redis.call('HGET', KEYS[1], 'worker_id'), now)
end_run(KEYS[1], KEYS[3], ARGV[10], ARGV[1], ARGV[3], ARGV[9], now)
return {'ok'}
