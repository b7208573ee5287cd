-- Writing and dropping entries of the dead-letter list.
local function dead_letter(dead_key, cap, run_id, payload, reason, now, attempts, worker)
  local entry = {reason = reason, dead_at = now, payload = payload}
  if run_id then entry['run_id'] = run_id end
  if attempts then entry['attempts'] = attempts end
  if worker and worker ~= '' then entry['worker_id'] = worker end
  redis.call('LPUSH', dead_key, cjson.encode(entry))
  redis.call('LTRIM', dead_key, 0, cap - 1)
end
local function drop_dead_entries(dead_key, run_id)
  local removed = 0
  for _, e in ipairs(redis.call('LRANGE', dead_key, 0, -1)) do
    local ok, d = pcall(cjson.decode, e)
    if ok and type(d) == 'table' and d['run_id'] == run_id then
      removed = removed + redis.call('LREM', dead_key, 1, e)
    end
  end
  return removed
end
