/**
 * Rate limits and budgets shared by every gateway process on one Redis: one Lua script admits a request (every rate
 * limit and budget of the tenant and the key, read and taken in one atomic step, no read-then-write across round
 * trips) and one settles it. Both are written to touch as little as they can, since each `redis.call` costs about a
 * microsecond of Redis's time beyond the command itself: a request with limits and budgets on its key and tenant is
 * about 20 commands to admit and 10 to settle.
 *
 * Rate limits are sliding logs: a sorted set of the admitted requests (score = when, member = `<tokens>:<id>`), so a
 * limit of N admits exactly N in any window of 60 s, across processes, and the N+1-th exactly when the oldest of them
 * turns 60 s old. The alternatives cost less memory but are not exact: fixed windows admit 2N across a boundary; the
 * two-window weighted estimate admits more or fewer than N depending on how requests fall in the previous minute;
 * GCRA (a token bucket) with a burst of N refills while the burst is still inside the minute, so it admits nearly 2N
 * in the first minute. The log's cost is bounded by the limit itself (never more than N entries per window for
 * requests), each check is O(log N) plus the entries it expires, and its keys expire with the window. One log per
 * subject serves both requests and tokens: each entry carries its tokens in its member, and a hash beside it keeps the
 * window's count (`n`) and tokens (`tok`), updated as entries come and go, so a check reads two numbers instead of
 * counting. Settling rewrites the entry with the real tokens (same score); a real count that arrives once its entry
 * left the window is a late entry (`<extra>:<id>+`), which counts tokens but no request. Concurrency leases are a
 * sorted set scored by their expiry.
 *
 * Budgets: per (subject, period) a hash of the spend so far and the reservations in flight (`spent`, `res`), and the
 * reservations (`<amount>:<id>`) in a sorted set scored by their expiry, so a crashed process's reservations free
 * themselves. The hash also keeps a time no reservation ends before (`due`, lowered by each new one, set exactly
 * when they are looked over), so the set is searched for expired reservations only once one may have expired, not on
 * every request. A counter that is missing (a new period, Redis restarted, an idle `total` expired) makes the script
 * write nothing and name it: the store loads the spend from the usage store (single-flight per counter in this
 * process) and runs the script again with the value, which sets it only if the counter is still missing, in the same
 * atomic step as the check. Processes that load at the same time race, the first value wins, the others are ignored:
 * the spend is never counted twice. Settling never creates a counter.
 *
 * Time: rate limits use Redis's own (`TIME` inside the script): processes on different hosts would otherwise stamp
 * one log with clocks that disagree, and a process 200 ms behind would see entries 200 ms late and admit more than N.
 * Budgets use the caller's clock: the period a cost belongs to must be the one the usage store sums
 * (`budgetPeriodBounds` on the same clock), and reservations expire in minutes, where a skew of milliseconds between
 * hosts does not matter. `time` takes a clock for the rate limits too, for tests that move time by hand.
 *
 * Every key expires, without a `PEXPIRE` per request: each hash records when its keys expire (`x`), and the script
 * renews them only when that comes near (the window's keys live two windows and are renewed once per window; a
 * budget's keys live until a day after their period, a `total` one 7 days, renewed once half of it has passed). A
 * sorted set whose hash says it exists must not vanish when its last entry goes (Redis deletes empty keys, and the
 * next entry would recreate it without a TTL), so each log and reservation set holds a sentinel member `#` at +inf.
 *
 * Blocks (`admitBlock`, for `quota-block-admission.ts`): the admit script with a count, whose log entry is
 * `<tokens>:<id>*<count>` (counting `count` requests), stamped when the block's time ends, and whose reservation is
 * the block's; `rebook` (a third script) changes what a block holds as it closes and as its requests settle.
 *
 * Peeking (`peek-redis-rate-limits.ts`) reads a subject's log and its hash in one read-only script, for the headers of
 * a response that took nothing: no write, no TTL renewed.
 *
 * Keys: `<prefix>ad:{<tenant>}:<scope>:<id>:<log|win|con>` and `...:<id>:<period>:<budget|res>`. The tenant in braces
 * is a Redis Cluster hash tag: a tenant's keys and its own all live in one slot, as a multi-key script requires. Ids
 * are URI-encoded, so no id can break out of its segment or the tag.
 */
