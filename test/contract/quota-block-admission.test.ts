/**
 * Quota blocks over the Redis admission store, on Redis's clock: busy keys are admitted from blocks (far fewer
 * scripts than requests), every request, token and micro-dollar still lands in the shared counters once the blocks
 * close, two processes near a limit still admit exactly N, and what blocks do not use is handed back. A peek counts
 * what this process's open block has not used as still the key's, as the requests admitted from it report.
 */
import { describe, expect, it } from 'vitest'
import { systemClock } from '../../src/core/clock.ts'
import type {
  AdmissionDecision,
  AdmissionRequest,
  AdmissionStore,
  BlockAdmission,
} from '../../src/stores/admission-store.ts'
import {
  createQuotaBlockAdmission,
  type QuotaBlockAdmission,
} from '../../src/stores/quota-block-admission.ts'
import { tightestRateLimit, type RateLimits } from '../../src/stores/rate-limits.ts'
import { createRedisAdmissionStore } from '../../src/stores/redis/redis-admission-store.ts'
import type { RedisGuard } from '../../src/stores/redis/redis-guard.ts'
import type { Redis } from 'ioredis'
import { createRecordingLogger } from '../helpers/fake-deps.ts'
import { requireStoreService } from './define-store-contract.ts'
import { openTestRedis } from './open-test-redis.ts'

/** The Redis store with its calls counted: single admissions, blocks, settles, rebooks and peeks. */
const countedStore = (
  connection: { redis: Redis; guard: RedisGuard },
  prefix: string
): { store: AdmissionStore & BlockAdmission; calls: Record<string, number> } => {
  const inner = createRedisAdmissionStoreFor({ ...connection, prefix })
  const calls = { admit: 0, admitBlock: 0, settle: 0, rebook: 0, peek: 0 }
  return {
    calls,
    store: {
      admit: (request) => ((calls.admit += 1), inner.admit(request)),
      settle: (ticket, usage) => ((calls.settle += 1), inner.settle(ticket, usage)),
      peek: (request) => ((calls.peek += 1), inner.peek(request)),
      admitBlock: (request, count, stampOffsetMs) => (
        (calls.admitBlock += 1),
        inner.admitBlock(request, count, stampOffsetMs)
      ),
      rebook: (block, from, to, spent) => (
        (calls.rebook += 1),
        inner.rebook(block, from, to, spent)
      ),
    },
  }
}

const request = (
  options: { rpm?: number; tpm?: number; budget?: number; concurrency?: number } = {}
): AdmissionRequest => {
  const limits: RateLimits = {
    requestsPerMinute: options.rpm ?? null,
    tokensPerMinute: options.tpm ?? null,
    concurrentRequests: options.concurrency ?? null,
  }
  return {
    tenant: { id: 'ten_blocks', limits, budget: null },
    key: {
      id: 'key_blocks',
      limits,
      budget:
        options.budget === undefined ? null : { limitMicroUsd: options.budget, period: 'month' },
    },
    tokens: 100,
    costMicroUsd: 50,
  }
}

/** `workers` loops admitting (and settling right away, with `actualTokens`) until `total` admissions were asked. */
const drive = async (
  store: AdmissionStore,
  make: () => AdmissionRequest,
  options: { total: number; workers: number; actualTokens: number; cost: number }
): Promise<{ allowed: number; refused: number; decisions: AdmissionDecision[] }> => {
  let asked = 0
  let allowed = 0
  let refused = 0
  const decisions: AdmissionDecision[] = []
  await Promise.all(
    Array.from({ length: options.workers }, async () => {
      while (asked < options.total) {
        asked += 1
        const decision = await store.admit(make())
        decisions.push(decision)
        if (!decision.allowed) {
          refused += 1
          continue
        }
        allowed += 1
        await new Promise((resolve) => setImmediate(resolve))
        await store.settle(decision.ticket, {
          tokens: options.actualTokens,
          costMicroUsd: options.cost,
        })
      }
    })
  )
  return { allowed, refused, decisions }
}

/** What the shared counters hold, read by one more single admission (which it counts itself). */
const countersOf = async (
  store: AdmissionStore,
  made: AdmissionRequest
): Promise<{ requests: number; tokens: number; spent: number; reserved: number }> => {
  const decision = await store.admit({ ...made, tokens: 0, costMicroUsd: 0 })
  if (!decision.allowed) throw new Error('the probe was refused')
  const requests = tightestRateLimit(decision.rateLimits, 'requests')
  const tokens = tightestRateLimit(decision.rateLimits, 'tokens')
  const budget = decision.budgets[0]
  return {
    requests: requests === null ? -1 : requests.limit - requests.remaining - 1,
    tokens: tokens === null ? -1 : tokens.limit - tokens.remaining,
    spent: budget?.spentMicroUsd ?? -1,
    reserved: budget?.reservedMicroUsd ?? -1,
  }
}

