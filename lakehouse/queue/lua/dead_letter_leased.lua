--! include: dead_letters transitions
-- KEYS: job, leased, dead, runs. ARGV: run_id, lease_id, reason, ttl, dead_cap, status_channel
local lost = holder_check(KEYS[1], ARGV[2])
if lost then return lost end
local now = now_s()
local h = redis.call('HMGET', KEYS[1], 'payload', 'attempts', 'worker_id')
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HSET', KEYS[1], 'error', ARGV[3])
end_run(KEYS[1], KEYS[4], ARGV[6], ARGV[1], 'dead', ARGV[4], now)
dead_letter(KEYS[3], tonumber(ARGV[5]), ARGV[1], h[1] or '', ARGV[3], now, tonumber(h[2]), h[3])
return {'ok'}
