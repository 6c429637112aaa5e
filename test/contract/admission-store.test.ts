/**
 * The admission store contract: memory and Redis through the same cases, on a fake clock (the Redis store takes it in
 * place of Redis's `TIME` for its rate limits here), with the usage store's spend played by a map the loader reads and
 * counts its calls on. The rate-limit and budget cases see the store through two narrow views (`acquire`/`release`
 * with limits only, `reserve`/`settle` with budgets only); the cases after them admit with both. The Redis-only cases
 * at the end run two connections standing for two gateway processes, Redis's own clock, and Redis losing a counter.
 */
import type { Redis } from 'ioredis'
import { describe, expect, it } from 'vitest'
import {
  splitTicket,
  type AdmissionDecision,
  type AdmissionRequest,
  type AdmissionStore,
  type AdmissionTicket,
} from '../../src/stores/admission-store.ts'
import type { Budget, BudgetState, SpentLoader, SpentQuery } from '../../src/stores/budgets.ts'
import { createMemoryAdmissionStore } from '../../src/stores/memory/memory-admission-store.ts'
import {
  tightestRateLimit,
  type RateLimits,
  type RateLimitState,
} from '../../src/stores/rate-limits.ts'
import { createRedisAdmissionStore } from '../../src/stores/redis/redis-admission-store.ts'
import type { RedisGuard } from '../../src/stores/redis/redis-guard.ts'
import { createFakeClock, type FakeClock } from '../helpers/fake-clock.ts'
import { defineStoreContract, requireStoreService } from './define-store-contract.ts'
import { openTestRedis, ttlsUnder } from './open-test-redis.ts'

/** The usage store's spend per `scope:id`, every query the loader answered, and failures to come. */
type Ledger = {
  spent: Map<string, number>
  queries: SpentQuery[]
  /** The next this many loads reject, as a database that is down would. */
  failures: number
  loader: SpentLoader
}

const createLedger = (): Ledger => {
  const ledger: Ledger = {
    spent: new Map(),
    queries: [],
    failures: 0,
    loader: async (query) => {
      ledger.queries.push(query)
      await new Promise((resolve) => setImmediate(resolve)) // a real query takes a turn or more
      if (ledger.failures > 0) {
        ledger.failures -= 1
        throw new Error('usage store unreachable')
      }
      return ledger.spent.get(`${query.scope}:${query.id}`) ?? 0
    },
  }
  return ledger
}

/** The store as a rate limiter: admits with limits only, settles tokens only. */
type LimitsView = {
  acquire(request: AdmissionRequest): Promise<AdmissionDecision>
  release(ticket: AdmissionTicket, usage: { actualTokens: number | null }): Promise<void>
}

/** The store as a budget: admits with budgets only, settles costs only. */
type BudgetsView = {
  reserve(request: AdmissionRequest): Promise<AdmissionDecision>
  settle(ticket: AdmissionTicket, actualMicroUsd: number): Promise<void>
}

const viewsOf = (store: AdmissionStore): { limits: LimitsView; budgets: BudgetsView } => ({
  limits: {
    acquire: async (request) => store.admit(request),
    release: (ticket, usage) =>
      store.settle(ticket, { tokens: usage.actualTokens, costMicroUsd: 0 }),
  },
  budgets: {
    reserve: async (request) => store.admit(request),
    settle: (ticket, actualMicroUsd) =>
      store.settle(ticket, { tokens: null, costMicroUsd: actualMicroUsd }),
  },
})

type Fixture = { store: AdmissionStore; clock: FakeClock; ledger: Ledger } & ReturnType<
  typeof viewsOf
>

const minute = 60_000

/** A request with rate limits only. */
const limited = (
  options: {
    tenant?: RateLimits
    key?: RateLimits
    keyId?: string
    tokens?: number
    leaseTtlMs?: number
  } = {}
): AdmissionRequest => ({
  tenant: { id: 'acme', limits: options.tenant ?? {}, budget: null },
  key: { id: options.keyId ?? 'key-a', limits: options.key ?? {}, budget: null },
  tokens: options.tokens ?? 0,
  costMicroUsd: 0,
  leaseTtlMs: options.leaseTtlMs,
})

/** A request with budgets only. */
const budgeted = (options: {
  tenant?: Budget | null
  key?: Budget | null
  keyId?: string
  amount: number
  ttlMs?: number
}): AdmissionRequest => ({
  tenant: { id: 'acme', limits: {}, budget: options.tenant ?? null },
  key: { id: options.keyId ?? 'key-a', limits: {}, budget: options.key ?? null },
  tokens: 0,
  costMicroUsd: options.amount,
  reservationTtlMs: options.ttlMs,
})

const ticketOf = (decision: AdmissionDecision): AdmissionTicket => {
  if (!decision.allowed) throw new Error(`refused: ${JSON.stringify(decision.refusal)}`)
  return decision.ticket
}

const stateOf = (
  decision: AdmissionDecision,
  scope: RateLimitState['scope'],
  dimension: RateLimitState['dimension']
): RateLimitState | undefined =>
  decision.rateLimits.find((state) => state.scope === scope && state.dimension === dimension)

const budgetOf = (
  decision: AdmissionDecision,
  scope: BudgetState['scope']
): BudgetState | undefined => decision.budgets.find((state) => state.scope === scope)

const monthly = (limitMicroUsd: number): Budget => ({ limitMicroUsd, period: 'month' })

