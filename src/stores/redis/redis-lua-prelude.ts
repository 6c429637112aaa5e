/**
 * Lua the Redis stores' scripts begin with: integers as Redis reads them, and expiring a log's old entries (with
 * their amounts, when it has them). Lua 5.1 would write a computed number as `-0` or `1e+14`, which Redis's integer
 * commands refuse, so every computed number goes to Redis through `int`.
 *
 * A log is a sorted set of ids scored by time; its amounts, when it has them, a hash beside it from id to amount, with
 * their running total under `TOTAL`. `trim` removes the entries scored at or before `upto`, 256 at a time so that one
 * call never builds a reply the size of the whole log.
 */
export const redisLuaPrelude = `
local function int(n) return string.format('%d', n) end
local TOTAL = '#total'
local function trim(log, amounts, upto)
  if not amounts then
    redis.call('ZREMRANGEBYSCORE', log, '-inf', upto)
    return
  end
  while true do
    local ids = redis.call('ZRANGEBYSCORE', log, '-inf', upto, 'LIMIT', 0, 256)
    if #ids == 0 then return end
    local values = redis.call('HMGET', amounts, unpack(ids))
    local sum = 0
    for i = 1, #values do sum = sum + (tonumber(values[i]) or 0) end
    redis.call('HDEL', amounts, unpack(ids))
    redis.call('HINCRBY', amounts, TOTAL, int(-sum))
    redis.call('ZREM', log, unpack(ids))
    if #ids < 256 then return end
  end
end
`
