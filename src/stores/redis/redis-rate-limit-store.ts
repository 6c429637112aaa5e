/**
 * Rate limits shared by every gateway process on one Redis: one Lua script per check (every limit of the tenant and
 * the key, read and taken in one atomic step, no read-then-write across round trips) and one per release.
 *
 * The algorithm is a sliding log per limit: a sorted set of the admitted requests (score = when, member = the lease
 * id), so a limit of N admits exactly N in any window of 60 s, across processes, and the N+1-th exactly when the
 * oldest of them turns 60 s old. The alternatives cost less memory but are not exact: fixed windows admit 2N across a
 * boundary; the two-window weighted estimate admits more or fewer than N depending on how requests fall in the
 * previous minute; GCRA (a token bucket) with a burst of N refills while the burst is still inside the minute, so it
 * admits nearly 2N in the first minute. The log's cost is bounded by the limit itself (never more than N entries per
 * window for requests), each check is O(log N) plus the entries it expires, and keys expire with the window.
 * Tokens use the same log with an amount per entry (a hash beside the sorted set, with the running total under
 * `#total`), so `release` can settle one request's estimate to its real count; leases are a sorted set scored by
 * their expiry.
 *
 * Time is Redis's own (`TIME` inside the script), not the callers': processes on different hosts would otherwise
 * stamp the same log with clocks that disagree, and a process 200 ms behind would see entries 200 ms late and admit
 * more than N. `time` takes a clock instead, for tests that move time by hand.
 *
 * Keys: `<prefix>rl:{<tenant>}:<scope>:<id>:<req|tok|tok:n|con>`. The tenant in braces is a Redis Cluster hash tag:
 * a tenant's keys and its own all live in one slot, as a multi-key script requires. Ids are URI-encoded, so no id can
 * break out of its segment or the tag. Every key expires: the logs a window after their newest entry, the leases
 * with the longest lease in them.
 */
import type { Redis } from 'ioredis'
import type { Clock } from '../../core/clock.ts'
import {
  concurrentRetryAfterMs,
  defaultLeaseTtlMs,
  rateLimitWindowMs,
  validateActualTokens,
  validateRateLimitRequest,
  type LimitScope,
  type RateLimitDecision,
  type RateLimitDimension,
  type RateLimitLease,
  type RateLimitRequest,
  type RateLimitStore,
  type RateLimits,
} from '../rate-limit-store.ts'
import {
  degradedRateLimitAdmission,
  pickRateLimitRefusal,
  rateLimitAdmission,
  rateLimitStatesOf,
  type RateLimitCheck,
} from '../rate-limit-check.ts'
import type { RedisGuard } from './redis-guard.ts'
import { redisLuaPrelude } from './redis-lua-prelude.ts'
import { RedisScript } from './redis-script.ts'

/** Helpers both scripts share: `int`, `TOTAL` and `trim` (see `redisLuaPrelude`), Redis's time, a log's scores. */
const luaPrelude = `${redisLuaPrelude}
local function redisNow()
  local time = redis.call('TIME')
  return tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
end
local function scoreAt(log, index)
  local entry = redis.call('ZRANGE', log, index, index, 'WITHSCORES')
  return tonumber(entry[2])
end
`

/**
 * KEYS, per subject s (1 = tenant, 2 = key): 4s-3 requests log, 4s-2 tokens log, 4s-1 token amounts, 4s leases.
 * ARGV: now ('' = Redis TIME), window ms, lease id, tokens, lease TTL ms, concurrency retry hint ms, then per subject
 * the requests, tokens and concurrency limits (-1 = none).
 * Returns: allowed (1/0), now, then per limit checked: subject, dimension (1 requests, 2 tokens, 3 concurrent),
 * limit, used, amount, fits (1/0), retry after ms (-1 = never), reset ms now, reset ms once taken.
 */
