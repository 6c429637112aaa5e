/**
 * `AdmissionStore.peek`, memory and Redis through the same cases on a fake clock (the Redis store takes it in place of
 * Redis's `TIME` for its rate limits): it reads the requests and tokens left of a tenant and its key, as a refused
 * admission reports them, and takes nothing, however often it looks. The Redis-only cases at the end hold the script
 * to reading only: no key written or created, no TTL renewed, and entries that left the window counted out, not
 * removed.
 */
import type { Redis } from 'ioredis'
import { describe, expect, it } from 'vitest'
import type {
  AdmissionDecision,
  AdmissionRequest,
  AdmissionStore,
  AdmissionTicket,
  PeekRequest,
} from '../../src/stores/admission-store.ts'
import { createMemoryAdmissionStore } from '../../src/stores/memory/memory-admission-store.ts'
import {
  tightestRateLimit,
  type RateLimits,
  type RateLimitState,
} from '../../src/stores/rate-limits.ts'
import { createRedisAdmissionStore } from '../../src/stores/redis/redis-admission-store.ts'
import { createFakeClock, type FakeClock } from '../helpers/fake-clock.ts'
import { defineStoreContract, requireStoreService } from './define-store-contract.ts'
import { openTestRedis, ttlsUnder, type TestRedis } from './open-test-redis.ts'

type Fixture = { store: AdmissionStore; clock: FakeClock }

const minute = 60_000

const subjects = (
  options: { tenant?: RateLimits; key?: RateLimits; tenantId?: string; keyId?: string } = {}
): PeekRequest => ({
  tenant: { id: options.tenantId ?? 'acme', limits: options.tenant ?? {}, budget: null },
  key: { id: options.keyId ?? 'key-a', limits: options.key ?? {}, budget: null },
})

const admission = (limits: PeekRequest, tokens = 0): AdmissionRequest => ({
  ...limits,
  tokens,
  costMicroUsd: 0,
})

const ticketOf = (decision: AdmissionDecision): AdmissionTicket => {
  if (!decision.allowed) throw new Error(`refused: ${JSON.stringify(decision.refusal)}`)
  return decision.ticket
}

const find = (
  states: readonly RateLimitState[] | null,
  scope: RateLimitState['scope'],
  dimension: RateLimitState['dimension']
): RateLimitState | undefined =>
  states?.find((state) => state.scope === scope && state.dimension === dimension)

const redisStore = (
  test: { redis: Redis; guard: TestRedis['guard'] },
  prefix: string,
  clock: FakeClock
): AdmissionStore =>
  createRedisAdmissionStore({
    redis: test.redis,
    guard: test.guard,
    prefix,
    clock,
    loadSpent: async () => 0,
    rateLimitTime: clock,
  })