import type { Redis } from 'ioredis'
import type { Clock } from '../../core/clock.ts'
import {
  admissionDecisionOf,
  createTicketIds,
  defaultHoldTtlMs,
  degradedAdmission,
  isMetered,
  validateAdmissionRequest,
  validateAdmissionUsage,
  validatePeekRequest,
  type AdmissionDecision,
  type AdmissionRequest,
  type AdmissionStore,
  type AdmissionTicket,
  type BlockAdmission,
} from '../admission-store.ts'
import type { BudgetCheck } from '../budget-check.ts'
import { budgetPeriodBounds, type BudgetPeriodBounds } from '../budget-period-bounds.ts'
import {
  budgetCounterGraceMs,
  spentQueryOf,
  totalCounterIdleTtlMs,
  validateLoadedSpend,
  type Budget,
  type SpentLoader,
} from '../budgets.ts'
import type { RateLimitCheck } from '../rate-limit-check.ts'
import {
  concurrentRetryAfterMs,
  rateLimitWindowMs,
  type LimitScope,
  type RateLimits,
} from '../rate-limits.ts'
import { admissionLuaPrelude } from './admission-lua-prelude.ts'
import { peekRedisRateLimits } from './peek-redis-rate-limits.ts'
import type { RedisGuard } from './redis-guard.ts'
import { RedisScript } from './redis-script.ts'

/**
 * KEYS, per subject s (1 = tenant, 2 = key), from 5s-4: the log, its hash (n, tok, x), the leases, the budget's hash
 * (spent, res, x, due), its reservations.
 * ARGV: budget now, rate-limit now ('' = Redis TIME), window ms, id, tokens, cost, lease TTL ms, reservation TTL ms,
 * concurrency retry hint ms, then per subject (6 from 3 + 6s): requests, tokens and concurrency limits, budget limit
 * (-1 = none), seed ('' = none), the budget counter's TTL ms.
 * Returns {-1, s...} when budget counters are missing and no seed came for them (nothing else written). Otherwise
 * {1 admitted | 0 refused, now}, then per subject: n and tok (when it has a requests or tokens limit), leases and ms to
 * the latest one's end (a concurrency limit), spent and reserved (a budget). When refused, then per subject: ms to the
 * window's reset as it stands, the requests and the tokens retry (ms, -1 = none or never), and the concurrency retry.
 */
