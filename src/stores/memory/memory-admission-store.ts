/**
 * Rate limits and budgets for a single process (the default when `REDIS_URL` is unset), with the semantics of the
 * Redis store: the same sliding logs (see redis-admission-store.ts for the algorithm and why), leases and budget
 * counters per UTC period, held in maps, with time from the injected clock. A budget counter is seeded from the usage
 * store when first needed (the process restarted, but the SQLite file kept the month's spend), once however many
 * requests ask. After the seeding, the check and the taking run without an `await` between them, so they are atomic
 * in the one event loop.
 */
import type { Clock } from '../../core/clock.ts'
import {
  admissionDecisionOf,
  createTicketIds,
  defaultHoldTtlMs,
  validateAdmissionRequest,
  validateAdmissionUsage,
  validatePeekRequest,
  type AdmissionDecision,
  type AdmissionRequest,
  type AdmissionStore,
  type AdmissionTicket,
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
  hasRateLimits,
  rateLimitWindowMs,
  type LimitScope,
  type RateLimits,
  type RateLimitState,
} from '../rate-limits.ts'

type Entry = { at: number; amount: number }

/** Admitted entries, oldest first (the clock moves forward, so insertion order is time order), and their sum. */
class SlidingLog {
  readonly entries = new Map<string, Entry>()
  total = 0
  newestAt = 0

  /** Drops the entries at or before `cutoff`: they have left the window. */
  trim(cutoff: number): void {
    for (const [id, entry] of this.entries) {
      if (entry.at > cutoff) break
      this.entries.delete(id)
      this.total -= entry.amount
    }
  }

  add(id: string, at: number, amount: number): void {
    this.entries.set(id, { at, amount })
    this.total += amount
    this.newestAt = at
  }

  /**
   * The time of the entry whose leaving brings `total` down to `target` or below: when a request needing that room
   * can pass. `null` if the log cannot get there (it never happens for a consistent log).
   */
  timeWhenAtMost(target: number): number | null {
    let left = this.total
    for (const entry of this.entries.values()) {
      left -= entry.amount
      if (left <= target) return entry.at
    }
    return null
  }
}

/** Leases by id, with when each expires. */
class Leases {
  readonly expiries = new Map<string, number>()

  trim(now: number): void {
    for (const [id, expiresAt] of this.expiries) if (expiresAt <= now) this.expiries.delete(id)
  }

  earliest(): number {
    let earliest = Infinity
    for (const expiresAt of this.expiries.values()) earliest = Math.min(earliest, expiresAt)
    return earliest
  }

  latest(): number {
    let latest = -Infinity
    for (const expiresAt of this.expiries.values()) latest = Math.max(latest, expiresAt)
    return latest
  }
}

type SubjectLedgers = { requests?: SlidingLog; tokens?: SlidingLog; leases?: Leases }

type Counter = {
  /** `null` until seeded from the loader. */
  spent: number | null
  loading: Promise<void> | null
  reservations: Map<string, { amount: number; expiresAt: number }>
  reserved: number
  /** When the counter is forgotten: its period's end plus a grace, or (total) an idle time after its last use. */
  expiresAt: number
}

type BudgetSubject = {
  scope: LimitScope
  id: string
  budget: Budget
  bounds: BudgetPeriodBounds
  name: string
}

export type MemoryAdmissionStoreOptions = {
  clock: Clock
  /** The spend so far of a tenant or key in a period, from the usage store. */
  loadSpent: SpentLoader
  /** The window of the per-minute limits; 60 s (tests shorten it). */
  windowMs?: number
}

/** Ids are encoded, so no id can run into the next segment of another's name. */
const subjectName = (scope: LimitScope, id: string): string => `${scope}:${encodeURIComponent(id)}`

const counterName = (scope: LimitScope, id: string, periodKey: string): string =>
  `${subjectName(scope, id)}:${periodKey}`

const counterExpiry = (bounds: { end: number | null }, now: number): number =>
  bounds.end === null ? now + totalCounterIdleTtlMs : bounds.end + budgetCounterGraceMs

const scopes = ['tenant', 'key'] as const

