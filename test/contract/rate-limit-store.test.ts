/**
 * The rate-limit store contract: memory and Redis through the same cases, with time from a fake clock (the Redis store
 * takes it in place of Redis's `TIME` here). The Redis-only cases after it run on Redis's own clock: two connections
 * standing for two gateway processes sharing one limit, lease expiry, and a TTL on every key.
 */
import { describe, expect, it } from 'vitest'
import { createMemoryRateLimitStore } from '../../src/stores/memory/memory-rate-limit-store.ts'
import { createRedisRateLimitStore } from '../../src/stores/redis/redis-rate-limit-store.ts'
import {
  tightestRateLimit,
  type RateLimitDecision,
  type RateLimitLease,
  type RateLimitRequest,
  type RateLimitState,
  type RateLimitStore,
  type RateLimits,
} from '../../src/stores/rate-limit-store.ts'
import { createFakeClock, type FakeClock } from '../helpers/fake-clock.ts'
import { defineStoreContract, requireStoreService } from './define-store-contract.ts'
import { openTestRedis, ttlsUnder } from './open-test-redis.ts'

type Fixture = { store: RateLimitStore; clock: FakeClock }

const minute = 60_000

const request = (
  options: {
    tenant?: RateLimits
    key?: RateLimits
    keyId?: string
    tokens?: number
    leaseTtlMs?: number
  } = {}
): RateLimitRequest => ({
  tenant: { id: 'acme', limits: options.tenant ?? {} },
  key: { id: options.keyId ?? 'key-a', limits: options.key ?? {} },
  tokens: options.tokens ?? 0,
  leaseTtlMs: options.leaseTtlMs,
})

const leaseOf = (decision: RateLimitDecision): RateLimitLease => {
  if (!decision.allowed) throw new Error(`refused: ${JSON.stringify(decision.refusal)}`)
  return decision.lease
}

const stateOf = (
  decision: RateLimitDecision,
  scope: RateLimitState['scope'],
  dimension: RateLimitState['dimension']
): RateLimitState | undefined =>
  decision.states.find((state) => state.scope === scope && state.dimension === dimension)

