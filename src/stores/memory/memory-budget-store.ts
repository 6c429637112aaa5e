/**
 * Budgets for a single process (the default when `REDIS_URL` is unset), with the same semantics as the Redis store:
 * counters per (tenant or key, period), seeded from the usage store when first needed (the process restarted, but the
 * SQLite file kept the month's spend), reservations that expire, time from the injected clock. The check and the
 * taking run without an `await` between them, so they are atomic in the one event loop; seeding is single-flight, so
 * concurrent first requests load the spend once.
 */
import type { Clock } from '../../core/clock.ts'
import { budgetPeriodBounds, type BudgetPeriodBounds } from '../budget-period-bounds.ts'
import {
  budgetAdmission,
  budgetStatesOf,
  pickBudgetRefusal,
  type BudgetCheck,
} from '../budget-check.ts'
import {
  budgetCounterGraceMs,
  defaultReservationTtlMs,
  spentQueryOf,
  totalCounterIdleTtlMs,
  validateActualCost,
  validateBudgetRequest,
  validateLoadedSpend,
  type Budget,
  type BudgetDecision,
  type BudgetRequest,
  type BudgetReservation,
  type BudgetStore,
  type SpentLoader,
} from '../budget-store.ts'
import type { LimitScope } from '../rate-limit-store.ts'

type Counter = {
  /** `null` until seeded from the loader. */
  spent: number | null
  loading: Promise<void> | null
  reservations: Map<string, { amount: number; expiresAt: number }>
  reserved: number
  /** When the counter is forgotten: its period's end plus a grace, or (total) an idle time after its last use. */
  expiresAt: number
}

type Subject = {
  scope: LimitScope
  id: string
  budget: Budget
  bounds: BudgetPeriodBounds
  name: string
}

export type MemoryBudgetStoreOptions = {
  clock: Clock
  /** The spend so far of a tenant or key in a period, from the usage store. */
  loadSpent: SpentLoader
}

const counterName = (scope: LimitScope, id: string, periodKey: string): string =>
  `${scope}:${encodeURIComponent(id)}:${periodKey}`

const counterExpiry = (bounds: { end: number | null }, now: number): number =>
  bounds.end === null ? now + totalCounterIdleTtlMs : bounds.end + budgetCounterGraceMs

export const createMemoryBudgetStore = (options: MemoryBudgetStoreOptions): BudgetStore => {
  const { clock, loadSpent } = options
  const counters = new Map<string, Counter>()
  const settled = new WeakSet<BudgetReservation>()
  let nextSweepAt = clock.now() + 60_000

  const sweep = (now: number): void => {
    if (now < nextSweepAt) return
    nextSweepAt = now + 60_000
    for (const [name, counter] of counters)
      if (counter.expiresAt <= now && counter.loading === null) counters.delete(name)
  }

  const counterOf = (subject: Subject, now: number): Counter => {
    let counter = counters.get(subject.name)
    if (counter === undefined) {
      counter = {
        spent: null,
        loading: null,
        reservations: new Map(),
        reserved: 0,
        expiresAt: counterExpiry(subject.bounds, now),
      }
      counters.set(subject.name, counter)
    }
    return counter
  }

  /** Loads the subject's spend into its counter, once however many requests ask at the same time. */
  const seed = (subject: Subject, counter: Counter, tenantId: string): Promise<void> =>
    (counter.loading ??= (async () => {
      try {
        const query = spentQueryOf(subject, tenantId)
        const spent = validateLoadedSpend(query, await loadSpent(query))
        counter.spent ??= spent
      } finally {
        counter.loading = null
      }
    })())

  return {
    reserve: async (request: BudgetRequest): Promise<BudgetDecision> => {
      validateBudgetRequest(request)
      const ttlMs = request.ttlMs ?? defaultReservationTtlMs
      for (let attempt = 0; attempt < 3; attempt += 1) {
        const now = clock.now()
        sweep(now)
        const subjects: Subject[] = []
        for (const scope of ['tenant', 'key'] as const) {
          const { id, budget } = request[scope]
          if (budget === null) continue
          const bounds = budgetPeriodBounds(budget.period, now)
          subjects.push({ scope, id, budget, bounds, name: counterName(scope, id, bounds.key) })
        }
        const unseeded = subjects.filter((subject) => counterOf(subject, now).spent === null)
        if (unseeded.length > 0) {
          await Promise.all(
            unseeded.map((subject) => seed(subject, counterOf(subject, now), request.tenant.id))
          )
          continue // time may have moved on while loading: look again
        }

        const checks: BudgetCheck[] = subjects.map((subject) => {
          const counter = counterOf(subject, now)
          for (const [id, reservation] of counter.reservations)
            if (reservation.expiresAt <= now) {
              counter.reservations.delete(id)
              counter.reserved -= reservation.amount
            }
          return {
            scope: subject.scope,
            bounds: subject.bounds,
            limitMicroUsd: subject.budget.limitMicroUsd,
            spentMicroUsd: counter.spent ?? 0,
            reservedMicroUsd: counter.reserved,
            amountMicroUsd: request.amountMicroUsd,
          }
        })
        const refusal = pickBudgetRefusal(checks)
        if (refusal !== null)
          return { allowed: false, refusal, states: budgetStatesOf(checks, false) }

        const id = crypto.randomUUID()
        for (const subject of subjects) {
          const counter = counterOf(subject, now)
          counter.reservations.set(id, { amount: request.amountMicroUsd, expiresAt: now + ttlMs })
          counter.reserved += request.amountMicroUsd
          if (subject.bounds.end === null) counter.expiresAt = counterExpiry(subject.bounds, now)
        }
        return budgetAdmission(id, request, checks)
      }
      throw new Error('budget counters could not be seeded: they expired while loading, 3 times')
    },

    settle: async (reservation, actualMicroUsd) => {
      validateActualCost(actualMicroUsd)
      if (reservation.degraded || settled.has(reservation)) return
      settled.add(reservation)
      const now = clock.now()
      for (const entry of reservation.entries) {
        const id = entry.scope === 'tenant' ? reservation.tenantId : reservation.keyId
        const counter = counters.get(counterName(entry.scope, id, entry.periodKey))
        if (counter === undefined) continue
        const held = counter.reservations.get(reservation.id)
        if (held !== undefined) {
          counter.reservations.delete(reservation.id)
          counter.reserved -= held.amount
        }
        // A counter not seeded yet is left alone: the usage store will hold this cost when it is.
        if (counter.spent !== null) counter.spent += actualMicroUsd
        if (entry.periodEnd === null) counter.expiresAt = counterExpiry({ end: null }, now)
      }
    },
  }
}
