/**
 * Rate limits that gateway processes share: requests per minute, tokens per minute and concurrent requests, for an API
 * key and its tenant together. Memory (`src/stores/memory/`) serves one process; Redis (`src/stores/redis/`) serves N.
 *
 * Semantics, the same in every backend (test/contract/rate-limit-store.test.ts holds them to it):
 * - A limit of N admits exactly N in any window of `windowMs` (60 s): the N-th is allowed, the N+1-th refused, and a
 *   slot frees when the entry that took it is `windowMs` old. The windows are sliding logs (one entry per admitted
 *   request, with its time), not fixed windows, which admit 2N across a boundary; see redis-rate-limit-store.ts.
 * - One `acquire` checks every limit the tenant and the key have, and takes all of them or none: a refusal by one
 *   never consumes another's quota.
 * - Tokens: the request's estimate is taken at `acquire`; `release` settles it to the real count (up or down; the
 *   window may then be over its limit, and later requests wait until it drains). A request is admitted while the
 *   window is below its limit and the estimate fits: `used < limit && used + tokens <= limit`, so a spent window
 *   refuses even a request estimated at 0 tokens.
 * - Concurrency: `acquire` holds a lease until `release`, or until its TTL passes (a crashed process does not keep its
 *   slots).
 */
import { GatewayError } from '../core/errors.ts'

export type LimitScope = 'tenant' | 'key'

export type RateLimitDimension = 'requests' | 'tokens' | 'concurrent'

/** A tenant's or a key's limits; `null` or absent = no limit in that dimension. Integers >= 0 (0 refuses everything). */
export type RateLimits = {
  requestsPerMinute?: number | null
  tokensPerMinute?: number | null
  concurrentRequests?: number | null
}

export type RateLimitRequest = {
  tenant: { id: string; limits: RateLimits }
  key: { id: string; limits: RateLimits }
  /** The request's estimated tokens (prompt plus the output it may produce), an integer >= 0. */
  tokens: number
  /** How long the concurrency slot is held at most; the store's default (10 min) when absent. */
  leaseTtlMs?: number
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

/**
 * What `acquire` took, handed back to `release` as is. Plain data: it names the ledgers it wrote to, so `release`
 * touches only those.
 */
export type RateLimitLease = {
  id: string
  tenantId: string
  keyId: string
  /** The estimate taken at `acquire`. */
  tokens: number
  /** The scopes whose token window holds this lease's entry. */
  tokenScopes: readonly LimitScope[]
  /** The scopes whose concurrency slots this lease holds. */
  concurrentScopes: readonly LimitScope[]
  /** `true` when the shared store was unreachable and the gateway fails open: nothing was taken. */
  degraded: boolean
}

export type RateLimitDecision =
  | { allowed: true; lease: RateLimitLease; states: RateLimitState[] }
  | { allowed: false; refusal: RateLimitRefusal; states: RateLimitState[] }

export interface RateLimitStore {
  /**
   * Checks every limit of the tenant and the key and takes them all (one request, `tokens` tokens, one concurrency
   * slot), or takes nothing. Atomic across processes. When the shared store is unreachable: allowed with a `degraded`
   * lease (fail-open), or a thrown `GatewayError('unavailable')` (fail-closed).
   */
  acquire(request: RateLimitRequest): Promise<RateLimitDecision>
  /**
   * Ends the lease: frees its concurrency slots and settles its tokens to `actualTokens` (`null`: the provider did not
   * report them, and the estimate stands). A second release of the same lease does nothing. Never throws for an
   * unreachable store (the lease expires on its own).
   */
  release(lease: RateLimitLease, usage: { actualTokens: number | null }): Promise<void>
}

/** The window of the per-minute limits. */
export const rateLimitWindowMs = 60_000

/** A concurrency lease's TTL when the request names none: above the longest request (580 s total timeout). */
export const defaultLeaseTtlMs = 600_000

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

const isCount = (value: unknown): value is number =>
  typeof value === 'number' && Number.isSafeInteger(value) && value >= 0

/**
 * Throws on what no caller should send (a negative, fractional or non-numeric limit, tokens or TTL): the admin API
 * validates limits where they are set, so reaching here with one is a bug, not a client's mistake.
 */
export const validateRateLimitRequest = (request: RateLimitRequest): void => {
  const problems: string[] = []
  for (const scope of ['tenant', 'key'] as const) {
    const { limits } = request[scope]
    for (const name of ['requestsPerMinute', 'tokensPerMinute', 'concurrentRequests'] as const) {
      const value = limits[name]
      if (value !== null && value !== undefined && !isCount(value))
        problems.push(`${scope}.limits.${name} = ${String(value)}`)
    }
  }
  if (!isCount(request.tokens)) problems.push(`tokens = ${String(request.tokens)}`)
  if (request.leaseTtlMs !== undefined && !(isCount(request.leaseTtlMs) && request.leaseTtlMs > 0))
    problems.push(`leaseTtlMs = ${String(request.leaseTtlMs)}`)
  if (problems.length > 0)
    throw new GatewayError(
      'internal',
      `Rate limit request out of range (integers >= 0 expected): ${problems.join(', ')}`
    )
}

/** Throws unless `actualTokens` is `null` or an integer >= 0. */
export const validateActualTokens = (actualTokens: number | null): void => {
  if (actualTokens !== null && !isCount(actualTokens))
    throw new GatewayError(
      'internal',
      `actualTokens must be an integer >= 0 or null, got ${String(actualTokens)}`
    )
}