const admitSource = `${admissionLuaPrelude}
local bnowArg = ARGV[1]
local bnow = tonumber(bnowArg)
local now = tonumber(ARGV[2]) or redisNow()
local window = tonumber(ARGV[3])
local id = ARGV[4]
local tokens = tonumber(ARGV[5])
local cost = tonumber(ARGV[6])
local cutoff = now - window
local cutoffArg = int(cutoff)
-- A block of requests (\`admitBlock\`): how many, and how far past \`now\` its entry is stamped (its lease's end).
local count = tonumber(ARGV[22]) or 1
local stamp = now + (tonumber(ARGV[23]) or 0)

local spent, reserved, expiresAt, due = {}, {}, {}, {}
local missing
for s = 1, 2 do
  local a, b = 3 + 6 * s, 5 * s - 5
  if tonumber(ARGV[a + 4]) >= 0 then
    local budget, holds = KEYS[b + 4], KEYS[b + 5]
    local v = redis.call('HMGET', budget, 'spent', 'res', 'x', 'due')
    if not v[1] and ARGV[a + 5] ~= '' then
      -- Seeded with the spend the caller loaded, and what reservations still live hold (when only the hash was lost).
      local held, earliest = 0, NONE
      local live = redis.call('ZRANGEBYSCORE', holds, '(' .. bnowArg, '(+inf', 'WITHSCORES')
      for i = 1, #live, 2 do
        held = held + amountOf(live[i])
        earliest = math.min(earliest, tonumber(live[i + 1]))
      end
      redis.call('ZREMRANGEBYSCORE', holds, '-inf', bnowArg)
      redis.call('ZADD', holds, '+inf', '#')
      local ttl = tonumber(ARGV[a + 6])
      v = {ARGV[a + 5], int(held), int(bnow + ttl), int(earliest)}
      redis.call('HSET', budget, 'spent', v[1], 'res', v[2], 'x', v[3], 'due', v[4])
      redis.call('PEXPIRE', budget, ttl)
      redis.call('PEXPIRE', holds, ttl)
    end
    if v[1] then
      spent[s], reserved[s] = tonumber(v[1]), tonumber(v[2]) or 0
      expiresAt[s], due[s] = tonumber(v[3]) or 0, tonumber(v[4]) or 0
      if bnow >= due[s] then
        -- A reservation may have passed its TTL (a crashed process's): free what those held, and note when the
        -- earliest left ends (the sentinel's +inf when none is left).
        local gone = redis.call('ZRANGEBYSCORE', holds, '-inf', bnowArg)
        for i = 1, #gone do reserved[s] = reserved[s] - amountOf(gone[i]) end
        reserved[s] = math.max(0, reserved[s])
        if #gone > 0 then redis.call('ZREMRANGEBYSCORE', holds, '-inf', bnowArg) end
        local first = redis.call('ZRANGE', holds, 0, 0, 'WITHSCORES')
        due[s] = NONE
        if first[1] and first[1] ~= '#' then due[s] = tonumber(first[2]) end
        redis.call('HSET', budget, 'res', int(reserved[s]), 'due', int(due[s]))
      end
    else
      missing = missing or {-1}
      missing[#missing + 1] = s
    end
  end
end
if missing then return missing end

local out = {1, now}
local logs, leases = {}, {}
for s = 1, 2 do
  local a, b = 3 + 6 * s, 5 * s - 5
  local requestsLimit, tokensLimit = tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2])
  local concurrentLimit, budgetLimit = tonumber(ARGV[a + 3]), tonumber(ARGV[a + 4])
  if requestsLimit >= 0 or tokensLimit >= 0 then
    local v = redis.call('HMGET', KEYS[b + 2], 'n', 'tok', 'x')
    local n, tok, x, gone = tonumber(v[1]) or 0, tonumber(v[2]) or 0, tonumber(v[3]), 0
    if x then
      -- Without the entries that have left the window since the last check.
      n, tok, gone = windowCounts(KEYS[b + 1], n, tok, cutoffArg)
    else
      -- No hash: the window's keys expired together (their entries all older than the window), or never were.
      n, tok = 0, 0
    end
    if requestsLimit >= 0 and n + count > requestsLimit then out[1] = 0 end
    if tokensLimit >= 0 and tok + math.max(1, tokens) > tokensLimit then out[1] = 0 end
    logs[s] = {n, tok, x, gone}
    out[#out + 1] = n
    out[#out + 1] = tok
  end
  if concurrentLimit >= 0 then
    local held = KEYS[b + 3]
    redis.call('ZREMRANGEBYSCORE', held, '-inf', int(now))
    local count = redis.call('ZCARD', held)
    local latest = 0
    if count > 0 then latest = tonumber(redis.call('ZRANGE', held, -1, -1, 'WITHSCORES')[2]) - now end
    if count >= concurrentLimit then out[1] = 0 end
    leases[s] = count
    out[#out + 1] = count
    out[#out + 1] = latest
  end
  if budgetLimit >= 0 then
    if spent[s] + reserved[s] + math.max(1, cost) > budgetLimit then out[1] = 0 end
    out[#out + 1] = spent[s]
    out[#out + 1] = reserved[s]
  end
end

if out[1] == 0 then
  -- When the log frees enough room for this request: the time of the entry whose leaving brings it there.
  local function retryOf(log, limit, used, amount, byTokens)
    local target = limit - math.max(1, amount)
    if limit < 0 or used <= target or target < 0 then return -1 end
    local retry, left, start = window, used, 0
    while start < 1024 do
      local entries = redis.call('ZRANGEBYSCORE', log, '(' .. cutoffArg, '(+inf', 'WITHSCORES', 'LIMIT', start, 128)
      if #entries == 0 then break end
      for i = 1, #entries, 2 do
        local counts = true
        if byTokens then left = left - amountOf(entries[i])
        elseif countOf(entries[i]) > 0 then left = left - countOf(entries[i])
        else counts = false end
        if counts then
          retry = tonumber(entries[i + 1]) + window - now
          if left <= target then return retry end
        end
      end
      start = start + 128
    end
    return retry
  end
  for s = 1, 2 do
    local a, b = 3 + 6 * s, 5 * s - 5
    local log = logs[s]
    if log then
      local reset = 0
      local newest = redis.call('ZREVRANGEBYSCORE', KEYS[b + 1], '(+inf', '(' .. cutoffArg, 'WITHSCORES', 'LIMIT', 0, 1)
      if #newest > 0 then reset = tonumber(newest[2]) + window - now end
      out[#out + 1] = reset
      out[#out + 1] = retryOf(KEYS[b + 1], tonumber(ARGV[a + 1]), log[1], 1, false)
      out[#out + 1] = retryOf(KEYS[b + 1], tonumber(ARGV[a + 2]), log[2], tokens, true)
    end
    if leases[s] then
      local limit, retry = tonumber(ARGV[a + 3]), -1
      if leases[s] >= limit and limit > 0 then
        local earliest = tonumber(redis.call('ZRANGE', KEYS[b + 3], 0, 0, 'WITHSCORES')[2])
        retry = math.min(tonumber(ARGV[9]), earliest - now)
      end
      out[#out + 1] = retry
    end
  end
  return out
end

for s = 1, 2 do
  local a, b = 3 + 6 * s, 5 * s - 5
  local log = logs[s]
  if log then
    local entries, hash = KEYS[b + 1], KEYS[b + 2]
    local n, tok, x = log[1] + count, log[2], log[3]
    local member = '0:' .. id
    if tonumber(ARGV[a + 2]) >= 0 then
      member = ARGV[5] .. ':' .. id
      tok = tok + tokens
    end
    if log[4] > 0 then redis.call('ZREMRANGEBYSCORE', entries, '-inf', cutoffArg) end
    if not x then redis.call('DEL', entries) end
    redis.call('ZADD', entries, stamp, member)
    if not x or x <= now + window then
      redis.call('ZADD', entries, '+inf', '#')
      redis.call('HSET', hash, 'n', int(n), 'tok', int(tok), 'x', int(now + 2 * window))
      redis.call('PEXPIRE', entries, 2 * window)
      redis.call('PEXPIRE', hash, 2 * window)
    else
      redis.call('HSET', hash, 'n', int(n), 'tok', int(tok))
    end
  end
  if leases[s] then
    local held, ttl = KEYS[b + 3], tonumber(ARGV[7])
    redis.call('ZADD', held, int(now + ttl), id)
    if redis.call('PTTL', held) < ttl then redis.call('PEXPIRE', held, ttl) end
  end
  if spent[s] then
    local budget, holds = KEYS[b + 4], KEYS[b + 5]
    local ttl, ends = tonumber(ARGV[a + 6]), bnow + tonumber(ARGV[8])
    redis.call('ZADD', holds, int(ends), ARGV[6] .. ':' .. id)
    if expiresAt[s] < bnow + ttl / 2 then
      redis.call('HSET', budget, 'res', int(reserved[s] + cost), 'due', int(math.min(due[s], ends)), 'x', int(bnow + ttl))
      redis.call('PEXPIRE', budget, ttl)
      redis.call('PEXPIRE', holds, ttl)
    elseif ends < due[s] then
      redis.call('HSET', budget, 'res', int(reserved[s] + cost), 'due', int(ends))
    else
      redis.call('HSET', budget, 'res', int(reserved[s] + cost))
    end
  end
end
return out
`

