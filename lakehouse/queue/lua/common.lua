-- Shared by every queue script (lakehouse/queue/lua/__init__.py prepends it).
local function now_s()
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local function fmt(x) return string.format('%.6f', x) end
local function int(x) return string.format('%d', x) end
-- The lease check every holder-side transition starts with (the fencing token).
local function holder_check(job_key, lease_id)
  local h = redis.call('HMGET', job_key, 'state', 'lease_id', 'worker_id')
  if h[1] ~= 'running' or h[2] ~= lease_id then
    return {'lost', h[1] or '', h[3] or ''}
  end
  return nil
end
