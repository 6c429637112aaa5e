/**
 * One budget's verdict inside a reservation, and how a store turns the verdicts into its answer. Shared by the
 * backends, so the Redis script decides only what must be atomic (whether everything fits) and the reporting is
 * written once.
 */
import type { BudgetPeriodBounds } from './budget-period-bounds.ts'
import type { BudgetRefusal, BudgetState } from './budgets.ts'
import type { LimitScope } from './rate-limits.ts'

export type BudgetCheck = {
  scope: LimitScope
  bounds: BudgetPeriodBounds
  limitMicroUsd: number
  spentMicroUsd: number
  /** Reserved by requests in flight, this one not included. */
  reservedMicroUsd: number
  amountMicroUsd: number
}

/**
 * The admission rule, in one place: the worst case must fit, and each request takes at least one micro-USD of room,
 * so a spent budget (`spent >= limit`) refuses even a request reserving 0.
 */
export const budgetFits = (check: {
  limitMicroUsd: number
  spentMicroUsd: number
  reservedMicroUsd: number
  amountMicroUsd: number
}): boolean =>
  check.spentMicroUsd + check.reservedMicroUsd + Math.max(1, check.amountMicroUsd) <=
  check.limitMicroUsd

export const budgetStatesOf = (checks: readonly BudgetCheck[], taken: boolean): BudgetState[] =>
  checks.map((check) => {
    const reserved = check.reservedMicroUsd + (taken ? check.amountMicroUsd : 0)
    return {
      scope: check.scope,
      period: check.bounds.period,
      periodStart: check.bounds.start,
      periodEnd: check.bounds.end,
      limitMicroUsd: check.limitMicroUsd,
      spentMicroUsd: check.spentMicroUsd,
      reservedMicroUsd: reserved,
      remainingMicroUsd: Math.max(0, check.limitMicroUsd - check.spentMicroUsd - reserved),
    }
  })

/**
 * The budget to name in a refusal: one whose spend alone has reached its limit before one that in-flight
 * reservations fill (the first is no passing condition), then the tenant before the key. `null` when all fit.
 */
export const pickBudgetRefusal = (checks: readonly BudgetCheck[]): BudgetRefusal | null => {
  let refused: BudgetCheck | null = null
  for (const check of checks) {
    if (budgetFits(check)) continue
    const spent = check.spentMicroUsd >= check.limitMicroUsd
    if (refused === null || (spent && refused.spentMicroUsd < refused.limitMicroUsd))
      refused = check
  }
  if (refused === null) return null
  return {
    ...budgetStatesOf([refused], false)[0],
    spent: refused.spentMicroUsd >= refused.limitMicroUsd,
  }
}
