/**
 * The budget store contract: memory and Redis through the same cases, on a fake clock (both take the caller's clock),
 * with the usage store's spend played by a map the loader reads and counts its calls on. The Redis-only cases after
 * it run two connections (two gateway processes) against one budget, and Redis losing a counter.
 */
import { describe, expect, it } from 'vitest'
import { createMemoryBudgetStore } from '../../src/stores/memory/memory-budget-store.ts'
import { createRedisBudgetStore } from '../../src/stores/redis/redis-budget-store.ts'
import type {
  Budget,
  BudgetDecision,
  BudgetRequest,
  BudgetReservation,
  BudgetState,
  BudgetStore,
  SpentLoader,
  SpentQuery,
} from '../../src/stores/budget-store.ts'
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

type Fixture = { store: BudgetStore; clock: FakeClock; ledger: Ledger }

const request = (options: {
  tenant?: Budget | null
  key?: Budget | null
  keyId?: string
  amount: number
  ttlMs?: number
}): BudgetRequest => ({
  tenant: { id: 'acme', budget: options.tenant ?? null },
  key: { id: options.keyId ?? 'key-a', budget: options.key ?? null },
  amountMicroUsd: options.amount,
  ttlMs: options.ttlMs,
})

const reservationOf = (decision: BudgetDecision): BudgetReservation => {
  if (!decision.allowed) throw new Error(`refused: ${JSON.stringify(decision.refusal)}`)
  return decision.reservation
}

const stateOf = (decision: BudgetDecision, scope: BudgetState['scope']): BudgetState | undefined =>
  decision.states.find((state) => state.scope === scope)

const monthly = (limitMicroUsd: number): Budget => ({ limitMicroUsd, period: 'month' })

