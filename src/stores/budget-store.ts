/**
 * Budgets in integer micro-USD for a tenant and its key, per UTC day, week, month or in total, shared by gateway
 * processes. A request reserves its worst-case cost before the call and settles its real cost after, so concurrent
 * requests overshoot a budget by at most what their real costs exceed their reservations (nothing, when the
 * reservation really is the worst case).
 *
 * Semantics, the same in every backend (test/contract/budget-store.test.ts holds them to it):
 * - Admitted when `spent + reserved < limit` and `spent + reserved + amount <= limit`: a budget of X lets spending
 *   reach X exactly, and a spent budget (`spent >= limit`) refuses every request, one reserving 0 included.
 * - Tenant and key are reserved together or not at all.
 * - `settle` releases the reservation and adds the real cost to the period the reservation was made in, even past
 *   the limit (the call has happened; the next reservation is refused instead).
 * - Reservations expire after their TTL, so a crashed process's reservations free themselves; its real costs reach
 *   the counter again through the usage store when the counter is next seeded.
 * - A period's counter starts from the usage store's spend so far (`SpentLoader`), loaded when the counter is missing
 *   (a new period, a new process, Redis restarted) and applied once: concurrent loaders race, one value wins, nothing
 *   is counted twice. `settle` never creates a counter (a missing one is seeded later, from the usage store, which
 *   then holds the cost).
 */
import { GatewayError } from '../core/errors.ts'
import type { BudgetPeriod, BudgetPeriodBounds } from './budget-period-bounds.ts'
import type { LimitScope } from './rate-limit-store.ts'

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

export type BudgetRequest = {
  tenant: { id: string; budget: Budget | null }
  key: { id: string; budget: Budget | null }
  /** The request's worst-case cost, integer micro-USD >= 0. */
  amountMicroUsd: number
  /** How long the reservation holds at most; the store's default (10 min) when absent. */
  ttlMs?: number
}

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

/** What `reserve` took, handed back to `settle` as is. Plain data. */
export type BudgetReservation = {
  id: string
  tenantId: string
  keyId: string
  amountMicroUsd: number
  /** The counters reserved in: the period each was in when reserved, where `settle` adds the real cost. */
  entries: readonly {
    scope: LimitScope
    period: BudgetPeriod
    periodKey: string
    periodEnd: number | null
  }[]
  /** `true` when the shared store was unreachable and the gateway fails open: nothing was reserved. */
  degraded: boolean
}

export type BudgetDecision =
  | { allowed: true; reservation: BudgetReservation; states: BudgetState[] }
  | { allowed: false; refusal: BudgetRefusal; states: BudgetState[] }

export interface BudgetStore {
  /**
   * Reserves `amountMicroUsd` against the tenant's and the key's budgets (those that have one), both or neither.
   * When the shared store is unreachable: allowed with a `degraded` reservation (fail-open), or a thrown
   * `GatewayError('unavailable')` (fail-closed). A failing `SpentLoader` rejects the call.
   */
  reserve(request: BudgetRequest): Promise<BudgetDecision>
  /**
   * Releases the reservation and adds `actualMicroUsd` (integer >= 0) to the spend of the period it was made in. A
   * second settle of the same reservation does nothing. Never throws for an unreachable store.
   */
  settle(reservation: BudgetReservation, actualMicroUsd: number): Promise<void>
}

/** A reservation's TTL when the request names none: above the longest request (580 s total timeout). */
export const defaultReservationTtlMs = 600_000

/**
 * How long a period's counter outlives the period, so that late settles (a request reserved before midnight and
 * finished after) still land in it.
 */
export const budgetCounterGraceMs = 86_400_000

/** A `total` counter's TTL, renewed by each reservation and settle; an idle one is reseeded from the usage store. */
export const totalCounterIdleTtlMs = 7 * 86_400_000

const isAmount = (value: unknown): value is number =>
  typeof value === 'number' && Number.isSafeInteger(value) && value >= 0

/** Throws on a negative, fractional or non-numeric amount, limit or TTL: a bug, since the admin API validates. */
export const validateBudgetRequest = (request: BudgetRequest): void => {
  const problems: string[] = []
  for (const scope of ['tenant', 'key'] as const) {
    const { budget } = request[scope]
    if (budget !== null && !isAmount(budget.limitMicroUsd))
      problems.push(`${scope}.budget.limitMicroUsd = ${String(budget.limitMicroUsd)}`)
    if (budget !== null && !['day', 'week', 'month', 'total'].includes(budget.period))
      problems.push(`${scope}.budget.period = ${String(budget.period)}`)
  }
  if (!isAmount(request.amountMicroUsd))
    problems.push(`amountMicroUsd = ${String(request.amountMicroUsd)}`)
  if (request.ttlMs !== undefined && !(isAmount(request.ttlMs) && request.ttlMs > 0))
    problems.push(`ttlMs = ${String(request.ttlMs)}`)
  if (problems.length > 0)
    throw new GatewayError(
      'internal',
      `Budget request out of range (integers >= 0 expected): ${problems.join(', ')}`
    )
}

/** Throws unless `actualMicroUsd` is an integer >= 0. */
export const validateActualCost = (actualMicroUsd: number): void => {
  if (!isAmount(actualMicroUsd))
    throw new GatewayError(
      'internal',
      `actualMicroUsd must be an integer >= 0, got ${String(actualMicroUsd)}`
    )
}

/** Checks a loader's answer before it becomes a counter. */
export const validateLoadedSpend = (query: SpentQuery, spent: number): number => {
  if (!isAmount(spent))
    throw new GatewayError(
      'internal',
      `The spend loader answered ${String(spent)} for ${query.scope} ${query.id} (${query.period}); an integer >= 0 expected`
    )
  return spent
}
