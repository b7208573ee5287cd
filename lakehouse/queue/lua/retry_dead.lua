--! include: dead_letters transitions
-- KEYS: job, ready, dead, runs. ARGV: run_id, payload, max_attempts, endpoint
local state = redis.call('HGET', KEYS[1], 'state')
if state == 'queued' or state == 'running' or state == 'finished' then return {'refused', state} end
if drop_dead_entries(KEYS[3], ARGV[1]) == 0 then return {'missing', state or ''} end
queue_fresh(KEYS[1], KEYS[2], KEYS[4], ARGV[1], ARGV[4], ARGV[2], ARGV[3], now_s())
return {'ok', ''}
