-- The rate limiter's pause of a bucket (lakehouse/queue/ratelimit.py), e.g. after a 429.
-- KEYS: bucket. ARGV: seconds_us. Returns paused_until_us.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local untilv = now + tonumber(ARGV[1])
local v = redis.call('HMGET', KEYS[1], 'tat', 'paused_until')
local paused = tonumber(v[2]) or 0
-- Two 429s in a row must not shorten a pause: keep the later end.
if untilv > paused then
  paused = untilv
  redis.call('HSET', KEYS[1], 'paused_until', string.format('%.0f', paused))
end
local keep = math.max(tonumber(v[1]) or 0, paused) - now
redis.call('PEXPIRE', KEYS[1], math.ceil(keep / 1000) + 1000)
return paused