/**
 * What settling adds when the real tokens exceed an estimate that has already left the window: the excess, as a late
 * entry (`<extra>:<id>+`, which counts tokens but no request) from now, with the window's keys kept alive.
 */
const latePrelude = `
local function addLate(entries, hash, now, window, extra, id)
  redis.call('ZADD', entries, int(now), int(extra) .. ':' .. id .. '+')
  redis.call('HINCRBY', hash, 'tok', int(extra))
  local x = tonumber(redis.call('HGET', hash, 'x'))
  if not x or x <= now + window then
    redis.call('ZADD', entries, '+inf', '#')
    redis.call('HSET', hash, 'x', int(now + 2 * window))
    redis.call('PEXPIRE', entries, 2 * window)
    redis.call('PEXPIRE', hash, 2 * window)
  end
end
`

/**
 * KEYS: as for admit. ARGV: rate-limit now ('' = Redis TIME), window ms, id, when admitted (rate-limit time),
 * estimated tokens, actual tokens (-1 = keep the estimate), cost reserved, actual cost, then per subject (3 from
 * 5 + 3s): settles tokens there (1/0), holds a lease (1/0), holds a reservation (1/0).
 */
const settleSource = `${admissionLuaPrelude}${latePrelude}
local window = tonumber(ARGV[2])
local id = ARGV[3]
local estimate = tonumber(ARGV[5])
local actual = tonumber(ARGV[6])
local now
for s = 1, 2 do
  local a, b = 5 + 3 * s, 5 * s - 5
  if ARGV[a + 1] == '1' then
    local entries, hash = KEYS[b + 1], KEYS[b + 2]
    now = now or tonumber(ARGV[1]) or redisNow()
    local inWindow = tonumber(ARGV[4]) > now - window
    if inWindow and redis.call('ZREM', entries, ARGV[5] .. ':' .. id) == 1 then
      redis.call('ZADD', entries, ARGV[4], ARGV[6] .. ':' .. id)
      redis.call('HINCRBY', hash, 'tok', int(actual - estimate))
    elseif actual > estimate then
      -- The estimate has left the window: only what the request used beyond it still counts, from now.
      addLate(entries, hash, now, window, actual - estimate, id)
    end
  end
  if ARGV[a + 2] == '1' then redis.call('ZREM', KEYS[b + 3], id) end
  if ARGV[a + 3] == '1' then
    local released = redis.call('ZREM', KEYS[b + 5], ARGV[7] .. ':' .. id)
    local v = redis.call('HMGET', KEYS[b + 4], 'spent', 'res')
    if v[1] then
      local res = tonumber(v[2]) or 0
      if released == 1 then res = math.max(0, res - tonumber(ARGV[7])) end
      redis.call('HSET', KEYS[b + 4], 'spent', int(tonumber(v[1]) + tonumber(ARGV[8])), 'res', int(res))
    end
  end
end
return 1
`

/**
 * Rebooks a block (`admitBlock`) to what it now holds: its log entry from `<tokens>:<id>*<count>` to the new tokens
 * and count (removed when both are 0), the window's `n` and `tok` by the difference, its reservation from the old
 * amount to the new (re-added with its own expiry, unless that already freed it), and `spent` up by what its
 * requests cost since the last rebook.
 * KEYS: as for admit. ARGV: rate-limit now ('' = Redis TIME), window ms, the entry's stamp, old id, new id, old and new
 * tokens, old and new count, old and new reservation, the reservation's expiry, spent to add, then per subject (2 from
 * 12 + 2s): its log (2: with tokens, 1: without, 0: none), its budget (1/0).
 */