describe('quota blocks (redis)', () => {
  requireStoreService('redis')

  it('admits a busy key from blocks and lands every request, token and micro-dollar in the shared counters', async () => {
    const test = await openTestRedis('blocks-exact')
    try {
      const { store, calls } = countedStore(test, test.prefix)
      const blocks = createQuotaBlockAdmission({
        store,
        clock: systemClock,
        logger: test.logger,
      })
      const made = () => request({ rpm: 1_000_000, tpm: 1_000_000_000, budget: 1_000_000_000 })
      const run = await drive(blocks, made, {
        total: 3_000,
        workers: 16,
        actualTokens: 37,
        cost: 20,
      })
      expect(run).toMatchObject({ allowed: 3_000, refused: 0 })
      // Far fewer round trips than requests: most came from blocks.
      expect(calls.admitBlock).toBeGreaterThan(0)
      expect(calls.admit + calls.admitBlock).toBeLessThan(3_000 / 10)
      // Headers still count down within a block.
      const remaining = run.decisions.map(
        (decision) => tightestRateLimit(decision.rateLimits, 'requests')?.remaining ?? -1
      )
      expect(Math.min(...remaining)).toBeGreaterThanOrEqual(1_000_000 - 3_000 - 512)
      expect(Math.max(...remaining)).toBeLessThan(1_000_000)

      await blocks.close()
      const probe = countersOf(createRedisAdmissionStoreFor(test), made())
      expect(await probe).toEqual({
        requests: 3_000,
        tokens: 3_000 * 37,
        spent: 3_000 * 20,
        reserved: 0,
      })
    } finally {
      await test.cleanup()
    }
  })

  it('settles a ticket taken from a block once: settled again, it changes nothing', async () => {
    const test = await openTestRedis('blocks-once')
    try {
      const { store, calls } = countedStore(test, test.prefix)
      const blocks = createQuotaBlockAdmission({ store, clock: systemClock, logger: test.logger })
      const made = () => request({ rpm: 1_000_000, tpm: 1_000_000_000, budget: 1_000_000_000 })
      const run = await drive(blocks, made, { total: 500, workers: 8, actualTokens: 37, cost: 20 })
      expect(run).toMatchObject({ allowed: 500, refused: 0 })
      expect(calls.admitBlock).toBeGreaterThan(0)
      for (const decision of run.decisions) {
        if (!decision.allowed) continue
        const again = { tokens: 1_000, costMicroUsd: 1_000 }
        await blocks.settle(decision.ticket, again)
        await blocks.settle(decision.ticket, again)
      }
      await blocks.close()
      expect(await countersOf(createRedisAdmissionStoreFor(test), made())).toEqual({
        requests: 500,
        tokens: 500 * 37,
        spent: 500 * 20,
        reserved: 0,
      })
    } finally {
      await test.cleanup()
    }
  })

  it('takes blocks for requests of every size: a large one, then smaller ones, all admitted and counted', async () => {
    const test = await openTestRedis('blocks-sizes')
    try {
      const { store, calls } = countedStore(test, test.prefix)
      const blocks = createQuotaBlockAdmission({ store, clock: systemClock, logger: test.logger })
      const base = request({ rpm: 1_000_000, tpm: 1_000_000_000, budget: 1_000_000_000 })
      // One large request, then smaller ones of odd sizes: the size a block assumes decays from the large one.
      let index = 0
      const made = (): AdmissionRequest => {
        index += 1
        return index === 1
          ? { ...base, tokens: 997, costMicroUsd: 331 }
          : { ...base, tokens: 13 + (index % 7), costMicroUsd: 3 + (index % 5) }
      }
      const run = await drive(blocks, made, { total: 2_000, workers: 16, actualTokens: 5, cost: 2 })
      expect(run).toMatchObject({ allowed: 2_000, refused: 0 })
      expect(calls.admitBlock).toBeGreaterThan(0)
      await blocks.close()
      expect(await countersOf(createRedisAdmissionStoreFor(test), base)).toEqual({
        requests: 2_000,
        tokens: 2_000 * 5,
        spent: 2_000 * 2,
        reserved: 0,
      })
    } finally {
      await test.cleanup()
    }
  })

  it('two processes near a limit admit exactly N, blocks far from it and single requests close to it', async () => {
    const test = await openTestRedis('blocks-limit')
    try {
      const other = await test.connect()
      const limit = 2_000
      const made = () => request({ rpm: limit })
      const counted = [countedStore(test, test.prefix), countedStore(other, test.prefix)]
      const processes = counted.map(({ store }) =>
        createQuotaBlockAdmission({ store, clock: systemClock, logger: test.logger })
      )
      const runs = await Promise.all(
        processes.map((blocks) =>
          drive(blocks, made, { total: 1_500, workers: 8, actualTokens: 0, cost: 0 })
        )
      )
      const allowed = runs[0].allowed + runs[1].allowed
      expect(allowed).toBeLessThanOrEqual(limit)
      expect(counted[0].calls.admitBlock + counted[1].calls.admitBlock).toBeGreaterThan(0)
      await Promise.all(processes.map((blocks) => blocks.close()))
      // Nothing is left held: the window holds exactly what was admitted, and the rest of the limit can be taken.
      const single = createRedisAdmissionStoreFor(test)
      let more = 0
      while ((await single.admit(made())).allowed) more += 1
      expect(allowed + more).toBe(limit)
      // Refusals near the limit were single checks: only what blocks could not cover went to the store alone.
      expect(runs[0].refused + runs[1].refused).toBe(3_000 - allowed)
    } finally {
      await test.cleanup()
    }
  })

  it('hands back what a block did not use once it closes, and settles tokens of requests that outlive it', async () => {
    const test = await openTestRedis('blocks-unused')
    try {
      const { store, calls } = countedStore(test, test.prefix)
      const blocks = createQuotaBlockAdmission({
        store,
        clock: systemClock,
        logger: test.logger,
        blockMs: 100,
      })
      const made = () => request({ rpm: 1_000_000, tpm: 100_000_000, budget: 100_000_000 })
      // Busy enough for a block, then one request held open past the block's end.
      await drive(blocks, made, { total: 200, workers: 8, actualTokens: 100, cost: 50 })
      expect(calls.admitBlock).toBeGreaterThan(0)
      const held = await blocks.admit(made())
      if (!held.allowed) throw new Error('refused')
      await new Promise((resolve) => setTimeout(resolve, 250))
      const single = createRedisAdmissionStoreFor(test)
      const whileHeld = await countersOf(single, made())
      // 200 settled at their estimate, the held one still at its estimate and reservation; the probe (0 tokens).
      expect(whileHeld).toEqual({ requests: 201, tokens: 201 * 100, spent: 200 * 50, reserved: 50 })
      await blocks.settle(held.ticket, { tokens: 7, costMicroUsd: 3 })
      expect(await countersOf(single, made())).toEqual({
        requests: 202,
        tokens: 200 * 100 + 7,
        spent: 200 * 50 + 3,
        reserved: 0,
      })
    } finally {
      await test.cleanup()
    }
  })

  it('counts a request admitted from a block for a whole window after it, not from when the block was taken', async () => {
    const test = await openTestRedis('blocks-stamp')
    try {
      const windowMs = 1_000
      const blockMs = 300
      for (let attempt = 0; ; attempt += 1) {
        const prefix = `${test.prefix}${attempt}:`
        const inner = createRedisAdmissionStoreFor({ ...test, prefix }, windowMs)
        let blockTakenAt = 0
        let storeCalls = 0
        const store: AdmissionStore & BlockAdmission = {
          admit: (made) => ((storeCalls += 1), inner.admit(made)),
          settle: (ticket, usage) => inner.settle(ticket, usage),
          peek: (made) => inner.peek(made),
          admitBlock: (made, count, offset) => (
            (storeCalls += 1),
            (blockTakenAt = Date.now()),
            inner.admitBlock(made, count, offset)
          ),
          rebook: (block, from, to, spent) => inner.rebook(block, from, to, spent),
        }
        const blocks = createQuotaBlockAdmission({
          store,
          clock: systemClock,
          logger: test.logger,
          blockMs,
        })
        const made = () => request({ rpm: 1_000_000 })
        const run = await drive(blocks, made, { total: 40, workers: 8, actualTokens: 0, cost: 0 })
        expect(run.allowed).toBe(40)
        expect(blockTakenAt).toBeGreaterThan(0)
        // Late in the block's time: admitted from it (no call to the store), unless the drive spent it.
        await new Promise((resolve) => setTimeout(resolve, blockTakenAt + 250 - Date.now()))
        const callsBefore = storeCalls
        const late = await blocks.admit(made())
        expect(late.allowed).toBe(true)
        if (storeCalls !== callsBefore) {
          await blocks.close()
          if (attempt < 3) continue
          throw new Error('no block had room left after the drive, 4 times')
        }
        const lateAt = Date.now()
        // Past the window of the block's start, inside the late request's own window: it still counts.
        await new Promise((resolve) =>
          setTimeout(resolve, blockTakenAt + windowMs + 100 - Date.now())
        )
        expect(Date.now()).toBeLessThan(lateAt + windowMs)
        const single = createRedisAdmissionStoreFor({ ...test, prefix }, windowMs)
        const counters = await countersOf(single, made())
        expect(counters.requests).toBeGreaterThanOrEqual(1)
        await blocks.close()
        return
      }
    } finally {
      await test.cleanup()
    }
  })

  it("peeks what the key's open block has not used as still the key's, as the requests admitted from it report", async () => {
    const test = await openTestRedis('blocks-peek')
    try {
      const { store, calls } = countedStore(test, test.prefix)
      const blocks = createQuotaBlockAdmission({
        store,
        clock: systemClock,
        logger: test.logger,
        blockMs: 10_000,
      })
      const made = () => request({ rpm: 1_000, tpm: 1_000_000 })
      // Three alone, then the fourth takes a block of five (its arrivals, a quarter more), and the fifth comes from it.
      const decisions: AdmissionDecision[] = []
      for (let index = 0; index < 5; index += 1) decisions.push(await blocks.admit(made()))
      expect(calls).toMatchObject({ admit: 3, admitBlock: 1 })
      const peeked = await blocks.peek(made())
      expect(tightestRateLimit(peeked ?? [], 'requests')?.remaining).toBe(995)
      expect(tightestRateLimit(peeked ?? [], 'tokens')?.remaining).toBe(1_000_000 - 500)
      for (const dimension of ['requests', 'tokens'] as const)
        expect(tightestRateLimit(peeked ?? [], dimension)?.remaining).toBe(
          tightestRateLimit(decisions[4].rateLimits, dimension)?.remaining
        )
      // The shared store counts the block whole, its three unused requests included.
      expect(tightestRateLimit((await store.peek(made())) ?? [], 'requests')?.remaining).toBe(992)
      expect(calls).toMatchObject({ admit: 3, admitBlock: 1, peek: 2 })
      // Closed, the block hands them back: both read the same.
      await blocks.close()
      expect(tightestRateLimit((await blocks.peek(made())) ?? [], 'requests')?.remaining).toBe(995)
      expect(tightestRateLimit((await store.peek(made())) ?? [], 'requests')?.remaining).toBe(995)
    } finally {
      await test.cleanup()
    }
  })

  it('never takes a block for a key with a concurrency limit, for a splittable ticket, or with blocks off', async () => {
    const test = await openTestRedis('blocks-never')
    try {
      for (const [made, blockMs] of [
        [() => request({ rpm: 1_000_000, concurrency: 1_000 }), 200],
        [() => ({ ...request({ rpm: 1_000_000 }), splittable: true }), 200],
        [() => request({ rpm: 1_000_000 }), 0],
      ] as const) {
        const { store, calls } = countedStore(test, `${test.prefix}${blockMs}:`)
        const blocks: QuotaBlockAdmission = createQuotaBlockAdmission({
          store,
          clock: systemClock,
          logger: createRecordingLogger(),
          blockMs,
        })
        const run = await drive(blocks, made, { total: 100, workers: 8, actualTokens: 1, cost: 0 })
        expect(run.allowed).toBe(100)
        expect(calls).toMatchObject({ admit: 100, admitBlock: 0, rebook: 0 })
        await blocks.close()
      }
    } finally {
      await test.cleanup()
    }
  })
})

/** A Redis admission store on `test`'s connection and prefix, on Redis's time, with nothing spent before. */
const createRedisAdmissionStoreFor = (
  test: { redis: Redis; guard: RedisGuard; prefix: string },
  windowMs?: number
): AdmissionStore & BlockAdmission =>
  createRedisAdmissionStore({
    redis: test.redis,
    guard: test.guard,
    prefix: test.prefix,
    clock: systemClock,
    loadSpent: async () => 0,
    windowMs,
  })