defineStoreContract<Fixture>({
  name: 'admission store peek',
  implementations: [
    {
      name: 'memory',
      create: async () => {
        const clock = createFakeClock()
        return {
          store: { store: createMemoryAdmissionStore({ clock, loadSpent: async () => 0 }), clock },
        }
      },
    },
    {
      name: 'redis',
      requires: 'redis',
      create: async () => {
        const clock = createFakeClock()
        const test = await openTestRedis('admission-peek')
        return {
          store: { store: redisStore(test, test.prefix, clock), clock },
          cleanup: test.cleanup,
        }
      },
    },
  ],
  cases: (get) => {
    it('reads what is left without taking it: after any number of peeks the next admission counts as before', async () => {
      const { store, clock } = get()
      const limits = subjects({ key: { requestsPerMinute: 5, tokensPerMinute: 1_000 } })
      ticketOf(await store.admit(admission(limits, 100)))
      await clock.advance(1_000)
      ticketOf(await store.admit(admission(limits, 100)))
      await clock.advance(2_000)
      const peeks = await Promise.all(Array.from({ length: 10 }, () => store.peek(limits)))
      for (const states of peeks)
        expect(states).toEqual([
          // The newest entry, 2 s old, leaves the window in 58 s.
          { scope: 'key', dimension: 'requests', limit: 5, remaining: 3, resetMs: 58_000 },
          { scope: 'key', dimension: 'tokens', limit: 1_000, remaining: 800, resetMs: 58_000 },
        ])
      const next = await store.admit(admission(limits, 100))
      expect(find(next.rateLimits, 'key', 'requests')?.remaining).toBe(2)
      expect(find(next.rateLimits, 'key', 'tokens')?.remaining).toBe(700)
    })

    it('reads a tenant and a key never admitted at their full limits, with nothing to wait for', async () => {
      const { store } = get()
      const states = await store.peek(
        subjects({
          tenant: { requestsPerMinute: 100 },
          key: { requestsPerMinute: 10, tokensPerMinute: 5_000 },
          keyId: 'key-new',
        })
      )
      expect(states).toEqual([
        { scope: 'tenant', dimension: 'requests', limit: 100, remaining: 100, resetMs: 0 },
        { scope: 'key', dimension: 'requests', limit: 10, remaining: 10, resetMs: 0 },
        { scope: 'key', dimension: 'tokens', limit: 5_000, remaining: 5_000, resetMs: 0 },
      ])
    })

    it('answers what a refused admission reports, so the headers show the same tightest limit', async () => {
      const { store, clock } = get()
      const limits = subjects({
        tenant: { requestsPerMinute: 10, tokensPerMinute: 5_000 },
        key: { requestsPerMinute: 3, tokensPerMinute: 1_000 },
      })
      for (let index = 0; index < 3; index += 1) {
        ticketOf(await store.admit(admission(limits, 200)))
        await clock.advance(1_000)
      }
      const refused = await store.admit(admission(limits, 200))
      expect(refused.allowed).toBe(false)
      const peeked = await store.peek(limits)
      expect(peeked).toEqual(refused.rateLimits)
      expect(tightestRateLimit(peeked ?? [], 'requests')).toMatchObject({
        scope: 'key',
        remaining: 0,
      })
      expect(tightestRateLimit(peeked ?? [], 'tokens')).toMatchObject({
        scope: 'key',
        remaining: 400,
      })
      // Another key of the same tenant reads the tenant's window as this one left it.
      const other = await store.peek(
        subjects({ tenant: limits.tenant.limits, key: { requestsPerMinute: 3 }, keyId: 'key-b' })
      )
      expect(find(other, 'tenant', 'requests')?.remaining).toBe(7)
      expect(find(other, 'tenant', 'tokens')?.remaining).toBe(4_400)
      expect(find(other, 'key', 'requests')?.remaining).toBe(3)
    })

    it('follows settled tokens, and the entries leaving the window', async () => {
      const { store, clock } = get()
      const limits = subjects({ key: { requestsPerMinute: 10, tokensPerMinute: 1_000 } })
      const ticket = ticketOf(await store.admit(admission(limits, 400)))
      await store.settle(ticket, { tokens: 150, costMicroUsd: 0 })
      expect(find(await store.peek(limits), 'key', 'tokens')?.remaining).toBe(850)
      await clock.advance(minute)
      expect(await store.peek(limits)).toEqual([
        { scope: 'key', dimension: 'requests', limit: 10, remaining: 10, resetMs: 0 },
        { scope: 'key', dimension: 'tokens', limit: 1_000, remaining: 1_000, resetMs: 0 },
      ])
      // A window full from before, then gone: the next admission sees it gone too.
      expect(
        find((await store.admit(admission(limits, 0))).rateLimits, 'key', 'requests')
      ).toMatchObject({
        remaining: 9,
      })
    })

    it('reads no concurrency limit and no budget: nothing at all without a requests or tokens limit', async () => {
      const { store } = get()
      expect(await store.peek(subjects())).toEqual([])
      const leased = subjects({ key: { concurrentRequests: 1 } })
      ticketOf(await store.admit(admission(leased)))
      expect(await store.peek(leased)).toEqual([])
      expect(
        await store.peek({
          tenant: { id: 'acme', limits: {}, budget: { limitMicroUsd: 1_000, period: 'month' } },
          key: { id: 'key-a', limits: { tokensPerMinute: 10 }, budget: null },
        })
      ).toEqual([{ scope: 'key', dimension: 'tokens', limit: 10, remaining: 10, resetMs: 0 }])
      // The lease is still held: peeking freed nothing either.
      expect((await store.admit(admission(leased))).allowed).toBe(false)
    })

    it('rejects limits no caller should send', async () => {
      const { store } = get()
      await expect(store.peek(subjects({ key: { requestsPerMinute: -1 } }))).rejects.toThrow(
        /key\.limits\.requestsPerMinute = -1/
      )
      await expect(store.peek(subjects({ tenant: { tokensPerMinute: 1.5 } }))).rejects.toThrow(
        /tenant\.limits\.tokensPerMinute = 1\.5/
      )
    })
  },
})

