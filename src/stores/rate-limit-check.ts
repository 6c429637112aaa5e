/**
 * One limit's verdict inside a rate-limit check, and how a store turns the verdicts into its answer (which limit
 * refused, the header states). Shared by the backends, so the Redis script decides only what must be atomic (whether
 * everything fits) and the reporting is written once.
 */
import type {
  LimitScope,
  RateLimitDimension,
  RateLimitRefusal,
  RateLimitState,
} from './rate-limits.ts'

/** One limit's verdict before anything is taken. */
export type RateLimitCheck = {
  scope: LimitScope
  dimension: RateLimitDimension
  limit: number
  /** What the limit holds now (entries, tokens, leases). */
  used: number
  /** What this request would take. */
  amount: number
  fits: boolean
  /** When refusing: ms until it would fit, `null` = never. */
  retryAfterMs: number | null
  /** ms until the limit is full again as it stands (0 when empty), and once this request is taken. */
  resetNowMs: number
  resetTakenMs: number
}

/**
 * The refusal among `checks` that frees last (`null`, never, beats any wait); on equal waits the first, tenant
 * before key. `null` when every limit fits.
 */
export const pickRateLimitRefusal = (
  checks: readonly RateLimitCheck[]
): RateLimitRefusal | null => {
  let refusal: RateLimitRefusal | null = null
  for (const check of checks) {
    if (check.fits) continue
    const wait = check.retryAfterMs ?? Infinity
    if (refusal === null || wait > (refusal.retryAfterMs ?? Infinity))
      refusal = {
        scope: check.scope,
        dimension: check.dimension,
        limit: check.limit,
        retryAfterMs: check.retryAfterMs,
      }
  }
  return refusal
}

/** The header states: after this request when it was `taken`, else as they stand. */
export const rateLimitStatesOf = (
  checks: readonly RateLimitCheck[],
  taken: boolean
): RateLimitState[] =>
  checks.map((check) => ({
    scope: check.scope,
    dimension: check.dimension,
    limit: check.limit,
    remaining: Math.max(0, check.limit - check.used - (taken ? check.amount : 0)),
    resetMs: taken ? check.resetTakenMs : check.resetNowMs,
  }))
