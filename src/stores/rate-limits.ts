/**
 * Rate limits that gateway processes share: requests per minute, tokens per minute and concurrent requests, for an API
 * key and its tenant together. The admission store (`admission-store.ts`) takes them with the budgets, in one step;
 * memory (`src/stores/memory/`) serves one process, Redis (`src/stores/redis/`) serves N.
 *
 * Semantics, the same in every backend (test/contract/admission-store.test.ts holds them to it):
 * - A limit of N admits exactly N in any window of `windowMs` (60 s): the N-th is allowed, the N+1-th refused, and a
 *   slot frees when the entry that took it is `windowMs` old. The windows are sliding logs (one entry per admitted
 *   request, with its time), not fixed windows, which admit 2N across a boundary; see redis/redis-admission-store.ts.
 * - One admission checks every limit the tenant and the key have, and takes all of them or none: a refusal by one
 *   never consumes another's quota.
 * - Tokens: the request's estimate is taken at admission; settling brings it to the real count (up or down; the
 *   window may then be over its limit, and later requests wait until it drains). A request is admitted while the
 *   window is below its limit and the estimate fits: `used < limit && used + tokens <= limit`, so a spent window
 *   refuses even a request estimated at 0 tokens. A real count above the estimate that arrives once the estimate has
 *   left the window counts from then, for what it exceeds the estimate.
 * - Concurrency: admission holds a slot until the request settles, or until the lease's TTL passes (a crashed process
 *   does not keep its slots).
 */

export type LimitScope = 'tenant' | 'key'

export type RateLimitDimension = 'requests' | 'tokens' | 'concurrent'

/** A tenant's or a key's limits; `null` or absent = no limit in that dimension. Integers >= 0 (0 refuses everything). */
export type RateLimits = {
  requestsPerMinute?: number | null
  tokensPerMinute?: number | null
  concurrentRequests?: number | null
}

/** One limit as the response headers show it (`x-ratelimit-limit-requests`, `-remaining-`, `-reset-`). */
export type RateLimitState = {
  scope: LimitScope
  dimension: RateLimitDimension
  limit: number
  /** What is left after this request (allowed) or now (refused); never below 0. */
  remaining: number
  /**
   * Milliseconds until the limit is back to its full value (OpenAI's meaning of `x-ratelimit-reset-*`): requests and
   * tokens, until the newest entry leaves the window; concurrent, until the last lease's TTL ends (at the latest).
   */
  resetMs: number
}

export type RateLimitRefusal = {
  /** The limit that refused; when several did, the one that frees last. */
  scope: LimitScope
  dimension: RateLimitDimension
  limit: number
  /**
   * Milliseconds until the same request can pass this limit (`Retry-After`). `null` when it never can: the limit is 0,
   * or the request's tokens alone exceed it. For `concurrent` it is a hint (at most 1 s): slots free when requests end.
   */
  retryAfterMs: number | null
}

/** The window of the per-minute limits. */
export const rateLimitWindowMs = 60_000

/** `Retry-After` for a refusal by the concurrency limit: slots free when requests end, which no store can foresee. */
export const concurrentRetryAfterMs = 1_000

/**
 * The limit of `dimension` closest to refusing (least `remaining`, then longest `resetMs`) among the tenant's and the
 * key's: the one the `x-ratelimit-*` headers of that dimension show. `null` when neither has a limit there.
 */
export const tightestRateLimit = (
  states: readonly RateLimitState[],
  dimension: RateLimitDimension
): RateLimitState | null => {
  let tightest: RateLimitState | null = null
  for (const state of states) {
    if (state.dimension !== dimension) continue
    if (
      tightest === null ||
      state.remaining < tightest.remaining ||
      (state.remaining === tightest.remaining && state.resetMs > tightest.resetMs)
    )
      tightest = state
  }
  return tightest
}

/** Integers >= 0, safe: what every limit, count and amount must be. */
export const isCount = (value: unknown): value is number =>
  typeof value === 'number' && Number.isSafeInteger(value) && value >= 0

/** Adds to `problems` each limit of `limits` no caller should send (negative, fractional, not a number). */
export const checkRateLimits = (
  scope: LimitScope,
  limits: RateLimits,
  problems: string[]
): void => {
  for (const name of ['requestsPerMinute', 'tokensPerMinute', 'concurrentRequests'] as const) {
    const value = limits[name]
    if (value !== null && value !== undefined && !isCount(value))
      problems.push(`${scope}.limits.${name} = ${String(value)}`)
  }
}

/** Whether any dimension is limited. */
export const hasRateLimits = (limits: RateLimits): boolean =>
  (limits.requestsPerMinute ?? null) !== null ||
  (limits.tokensPerMinute ?? null) !== null ||
  (limits.concurrentRequests ?? null) !== null