const acquireSource = `${luaPrelude}
local now = tonumber(ARGV[1]) or redisNow()
local window = tonumber(ARGV[2])
local id = ARGV[3]
local tokens = tonumber(ARGV[4])
local leaseTtl = tonumber(ARGV[5])
local concurrentRetry = tonumber(ARGV[6])
local cutoff = now - window
local out = {0, now}
local allowed = true
local unsetResets = {}

local function logCheck(s, dimension, limit, log, amounts, amount)
  trim(log, amounts, cutoff)
  local used
  if amounts then used = tonumber(redis.call('HGET', amounts, TOTAL)) or 0 else used = redis.call('ZCARD', log) end
  local target = limit - math.max(1, amount)
  local fits = used <= target
  local retry = -1
  if not fits and target >= 0 then
    retry = window
    local left = used
    local start = 0
    while start < 1024 do
      local entries = redis.call('ZRANGE', log, start, start + 127, 'WITHSCORES')
      if #entries == 0 then break end
      local values = nil
      if amounts then
        local ids = {}
        for i = 1, #entries, 2 do ids[#ids + 1] = entries[i] end
        values = redis.call('HMGET', amounts, unpack(ids))
      end
      local reached = false
      for i = 1, #entries, 2 do
        if values then left = left - (tonumber(values[(i + 1) / 2]) or 0) else left = left - 1 end
        retry = tonumber(entries[i + 1]) + window - now
        if left <= target then reached = true break end
      end
      if reached then break end
      start = start + 128
    end
  end
  if not fits then allowed = false end
  local f = 0
  if fits then f = 1 end
  for _, v in ipairs({s, dimension, limit, used, amount, f, retry, 0, window}) do out[#out + 1] = v end
  -- The reset as it stands (from the newest entry) is reported only on a refusal: found then, not on every check.
  unsetResets[#unsetResets + 1] = {#out - 1, log}
end

for s = 1, 2 do
  local base = 6 + (s - 1) * 3
  local requestsLimit = tonumber(ARGV[base + 1])
  local tokensLimit = tonumber(ARGV[base + 2])
  local concurrentLimit = tonumber(ARGV[base + 3])
  if requestsLimit >= 0 then logCheck(s, 1, requestsLimit, KEYS[4 * s - 3], false, 1) end
  if tokensLimit >= 0 then logCheck(s, 2, tokensLimit, KEYS[4 * s - 2], KEYS[4 * s - 1], tokens) end
  if concurrentLimit >= 0 then
    local leases = KEYS[4 * s]
    trim(leases, false, now)
    local count = redis.call('ZCARD', leases)
    local fits = count < concurrentLimit
    local latest = 0
    if count > 0 then latest = scoreAt(leases, -1) - now end
    local retry = -1
    if not fits and concurrentLimit > 0 then retry = math.min(concurrentRetry, scoreAt(leases, 0) - now) end
    if not fits then allowed = false end
    local f = 0
    if fits then f = 1 end
    for _, v in ipairs({s, 3, concurrentLimit, count, 1, f, retry, latest, math.max(latest, leaseTtl)}) do
      out[#out + 1] = v
    end
  end
end

if not allowed then
  for _, unset in ipairs(unsetResets) do
    local newest = scoreAt(unset[2], -1)
    if newest then out[unset[1]] = newest + window - now end
  end
end

if allowed then
  out[1] = 1
  for s = 1, 2 do
    local base = 6 + (s - 1) * 3
    if tonumber(ARGV[base + 1]) >= 0 then
      redis.call('ZADD', KEYS[4 * s - 3], int(now), id)
      redis.call('PEXPIRE', KEYS[4 * s - 3], window)
    end
    if tonumber(ARGV[base + 2]) >= 0 then
      redis.call('ZADD', KEYS[4 * s - 2], int(now), id)
      redis.call('HSET', KEYS[4 * s - 1], id, int(tokens))
      redis.call('HINCRBY', KEYS[4 * s - 1], TOTAL, int(tokens))
      redis.call('PEXPIRE', KEYS[4 * s - 2], window)
      redis.call('PEXPIRE', KEYS[4 * s - 1], window)
    end
    if tonumber(ARGV[base + 3]) >= 0 then
      redis.call('ZADD', KEYS[4 * s], int(now + leaseTtl), id)
      if redis.call('PTTL', KEYS[4 * s]) < leaseTtl then redis.call('PEXPIRE', KEYS[4 * s], leaseTtl) end
    end
  end
end
return out
`

/**
 * KEYS: as for acquire. ARGV: now ('' = Redis TIME), window ms, lease id, actual tokens (-1 = keep the estimate),
 * estimate, then per subject: holds a token entry (1/0), holds a lease (1/0).
 */
const releaseSource = `${luaPrelude}
local window = tonumber(ARGV[2])
local id = ARGV[3]
local actual = tonumber(ARGV[4])
local estimate = tonumber(ARGV[5])
for s = 1, 2 do
  if ARGV[4 + 2 * s] == '1' and actual >= 0 then
    local log, amounts = KEYS[4 * s - 2], KEYS[4 * s - 1]
    local now = tonumber(ARGV[1]) or redisNow()
    trim(log, amounts, now - window)
    local old = tonumber(redis.call('HGET', amounts, id))
    if old then
      redis.call('HSET', amounts, id, int(actual))
      redis.call('HINCRBY', amounts, TOTAL, int(actual - old))
    elseif actual > estimate then
      local late = id .. '+'
      redis.call('ZADD', log, int(now), late)
      redis.call('HSET', amounts, late, int(actual - estimate))
      redis.call('HINCRBY', amounts, TOTAL, int(actual - estimate))
      redis.call('PEXPIRE', log, window)
      redis.call('PEXPIRE', amounts, window)
    end
  end
  if ARGV[5 + 2 * s] == '1' then redis.call('ZREM', KEYS[4 * s], id) end
end
return 1
`

const acquireScript = new RedisScript(acquireSource)
const releaseScript = new RedisScript(releaseSource)

const dimensions: readonly RateLimitDimension[] = ['requests', 'tokens', 'concurrent']
const scopes: readonly LimitScope[] = ['tenant', 'key']