const rebookSource = `${admissionLuaPrelude}${latePrelude}
local window = tonumber(ARGV[2])
local at = tonumber(ARGV[3])
local oldId, newId = ARGV[4], ARGV[5]
local oldTokens, newTokens = tonumber(ARGV[6]), tonumber(ARGV[7])
local oldCount, newCount = tonumber(ARGV[8]), tonumber(ARGV[9])
local oldHeld, newHeld = tonumber(ARGV[10]), tonumber(ARGV[11])
local now
for s = 1, 2 do
  local a, b = 12 + 2 * s, 5 * s - 5
  local log = ARGV[a]
  if log ~= '0' then
    local entries, hash = KEYS[b + 1], KEYS[b + 2]
    local t0, t1 = oldTokens, newTokens
    if log == '1' then t0, t1 = 0, 0 end
    now = now or tonumber(ARGV[1]) or redisNow()
    if at > now - window and redis.call('ZREM', entries, int(t0) .. ':' .. oldId) == 1 then
      if newCount > 0 or t1 > 0 then redis.call('ZADD', entries, ARGV[3], int(t1) .. ':' .. newId) end
      local v = redis.call('HMGET', hash, 'n', 'tok')
      redis.call('HSET', hash, 'n', int(math.max(0, (tonumber(v[1]) or 0) + newCount - oldCount)),
        'tok', int(math.max(0, (tonumber(v[2]) or 0) + t1 - t0)))
    elseif t1 > t0 then
      -- The entry has left the window: only the tokens beyond it still count, from now.
      addLate(entries, hash, now, window, t1 - t0, newId)
    end
  end
  if ARGV[a + 1] == '1' then
    local budget, holds = KEYS[b + 4], KEYS[b + 5]
    local delta = 0
    if oldHeld > 0 and redis.call('ZREM', holds, int(oldHeld) .. ':' .. oldId) == 1 then
      delta = -oldHeld
      if newHeld > 0 then
        redis.call('ZADD', holds, ARGV[12], int(newHeld) .. ':' .. newId)
        delta = delta + newHeld
      end
    end
    local v = redis.call('HMGET', budget, 'spent', 'res')
    if v[1] then
      redis.call('HSET', budget, 'spent', int(tonumber(v[1]) + tonumber(ARGV[13])),
        'res', int(math.max(0, (tonumber(v[2]) or 0) + delta)))
    end
  end
end
return 1
`

const admitScript = new RedisScript(admitSource)
const rebookScript = new RedisScript(rebookSource)
const settleScript = new RedisScript(settleSource)

const scopes: readonly LimitScope[] = ['tenant', 'key']

/** Leases kept to free after an outage at most (the oldest are left to their expiry). */
const maxLeasesToFree = 10_000

/** How long a loaded spend may seed a missing counter (see `load`). */
const seedFreshMs = 1_000

type BudgetSubject = { scope: LimitScope; id: string; budget: Budget; bounds: BudgetPeriodBounds }

export type RedisAdmissionStoreOptions = {
  redis: Redis
  guard: RedisGuard
  /** The budgets' clock (the usage store's periods). */
  clock: Clock
  /** The spend so far of a tenant or key in a period, from the usage store. */
  loadSpent: SpentLoader
  /** Starts every key; `gatehouse:` by default. Processes that share limits and budgets share it. */
  prefix?: string
  /** The window of the per-minute limits; 60 s (tests shorten it). */
  windowMs?: number
  /** The rate limits' clock. `redis` (default): Redis's `TIME`, one clock for every process. A `Clock`: tests. */
  rateLimitTime?: 'redis' | Clock
}

/** How long a budget counter lives from `now`: a grace past its period's end, or (total) an idle time. */
const counterTtlMs = (end: number | null, now: number): number =>
  end === null ? totalCounterIdleTtlMs : Math.max(1, end + budgetCounterGraceMs - now)

const limitArg = (value: number | null | undefined): number => value ?? -1

