-- Clients decode replies as UTF-8; one undecodable payload handed back would make
-- every lease() call fail. Such payloads are dead-lettered with their high bytes
-- masked, so even the dead-letter list stays readable.
local function valid_utf8(s)
  if not string.find(s, '[\128-\255]') then return true end
  local i, n = 1, #s
  while i <= n do
    local c = string.byte(s, i)
    local len, lo, hi = 1, 0x80, 0xBF
    if c < 0x80 then len = 1
    elseif c >= 0xC2 and c <= 0xDF then len = 2
    elseif c >= 0xE0 and c <= 0xEF then
      len = 3
      if c == 0xE0 then lo = 0xA0 elseif c == 0xED then hi = 0x9F end
    elseif c >= 0xF0 and c <= 0xF4 then
      len = 4
      if c == 0xF0 then lo = 0x90 elseif c == 0xF4 then hi = 0x8F end
    else return false end
    for j = i + 1, i + len - 1 do
      local cc = string.byte(s, j)
      if j > i + 1 then lo, hi = 0x80, 0xBF end
      if not cc or cc < lo or cc > hi then return false end
    end
    i = i + len
  end
  return true
end