export const createMemoryAdmissionStore = (
  options: MemoryAdmissionStoreOptions
): AdmissionStore => {
  const { clock, loadSpent } = options
  const windowMs = options.windowMs ?? rateLimitWindowMs
  const subjects = new Map<string, SubjectLedgers>()
  const counters = new Map<string, Counter>()
  const settled = new WeakSet<AdmissionTicket>()
  const nextId = createTicketIds()
  let nextSweepAt = clock.now() + windowMs

  const ledgersOf = (scope: LimitScope, id: string): SubjectLedgers => {
    const name = subjectName(scope, id)
    let ledgers = subjects.get(name)
    if (ledgers === undefined) subjects.set(name, (ledgers = {}))
    return ledgers
  }

  /** Forgets, once per window, the subjects whose windows and leases have emptied and the counters past their time. */
  const sweep = (now: number): void => {
    if (now < nextSweepAt) return
    nextSweepAt = now + windowMs
    for (const [name, ledgers] of subjects) {
      ledgers.requests?.trim(now - windowMs)
      ledgers.tokens?.trim(now - windowMs)
      ledgers.leases?.trim(now)
      if (
        (ledgers.requests?.entries.size ?? 0) === 0 &&
        (ledgers.tokens?.entries.size ?? 0) === 0 &&
        (ledgers.leases?.expiries.size ?? 0) === 0
      )
        subjects.delete(name)
    }
    for (const [name, counter] of counters)
      if (counter.expiresAt <= now && counter.loading === null) counters.delete(name)
  }

  const counterOf = (subject: BudgetSubject, now: number): Counter => {
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
  const seed = (subject: BudgetSubject, counter: Counter, tenantId: string): Promise<void> =>
    (counter.loading ??= (async () => {
      try {
        const query = spentQueryOf(subject, tenantId)
        const spent = validateLoadedSpend(query, await loadSpent(query))
        counter.spent ??= spent
      } finally {
        counter.loading = null
      }
    })())

  /** The checks of one subject's rate limits, as they stand at `now`. */
  const rateLimitChecks = (
    scope: LimitScope,
    limits: RateLimits,
    ledgers: SubjectLedgers,
    tokens: number,
    leaseTtlMs: number,
    now: number,
    checks: RateLimitCheck[]
  ): void => {
    for (const [dimension, limit, amount] of [
      ['requests', limits.requestsPerMinute ?? null, 1],
      ['tokens', limits.tokensPerMinute ?? null, tokens],
    ] as const) {
      if (limit === null) continue
      const log = (ledgers[dimension] ??= new SlidingLog())
      log.trim(now - windowMs)
      // Each request takes at least one unit of room, so a spent window refuses even a 0-token estimate.
      const target = limit - Math.max(1, amount)
      const fits = log.total <= target
      let retryAfterMs: number | null = null
      if (!fits && target >= 0) {
        const at = log.timeWhenAtMost(target)
        retryAfterMs = at === null ? windowMs : at + windowMs - now
      }
      checks.push({
        scope,
        dimension,
        limit,
        used: log.total,
        amount,
        fits,
        retryAfterMs,
        resetNowMs: log.entries.size > 0 ? log.newestAt + windowMs - now : 0,
        resetTakenMs: windowMs,
      })
    }
    const concurrentLimit = limits.concurrentRequests ?? null
    if (concurrentLimit === null) return
    const leases = (ledgers.leases ??= new Leases())
    leases.trim(now)
    const count = leases.expiries.size
    const fits = count < concurrentLimit
    const latest = count > 0 ? leases.latest() - now : 0
    checks.push({
      scope,
      dimension: 'concurrent',
      limit: concurrentLimit,
      used: count,
      amount: 1,
      fits,
      retryAfterMs:
        fits || concurrentLimit === 0
          ? null
          : Math.min(concurrentRetryAfterMs, leases.earliest() - now),
      resetNowMs: latest,
      resetTakenMs: Math.max(latest, leaseTtlMs),
    })
  }

  return {
    admit: async (request: AdmissionRequest): Promise<AdmissionDecision> => {
      validateAdmissionRequest(request)
      const leaseTtlMs = request.leaseTtlMs ?? defaultHoldTtlMs
      const reservationTtlMs = request.reservationTtlMs ?? defaultHoldTtlMs
      for (let attempt = 0; attempt < 3; attempt += 1) {
        const now = clock.now()
        sweep(now)
        const budgeted: BudgetSubject[] = []
        for (const scope of scopes) {
          const { id, budget } = request[scope]
          if (budget === null) continue
          const bounds = budgetPeriodBounds(budget.period, now)
          budgeted.push({ scope, id, budget, bounds, name: counterName(scope, id, bounds.key) })
        }
        const unseeded = budgeted.filter((subject) => counterOf(subject, now).spent === null)
        if (unseeded.length > 0) {
          await Promise.all(
            unseeded.map((subject) => seed(subject, counterOf(subject, now), request.tenant.id))
          )
          continue // time may have moved on while loading: look again
        }

        // From here to the end, no `await`: checked and taken in one step.
        const rateChecks: RateLimitCheck[] = []
        const held: { scope: LimitScope; ledgers: SubjectLedgers }[] = []
        for (const scope of scopes) {
          const { id, limits } = request[scope]
          if (!hasRateLimits(limits)) continue
          const ledgers = ledgersOf(scope, id)
          held.push({ scope, ledgers })
          rateLimitChecks(scope, limits, ledgers, request.tokens, leaseTtlMs, now, rateChecks)
        }
        const budgetChecks: BudgetCheck[] = budgeted.map((subject) => {
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
            amountMicroUsd: request.costMicroUsd,
          }
        })
        const id = nextId()
        const decision = admissionDecisionOf(id, request, now, rateChecks, budgetChecks)
        if (!decision.allowed) return decision

        for (const { scope, ledgers } of held) {
          const { limits } = request[scope]
          if ((limits.requestsPerMinute ?? null) !== null) ledgers.requests?.add(id, now, 1)
          if ((limits.tokensPerMinute ?? null) !== null)
            ledgers.tokens?.add(id, now, request.tokens)
          if ((limits.concurrentRequests ?? null) !== null)
            ledgers.leases?.expiries.set(id, now + leaseTtlMs)
        }
        for (const subject of budgeted) {
          const counter = counterOf(subject, now)
          counter.reservations.set(id, {
            amount: request.costMicroUsd,
            expiresAt: now + reservationTtlMs,
          })
          counter.reserved += request.costMicroUsd
          if (subject.bounds.end === null) counter.expiresAt = counterExpiry(subject.bounds, now)
        }
        return decision
      }
      throw new Error('budget counters could not be seeded: they expired while loading, 3 times')
    },

    settle: async (ticket, usage) => {
      validateAdmissionUsage(usage)
      if (ticket.degraded || settled.has(ticket)) return
      settled.add(ticket)
      const now = clock.now()
      const idOf = (scope: LimitScope): string =>
        scope === 'tenant' ? ticket.tenantId : ticket.keyId
      for (const scope of ticket.concurrentScopes)
        subjects.get(subjectName(scope, idOf(scope)))?.leases?.expiries.delete(ticket.id)
      const actual = usage.tokens
      if (actual !== null)
        for (const scope of ticket.tokenScopes) {
          const log = (ledgersOf(scope, idOf(scope)).tokens ??= new SlidingLog())
          log.trim(now - windowMs)
          const entry = log.entries.get(ticket.id)
          if (entry !== undefined) {
            log.total += actual - entry.amount
            entry.amount = actual
          } else if (actual > ticket.tokens) {
            // The estimate has left the window already: only what the request used beyond it still counts, from now.
            log.add(`${ticket.id}+`, now, actual - ticket.tokens)
          }
        }
      for (const entry of ticket.budgets) {
        const counter = counters.get(counterName(entry.scope, idOf(entry.scope), entry.periodKey))
        if (counter === undefined) continue
        const held = counter.reservations.get(ticket.id)
        if (held !== undefined) {
          counter.reservations.delete(ticket.id)
          counter.reserved -= held.amount
        }
        // A counter not seeded yet is left alone: the usage store will hold this cost when it is.
        if (counter.spent !== null) counter.spent += usage.costMicroUsd
        if (entry.periodEnd === null) counter.expiresAt = counterExpiry({ end: null }, now)
      }
    },

    peek: async (request) => {
      validatePeekRequest(request)
      const now = clock.now()
      const states: RateLimitState[] = []
      for (const scope of scopes) {
        const { id, limits } = request[scope]
        // Read where they are: a subject never admitted gets no ledgers for being looked at.
        const ledgers = subjects.get(subjectName(scope, id))
        for (const [dimension, limit] of [
          ['requests', limits.requestsPerMinute ?? null],
          ['tokens', limits.tokensPerMinute ?? null],
        ] as const) {
          if (limit === null) continue
          const log = ledgers?.[dimension]
          log?.trim(now - windowMs)
          states.push({
            scope,
            dimension,
            limit,
            remaining: Math.max(0, limit - (log?.total ?? 0)),
            resetMs: log !== undefined && log.entries.size > 0 ? log.newestAt + windowMs - now : 0,
          })
        }
      }
      return states
    },
  }
}