defineStoreContract<Fixture>({
  name: 'admission store',
  implementations: [
    {
      name: 'memory',
      create: async () => {
        const clock = createFakeClock()
        const ledger = createLedger()
        const store = createMemoryAdmissionStore({ clock, loadSpent: ledger.loader })
        return { store: { store, clock, ledger, ...viewsOf(store) } }
      },
    },
    {
      name: 'redis',
      requires: 'redis',
      create: async () => {
        const clock = createFakeClock()
        const ledger = createLedger()
        const test = await openTestRedis('admission')
        const store = createRedisAdmissionStore({
          redis: test.redis,
          guard: test.guard,
          prefix: test.prefix,
          clock,
          loadSpent: ledger.loader,
          rateLimitTime: clock,
        })
        return { store: { store, clock, ledger, ...viewsOf(store) }, cleanup: test.cleanup }
      },
    },
  ],
  cases: (get) => {
    describe('rate limits', () => {
      it('admits exactly N in a window: the N-th is allowed, the N+1-th refused until the first turns 60 s old', async () => {
        const { limits: store, clock } = get()
        const limits = { requestsPerMinute: 5 }
        const remaining: number[] = []
        for (let index = 0; index < 5; index += 1) {
          const decision = await store.acquire(limited({ key: limits }))
          expect(decision.allowed).toBe(true)
          remaining.push(stateOf(decision, 'key', 'requests')?.remaining ?? -1)
          await clock.advance(1_000)
        }
        expect(remaining).toEqual([4, 3, 2, 1, 0])
        // now = start + 5 s; the first entry (at start) frees at start + 60 s
        const refused = await store.acquire(limited({ key: limits }))
        expect(refused).toMatchObject({
          allowed: false,
          refusal: { scope: 'key', dimension: 'requests', limit: 5, retryAfterMs: 55_000 },
        })
        expect(stateOf(refused, 'key', 'requests')).toEqual({
          scope: 'key',
          dimension: 'requests',
          limit: 5,
          remaining: 0,
          resetMs: 59_000, // the newest (start + 4 s) leaves at start + 64 s
        })
        await clock.advance(54_999)
        expect(await store.acquire(limited({ key: limits }))).toMatchObject({
          allowed: false,
          refusal: { retryAfterMs: 1 },
        })
        await clock.advance(1)
        const admitted = await store.acquire(limited({ key: limits }))
        expect(admitted.allowed).toBe(true)
        expect(stateOf(admitted, 'key', 'requests')).toMatchObject({
          remaining: 0,
          resetMs: minute,
        })
        expect((await store.acquire(limited({ key: limits }))).allowed).toBe(false)
      })

      it('slides: N admitted just before a minute boundary still refuse just after it', async () => {
        const { limits: store, clock } = get()
        await clock.advance(59_000) // 00:00:59
        for (let index = 0; index < 3; index += 1)
          expect((await store.acquire(limited({ key: { requestsPerMinute: 3 } }))).allowed).toBe(
            true
          )
        await clock.advance(2_000) // 00:01:01: a fixed window would start over here
        expect(await store.acquire(limited({ key: { requestsPerMinute: 3 } }))).toMatchObject({
          allowed: false,
          refusal: { retryAfterMs: 58_000 },
        })
      })

      it('admits exactly N of 3N concurrent requests', async () => {
        const { limits: store } = get()
        const decisions = await Promise.all(
          Array.from({ length: 30 }, () =>
            store.acquire(limited({ key: { requestsPerMinute: 10 } }))
          )
        )
        expect(decisions.filter((decision) => decision.allowed)).toHaveLength(10)
      })

      it("takes the tenant's and the key's limits together or not at all", async () => {
        const { limits: store } = get()
        const tenant = { requestsPerMinute: 3, tokensPerMinute: 1_000 }
        const keyA = { requestsPerMinute: 2 }
        const keyB = { requestsPerMinute: 10, tokensPerMinute: 10_000 }
        expect((await store.acquire(limited({ tenant, key: keyA }))).allowed).toBe(true)
        expect((await store.acquire(limited({ tenant, key: keyA }))).allowed).toBe(true)
        // The key refuses: the tenant's request quota is not consumed...
        const byKey = await store.acquire(limited({ tenant, key: keyA }))
        expect(byKey).toMatchObject({
          allowed: false,
          refusal: { scope: 'key', dimension: 'requests' },
        })
        expect(stateOf(byKey, 'tenant', 'requests')?.remaining).toBe(1)
        // ...so another key of the tenant gets the last one.
        const last = await store.acquire(
          limited({ tenant, key: keyB, keyId: 'key-b', tokens: 100 })
        )
        expect(stateOf(last, 'tenant', 'requests')?.remaining).toBe(0)
        expect(stateOf(last, 'key', 'requests')?.remaining).toBe(9)
        // The tenant refuses: the key's quotas are not consumed.
        const byTenant = await store.acquire(
          limited({ tenant, key: keyB, keyId: 'key-b', tokens: 100 })
        )
        expect(byTenant).toMatchObject({
          allowed: false,
          refusal: { scope: 'tenant', dimension: 'requests' },
        })
        expect(stateOf(byTenant, 'key', 'requests')?.remaining).toBe(9)
        expect(stateOf(byTenant, 'key', 'tokens')?.remaining).toBe(9_900)
        expect(stateOf(byTenant, 'tenant', 'tokens')?.remaining).toBe(900)
        // The headers show, per dimension, the limit closest to refusing.
        expect(tightestRateLimit(byTenant.rateLimits, 'requests')?.scope).toBe('tenant')
        expect(tightestRateLimit(byTenant.rateLimits, 'tokens')).toMatchObject({
          scope: 'tenant',
          remaining: 900,
        })
        expect(tightestRateLimit(byTenant.rateLimits, 'concurrent')).toBeNull()
      })

      it('takes the token estimate before the call and settles it to the real count after', async () => {
        const { limits: store, clock } = get()
        const key = { tokensPerMinute: 1_000 }
        const first = await store.acquire(limited({ key, tokens: 400 }))
        expect(stateOf(first, 'key', 'tokens')).toMatchObject({
          limit: 1_000,
          remaining: 600,
          resetMs: minute,
        })
        await store.release(ticketOf(first), { actualTokens: 100 }) // settled down
        await clock.advance(10_000)
        const second = await store.acquire(limited({ key, tokens: 300 }))
        expect(stateOf(second, 'key', 'tokens')?.remaining).toBe(600)
        await store.release(ticketOf(second), { actualTokens: 1_200 }) // settled up, over the limit
        await clock.advance(10_000)
        // used 1,300 of 1,000: refused until the 1,200 (taken at +10 s) leaves at +70 s
        const over = await store.acquire(limited({ key, tokens: 0 }))
        expect(over).toMatchObject({
          allowed: false,
          refusal: { scope: 'key', dimension: 'tokens', limit: 1_000, retryAfterMs: 50_000 },
        })
        expect(stateOf(over, 'key', 'tokens')).toMatchObject({ remaining: 0, resetMs: 50_000 })
        await clock.advance(50_000)
        expect(
          stateOf(await store.acquire(limited({ key, tokens: 0 })), 'key', 'tokens')?.remaining
        ).toBe(1_000)
      })

      it('keeps the estimate when the real count is unknown, and settles a lease once', async () => {
        const { limits: store } = get()
        const key = { tokensPerMinute: 1_000, concurrentRequests: 1 }
        const lease = ticketOf(await store.acquire(limited({ key, tokens: 250 })))
        await store.release(lease, { actualTokens: null })
        await store.release(lease, { actualTokens: 900 }) // a second release does nothing
        const next = await store.acquire(limited({ key, tokens: 0 }))
        expect(stateOf(next, 'key', 'tokens')?.remaining).toBe(750)
        expect(stateOf(next, 'key', 'concurrent')?.remaining).toBe(0)
      })

      it('counts a real count above the estimate from now when the estimate has left the window', async () => {
        const { limits: store, clock } = get()
        const key = { tokensPerMinute: 1_000 }
        const lease = ticketOf(await store.acquire(limited({ key, tokens: 100 })))
        await clock.advance(minute + 5_000) // a long stream
        await store.release(lease, { actualTokens: 700 })
        const next = await store.acquire(limited({ key, tokens: 0 }))
        expect(stateOf(next, 'key', 'tokens')).toMatchObject({ remaining: 400, resetMs: minute })
      })

      it('counts zero and very large token amounts exactly', async () => {
        const { limits: store, clock } = get()
        const key = { tokensPerMinute: 1_000_000_000_000_000 }
        await store.release(ticketOf(await store.acquire(limited({ key, tokens: 0 }))), {
          actualTokens: 0,
        })
        await clock.advance(minute) // the 0-token entry leaves the window
        const large = await store.acquire(limited({ key, tokens: 123_456_789_012_345 }))
        expect(stateOf(large, 'key', 'tokens')?.remaining).toBe(876_543_210_987_655)
        await store.release(ticketOf(large), { actualTokens: 223_456_789_012_345 })
        await clock.advance(minute) // both leave
        const next = await store.acquire(limited({ key, tokens: 0 }))
        expect(stateOf(next, 'key', 'tokens')?.remaining).toBe(1_000_000_000_000_000)
      })

      it('refuses for good a request whose tokens alone exceed the limit, and a limit of 0', async () => {
        const { limits: store } = get()
        expect(
          await store.acquire(limited({ key: { tokensPerMinute: 1_000 }, tokens: 1_001 }))
        ).toMatchObject({
          allowed: false,
          refusal: { dimension: 'tokens', retryAfterMs: null },
        })
        expect(await store.acquire(limited({ tenant: { requestsPerMinute: 0 } }))).toMatchObject({
          allowed: false,
          refusal: { scope: 'tenant', dimension: 'requests', limit: 0, retryAfterMs: null },
        })
        expect(
          (await store.acquire(limited({ key: { tokensPerMinute: 1_000 }, tokens: 1_000 }))).allowed
        ).toBe(true)
      })

      it('holds concurrency slots until release, and frees a slot whose lease expires', async () => {
        const { limits: store, clock } = get()
        const key = { concurrentRequests: 2 }
        const first = ticketOf(await store.acquire(limited({ key, leaseTtlMs: 5_000 })))
        const second = await store.acquire(limited({ key, leaseTtlMs: 5_000 }))
        expect(stateOf(second, 'key', 'concurrent')).toMatchObject({
          limit: 2,
          remaining: 0,
          resetMs: 5_000,
        })
        const refused = await store.acquire(limited({ key }))
        expect(refused).toMatchObject({
          allowed: false,
          refusal: { scope: 'key', dimension: 'concurrent', limit: 2, retryAfterMs: 1_000 },
        })
        await store.release(first, { actualTokens: null })
        expect((await store.acquire(limited({ key, leaseTtlMs: 5_000 }))).allowed).toBe(true)
        expect((await store.acquire(limited({ key }))).allowed).toBe(false)
        // The second lease's holder crashed: its slot frees itself at its TTL.
        await clock.advance(4_999)
        expect((await store.acquire(limited({ key }))).allowed).toBe(false)
        await clock.advance(1)
        expect((await store.acquire(limited({ key, leaseTtlMs: 5_000 }))).allowed).toBe(true)
      })

      it('names the refusal that frees last when several refuse', async () => {
        const { limits: store } = get()
        const tenant = { concurrentRequests: 1 }
        const key = { requestsPerMinute: 1 }
        expect((await store.acquire(limited({ tenant, key }))).allowed).toBe(true)
        expect(await store.acquire(limited({ tenant, key }))).toMatchObject({
          allowed: false,
          refusal: { scope: 'key', dimension: 'requests', retryAfterMs: minute },
        })
      })

      it('admits without states when neither has limits', async () => {
        const decision = await get().limits.acquire(limited({ tokens: 10_000 }))
        expect(decision.allowed).toBe(true)
        expect(decision.rateLimits).toEqual([])
        await get().limits.release(ticketOf(decision), { actualTokens: 5 })
      })

      it('rejects limits and counts no caller should send', async () => {
        const { limits: store } = get()
        await expect(store.acquire(limited({ key: { requestsPerMinute: -1 } }))).rejects.toThrow(
          /key\.limits\.requestsPerMinute = -1/
        )
        await expect(store.acquire(limited({ tokens: 1.5 }))).rejects.toThrow(/tokens = 1\.5/)
      })

      it('matches a sliding window over minutes of uneven traffic, settled up and down', async () => {
        const { limits: store, clock } = get()
        const key = { requestsPerMinute: 1_000, tokensPerMinute: 1_000_000 }
        const taken: { at: number; tokens: number }[] = [] // what the window holds, as a model
        let step = 0
        for (let round = 0; round < 40; round += 1) {
          // Bursts and gaps: 0 to 4 requests, then 1 to 29 s of quiet.
          for (let index = 0; index < round % 5; index += 1) {
            step += 1
            const estimate = 100 + (step % 7) * 10
            const decision = await store.acquire(limited({ key, tokens: estimate }))
            const now = clock.now()
            const inWindow = taken.filter((entry) => entry.at > now - minute)
            const used = inWindow.reduce((sum, entry) => sum + entry.tokens, 0)
            expect([step, stateOf(decision, 'key', 'requests')?.remaining]).toEqual([
              step,
              1_000 - inWindow.length - 1,
            ])
            expect([step, stateOf(decision, 'key', 'tokens')?.remaining]).toEqual([
              step,
              1_000_000 - used - estimate,
            ])
            const actual = step % 3 === 0 ? estimate * 2 : Math.floor(estimate / 2)
            await store.release(ticketOf(decision), { actualTokens: actual })
            taken.push({ at: now, tokens: actual })
          }
          await clock.advance(1_000 + ((round * 7_919) % 29_000))
        }
      })
    })

    describe('budgets', () => {
      it('lets spending reach the budget exactly, and refuses a spent budget even a request reserving 0', async () => {
        const { budgets: store } = get()
        const key = monthly(1_000)
        expect(await store.reserve(budgeted({ key, amount: 1_001 }))).toMatchObject({
          allowed: false,
          refusal: { scope: 'key', spent: false, limitMicroUsd: 1_000, remainingMicroUsd: 1_000 },
        })
        const whole = await store.reserve(budgeted({ key, amount: 1_000 }))
        expect(budgetOf(whole, 'key')).toMatchObject({
          spentMicroUsd: 0,
          reservedMicroUsd: 1_000,
          remainingMicroUsd: 0,
        })
        await store.settle(ticketOf(whole), 1_000)
        expect(await store.reserve(budgeted({ key, amount: 0 }))).toMatchObject({
          allowed: false,
          refusal: { scope: 'key', spent: true, spentMicroUsd: 1_000, reservedMicroUsd: 0 },
        })
      })

      it('starts a counter from the spend so far, and refuses when that already reached the limit', async () => {
        const { budgets: store, ledger } = get()
        ledger.spent.set('tenant:acme', 5_000)
        expect(await store.reserve(budgeted({ tenant: monthly(5_000), amount: 0 }))).toMatchObject({
          allowed: false,
          refusal: { scope: 'tenant', spent: true, spentMicroUsd: 5_000 },
        })
        ledger.spent.set('key:key-b', 400)
        const decision = await store.reserve(
          budgeted({ key: monthly(1_000), keyId: 'key-b', amount: 600 })
        )
        expect(budgetOf(decision, 'key')).toMatchObject({
          spentMicroUsd: 400,
          remainingMicroUsd: 0,
        })
      })

      it('reserves and settles 0 and amounts past 100 million dollars exactly', async () => {
        const { budgets: store, clock } = get()
        const key = monthly(1_000_000_000_000_000) // a billion dollars
        await store.settle(ticketOf(await store.reserve(budgeted({ key, amount: 0 }))), 0)
        const forgotten = await store.reserve(budgeted({ key, amount: 0, ttlMs: 1_000 }))
        expect(forgotten.allowed).toBe(true)
        await clock.advance(1_000) // a 0 reservation expires
        const large = await store.reserve(budgeted({ key, amount: 123_456_789_012_345 }))
        expect(budgetOf(large, 'key')).toMatchObject({
          reservedMicroUsd: 123_456_789_012_345,
          remainingMicroUsd: 876_543_210_987_655,
        })
        await store.settle(ticketOf(large), 223_456_789_012_345)
        expect(budgetOf(await store.reserve(budgeted({ key, amount: 0 })), 'key')).toMatchObject({
          spentMicroUsd: 223_456_789_012_345,
          reservedMicroUsd: 0,
        })
      })

      it('counts reservations in flight, and frees them when settled', async () => {
        const { budgets: store } = get()
        const key = monthly(1_000)
        const first = ticketOf(await store.reserve(budgeted({ key, amount: 600 })))
        expect(await store.reserve(budgeted({ key, amount: 600 }))).toMatchObject({
          allowed: false,
          refusal: {
            spent: false,
            spentMicroUsd: 0,
            reservedMicroUsd: 600,
            remainingMicroUsd: 400,
          },
        })
        await store.settle(first, 100)
        await store.settle(first, 100) // a second settle counts nothing
        const second = await store.reserve(budgeted({ key, amount: 600 }))
        expect(budgetOf(second, 'key')).toMatchObject({ spentMicroUsd: 100, reservedMicroUsd: 600 })
      })

      it('50 concurrent reservations against a nearly spent budget overshoot at most what is in flight', async () => {
        const { budgets: store, ledger } = get()
        const tenant = monthly(1_000_000)
        ledger.spent.set('tenant:acme', 996_500)
        const decisions = await Promise.all(
          Array.from({ length: 50 }, () => store.reserve(budgeted({ tenant, amount: 1_000 })))
        )
        const admitted = decisions.filter((decision) => decision.allowed)
        expect(admitted).toHaveLength(3) // 996,500 + 3 × 1,000 fits; a 4th would reach 1,000,500
        // Real costs above the reservations (a worst case that was wrong): the overshoot is bounded by those in flight.
        for (const decision of admitted) await store.settle(ticketOf(decision), 1_400)
        const after = await store.reserve(budgeted({ tenant, amount: 0 }))
        expect(after).toMatchObject({
          allowed: false,
          refusal: { spent: true, spentMicroUsd: 1_000_700 },
        })
        expect(1_000_700 - 1_000_000).toBeLessThanOrEqual(3 * 1_400)
      })

      it('50 concurrent reservations whose real costs stay within them never pass the budget', async () => {
        const { budgets: store, ledger } = get()
        const key = monthly(100_000)
        ledger.spent.set('key:key-a', 90_000)
        const decisions = await Promise.all(
          Array.from({ length: 50 }, () => store.reserve(budgeted({ key, amount: 700 })))
        )
        const admitted = decisions.filter((decision) => decision.allowed)
        expect(admitted).toHaveLength(14) // 14 × 700 = 9,800 ≤ 10,000
        await Promise.all(admitted.map((decision) => store.settle(ticketOf(decision), 650)))
        const state = budgetOf(await store.reserve(budgeted({ key, amount: 0 })), 'key')
        expect(state).toMatchObject({ spentMicroUsd: 90_000 + 14 * 650, reservedMicroUsd: 0 })
      })

      it("reserves the tenant's and the key's budgets together or not at all", async () => {
        const { budgets: store } = get()
        const tenant = monthly(1_000)
        expect(
          (await store.reserve(budgeted({ tenant, key: monthly(600), amount: 500 }))).allowed
        ).toBe(true)
        const byKey = await store.reserve(budgeted({ tenant, key: monthly(600), amount: 200 }))
        expect(byKey).toMatchObject({ allowed: false, refusal: { scope: 'key' } })
        expect(budgetOf(byKey, 'tenant')?.reservedMicroUsd).toBe(500)
        const other = { tenant, key: monthly(10_000), keyId: 'key-b' }
        expect((await store.reserve(budgeted({ ...other, amount: 500 }))).allowed).toBe(true)
        const byTenant = await store.reserve(budgeted({ ...other, amount: 1 }))
        expect(byTenant).toMatchObject({
          allowed: false,
          refusal: { scope: 'tenant', remainingMicroUsd: 0 },
        })
        expect(budgetOf(byTenant, 'key')?.reservedMicroUsd).toBe(500)
      })

      it('loads the spend once per counter, however many requests start it at the same time', async () => {
        const { budgets: store, ledger } = get()
        ledger.spent.set('tenant:acme', 300)
        ledger.spent.set('key:key-a', 200)
        const decisions = await Promise.all(
          Array.from({ length: 20 }, () =>
            store.reserve(budgeted({ tenant: monthly(10_000), key: monthly(10_000), amount: 10 }))
          )
        )
        expect(decisions.every((decision) => decision.allowed)).toBe(true)
        expect(ledger.queries.map((query) => `${query.scope}:${query.id}`).sort()).toEqual([
          'key:key-a',
          'tenant:acme',
        ])
        expect(ledger.queries[0]).toMatchObject({
          tenantId: 'acme',
          period: 'month',
          start: Date.UTC(2026, 0, 1),
          end: Date.UTC(2026, 1, 1),
        })
        const states = decisions.map((decision) => budgetOf(decision, 'tenant'))
        expect(new Set(states.map((state) => state?.spentMicroUsd))).toEqual(new Set([300]))
        expect(Math.max(...states.map((state) => state?.reservedMicroUsd ?? 0))).toBe(200)
      })

      it("frees a crashed process's reservation when its TTL ends", async () => {
        const { budgets: store, clock } = get()
        const key = monthly(1_000)
        expect((await store.reserve(budgeted({ key, amount: 900, ttlMs: 10_000 }))).allowed).toBe(
          true
        )
        await clock.advance(9_999)
        expect((await store.reserve(budgeted({ key, amount: 200 }))).allowed).toBe(false)
        await clock.advance(1)
        expect(budgetOf(await store.reserve(budgeted({ key, amount: 200 })), 'key')).toMatchObject({
          reservedMicroUsd: 200,
        })
      })

      for (const [period, lastInstant, nextStart] of [
        ['day', Date.UTC(2026, 2, 10, 23, 59, 59, 999), Date.UTC(2026, 2, 11)],
        ['week', Date.UTC(2026, 0, 11, 23, 59, 59, 999), Date.UTC(2026, 0, 12)], // Sunday → Monday
        ['month', Date.UTC(2026, 0, 31, 23, 59, 59, 999), Date.UTC(2026, 1, 1)],
      ] as const)
        it(`starts a new ${period} at its UTC boundary, where a cost reserved before it still lands in the old one`, async () => {
          const { budgets: store, clock, ledger } = get()
          const key: Budget = { limitMicroUsd: 1_000, period }
          await clock.advance(lastInstant - clock.now())
          await store.settle(ticketOf(await store.reserve(budgeted({ key, amount: 900 }))), 900)
          const late = ticketOf(await store.reserve(budgeted({ key, amount: 100 })))
          expect((await store.reserve(budgeted({ key, amount: 0 }))).allowed).toBe(false)
          await clock.advance(1)
          expect(clock.now()).toBe(nextStart)
          await store.settle(late, 100) // reserved in the old period, settled in the new
          const fresh = await store.reserve(budgeted({ key, amount: 1_000 }))
          expect(budgetOf(fresh, 'key')).toMatchObject({
            periodStart: nextStart,
            spentMicroUsd: 0,
            reservedMicroUsd: 1_000,
          })
          expect(ledger.queries.at(-1)).toMatchObject({ period, start: nextStart })
        })

      it('keeps a total budget across periods', async () => {
        const { budgets: store, clock } = get()
        const key: Budget = { limitMicroUsd: 1_000, period: 'total' }
        await clock.advance(Date.UTC(2026, 0, 29) - clock.now())
        await store.settle(ticketOf(await store.reserve(budgeted({ key, amount: 700 }))), 700)
        await clock.advance(5 * 86_400_000) // into February and a new week, within the counter's idle TTL
        expect(await store.reserve(budgeted({ key, amount: 301 }))).toMatchObject({
          allowed: false,
          refusal: { period: 'total', periodStart: null, periodEnd: null, spentMicroUsd: 700 },
        })
      })

      it('passes a loader failure or a bad answer to the caller, and loads again on the next request', async () => {
        const { budgets: store, ledger } = get()
        const key = monthly(1_000)
        ledger.failures = 1
        await expect(store.reserve(budgeted({ key, amount: 1 }))).rejects.toThrow(
          'usage store unreachable'
        )
        ledger.spent.set('key:key-a', Number.NaN)
        await expect(store.reserve(budgeted({ key, amount: 1 }))).rejects.toThrow(
          /spend loader answered NaN/
        )
        ledger.spent.set('key:key-a', 10)
        expect(budgetOf(await store.reserve(budgeted({ key, amount: 1 })), 'key')).toMatchObject({
          spentMicroUsd: 10,
        })
        expect(ledger.queries).toHaveLength(3)
      })

      it('admits without states when neither has a budget', async () => {
        const { budgets: store, ledger } = get()
        const decision = await store.reserve(budgeted({ amount: 10_000_000 }))
        expect(decision).toMatchObject({ allowed: true, budgets: [] })
        await store.settle(ticketOf(decision), 5)
        expect(ledger.queries).toEqual([])
      })
    })

    describe('rate limits and budgets together', () => {
      const both = (options: {
        rpm?: number
        tpm?: number
        concurrency?: number
        budget?: number
        tokens?: number
        cost: number
      }): AdmissionRequest => ({
        tenant: { id: 'acme', limits: {}, budget: null },
        key: {
          id: 'key-a',
          limits: {
            requestsPerMinute: options.rpm ?? null,
            tokensPerMinute: options.tpm ?? null,
            concurrentRequests: options.concurrency ?? null,
          },
          budget: options.budget === undefined ? null : monthly(options.budget),
        },
        tokens: options.tokens ?? 0,
        costMicroUsd: options.cost,
      })

      it('a budget refusal takes no rate limit, and a rate-limit refusal reserves nothing', async () => {
        const { store } = get()
        const limits = { rpm: 3, tpm: 1_000, concurrency: 2, tokens: 100 }
        // The budget refuses: no request, token or slot is taken.
        expect(await store.admit(both({ ...limits, budget: 500, cost: 600 }))).toMatchObject({
          allowed: false,
          refusal: { kind: 'budget', scope: 'key', spent: false },
        })
        const first = await store.admit(both({ ...limits, budget: 500, cost: 200 }))
        expect(stateOf(first, 'key', 'requests')?.remaining).toBe(2)
        expect(stateOf(first, 'key', 'tokens')?.remaining).toBe(900)
        expect(stateOf(first, 'key', 'concurrent')?.remaining).toBe(1)
        expect(budgetOf(first, 'key')).toMatchObject({
          reservedMicroUsd: 200,
          remainingMicroUsd: 300,
        })
        expect((await store.admit(both({ ...limits, budget: 500, cost: 200 }))).allowed).toBe(true)
        // The concurrency limit refuses: nothing is reserved.
        const byLimit = await store.admit(both({ ...limits, budget: 500, cost: 50 }))
        expect(byLimit).toMatchObject({
          allowed: false,
          refusal: { kind: 'rate-limit', scope: 'key', dimension: 'concurrent' },
        })
        expect(budgetOf(byLimit, 'key')).toMatchObject({ reservedMicroUsd: 400 })
        expect(stateOf(byLimit, 'key', 'requests')?.remaining).toBe(1)
        await store.settle(ticketOf(first), { tokens: 100, costMicroUsd: 0 })
        const third = await store.admit(both({ ...limits, budget: 500, cost: 100 }))
        expect(budgetOf(third, 'key')).toMatchObject({ reservedMicroUsd: 300, spentMicroUsd: 0 })
      })

      it('names the rate limit when a rate limit and a budget both refuse', async () => {
        const { store } = get()
        const request = both({ rpm: 1, budget: 100, cost: 100 })
        await store.settle(ticketOf(await store.admit(request)), { tokens: 0, costMicroUsd: 100 })
        expect(await store.admit(request)).toMatchObject({
          allowed: false,
          refusal: { kind: 'rate-limit', dimension: 'requests', retryAfterMs: minute },
          budgets: [{ spentMicroUsd: 100, remainingMicroUsd: 0 }],
        })
      })

      it('settles tokens, slot and cost in one call, once', async () => {
        const { store } = get()
        const request = both({
          tpm: 1_000,
          concurrency: 1,
          budget: 10_000,
          tokens: 400,
          cost: 3_000,
        })
        const ticket = ticketOf(await store.admit(request))
        await store.settle(ticket, { tokens: 150, costMicroUsd: 1_200 })
        await store.settle(ticket, { tokens: 900, costMicroUsd: 9_000 }) // a second settle does nothing
        const next = await store.admit(
          both({ tpm: 1_000, concurrency: 1, budget: 10_000, cost: 0 })
        )
        expect(stateOf(next, 'key', 'tokens')?.remaining).toBe(850)
        expect(stateOf(next, 'key', 'concurrent')?.remaining).toBe(0)
        expect(budgetOf(next, 'key')).toMatchObject({ spentMicroUsd: 1_200, reservedMicroUsd: 0 })
      })

      it('settles a split ticket in two parts: slot and tokens when the call ends, the reservation when its cost is known', async () => {
        const { store, clock } = get()
        const request = (cost: number): AdmissionRequest => ({
          ...both({ tpm: 1_000, concurrency: 1, budget: 10_000, tokens: 400, cost }),
          // A background response may run for long: its reservation waits for it.
          reservationTtlMs: 3 * 3_600_000,
        })
        const { now, later } = splitTicket(ticketOf(await store.admit(request(3_000))))
        await store.settle(now, { tokens: null, costMicroUsd: 0 })
        // The slot is free, the estimate stands, the reservation is still held.
        const during = await store.admit(
          both({ tpm: 1_000, concurrency: 1, budget: 10_000, cost: 0 })
        )
        expect(stateOf(during, 'key', 'concurrent')?.remaining).toBe(0)
        expect(stateOf(during, 'key', 'tokens')?.remaining).toBe(600)
        expect(budgetOf(during, 'key')).toMatchObject({ spentMicroUsd: 0, reservedMicroUsd: 3_000 })
        await store.settle(ticketOf(during), { tokens: 0, costMicroUsd: 0 })

        // Two hours on, past the default reservation TTL, the real cost settles it: from a copy of the ticket, as
        // another process would read it back.
        await clock.advance(2 * 3_600_000)
        await store.settle(JSON.parse(JSON.stringify(later)) as AdmissionTicket, {
          tokens: null,
          costMicroUsd: 1_234,
        })
        const after = await store.admit(both({ budget: 10_000, cost: 0 }))
        expect(budgetOf(after, 'key')).toMatchObject({ spentMicroUsd: 1_234, reservedMicroUsd: 0 })
        expect(splitTicket({ ...ticketOf(after), budgets: [] }).later).toBeNull()
      })

      it('takes the rate limits once when a budget counter is seeded first', async () => {
        const { store, ledger } = get()
        ledger.spent.set('key:key-a', 700)
        const decisions = await Promise.all(
          Array.from({ length: 5 }, () => store.admit(both({ rpm: 10, budget: 1_500, cost: 100 })))
        )
        expect(decisions.every((decision) => decision.allowed)).toBe(true)
        expect(ledger.queries).toHaveLength(1)
        const next = await store.admit(both({ rpm: 10, budget: 1_500, cost: 0 }))
        expect(stateOf(next, 'key', 'requests')?.remaining).toBe(4)
        expect(budgetOf(next, 'key')).toMatchObject({ spentMicroUsd: 700, reservedMicroUsd: 500 })
      })

      it('fails a failing spend loader without taking a rate limit', async () => {
        const { store, ledger } = get()
        ledger.failures = 1
        await expect(store.admit(both({ rpm: 1, budget: 1_000, cost: 1 }))).rejects.toThrow(
          'usage store unreachable'
        )
        expect((await store.admit(both({ rpm: 1, budget: 1_000, cost: 1 }))).allowed).toBe(true)
      })
    })
  },
})

