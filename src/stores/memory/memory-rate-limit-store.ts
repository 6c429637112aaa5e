/**
 * Rate limits for a single process (the default when `REDIS_URL` is unset): the same sliding logs as the Redis store
 * (see redis-rate-limit-store.ts for the algorithm and why), held in maps, with time from the injected clock. Every
 * check runs without an `await` between reading and writing, so it is atomic in the one event loop.
 */
import type { Clock } from '../../core/clock.ts'
import {
  concurrentRetryAfterMs,
  defaultLeaseTtlMs,
  rateLimitWindowMs,
  validateActualTokens,
  validateRateLimitRequest,
  type LimitScope,
  type RateLimitDecision,
  type RateLimitLease,
  type RateLimitRequest,
  type RateLimitStore,
} from '../rate-limit-store.ts'
import {
  pickRateLimitRefusal,
  rateLimitAdmission,
  rateLimitStatesOf,
  type RateLimitCheck,
} from '../rate-limit-check.ts'

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

export type MemoryRateLimitStoreOptions = {
  clock: Clock
  /** The window of the per-minute limits; 60 s (tests shorten it). */
  windowMs?: number
}

export const createMemoryRateLimitStore = (
  options: MemoryRateLimitStoreOptions
): RateLimitStore => {
  const { clock } = options
  const windowMs = options.windowMs ?? rateLimitWindowMs
  const subjects = new Map<string, SubjectLedgers>()
  const released = new WeakSet<RateLimitLease>()
  let nextSweepAt = clock.now() + windowMs

  /** Ids are encoded, so no id can run into the next segment of another's name. */
  const nameOf = (scope: LimitScope, id: string): string => `${scope}:${encodeURIComponent(id)}`

  const ledgersOf = (scope: LimitScope, id: string): SubjectLedgers => {
    const name = nameOf(scope, id)
    let ledgers = subjects.get(name)
    if (ledgers === undefined) subjects.set(name, (ledgers = {}))
    return ledgers
  }

  /** Forgets the subjects whose windows and leases have all emptied, once per window, so idle keys cost nothing. */
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
  }

  return {
    acquire: async (request: RateLimitRequest): Promise<RateLimitDecision> => {
      validateRateLimitRequest(request)
      const now = clock.now()
      sweep(now)
      const cutoff = now - windowMs
      const leaseTtlMs = request.leaseTtlMs ?? defaultLeaseTtlMs
      const checks: RateLimitCheck[] = []
      const held: { scope: LimitScope; ledgers: SubjectLedgers }[] = []

      for (const scope of ['tenant', 'key'] as const) {
        const { id, limits } = request[scope]
        const requestsLimit = limits.requestsPerMinute ?? null
        const tokensLimit = limits.tokensPerMinute ?? null
        const concurrentLimit = limits.concurrentRequests ?? null
        if (requestsLimit === null && tokensLimit === null && concurrentLimit === null) continue
        const ledgers = ledgersOf(scope, id)
        held.push({ scope, ledgers })

        for (const [dimension, limit, amount] of [
          ['requests', requestsLimit, 1],
          ['tokens', tokensLimit, request.tokens],
        ] as const) {
          if (limit === null) continue
          const log = (ledgers[dimension] ??= new SlidingLog())
          log.trim(cutoff)
          // Each request takes at least one unit of room, so a spent window refuses even a 0-token estimate.
          const target = limit - Math.max(1, amount)
          const fits = log.total <= target
          let retryAfterMs: number | null = null
          if (!fits && target >= 0) {
            const at = log.timeWhenAtMost(target)
            retryAfterMs = at === null ? windowMs : at + windowMs - now
          }
          const resetNowMs = log.entries.size > 0 ? log.newestAt + windowMs - now : 0
          checks.push({
            scope,
            dimension,
            limit,
            used: log.total,
            amount,
            fits,
            retryAfterMs,
            resetNowMs,
            resetTakenMs: windowMs,
          })
        }

        if (concurrentLimit !== null) {
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
      }

      const refusal = pickRateLimitRefusal(checks)
      if (refusal !== null)
        return { allowed: false, refusal, states: rateLimitStatesOf(checks, false) }

      const id = crypto.randomUUID()
      for (const { scope, ledgers } of held) {
        const { limits } = request[scope]
        if ((limits.requestsPerMinute ?? null) !== null) ledgers.requests?.add(id, now, 1)
        if ((limits.tokensPerMinute ?? null) !== null) ledgers.tokens?.add(id, now, request.tokens)
        if ((limits.concurrentRequests ?? null) !== null)
          ledgers.leases?.expiries.set(id, now + leaseTtlMs)
      }
      return rateLimitAdmission(id, request, checks)
    },

    release: async (lease, usage) => {
      validateActualTokens(usage.actualTokens)
      if (lease.degraded || released.has(lease)) return
      released.add(lease)
      const now = clock.now()
      const idOf = (scope: LimitScope): string =>
        scope === 'tenant' ? lease.tenantId : lease.keyId
      for (const scope of lease.concurrentScopes)
        subjects.get(nameOf(scope, idOf(scope)))?.leases?.expiries.delete(lease.id)
      const actual = usage.actualTokens
      if (actual === null) return
      for (const scope of lease.tokenScopes) {
        const log = (ledgersOf(scope, idOf(scope)).tokens ??= new SlidingLog())
        log.trim(now - windowMs)
        const entry = log.entries.get(lease.id)
        if (entry !== undefined) {
          log.total += actual - entry.amount
          entry.amount = actual
        } else if (actual > lease.tokens) {
          // The estimate has left the window already: only what the request used beyond it still counts, from now.
          log.add(`${lease.id}+`, now, actual - lease.tokens)
        }
      }
    },
  }
}
