-- The rate limiter's check-and-take (lakehouse/queue/ratelimit.py: GCRA on the Redis clock).
-- KEYS: bucket. ARGV: interval_us, burst, slack_us. Returns {wait_us, server_now_us}.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local v = redis.call('HMGET', KEYS[1], 'tat', 'paused_until')
local paused = tonumber(v[2]) or 0
if now < paused then return {paused - now, now} end
local tat = tonumber(v[1]) or now
if tat < now then tat = now end
local allow_at = tat - interval * (tonumber(ARGV[2]) - 1) - (tonumber(ARGV[3]) or 0)
if now < allow_at then return {allow_at - now, now} end
local new_tat = tat + interval
-- '%.0f': Lua's default number format (%.14g) would round a microsecond epoch.
redis.call('HSET', KEYS[1], 'tat', string.format('%.0f', new_tat))
local keep = math.max(new_tat, paused) - now
redis.call('PEXPIRE', KEYS[1], math.ceil(keep / 1000) + 1000)
return {0, now}
