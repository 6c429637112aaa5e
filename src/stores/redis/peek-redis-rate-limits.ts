/**
 * `AdmissionStore.peek` on Redis: one Lua script reads the requests and tokens windows of a tenant and its key as
 * they stand (the keys `redis-admission-store.ts` describes), for the `x-ratelimit-*` headers of a response that went
 * through no admission. It only reads (`TIME`, `HMGET`, `ZRANGEBYSCORE`, `ZREVRANGEBYSCORE`): the entries that have
 * left the window are subtracted from the hash's counts, as the admit script does, but left for the next admission to
 * remove, and no key's TTL is touched, so reading a window never keeps it alive. One round trip under the store's
 * guard: when Redis does not answer within its timeout the answer is `null`, in either failure mode, and there is
 * nothing to cancel if the script runs later.
 */
import type { Redis } from 'ioredis'
import type { PeekRequest } from '../admission-store.ts'
import type { LimitScope, RateLimits, RateLimitState } from '../rate-limits.ts'
import { admissionLuaPrelude } from './admission-lua-prelude.ts'
import type { RedisGuard } from './redis-guard.ts'
import { RedisScript } from './redis-script.ts'

/**
 * KEYS, per subject s (1 = tenant, 2 = key), from 2s-1: the log and its hash (n, tok, x).
 * ARGV: rate-limit now ('' = Redis TIME), window ms, then per subject (2 + s): 1 to read it, 0 to leave it.
 * Returns, per subject read: the requests (n) and the tokens (tok) in the window, and ms until its newest entry leaves
 * it (0: none).
 */
const peekSource = `${admissionLuaPrelude}
local now = tonumber(ARGV[1]) or redisNow()
local window = tonumber(ARGV[2])
local cutoffArg = int(now - window)
local out = {}
for s = 1, 2 do
  if ARGV[2 + s] == '1' then
    local entries = KEYS[2 * s - 1]
    local v = redis.call('HMGET', KEYS[2 * s], 'n', 'tok', 'x')
    local n, tok, reset = 0, 0, 0
    -- No hash: the window's keys expired together (their entries all older than the window), or never were.
    if v[3] then
      -- Without the entries that have left the window since the last admission (left in place: this only reads).
      n, tok = windowCounts(entries, tonumber(v[1]) or 0, tonumber(v[2]) or 0, cutoffArg)
      local newest = redis.call('ZREVRANGEBYSCORE', entries, '(+inf', '(' .. cutoffArg, 'WITHSCORES', 'LIMIT', 0, 1)
      if #newest > 0 then reset = tonumber(newest[2]) + window - now end
    end
    out[#out + 1] = n
    out[#out + 1] = tok
    out[#out + 1] = reset
  end
end
return out
`

const peekScript = new RedisScript(peekSource)

const scopes: readonly LimitScope[] = ['tenant', 'key']

/** Whether the subject's log is read: a requests or a tokens limit. */
const hasWindow = (limits: RateLimits): boolean =>
  (limits.requestsPerMinute ?? null) !== null || (limits.tokensPerMinute ?? null) !== null

export type PeekRedisRateLimitsOptions = {
  redis: Redis
  guard: RedisGuard
  request: PeekRequest
  /** The tenant's and the key's key prefixes, as the store names them (`<base>log`, `<base>win`). */
  bases: readonly [string, string]
  /** The rate limits' now: `''` for Redis's `TIME`, or a test clock's time. */
  now: string | number
  windowMs: number
}

/** The requests and tokens states of both subjects; `[]` without such limits (no round trip), `null` without Redis. */
export const peekRedisRateLimits = async (
  options: PeekRedisRateLimitsOptions
): Promise<RateLimitState[] | null> => {
  const { request, bases } = options
  const read = scopes.map((scope) => hasWindow(request[scope].limits))
  if (!read[0] && !read[1]) return []
  const reply = await options.guard.run(
    'admission peek',
    () =>
      peekScript.run(
        options.redis,
        [`${bases[0]}log`, `${bases[0]}win`, `${bases[1]}log`, `${bases[1]}win`],
        [options.now, options.windowMs, read[0] ? 1 : 0, read[1] ? 1 : 0]
      ),
    () => null
  )
  if (reply === null) return null
  const values = reply as number[]
  const states: RateLimitState[] = []
  let at = 0
  for (let index = 0; index < 2; index += 1) {
    if (!read[index]) continue
    const scope = scopes[index]
    const { limits } = request[scope]
    const resetMs = values[at + 2]
    for (const [dimension, limit, used] of [
      ['requests', limits.requestsPerMinute ?? null, values[at]],
      ['tokens', limits.tokensPerMinute ?? null, values[at + 1]],
    ] as const) {
      if (limit === null) continue
      states.push({ scope, dimension, limit, remaining: Math.max(0, limit - used), resetMs })
    }
    at += 3
  }
  return states
}