defineStoreContract<Fixture>({
  name: 'budget store',
  implementations: [
    {
      name: 'memory',
      create: async () => {
        const clock = createFakeClock()
        const ledger = createLedger()
        return {
          store: {
            store: createMemoryBudgetStore({ clock, loadSpent: ledger.loader }),
            clock,
            ledger,
          },
        }
      },
    },
    {
      name: 'redis',
      requires: 'redis',
      create: async () => {
        const clock = createFakeClock()
        const ledger = createLedger()
        const test = await openTestRedis('budgets')
        const store = createRedisBudgetStore({
          redis: test.redis,
          guard: test.guard,
          prefix: test.prefix,
          clock,
          loadSpent: ledger.loader,
        })
        return { store: { store, clock, ledger }, cleanup: test.cleanup }
      },
    },
  ],
  cases: (get) => {
    it('lets spending reach the budget exactly, and refuses a spent budget even a request reserving 0', async () => {
      const { store } = get()
      const key = monthly(1_000)
      expect(await store.reserve(request({ key, amount: 1_001 }))).toMatchObject({
        allowed: false,
        refusal: { scope: 'key', spent: false, limitMicroUsd: 1_000, remainingMicroUsd: 1_000 },
      })
      const whole = await store.reserve(request({ key, amount: 1_000 }))
      expect(stateOf(whole, 'key')).toMatchObject({
        spentMicroUsd: 0,
        reservedMicroUsd: 1_000,
        remainingMicroUsd: 0,
      })
      await store.settle(reservationOf(whole), 1_000)
      expect(await store.reserve(request({ key, amount: 0 }))).toMatchObject({
        allowed: false,
        refusal: { scope: 'key', spent: true, spentMicroUsd: 1_000, reservedMicroUsd: 0 },
      })
    })

    it('starts a counter from the spend so far, and refuses when that already reached the limit', async () => {
      const { store, ledger } = get()
      ledger.spent.set('tenant:acme', 5_000)
      expect(await store.reserve(request({ tenant: monthly(5_000), amount: 0 }))).toMatchObject({
        allowed: false,
        refusal: { scope: 'tenant', spent: true, spentMicroUsd: 5_000 },
      })
      ledger.spent.set('key:key-b', 400)
      const decision = await store.reserve(
        request({ key: monthly(1_000), keyId: 'key-b', amount: 600 })
      )
      expect(stateOf(decision, 'key')).toMatchObject({ spentMicroUsd: 400, remainingMicroUsd: 0 })
    })

    it('reserves and settles 0 and amounts past 100 million dollars exactly', async () => {
      const { store, clock } = get()
      const key = monthly(1_000_000_000_000_000) // a billion dollars
      await store.settle(reservationOf(await store.reserve(request({ key, amount: 0 }))), 0)
      const forgotten = await store.reserve(request({ key, amount: 0, ttlMs: 1_000 }))
      expect(forgotten.allowed).toBe(true)
      await clock.advance(1_000) // a 0 reservation expires
      const large = await store.reserve(request({ key, amount: 123_456_789_012_345 }))
      expect(stateOf(large, 'key')).toMatchObject({
        reservedMicroUsd: 123_456_789_012_345,
        remainingMicroUsd: 876_543_210_987_655,
      })
      await store.settle(reservationOf(large), 223_456_789_012_345)
      expect(stateOf(await store.reserve(request({ key, amount: 0 })), 'key')).toMatchObject({
        spentMicroUsd: 223_456_789_012_345,
        reservedMicroUsd: 0,
      })
    })

    it('counts reservations in flight, and frees them when settled', async () => {
      const { store } = get()
      const key = monthly(1_000)
      const first = reservationOf(await store.reserve(request({ key, amount: 600 })))
      expect(await store.reserve(request({ key, amount: 600 }))).toMatchObject({
        allowed: false,
        refusal: { spent: false, spentMicroUsd: 0, reservedMicroUsd: 600, remainingMicroUsd: 400 },
      })
      await store.settle(first, 100)
      await store.settle(first, 100) // a second settle counts nothing
      const second = await store.reserve(request({ key, amount: 600 }))
      expect(stateOf(second, 'key')).toMatchObject({ spentMicroUsd: 100, reservedMicroUsd: 600 })
    })

    it('50 concurrent reservations against a nearly spent budget overshoot at most what is in flight', async () => {
      const { store, ledger } = get()
      const tenant = monthly(1_000_000)
      ledger.spent.set('tenant:acme', 996_500)
      const decisions = await Promise.all(
        Array.from({ length: 50 }, () => store.reserve(request({ tenant, amount: 1_000 })))
      )
      const admitted = decisions.filter((decision) => decision.allowed)
      expect(admitted).toHaveLength(3) // 996,500 + 3 × 1,000 fits; a 4th would reach 1,000,500
      // Real costs above the reservations (a worst case that was wrong): the overshoot is bounded by those in flight.
      for (const decision of admitted) await store.settle(reservationOf(decision), 1_400)
      const after = await store.reserve(request({ tenant, amount: 0 }))
      expect(after).toMatchObject({
        allowed: false,
        refusal: { spent: true, spentMicroUsd: 1_000_700 },
      })
      expect(1_000_700 - 1_000_000).toBeLessThanOrEqual(3 * 1_400)
    })

    it('50 concurrent reservations whose real costs stay within them never pass the budget', async () => {
      const { store, ledger } = get()
      const key = monthly(100_000)
      ledger.spent.set('key:key-a', 90_000)
      const decisions = await Promise.all(
        Array.from({ length: 50 }, () => store.reserve(request({ key, amount: 700 })))
      )
      const admitted = decisions.filter((decision) => decision.allowed)
      expect(admitted).toHaveLength(14) // 14 × 700 = 9,800 ≤ 10,000
      await Promise.all(admitted.map((decision) => store.settle(reservationOf(decision), 650)))
      const state = stateOf(await store.reserve(request({ key, amount: 0 })), 'key')
      expect(state).toMatchObject({ spentMicroUsd: 90_000 + 14 * 650, reservedMicroUsd: 0 })
    })

    it("reserves the tenant's and the key's budgets together or not at all", async () => {
      const { store } = get()
      const tenant = monthly(1_000)
      expect(
        (await store.reserve(request({ tenant, key: monthly(600), amount: 500 }))).allowed
      ).toBe(true)
      const byKey = await store.reserve(request({ tenant, key: monthly(600), amount: 200 }))
      expect(byKey).toMatchObject({ allowed: false, refusal: { scope: 'key' } })
      expect(stateOf(byKey, 'tenant')?.reservedMicroUsd).toBe(500)
      const other = { tenant, key: monthly(10_000), keyId: 'key-b' }
      expect((await store.reserve(request({ ...other, amount: 500 }))).allowed).toBe(true)
      const byTenant = await store.reserve(request({ ...other, amount: 1 }))
      expect(byTenant).toMatchObject({
        allowed: false,
        refusal: { scope: 'tenant', remainingMicroUsd: 0 },
      })
      expect(stateOf(byTenant, 'key')?.reservedMicroUsd).toBe(500)
    })

    it('loads the spend once per counter, however many requests start it at the same time', async () => {
      const { store, ledger } = get()
      ledger.spent.set('tenant:acme', 300)
      ledger.spent.set('key:key-a', 200)
      const decisions = await Promise.all(
        Array.from({ length: 20 }, () =>
          store.reserve(request({ tenant: monthly(10_000), key: monthly(10_000), amount: 10 }))
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
      const states = decisions.map((decision) => stateOf(decision, 'tenant'))
      expect(new Set(states.map((state) => state?.spentMicroUsd))).toEqual(new Set([300]))
      expect(Math.max(...states.map((state) => state?.reservedMicroUsd ?? 0))).toBe(200)
    })

    it("frees a crashed process's reservation when its TTL ends", async () => {
      const { store, clock } = get()
      const key = monthly(1_000)
      expect((await store.reserve(request({ key, amount: 900, ttlMs: 10_000 }))).allowed).toBe(true)
      await clock.advance(9_999)
      expect((await store.reserve(request({ key, amount: 200 }))).allowed).toBe(false)
      await clock.advance(1)
      expect(stateOf(await store.reserve(request({ key, amount: 200 })), 'key')).toMatchObject({
        reservedMicroUsd: 200,
      })
    })

    for (const [period, lastInstant, nextStart] of [
      ['day', Date.UTC(2026, 2, 10, 23, 59, 59, 999), Date.UTC(2026, 2, 11)],
      ['week', Date.UTC(2026, 0, 11, 23, 59, 59, 999), Date.UTC(2026, 0, 12)], // Sunday → Monday
      ['month', Date.UTC(2026, 0, 31, 23, 59, 59, 999), Date.UTC(2026, 1, 1)],
    ] as const)
      it(`starts a new ${period} at its UTC boundary, where a cost reserved before it still lands in the old one`, async () => {
        const { store, clock, ledger } = get()
        const key: Budget = { limitMicroUsd: 1_000, period }
        await clock.advance(lastInstant - clock.now())
        await store.settle(reservationOf(await store.reserve(request({ key, amount: 900 }))), 900)
        const late = reservationOf(await store.reserve(request({ key, amount: 100 })))
        expect((await store.reserve(request({ key, amount: 0 }))).allowed).toBe(false)
        await clock.advance(1)
        expect(clock.now()).toBe(nextStart)
        await store.settle(late, 100) // reserved in the old period, settled in the new
        const fresh = await store.reserve(request({ key, amount: 1_000 }))
        expect(stateOf(fresh, 'key')).toMatchObject({
          periodStart: nextStart,
          spentMicroUsd: 0,
          reservedMicroUsd: 1_000,
        })
        expect(ledger.queries.at(-1)).toMatchObject({ period, start: nextStart })
      })

    it('keeps a total budget across periods', async () => {
      const { store, clock } = get()
      const key: Budget = { limitMicroUsd: 1_000, period: 'total' }
      await clock.advance(Date.UTC(2026, 0, 29) - clock.now())
      await store.settle(reservationOf(await store.reserve(request({ key, amount: 700 }))), 700)
      await clock.advance(5 * 86_400_000) // into February and a new week, within the counter's idle TTL
      expect(await store.reserve(request({ key, amount: 301 }))).toMatchObject({
        allowed: false,
        refusal: { period: 'total', periodStart: null, periodEnd: null, spentMicroUsd: 700 },
      })
    })

    it('passes a loader failure or a bad answer to the caller, and loads again on the next request', async () => {
      const { store, ledger } = get()
      const key = monthly(1_000)
      ledger.failures = 1
      await expect(store.reserve(request({ key, amount: 1 }))).rejects.toThrow(
        'usage store unreachable'
      )
      ledger.spent.set('key:key-a', Number.NaN)
      await expect(store.reserve(request({ key, amount: 1 }))).rejects.toThrow(
        /spend loader answered NaN/
      )
      ledger.spent.set('key:key-a', 10)
      expect(stateOf(await store.reserve(request({ key, amount: 1 })), 'key')).toMatchObject({
        spentMicroUsd: 10,
      })
      expect(ledger.queries).toHaveLength(3)
    })

    it('admits without states when neither has a budget', async () => {
      const { store, ledger } = get()
      const decision = await store.reserve(request({ amount: 10_000_000 }))
      expect(decision).toMatchObject({ allowed: true, states: [] })
      await store.settle(reservationOf(decision), 5)
      expect(ledger.queries).toEqual([])
    })
  },
})

describe('budget store (redis, shared)', () => {
  requireStoreService('redis')

  it('two processes with 25 concurrent reservations each stay within a nearly spent budget', async () => {
    const test = await openTestRedis('budgets-shared')
    try {
      const other = await test.connect()
      const clock = createFakeClock()
      const ledger = createLedger()
      ledger.spent.set('key:key-a', 996_000)
      const stores = [test, other].map(({ redis, guard }) =>
        createRedisBudgetStore({
          redis,
          guard,
          clock,
          prefix: test.prefix,
          loadSpent: ledger.loader,
        })
      )
      const key = monthly(1_000_000)
      const decisions = await Promise.all(
        Array.from({ length: 50 }, (_, index) =>
          stores[index % 2].reserve(request({ key, amount: 1_000 }))
        )
      )
      const admitted = decisions.filter((decision) => decision.allowed)
      expect(admitted).toHaveLength(4)
      // Each process loaded at most once, and the spend was applied once, not once per process.
      expect(ledger.queries.length).toBeGreaterThanOrEqual(1)
      expect(ledger.queries.length).toBeLessThanOrEqual(2)
      await Promise.all(
        admitted.map((decision, index) => stores[index % 2].settle(reservationOf(decision), 1_000))
      )
      expect(await stores[1].reserve(request({ key, amount: 0 }))).toMatchObject({
        allowed: false,
        refusal: { spent: true, spentMicroUsd: 1_000_000, reservedMicroUsd: 0 },
      })
      const ttls = await ttlsUnder(test.redis, test.prefix)
      expect(ttls.size).toBeGreaterThan(0)
      for (const [name, ttl] of ttls) expect([name, ttl > 0]).toEqual([name, true])
    } finally {
      await test.cleanup()
    }
  })

  it('never recreates a lost counter on settle: the next reservation seeds it from the usage store', async () => {
    const test = await openTestRedis('budgets-lost')
    try {
      const clock = createFakeClock()
      const ledger = createLedger()
      const store = createRedisBudgetStore({
        redis: test.redis,
        guard: test.guard,
        clock,
        prefix: test.prefix,
        loadSpent: ledger.loader,
      })
      const key = monthly(1_000)
      const reservation = reservationOf(await store.reserve(request({ key, amount: 300 })))
      const counters = [...(await ttlsUnder(test.redis, test.prefix)).keys()].filter((name) =>
        name.endsWith(':spent')
      )
      expect(counters).toHaveLength(1)
      await test.redis.del(counters[0]) // Redis restarted without persistence
      await store.settle(reservation, 250)
      expect(await test.redis.exists(counters[0])).toBe(0)
      ledger.spent.set('key:key-a', 250) // the usage store has the event by now
      await clock.advance(2_000)
      expect(stateOf(await store.reserve(request({ key, amount: 0 })), 'key')).toMatchObject({
        spentMicroUsd: 250,
      })
      expect(ledger.queries).toHaveLength(2)
    } finally {
      await test.cleanup()
    }
  })
})