/** A Redis admission store on `test`'s prefix (or another connection's), on Redis's clock unless told otherwise. */
const redisStore = (
  connection: { redis: Redis; guard: RedisGuard },
  prefix: string,
  options: { clock?: FakeClock; ledger?: Ledger; windowMs?: number } = {}
): AdmissionStore =>
  createRedisAdmissionStore({
    redis: connection.redis,
    guard: connection.guard,
    prefix,
    clock: options.clock ?? createFakeClock(),
    loadSpent: options.ledger?.loader ?? (async () => 0),
    windowMs: options.windowMs,
  })

describe('admission store (redis, on Redis time)', () => {
  requireStoreService('redis')

  it('two processes sharing a limit admit exactly N of 3N concurrent requests, and every key expires', async () => {
    const test = await openTestRedis('admission-shared')
    try {
      const other = await test.connect()
      const stores = [redisStore(test, test.prefix), redisStore(other, test.prefix)].map(
        (store) => viewsOf(store).limits
      )
      const limits = { requestsPerMinute: 20, concurrentRequests: 1_000, tokensPerMinute: 100_000 }
      const decisions = await Promise.all(
        Array.from({ length: 60 }, (_, index) =>
          stores[index % 2].acquire(limited({ tenant: limits, key: limits, tokens: 10 }))
        )
      )
      const allowed = decisions.filter((decision) => decision.allowed)
      expect(allowed).toHaveLength(20)
      expect(
        new Set(allowed.map((decision) => stateOf(decision, 'key', 'requests')?.remaining)).size
      ).toBe(20)
      // Settling rewrites entries and removes leases: the last entry or lease gone must not take a key's TTL with it.
      await Promise.all(
        allowed.map((decision, index) =>
          stores[index % 2].release(ticketOf(decision), { actualTokens: 3 })
        )
      )
      const ttls = await ttlsUnder(test.redis, test.prefix)
      expect(ttls.size).toBe(4) // the log and its hash, per subject; the leases are all gone
      for (const [key, ttl] of ttls) expect([key, ttl > 0]).toEqual([key, true])
      const next = await stores[0].acquire(limited({ tenant: limits, key: limits }))
      expect(stateOf(next, 'tenant', 'tokens')?.remaining).toBe(100_000 - 20 * 3)
    } finally {
      await test.cleanup()
    }
  })

  it('frees a window and a lease on Redis time', async () => {
    const test = await openTestRedis('admission-time')
    try {
      const store = viewsOf(redisStore(test, test.prefix, { windowMs: 300 })).limits
      const key = { requestsPerMinute: 2, concurrentRequests: 1 }
      expect((await store.acquire(limited({ key, leaseTtlMs: 150 }))).allowed).toBe(true)
      expect(await store.acquire(limited({ key, leaseTtlMs: 150 }))).toMatchObject({
        allowed: false,
        refusal: { dimension: 'concurrent' },
      })
      await new Promise((resolve) => setTimeout(resolve, 160))
      const second = await store.acquire(limited({ key, leaseTtlMs: 150 }))
      expect(second.allowed).toBe(true)
      const refused = await store.acquire(limited({ key }))
      expect(refused).toMatchObject({ allowed: false })
      if (refused.allowed) return
      expect(refused.refusal.kind === 'rate-limit' && refused.refusal.retryAfterMs).toBeGreaterThan(
        0
      )
      expect(
        refused.refusal.kind === 'rate-limit' && refused.refusal.retryAfterMs
      ).toBeLessThanOrEqual(300)
      await new Promise((resolve) => setTimeout(resolve, 310))
      expect((await store.acquire(limited({ key: { requestsPerMinute: 2 } }))).allowed).toBe(true)
      for (const [key, ttl] of await ttlsUnder(test.redis, test.prefix))
        expect([key, ttl > 0]).toEqual([key, true])
    } finally {
      await test.cleanup()
    }
  })
})