/** Every key under `prefix` with its contents, as Redis gives them back. */
const contentsUnder = async (redis: Redis, prefix: string): Promise<Map<string, unknown>> => {
  const contents = new Map<string, unknown>()
  for (const key of (await ttlsUnder(redis, prefix)).keys()) {
    const type = await redis.type(key)
    contents.set(
      key,
      type === 'hash'
        ? await redis.hgetall(key)
        : type === 'zset'
          ? await redis.zrange(key, 0, -1, 'WITHSCORES')
          : type
    )
  }
  return contents
}

describe('admission store peek (redis, reading only)', () => {
  requireStoreService('redis')

  it('writes nothing and renews no TTL, with entries past the window counted out but left in place', async () => {
    const test = await openTestRedis('admission-peek-reads')
    try {
      const clock = createFakeClock()
      const store = redisStore(test, test.prefix, clock)
      const limits = subjects({
        tenant: { requestsPerMinute: 1_000 },
        key: { requestsPerMinute: 1_000, tokensPerMinute: 100_000 },
      })
      // 300 entries (more than the script reads in one go), 5 newer ones, then the 300 leave the window.
      await Promise.all(Array.from({ length: 300 }, () => store.admit(admission(limits, 10))))
      await clock.advance(30_000)
      for (let index = 0; index < 5; index += 1) ticketOf(await store.admit(admission(limits, 7)))
      await clock.advance(31_000)
      // Shorter than the admissions left them, so that a renewal would show.
      for (const key of (await ttlsUnder(test.redis, test.prefix)).keys())
        await test.redis.pexpire(key, 50_000)
      const before = await contentsUnder(test.redis, test.prefix)
      expect(before.size).toBe(4) // the log and its hash, per subject

      const states = await store.peek(limits)
      expect(states).toEqual([
        { scope: 'tenant', dimension: 'requests', limit: 1_000, remaining: 995, resetMs: 29_000 },
        { scope: 'key', dimension: 'requests', limit: 1_000, remaining: 995, resetMs: 29_000 },
        {
          scope: 'key',
          dimension: 'tokens',
          limit: 100_000,
          remaining: 100_000 - 35,
          resetMs: 29_000,
        },
      ])
      expect(await contentsUnder(test.redis, test.prefix)).toEqual(before)
      for (const [key, ttl] of await ttlsUnder(test.redis, test.prefix))
        expect([key, ttl > 0 && ttl <= 50_000]).toEqual([key, true])

      // A tenant and a key never admitted: read as empty, and no key is created for them.
      expect(
        await store.peek(
          subjects({ tenant: { requestsPerMinute: 5 }, tenantId: 'other', keyId: 'key-new' })
        )
      ).toEqual([{ scope: 'tenant', dimension: 'requests', limit: 5, remaining: 5, resetMs: 0 }])
      expect((await ttlsUnder(test.redis, test.prefix)).size).toBe(4)
    } finally {
      await test.cleanup()
    }
  })
})