defineStoreContract<Fixture>({
  name: 'rate-limit store',
  implementations: [
    {
      name: 'memory',
      create: async () => {
        const clock = createFakeClock()
        return { store: { store: createMemoryRateLimitStore({ clock }), clock } }
      },
    },
    {
      name: 'redis',
      requires: 'redis',
      create: async () => {
        const clock = createFakeClock()
        const test = await openTestRedis('rate-limits')
        const store = createRedisRateLimitStore({
          redis: test.redis,
          guard: test.guard,
          prefix: test.prefix,
          time: clock,
        })
        return { store: { store, clock }, cleanup: test.cleanup }
      },
    },
  ],
  cases: (get) => {
    it('admits exactly N in a window: the N-th is allowed, the N+1-th refused until the first turns 60 s old', async () => {
      const { store, clock } = get()
      const limits = { requestsPerMinute: 5 }
      const remaining: number[] = []
      for (let index = 0; index < 5; index += 1) {
        const decision = await store.acquire(request({ key: limits }))
        expect(decision.allowed).toBe(true)
        remaining.push(stateOf(decision, 'key', 'requests')?.remaining ?? -1)
        await clock.advance(1_000)
      }
      expect(remaining).toEqual([4, 3, 2, 1, 0])
      // now = start + 5 s; the first entry (at start) frees at start + 60 s
      const refused = await store.acquire(request({ key: limits }))
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
      expect(await store.acquire(request({ key: limits }))).toMatchObject({
        allowed: false,
        refusal: { retryAfterMs: 1 },
      })
      await clock.advance(1)
      const admitted = await store.acquire(request({ key: limits }))
      expect(admitted.allowed).toBe(true)
      expect(stateOf(admitted, 'key', 'requests')).toMatchObject({ remaining: 0, resetMs: minute })
      expect((await store.acquire(request({ key: limits }))).allowed).toBe(false)
    })

    it('slides: N admitted just before a minute boundary still refuse just after it', async () => {
      const { store, clock } = get()
      await clock.advance(59_000) // 00:00:59
      for (let index = 0; index < 3; index += 1)
        expect((await store.acquire(request({ key: { requestsPerMinute: 3 } }))).allowed).toBe(true)
      await clock.advance(2_000) // 00:01:01: a fixed window would start over here
      expect(await store.acquire(request({ key: { requestsPerMinute: 3 } }))).toMatchObject({
        allowed: false,
        refusal: { retryAfterMs: 58_000 },
      })
    })

    it('admits exactly N of 3N concurrent requests', async () => {
      const { store } = get()
      const decisions = await Promise.all(
        Array.from({ length: 30 }, () => store.acquire(request({ key: { requestsPerMinute: 10 } })))
      )
      expect(decisions.filter((decision) => decision.allowed)).toHaveLength(10)
    })

    it("takes the tenant's and the key's limits together or not at all", async () => {
      const { store } = get()
      const tenant = { requestsPerMinute: 3, tokensPerMinute: 1_000 }
      const keyA = { requestsPerMinute: 2 }
      const keyB = { requestsPerMinute: 10, tokensPerMinute: 10_000 }
      expect((await store.acquire(request({ tenant, key: keyA }))).allowed).toBe(true)
      expect((await store.acquire(request({ tenant, key: keyA }))).allowed).toBe(true)
      // The key refuses: the tenant's request quota is not consumed...
      const byKey = await store.acquire(request({ tenant, key: keyA }))
      expect(byKey).toMatchObject({
        allowed: false,
        refusal: { scope: 'key', dimension: 'requests' },
      })
      expect(stateOf(byKey, 'tenant', 'requests')?.remaining).toBe(1)
      // ...so another key of the tenant gets the last one.
      const last = await store.acquire(request({ tenant, key: keyB, keyId: 'key-b', tokens: 100 }))
      expect(stateOf(last, 'tenant', 'requests')?.remaining).toBe(0)
      expect(stateOf(last, 'key', 'requests')?.remaining).toBe(9)
      // The tenant refuses: the key's quotas are not consumed.
      const byTenant = await store.acquire(
        request({ tenant, key: keyB, keyId: 'key-b', tokens: 100 })
      )
      expect(byTenant).toMatchObject({
        allowed: false,
        refusal: { scope: 'tenant', dimension: 'requests' },
      })
      expect(stateOf(byTenant, 'key', 'requests')?.remaining).toBe(9)
      expect(stateOf(byTenant, 'key', 'tokens')?.remaining).toBe(9_900)
      expect(stateOf(byTenant, 'tenant', 'tokens')?.remaining).toBe(900)
      // The headers show, per dimension, the limit closest to refusing.
      expect(tightestRateLimit(byTenant.states, 'requests')?.scope).toBe('tenant')
      expect(tightestRateLimit(byTenant.states, 'tokens')).toMatchObject({
        scope: 'tenant',
        remaining: 900,
      })
      expect(tightestRateLimit(byTenant.states, 'concurrent')).toBeNull()
    })

    it('takes the token estimate before the call and settles it to the real count after', async () => {
      const { store, clock } = get()
      const key = { tokensPerMinute: 1_000 }
      const first = await store.acquire(request({ key, tokens: 400 }))
      expect(stateOf(first, 'key', 'tokens')).toMatchObject({
        limit: 1_000,
        remaining: 600,
        resetMs: minute,
      })
      await store.release(leaseOf(first), { actualTokens: 100 }) // settled down
      await clock.advance(10_000)
      const second = await store.acquire(request({ key, tokens: 300 }))
      expect(stateOf(second, 'key', 'tokens')?.remaining).toBe(600)
      await store.release(leaseOf(second), { actualTokens: 1_200 }) // settled up, over the limit
      await clock.advance(10_000)
      // used 1,300 of 1,000: refused until the 1,200 (taken at +10 s) leaves at +70 s
      const over = await store.acquire(request({ key, tokens: 0 }))
      expect(over).toMatchObject({
        allowed: false,
        refusal: { scope: 'key', dimension: 'tokens', limit: 1_000, retryAfterMs: 50_000 },
      })
      expect(stateOf(over, 'key', 'tokens')).toMatchObject({ remaining: 0, resetMs: 50_000 })
      await clock.advance(50_000)
      expect(
        stateOf(await store.acquire(request({ key, tokens: 0 })), 'key', 'tokens')?.remaining
      ).toBe(1_000)
    })

    it('keeps the estimate when the real count is unknown, and settles a lease once', async () => {
      const { store } = get()
      const key = { tokensPerMinute: 1_000, concurrentRequests: 1 }
      const lease = leaseOf(await store.acquire(request({ key, tokens: 250 })))
      await store.release(lease, { actualTokens: null })
      await store.release(lease, { actualTokens: 900 }) // a second release does nothing
      const next = await store.acquire(request({ key, tokens: 0 }))
      expect(stateOf(next, 'key', 'tokens')?.remaining).toBe(750)
      expect(stateOf(next, 'key', 'concurrent')?.remaining).toBe(0)
    })

    it('counts a real count above the estimate from now when the estimate has left the window', async () => {
      const { store, clock } = get()
      const key = { tokensPerMinute: 1_000 }
      const lease = leaseOf(await store.acquire(request({ key, tokens: 100 })))
      await clock.advance(minute + 5_000) // a long stream
      await store.release(lease, { actualTokens: 700 })
      const next = await store.acquire(request({ key, tokens: 0 }))
      expect(stateOf(next, 'key', 'tokens')).toMatchObject({ remaining: 400, resetMs: minute })
    })

    it('counts zero and very large token amounts exactly', async () => {
      const { store, clock } = get()
      const key = { tokensPerMinute: 1_000_000_000_000_000 }
      await store.release(leaseOf(await store.acquire(request({ key, tokens: 0 }))), {
        actualTokens: 0,
      })
      await clock.advance(minute) // the 0-token entry leaves the window
      const large = await store.acquire(request({ key, tokens: 123_456_789_012_345 }))
      expect(stateOf(large, 'key', 'tokens')?.remaining).toBe(876_543_210_987_655)
      await store.release(leaseOf(large), { actualTokens: 223_456_789_012_345 })
      await clock.advance(minute) // both leave
      const next = await store.acquire(request({ key, tokens: 0 }))
      expect(stateOf(next, 'key', 'tokens')?.remaining).toBe(1_000_000_000_000_000)
    })

    it('refuses for good a request whose tokens alone exceed the limit, and a limit of 0', async () => {
      const { store } = get()
      expect(
        await store.acquire(request({ key: { tokensPerMinute: 1_000 }, tokens: 1_001 }))
      ).toMatchObject({
        allowed: false,
        refusal: { dimension: 'tokens', retryAfterMs: null },
      })
      expect(await store.acquire(request({ tenant: { requestsPerMinute: 0 } }))).toMatchObject({
        allowed: false,
        refusal: { scope: 'tenant', dimension: 'requests', limit: 0, retryAfterMs: null },
      })
      expect(
        (await store.acquire(request({ key: { tokensPerMinute: 1_000 }, tokens: 1_000 }))).allowed
      ).toBe(true)
    })

    it('holds concurrency slots until release, and frees a slot whose lease expires', async () => {
      const { store, clock } = get()
      const key = { concurrentRequests: 2 }
      const first = leaseOf(await store.acquire(request({ key, leaseTtlMs: 5_000 })))
      const second = await store.acquire(request({ key, leaseTtlMs: 5_000 }))
      expect(stateOf(second, 'key', 'concurrent')).toMatchObject({
        limit: 2,
        remaining: 0,
        resetMs: 5_000,
      })
      const refused = await store.acquire(request({ key }))
      expect(refused).toMatchObject({
        allowed: false,
        refusal: { scope: 'key', dimension: 'concurrent', limit: 2, retryAfterMs: 1_000 },
      })
      await store.release(first, { actualTokens: null })
      expect((await store.acquire(request({ key, leaseTtlMs: 5_000 }))).allowed).toBe(true)
      expect((await store.acquire(request({ key }))).allowed).toBe(false)
      // The second lease's holder crashed: its slot frees itself at its TTL.
      await clock.advance(4_999)
      expect((await store.acquire(request({ key }))).allowed).toBe(false)
      await clock.advance(1)
      expect((await store.acquire(request({ key, leaseTtlMs: 5_000 }))).allowed).toBe(true)
    })

    it('names the refusal that frees last when several refuse', async () => {
      const { store } = get()
      const tenant = { concurrentRequests: 1 }
      const key = { requestsPerMinute: 1 }
      expect((await store.acquire(request({ tenant, key }))).allowed).toBe(true)
      expect(await store.acquire(request({ tenant, key }))).toMatchObject({
        allowed: false,
        refusal: { scope: 'key', dimension: 'requests', retryAfterMs: minute },
      })
    })

    it('admits without states when neither has limits', async () => {
      const decision = await get().store.acquire(request({ tokens: 10_000 }))
      expect(decision.allowed).toBe(true)
      expect(decision.states).toEqual([])
      await get().store.release(leaseOf(decision), { actualTokens: 5 })
    })

    it('rejects limits and counts no caller should send', async () => {
      const { store } = get()
      await expect(store.acquire(request({ key: { requestsPerMinute: -1 } }))).rejects.toThrow(
        /key\.limits\.requestsPerMinute = -1/
      )
      await expect(store.acquire(request({ tokens: 1.5 }))).rejects.toThrow(/tokens = 1\.5/)
    })
  },
})