export const createRedisAdmissionStore = (
  options: RedisAdmissionStoreOptions
): AdmissionStore & BlockAdmission => {
  const { redis, guard, clock, loadSpent } = options
  const prefix = options.prefix ?? 'gatehouse:'
  const windowMs = options.windowMs ?? rateLimitWindowMs
  const rateClock =
    options.rateLimitTime === undefined || options.rateLimitTime === 'redis'
      ? null
      : options.rateLimitTime
  const rateNow = (): string | number => (rateClock === null ? '' : rateClock.now())
  const settled = new WeakSet<AdmissionTicket>()
  const nextId = createTicketIds()
  const loads = new Map<string, { value: Promise<number>; loadedAt: number | null }>()

  /** Each subject's key prefix, remembered (most requests come from keys seen a moment ago). */
  const bases = new Map<string, string>()
  const baseOf = (tenantId: string, scope: LimitScope, id: string): string => {
    const name = `${scope}\n${tenantId}\n${id}`
    let base = bases.get(name)
    if (base === undefined) {
      if (bases.size >= 10_000) bases.clear()
      base = `${prefix}ad:{${encodeURIComponent(tenantId)}}:${scope}:${encodeURIComponent(id)}:`
      bases.set(name, base)
    }
    return base
  }

  /** The five keys of each subject; a subject without a budget gets, for those, a name the scripts never touch. */
  /** Concurrency leases (their set, the ticket) whose settle met an outage: freed once Redis answers again. */
  let leasesToFree: [string, string][] = []
  guard.onRecover(() => {
    if (leasesToFree.length === 0) return
    const leases = leasesToFree
    leasesToFree = []
    void guard.run(
      'free the leases of requests settled during an outage',
      async () => {
        const pipeline = redis.pipeline()
        for (const [set, id] of leases) pipeline.zrem(set, id)
        await pipeline.exec()
      },
      () => {
        leasesToFree = [...leases, ...leasesToFree].slice(-maxLeasesToFree)
      }
    )
  })

  const keysOf = (
    tenantId: string,
    keyId: string,
    periodKeys: readonly (string | null)[]
  ): string[] => {
    const keys: string[] = []
    for (let index = 0; index < 2; index += 1) {
      const base = baseOf(tenantId, scopes[index], index === 0 ? tenantId : keyId)
      const period = periodKeys[index]
      keys.push(`${base}log`, `${base}win`, `${base}con`)
      if (period === null) keys.push(`${base}-`, `${base}-`)
      else keys.push(`${base}${period}:budget`, `${base}${period}:res`)
    }
    return keys
  }

  /**
   * The subject's spend so far, loaded once per counter however many requests of this process ask. A finished load
   * stays usable for `seedFreshMs`: replies to scripts that ran before the seed was written still arrive after the
   * load finished, and they must not start a second one. (A seed is written only where the counter is missing, so a
   * reused value can never add to a counter; at worst, after two losses within a second, it misses that second.)
   */
  const load = (
    subject: BudgetSubject,
    tenantId: string,
    name: string,
    now: number
  ): Promise<number> => {
    for (const [other, entry] of loads)
      if (entry.loadedAt !== null && entry.loadedAt + seedFreshMs <= now) loads.delete(other)
    let entry = loads.get(name)
    if (entry === undefined) {
      const query = spentQueryOf(subject, tenantId)
      const started: { value: Promise<number>; loadedAt: number | null } = {
        value: loadSpent(query)
          .then((spent) => validateLoadedSpend(query, spent))
          .then(
            (spent) => {
              started.loadedAt = clock.now()
              return spent
            },
            (error: unknown) => {
              loads.delete(name)
              throw error
            }
          ),
        loadedAt: null,
      }
      entry = started
      loads.set(name, entry)
    }
    return entry.value
  }

  /** The checks the script's answer describes, in the order it gives them. */
  const checksOf = (
    request: AdmissionRequest,
    budgeted: readonly (BudgetSubject | null)[],
    values: readonly number[],
    refused: boolean,
    leaseTtlMs: number,
    count: number
  ): { rateLimits: RateLimitCheck[]; budgets: BudgetCheck[] } => {
    const rateLimits: RateLimitCheck[] = []
    const budgets: BudgetCheck[] = []
    // Where each subject's refusal details start: after every subject's values.
    let at = 2
    let detail = 2
    for (const scope of scopes) {
      const { limits } = request[scope]
      detail += (hasLog(limits) ? 2 : 0) + (hasLeases(limits) ? 2 : 0)
      detail += budgeted[scopes.indexOf(scope)] === null ? 0 : 2
    }
    for (let index = 0; index < 2; index += 1) {
      const scope = scopes[index]
      const { limits } = request[scope]
      if (hasLog(limits)) {
        const [used, tokens] = [values[at], values[at + 1]]
        at += 2
        const reset = refused ? values[detail] : 0
        for (const [dimension, limit, usedThere, amount, retry] of [
          ['requests', limits.requestsPerMinute ?? null, used, count, values[detail + 1]],
          ['tokens', limits.tokensPerMinute ?? null, tokens, request.tokens, values[detail + 2]],
        ] as const) {
          if (limit === null) continue
          rateLimits.push({
            scope,
            dimension,
            limit,
            used: usedThere,
            amount,
            fits: usedThere <= limit - Math.max(1, amount),
            retryAfterMs: refused && retry >= 0 ? retry : null,
            resetNowMs: reset,
            resetTakenMs: windowMs,
          })
        }
        if (refused) detail += 3
      }
      if (hasLeases(limits)) {
        const limit = limits.concurrentRequests as number
        const [count, latest] = [values[at], values[at + 1]]
        at += 2
        const retry = refused ? values[detail] : -1
        if (refused) detail += 1
        rateLimits.push({
          scope,
          dimension: 'concurrent',
          limit,
          used: count,
          amount: 1,
          fits: count < limit,
          retryAfterMs: retry >= 0 ? retry : null,
          resetNowMs: latest,
          resetTakenMs: Math.max(latest, leaseTtlMs),
        })
      }
      const subject = budgeted[index]
      if (subject !== null) {
        budgets.push({
          scope,
          bounds: subject.bounds,
          limitMicroUsd: subject.budget.limitMicroUsd,
          spentMicroUsd: values[at],
          reservedMicroUsd: values[at + 1],
          amountMicroUsd: request.costMicroUsd,
        })
        at += 2
      }
    }
    return { rateLimits, budgets }
  }

  /**
   * Admits one request, or (`block`) `count` requests at once under one id (`<id>*<count>`), with their log entry
   * stamped `stampOffsetMs` past Redis's now. Returns the decision and when the budget reservations expire.
   */
  const admitWith = async (
    request: AdmissionRequest,
    block: { count: number; stampOffsetMs: number } | null
  ): Promise<{ decision: AdmissionDecision; reservationEndsAt: number }> => {
    validateAdmissionRequest(request)
    const count = block?.count ?? 1
    const stampOffsetMs = block?.stampOffsetMs ?? 0
    const id = block === null ? nextId() : `${nextId()}*${count}`
    if (!isMetered(request.tenant) && !isMetered(request.key))
      return { decision: admissionDecisionOf(id, request, 0, [], []), reservationEndsAt: 0 }
    const leaseTtlMs = request.leaseTtlMs ?? defaultHoldTtlMs
    const reservationTtlMs = request.reservationTtlMs ?? defaultHoldTtlMs
    const seeds: (number | null)[] = [null, null]
    let periodKeys: (string | null)[] = [null, null]
    for (let attempt = 0; attempt < 3; attempt += 1) {
      const now = clock.now()
      const budgeted = scopes.map((scope): BudgetSubject | null => {
        const { id: subjectId, budget } = request[scope]
        return budget === null
          ? null
          : { scope, id: subjectId, budget, bounds: budgetPeriodBounds(budget.period, now) }
      })
      // A seed loaded for one period is no seed for the next.
      for (let index = 0; index < 2; index += 1)
        if (budgeted[index]?.bounds.key !== periodKeys[index]) seeds[index] = null
      periodKeys = budgeted.map((subject) => subject?.bounds.key ?? null)
      const keys = keysOf(request.tenant.id, request.key.id, periodKeys)
      const args: (string | number)[] = [
        now,
        rateNow(),
        windowMs,
        id,
        request.tokens,
        request.costMicroUsd,
        leaseTtlMs,
        reservationTtlMs,
        concurrentRetryAfterMs,
      ]
      for (let index = 0; index < 2; index += 1) {
        const { limits } = request[scopes[index]]
        const subject = budgeted[index]
        args.push(
          limitArg(limits.requestsPerMinute),
          limitArg(limits.tokensPerMinute),
          limitArg(limits.concurrentRequests),
          subject?.budget.limitMicroUsd ?? -1,
          seeds[index] ?? '',
          counterTtlMs(subject?.bounds.end ?? null, now)
        )
      }
      if (block !== null) args.push(count, stampOffsetMs)
      const reply = await guard.runCancellable(
        'admission',
        'Rate limits and budgets',
        () => admitScript.run(redis, keys, args),
        // Frees what a late admission took but its tokens and request (which count, as if it had run).
        () =>
          settleScript.run(redis, keys, [
            rateNow(),
            windowMs,
            id,
            0,
            request.tokens,
            -1,
            request.costMicroUsd,
            0,
            ...budgeted.flatMap((subject, index) => [
              0,
              (request[scopes[index]].limits.concurrentRequests ?? null) === null ? 0 : 1,
              subject === null ? 0 : 1,
            ]),
          ])
      )
      if (reply === null) return { decision: degradedAdmission(id, request), reservationEndsAt: 0 }
      const values = reply as number[]
      if (values[0] === -1) {
        const missing = values.slice(1).map((subject) => subject - 1)
        const loaded = await Promise.all(
          missing.map((index) =>
            load(budgeted[index] as BudgetSubject, request.tenant.id, keys[index * 5 + 3], now)
          )
        )
        missing.forEach((index, at) => (seeds[index] = loaded[at]))
        continue
      }
      const refused = values[0] !== 1
      const checks = checksOf(request, budgeted, values, refused, leaseTtlMs, count)
      const decision = admissionDecisionOf(
        id,
        request,
        values[1] + stampOffsetMs,
        checks.rateLimits,
        checks.budgets
      )
      if (decision.allowed === refused)
        throw new Error(
          `the admission script ${refused ? 'refused' : 'admitted'} what its checks ${refused ? 'admit' : 'refuse'}`
        )
      return { decision, reservationEndsAt: now + reservationTtlMs }
    }
    throw new Error('budget counters could not be seeded: they expired while loading, 3 times')
  }

  return {
    admit: async (request) => (await admitWith(request, null)).decision,

    admitBlock: (request, count, stampOffsetMs) => {
      if (!Number.isSafeInteger(count) || count < 1)
        throw new Error(`a block is 1 request or more, got ${count}`)
      if (
        (request.tenant.limits.concurrentRequests ?? null) !== null ||
        (request.key.limits.concurrentRequests ?? null) !== null
      )
        throw new Error('a block cannot hold concurrency slots')
      return admitWith(request, { count, stampOffsetMs })
    },

    rebook: async ({ request, ticket, reservationEndsAt }, from, to, spentMicroUsd) => {
      if (ticket.degraded) return
      const periodKeys = scopes.map(
        (scope) => ticket.budgets.find((entry) => entry.scope === scope)?.periodKey ?? null
      )
      const base = ticket.id.slice(0, ticket.id.lastIndexOf('*'))
      const args: (string | number)[] = [
        rateNow(),
        windowMs,
        ticket.at,
        `${base}*${from.count}`,
        `${base}*${to.count}`,
        from.tokens,
        to.tokens,
        from.count,
        to.count,
        from.reservedMicroUsd,
        to.reservedMicroUsd,
        reservationEndsAt,
        spentMicroUsd,
      ]
      for (let index = 0; index < 2; index += 1) {
        const { limits } = request[scopes[index]]
        args.push(
          (limits.tokensPerMinute ?? null) !== null ? 2 : hasLog(limits) ? 1 : 0,
          periodKeys[index] === null ? 0 : 1
        )
      }
      await guard.run(
        'admission settle',
        () => rebookScript.run(redis, keysOf(ticket.tenantId, ticket.keyId, periodKeys), args),
        () => undefined
      )
    },

    settle: async (ticket, usage) => {
      validateAdmissionUsage(usage)
      if (ticket.degraded || settled.has(ticket)) return
      settled.add(ticket)
      const settlesTokens =
        usage.tokens !== null && usage.tokens !== ticket.tokens && ticket.tokenScopes.length > 0
      if (!settlesTokens && ticket.concurrentScopes.length === 0 && ticket.budgets.length === 0)
        return
      const periodKeys = scopes.map(
        (scope) => ticket.budgets.find((entry) => entry.scope === scope)?.periodKey ?? null
      )
      const args: (string | number)[] = [
        rateNow(),
        windowMs,
        ticket.id,
        ticket.at,
        ticket.tokens,
        settlesTokens ? (usage.tokens as number) : -1,
        ticket.costMicroUsd,
        usage.costMicroUsd,
      ]
      for (let index = 0; index < 2; index += 1) {
        const scope = scopes[index]
        args.push(
          settlesTokens && ticket.tokenScopes.includes(scope) ? 1 : 0,
          ticket.concurrentScopes.includes(scope) ? 1 : 0,
          periodKeys[index] === null ? 0 : 1
        )
      }
      const keys = keysOf(ticket.tenantId, ticket.keyId, periodKeys)
      await guard.run(
        'admission settle',
        () => settleScript.run(redis, keys, args),
        () => {
          // Redis is away: what the settle frees must still be freed once it is back, or the key's concurrency
          // slots stay taken until their leases expire (the route's whole timeout, minutes). Releasing a lease is
          // idempotent, so a settle that ran after all does no harm. Tokens and spend are not replayed (the
          // settle's additions are not idempotent): they fail open, as the admissions of the outage do.
          for (let index = 0; index < 2; index += 1)
            if (ticket.concurrentScopes.includes(scopes[index]))
              leasesToFree.push([keys[5 * index + 2], ticket.id])
          if (leasesToFree.length > maxLeasesToFree)
            leasesToFree.splice(0, leasesToFree.length - maxLeasesToFree)
        }
      )
    },

    peek: async (request) => {
      validatePeekRequest(request)
      const tenantId = request.tenant.id
      return peekRedisRateLimits({
        redis,
        guard,
        request,
        bases: [baseOf(tenantId, 'tenant', tenantId), baseOf(tenantId, 'key', request.key.id)],
        now: rateNow(),
        windowMs,
      })
    },
  }
}

/** Whether the subject's log is kept (a requests or a tokens limit). */
const hasLog = (limits: RateLimits): boolean =>
  (limits.requestsPerMinute ?? null) !== null || (limits.tokensPerMinute ?? null) !== null

const hasLeases = (limits: RateLimits): boolean => (limits.concurrentRequests ?? null) !== null
