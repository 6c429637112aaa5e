/**
 * What every admission script starts with: admit, settle and rebook (`redis-admission-store.ts`) and the read-only
 * peek (`peek-redis-rate-limits.ts`). Lua 5.1 would write a computed number as `-0` or `1e+14`, which Redis's integer
 * commands refuse, so every computed number goes to Redis through `int`. An entry's amount is the number its member
 * starts with; a late entry's member ends with `+` (byte 43).
 */
export const admissionLuaPrelude = `
local function int(n) return string.format('%d', n) end
local function amountOf(member) return tonumber(string.match(member, '^%d+')) or 0 end
-- The requests an entry counts: a late entry (ending in \`+\`) none, a block (\`<tokens>:<id>*<count>\`) its count.
local function countOf(member)
  if string.byte(member, -1) == 43 then return 0 end
  return tonumber(string.match(member, '%*(%d+)$')) or 1
end
-- A window's requests and tokens once the entries that have left it (scored at or before \`cutoff\`) are taken off, 256
-- at a time, and how many left; the entries themselves stay for the caller to remove (or leave, when it only reads).
local function windowCounts(entries, n, tok, cutoff)
  local gone = 0
  while true do
    local old = redis.call('ZRANGEBYSCORE', entries, '-inf', cutoff, 'LIMIT', gone, 256)
    for i = 1, #old do
      tok = tok - amountOf(old[i])
      n = n - countOf(old[i])
    end
    gone = gone + #old
    if #old < 256 then break end
  end
  return math.max(0, n), math.max(0, tok), gone
end
-- A time after every other: a budget's earliest reservation end when it holds none (2^53 - 1).
local NONE = 9007199254740991
local function redisNow()
  local time = redis.call('TIME')
  return tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
end
`