describe('rate-limit store (redis, on Redis time)', () => {
  requireStoreService('redis')

  it('two processes sharing a limit admit exactly N of 3N concurrent requests', async () => {
    const test = await openTestRedis('rate-limits-shared')
    try {
      const other = await test.connect()
      const stores = [
        createRedisRateLimitStore({ redis: test.redis, guard: test.guard, prefix: test.prefix }),
        createRedisRateLimitStore({ redis: other.redis, guard: other.guard, prefix: test.prefix }),
      ]
      const limits = { requestsPerMinute: 20, concurrentRequests: 1_000, tokensPerMinute: 100_000 }
      const decisions = await Promise.all(
        Array.from({ length: 60 }, (_, index) =>
          stores[index % 2].acquire(request({ tenant: limits, key: limits, tokens: 10 }))
        )
      )
      const allowed = decisions.filter((decision) => decision.allowed)
      expect(allowed).toHaveLength(20)
      expect(
        new Set(allowed.map((decision) => stateOf(decision, 'key', 'requests')?.remaining)).size
      ).toBe(20)
      // Every key the store wrote expires.
      const ttls = await ttlsUnder(test.redis, test.prefix)
      expect(ttls.size).toBe(8)
      for (const [key, ttl] of ttls) expect([key, ttl > 0]).toEqual([key, true])
    } finally {
      await test.cleanup()
    }
  })

  it('frees a window and a lease on Redis time', async () => {
    const test = await openTestRedis('rate-limits-time')
    try {
      const store = createRedisRateLimitStore({
        redis: test.redis,
        guard: test.guard,
        prefix: test.prefix,
        windowMs: 300,
      })
      const key = { requestsPerMinute: 2, concurrentRequests: 1 }
      expect((await store.acquire(request({ key, leaseTtlMs: 150 }))).allowed).toBe(true)
      expect(await store.acquire(request({ key, leaseTtlMs: 150 }))).toMatchObject({
        allowed: false,
        refusal: { dimension: 'concurrent' },
      })
      await new Promise((resolve) => setTimeout(resolve, 160))
      const second = await store.acquire(request({ key, leaseTtlMs: 150 }))
      expect(second.allowed).toBe(true)
      const refused = await store.acquire(request({ key }))
      expect(refused).toMatchObject({ allowed: false })
      if (refused.allowed) return
      expect(refused.refusal.retryAfterMs).toBeGreaterThan(0)
      expect(refused.refusal.retryAfterMs).toBeLessThanOrEqual(300)
      await new Promise((resolve) => setTimeout(resolve, 310))
      expect((await store.acquire(request({ key: { requestsPerMinute: 2 } }))).allowed).toBe(true)
      for (const [key, ttl] of await ttlsUnder(test.redis, test.prefix))
        expect([key, ttl > 0]).toEqual([key, true])
    } finally {
      await test.cleanup()
    }
  })
})