describe('admission store (redis, shared budgets)', () => {
  requireStoreService('redis')

  it('two processes with 25 concurrent reservations each stay within a nearly spent budget', async () => {
    const test = await openTestRedis('admission-budgets-shared')
    try {
      const other = await test.connect()
      const clock = createFakeClock()
      const ledger = createLedger()
      ledger.spent.set('key:key-a', 996_000)
      const stores = [test, other].map(
        (connection) => viewsOf(redisStore(connection, test.prefix, { clock, ledger })).budgets
      )
      const key = monthly(1_000_000)
      const decisions = await Promise.all(
        Array.from({ length: 50 }, (_, index) =>
          stores[index % 2].reserve(budgeted({ key, amount: 1_000 }))
        )
      )
      const admitted = decisions.filter((decision) => decision.allowed)
      expect(admitted).toHaveLength(4)
      // Each process loaded at most once, and the spend was applied once, not once per process.
      expect(ledger.queries.length).toBeGreaterThanOrEqual(1)
      expect(ledger.queries.length).toBeLessThanOrEqual(2)
      await Promise.all(
        admitted.map((decision, index) => stores[index % 2].settle(ticketOf(decision), 1_000))
      )
      expect(await stores[1].reserve(budgeted({ key, amount: 0 }))).toMatchObject({
        allowed: false,
        refusal: { spent: true, spentMicroUsd: 1_000_000, reservedMicroUsd: 0 },
      })
      const ttls = await ttlsUnder(test.redis, test.prefix)
      expect(ttls.size).toBe(2) // the counter and its reservations, both left with a TTL when emptied
      for (const [name, ttl] of ttls) expect([name, ttl > 0]).toEqual([name, true])
    } finally {
      await test.cleanup()
    }
  })

  it('never recreates a lost counter on settle: the next reservation seeds it, with the reservations still held', async () => {
    const test = await openTestRedis('admission-budgets-lost')
    try {
      const clock = createFakeClock()
      const ledger = createLedger()
      const store = viewsOf(redisStore(test, test.prefix, { clock, ledger })).budgets
      const key = monthly(1_000)
      const reservation = ticketOf(await store.reserve(budgeted({ key, amount: 300 })))
      const held = ticketOf(await store.reserve(budgeted({ key, amount: 200 })))
      const counters = [...(await ttlsUnder(test.redis, test.prefix)).keys()].filter((name) =>
        name.endsWith(':budget')
      )
      expect(counters).toHaveLength(1)
      await test.redis.del(counters[0]) // Redis lost the counter
      await store.settle(reservation, 250)
      expect(await test.redis.exists(counters[0])).toBe(0)
      ledger.spent.set('key:key-a', 250) // the usage store has the event by now
      await clock.advance(2_000)
      expect(budgetOf(await store.reserve(budgeted({ key, amount: 0 })), 'key')).toMatchObject({
        spentMicroUsd: 250,
        reservedMicroUsd: 200, // the reservation still in flight counts
      })
      await store.settle(held, 100)
      expect(budgetOf(await store.reserve(budgeted({ key, amount: 0 })), 'key')).toMatchObject({
        spentMicroUsd: 350,
        reservedMicroUsd: 0,
      })
      expect(ledger.queries).toHaveLength(2)
    } finally {
      await test.cleanup()
    }
  })
})
