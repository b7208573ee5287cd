--! include: dead_letters transitions
-- KEYS: job, ready, dead, runs. ARGV: run_id, payload, force, max_attempts, endpoint
local state = redis.call('HGET', KEYS[1], 'state')
if state == 'queued' then return 'already_queued' end
if state == 'running' then return 'already_running' end
if state == 'finished' and ARGV[3] ~= '1' then return 'already_finished' end
local now = now_s()
local outcome = 'queued'
if state then outcome = 'requeued' end
if state == 'dead' then drop_dead_entries(KEYS[3], ARGV[1]) end
queue_fresh(KEYS[1], KEYS[2], KEYS[4], ARGV[1], ARGV[5], ARGV[2], ARGV[4], now)
return outcome