/** Whether any dimension is limited: without one, there is nothing to ask Redis. */
const hasLimits = (limits: RateLimits): boolean =>
  (limits.requestsPerMinute ?? null) !== null ||
  (limits.tokensPerMinute ?? null) !== null ||
  (limits.concurrentRequests ?? null) !== null

export type RedisRateLimitStoreOptions = {
  redis: Redis
  guard: RedisGuard
  /** Starts every key; `gatehouse:` by default. Processes that share limits share it. */
  prefix?: string
  /** The window of the per-minute limits; 60 s (tests shorten it). */
  windowMs?: number
  /** `redis` (default): Redis's `TIME`, one clock for every process. A `Clock`: tests that move time by hand. */
  time?: 'redis' | Clock
}

export const createRedisRateLimitStore = (options: RedisRateLimitStoreOptions): RateLimitStore => {
  const { redis, guard } = options
  const prefix = options.prefix ?? 'gatehouse:'
  const windowMs = options.windowMs ?? rateLimitWindowMs
  const clock = options.time === undefined || options.time === 'redis' ? null : options.time
  const released = new WeakSet<RateLimitLease>()

  const keysOf = (tenantId: string, keyId: string): string[] => {
    const tag = `${prefix}rl:{${encodeURIComponent(tenantId)}}:`
    return [`tenant:${encodeURIComponent(tenantId)}`, `key:${encodeURIComponent(keyId)}`].flatMap(
      (subject) => ['req', 'tok', 'tok:n', 'con'].map((suffix) => `${tag}${subject}:${suffix}`)
    )
  }
  const limitArg = (value: number | null | undefined): number => value ?? -1
  const nowArg = (): string | number => (clock === null ? '' : clock.now())

  return {
    acquire: async (request: RateLimitRequest): Promise<RateLimitDecision> => {
      validateRateLimitRequest(request)
      const id = crypto.randomUUID()
      const leaseTtlMs = request.leaseTtlMs ?? defaultLeaseTtlMs
      if (!scopes.some((scope) => hasLimits(request[scope].limits)))
        return rateLimitAdmission(id, request, [])
      const args: (string | number)[] = [
        nowArg(),
        windowMs,
        id,
        request.tokens,
        leaseTtlMs,
        concurrentRetryAfterMs,
      ]
      for (const scope of scopes) {
        const { limits } = request[scope]
        args.push(
          limitArg(limits.requestsPerMinute),
          limitArg(limits.tokensPerMinute),
          limitArg(limits.concurrentRequests)
        )
      }
      const keys = keysOf(request.tenant.id, request.key.id)
      const reply = await guard.runCancellable(
        'rate-limit acquire',
        'Rate limits',
        () => acquireScript.run(redis, keys, args),
        () => {
          // Frees the concurrency slots only: the request and its tokens stay counted.
          const cancel: (string | number)[] = [nowArg(), windowMs, id, -1, request.tokens]
          for (const scope of scopes)
            cancel.push(0, (request[scope].limits.concurrentRequests ?? null) === null ? 0 : 1)
          return releaseScript.run(redis, keys, cancel)
        }
      )
      if (reply === null) return degradedRateLimitAdmission(id, request)

      const values = reply as number[]
      const checks: RateLimitCheck[] = []
      for (let at = 2; at < values.length; at += 9) {
        checks.push({
          scope: scopes[values[at] - 1],
          dimension: dimensions[values[at + 1] - 1],
          limit: values[at + 2],
          used: values[at + 3],
          amount: values[at + 4],
          fits: values[at + 5] === 1,
          retryAfterMs: values[at + 6] < 0 ? null : values[at + 6],
          resetNowMs: values[at + 7],
          resetTakenMs: values[at + 8],
        })
      }
      if (values[0] !== 1) {
        const refusal = pickRateLimitRefusal(checks)
        if (refusal === null)
          throw new Error('the rate-limit script refused without a limit that refused')
        return { allowed: false, refusal, states: rateLimitStatesOf(checks, false) }
      }
      return rateLimitAdmission(id, request, checks)
    },

    release: async (lease, usage) => {
      validateActualTokens(usage.actualTokens)
      if (lease.degraded || released.has(lease)) return
      released.add(lease)
      const settlesTokens = usage.actualTokens !== null && lease.tokenScopes.length > 0
      if (!settlesTokens && lease.concurrentScopes.length === 0) return
      const args: (string | number)[] = [
        nowArg(),
        windowMs,
        lease.id,
        usage.actualTokens ?? -1,
        lease.tokens,
      ]
      for (const scope of scopes)
        args.push(
          lease.tokenScopes.includes(scope) ? 1 : 0,
          lease.concurrentScopes.includes(scope) ? 1 : 0
        )
      await guard.run(
        'rate-limit release',
        () => releaseScript.run(redis, keysOf(lease.tenantId, lease.keyId), args),
        () => undefined
      )
    },
  }
}
