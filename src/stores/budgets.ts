/**
 * Budgets in integer micro-USD for a tenant and its key, per UTC day, week, month or in total, shared by gateway
 * processes. A request reserves its worst-case cost before the call and settles its real cost after, so concurrent
 * requests overshoot a budget by at most what their real costs exceed their reservations (nothing, when the
 * reservation really is the worst case). The admission store (`admission-store.ts`) reserves them with the rate
 * limits, in one step.
 *
 * Semantics, the same in every backend (test/contract/admission-store.test.ts holds them to it):
 * - Admitted when `spent + reserved < limit` and `spent + reserved + amount <= limit`: a budget of X lets spending
 *   reach X exactly, and a spent budget (`spent >= limit`) refuses every request, one reserving 0 included.
 * - Tenant and key are reserved together or not at all.
 * - Settling releases the reservation and adds the real cost to the period the reservation was made in, even past
 *   the limit (the call has happened; the next reservation is refused instead).
 * - Reservations expire after their TTL, so a crashed process's reservations free themselves; its real costs reach
 *   the counter again through the usage store when the counter is next seeded.
 * - A period's counter starts from the usage store's spend so far (`SpentLoader`), loaded when the counter is missing
 *   (a new period, a new process, Redis restarted) and applied once: concurrent loaders race, one value wins, nothing
 *   is counted twice. Settling never creates a counter (a missing one is seeded later, from the usage store, which
 *   then holds the cost).
 */
import { GatewayError } from '../core/errors.ts'
import type { BudgetPeriod, BudgetPeriodBounds } from './budget-period-bounds.ts'
import { isCount, type LimitScope } from './rate-limits.ts'

export type { BudgetPeriod } from './budget-period-bounds.ts'

export type Budget = {
  /** Integer micro-USD (1 USD = 1,000,000), >= 0. */
  limitMicroUsd: number
  period: BudgetPeriod
}

/** Which spend a counter is seeded from. */
export type SpentQuery = {
  scope: LimitScope
  /** The tenant's or the key's id. */
  id: string
  tenantId: string
  period: BudgetPeriod
  /** Epoch ms; `null` for `total`. Sum the costs of the requests started in `[start, end)`. */
  start: number | null
  end: number | null
}

/** The query that seeds the counter of `subject` (the tenant's or the key's budget) in its period. */
export const spentQueryOf = (
  subject: { scope: LimitScope; id: string; bounds: BudgetPeriodBounds },
  tenantId: string
): SpentQuery => ({
  scope: subject.scope,
  id: subject.id,
  tenantId,
  period: subject.bounds.period,
  start: subject.bounds.start,
  end: subject.bounds.end,
})

/** What the tenant or key has spent in the period so far (integer micro-USD): the usage store's sum. */
export type SpentLoader = (query: SpentQuery) => Promise<number>

export type BudgetState = {
  scope: LimitScope
  period: BudgetPeriod
  /** Epoch ms; `null` for `total`. */
  periodStart: number | null
  periodEnd: number | null
  limitMicroUsd: number
  spentMicroUsd: number
  /** In flight, this request's reservation included when it was admitted. */
  reservedMicroUsd: number
  /** `limit - spent - reserved`, never below 0. */
  remainingMicroUsd: number
}

export type BudgetRefusal = BudgetState & {
  /** `true` when the period's spend alone has reached the limit; `false` when in-flight reservations fill it. */
  spent: boolean
}

/**
 * How long a period's counter outlives the period, so that late settles (a request reserved before midnight and
 * finished after) still land in it.
 */
export const budgetCounterGraceMs = 86_400_000

/**
 * A `total` counter's TTL, renewed by reservations (at the latest once half of it has passed); an idle one is reseeded
 * from the usage store.
 */
export const totalCounterIdleTtlMs = 7 * 86_400_000

/** Adds to `problems` what is wrong with `budget` (a negative or fractional limit, an unknown period). */
export const checkBudget = (scope: LimitScope, budget: Budget | null, problems: string[]): void => {
  if (budget === null) return
  if (!isCount(budget.limitMicroUsd))
    problems.push(`${scope}.budget.limitMicroUsd = ${String(budget.limitMicroUsd)}`)
  if (!['day', 'week', 'month', 'total'].includes(budget.period))
    problems.push(`${scope}.budget.period = ${String(budget.period)}`)
}

/** Checks a loader's answer before it becomes a counter. */
export const validateLoadedSpend = (query: SpentQuery, spent: number): number => {
  if (!isCount(spent))
    throw new GatewayError(
      'internal',
      `The spend loader answered ${String(spent)} for ${query.scope} ${query.id} (${query.period}); an integer >= 0 expected`
    )
  return spent
}
