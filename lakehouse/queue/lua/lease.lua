--! include: dead_letters transitions utf8
-- KEYS: ready, leased, dead, lease_seq, runs, workers.
-- ARGV: job_prefix, worker_id, lease_ms, default_max_attempts, dead_cap, scan_limit, workers_keep_s
-- Constants (given by the loader): RUN_ID_PATTERN, RUN_ID_MAX_LENGTH.
local now = now_s()
local cap = tonumber(ARGV[5])
seen(KEYS[6], ARGV[2], now)
redis.call('ZREMRANGEBYSCORE', KEYS[6], '-inf', now - tonumber(ARGV[7]))
-- Returns the lease reply, or nil when the payload was dead-lettered instead.
local function take(payload)
  if not valid_utf8(payload) then
    dead_letter(KEYS[3], cap, nil, string.gsub(payload, '[\128-\255]', '?'),
      'payload is not valid UTF-8 (bytes >= 0x80 shown as ?)', now, nil, nil)
    return nil
  end
  local ok, doc = pcall(cjson.decode, payload)
  local run_id = nil
  if ok and type(doc) == 'table' then run_id = doc['run_id'] end
  if type(run_id) ~= 'string' or #run_id > RUN_ID_MAX_LENGTH or not string.match(run_id, RUN_ID_PATTERN) then
    local why = 'payload has no valid run_id (expected <endpoint>__<YYYYmmddTHHMM>Z)'
    if not ok then why = 'payload is not valid JSON'
    elseif type(doc) ~= 'table' or doc[1] ~= nil then why = 'payload is not a JSON object' end
    dead_letter(KEYS[3], cap, nil, payload, why, now, nil, nil)
    return nil
  end
  local jk = ARGV[1] .. run_id
  local state = redis.call('HGET', jk, 'state')
  if state and state ~= 'queued' then
    -- Cannot happen through enqueue(); a hand-pushed copy of a live or finished run
    -- must not start a second crawl, and must not vanish silently either.
    dead_letter(KEYS[3], cap, run_id, payload, 'duplicate payload: run ' .. run_id .. ' is already ' .. state ..
      '; push jobs with enqueue() (force=True crawls a finished run again), not straight onto the list', now, nil, nil)
    return nil
  end
  if not state then
    -- Pushed by a producer that bypassed enqueue(): adopt it, so it is tracked,
    -- fenced and counted like any other job.
    local max = tonumber(doc['max_attempts'])
    if not max or max < 1 then max = tonumber(ARGV[4]) end
    local ep = doc['endpoint']
    if type(ep) ~= 'string' then ep = '' end
    redis.call('HSET', jk, 'run_id', run_id, 'endpoint', ep, 'payload', payload, 'attempts', '0',
      'max_attempts', int(math.floor(max)), 'queued_at', fmt(now))
  end
  local attempts = redis.call('HINCRBY', jk, 'attempts', 1)
  local lease_id = redis.call('INCR', KEYS[4])
  -- Lease ids also name and order attempts' landings in S3 (lakehouse.raw.layout),
  -- which outlive this Redis: never below the server clock in ms, so ids keep growing
  -- after Redis loses its data and a rerun is never taken for an older attempt.
  local floor_ms = math.floor(now * 1000)
  if lease_id < floor_ms then
    lease_id = floor_ms
    redis.call('SET', KEYS[4], int(floor_ms))
  end
  local expires = math.floor(now * 1000) + tonumber(ARGV[3])
  redis.call('HSET', jk, 'state', 'running', 'worker_id', ARGV[2], 'lease_id', int(lease_id),
    'lease_expires', int(expires), 'started_at', fmt(now), 'heartbeat_at', fmt(now), 'updated_at', fmt(now))
  redis.call('PERSIST', jk)
  redis.call('ZADD', KEYS[2], expires, run_id)
  redis.call('ZADD', KEYS[5], now, run_id)
  return {run_id, int(lease_id), payload, int(attempts), int(expires)}
end
for _ = 1, tonumber(ARGV[6]) do
  local payload = redis.call('LPOP', KEYS[1])
  if not payload then return false end
  local reply = take(payload)
  if reply then return reply end
end
return 'again'
