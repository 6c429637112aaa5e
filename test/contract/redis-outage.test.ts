/**
 * Redis unreachable: the stores pointed at a closed port answer with the operator's choice (fail-open: admitted,
 * nothing counted; fail-closed: a 503) within the guard's 50 ms, and the outage is one log line however many requests
 * meet it. Twice: with the connection the gateway makes (`connectRedis`: commands fail at once while disconnected),
 * and with ioredis's defaults (commands queue for a connection that never comes, so only the timeout bounds them).
 * Then Redis slow rather than gone: a proxy holds the commands past the timeout and lets them through afterwards, and
 * the late acquire and reservation must not keep their slot and amount. A settle that never reached Redis frees its
 * concurrency slot once Redis is back (not at the lease's expiry, minutes later). A peek (the rate-limit headers of a response
 * that took nothing) answers `null` within the same bound in either mode, never an error.
 */
import { connect as connectSocket, createServer, type AddressInfo, type Socket } from 'node:net'
import { Redis } from 'ioredis'
import { afterEach, describe, expect, it } from 'vitest'
import { GatewayError } from '../../src/core/errors.ts'
import type { AdmissionRequest } from '../../src/stores/admission-store.ts'
import { createRedisAdmissionStore } from '../../src/stores/redis/redis-admission-store.ts'
import { connectRedis } from '../../src/stores/redis/connect-redis.ts'
import { RedisGuard, type RedisFailureMode } from '../../src/stores/redis/redis-guard.ts'
import { createRedisRevocationFeed } from '../../src/stores/redis/redis-revocation-feed.ts'
import { createFakeClock } from '../helpers/fake-clock.ts'
import { createRecordingLogger } from '../helpers/fake-deps.ts'
import { storeServiceUrl } from './check-store-service.ts'
import { createRedisTestPrefix } from './create-redis-test-prefix.ts'
import { requireStoreService } from './define-store-contract.ts'

/** A port nothing listens on: bound, then released. */
const closedPort = async (): Promise<number> => {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise((resolve) => server.close(resolve))
  return port
}

const limited: AdmissionRequest = {
  tenant: { id: 'acme', limits: { requestsPerMinute: 10 }, budget: null },
  key: { id: 'key-a', limits: { tokensPerMinute: 1_000, concurrentRequests: 2 }, budget: null },
  tokens: 100,
  costMicroUsd: 0,
}

const budgeted: AdmissionRequest = {
  tenant: { id: 'acme', limits: {}, budget: { limitMicroUsd: 1_000_000, period: 'month' } },
  key: { id: 'key-a', limits: {}, budget: null },
  tokens: 0,
  costMicroUsd: 1_000,
}

/** Runs `work` and says how long it took, in ms. */
const timed = async <T>(work: () => T | Promise<T>): Promise<{ value: T; ms: number }> => {
  const started = performance.now()
  const value = await work()
  return { value, ms: performance.now() - started }
}

const timedFailure = async (work: () => unknown): Promise<{ error: unknown; ms: number }> => {
  const started = performance.now()
  try {
    await work()
  } catch (error) {
    return { error, ms: performance.now() - started }
  }
  throw new Error('expected a rejection')
}

/** The guard's 50 ms plus what a loaded test machine adds to a timer. */
const bound = 50 + 40

const opened: Redis[] = []
afterEach(() => {
  for (const redis of opened.splice(0)) redis.disconnect()
})

const storesOn = (redis: Redis, mode: RedisFailureMode) => {
  const logger = createRecordingLogger()
  const guard = new RedisGuard({ mode, logger })
  const prefix = 'gatehouse-test:outage:'
  return {
    logger,
    guard,
    admission: createRedisAdmissionStore({
      redis,
      guard,
      prefix,
      clock: createFakeClock(),
      loadSpent: async () => 0,
    }),
    feed: createRedisRevocationFeed({ redis, guard, logger, prefix }),
  }
}

describe('Redis unreachable', () => {
  for (const client of ['connectRedis', 'ioredis defaults'] as const) {
    const connect = async (): Promise<Redis> => {
      const url = `redis://127.0.0.1:${await closedPort()}`
      const redis =
        client === 'connectRedis'
          ? await connectRedis({ url, readyTimeoutMs: 100 })
          : new Redis(url).on('error', () => {})
      opened.push(redis)
      return redis
    }

    it(`fails open within the timeout, with one log line for the incident (${client})`, async () => {
      const stores = storesOn(await connect(), 'open')
      try {
        const calls = await Promise.all(
          Array.from({ length: 20 }, () => timed(() => stores.admission.admit(limited)))
        )
        for (const { value, ms } of calls) {
          expect(value).toMatchObject({ allowed: true, rateLimits: [], ticket: { degraded: true } })
          expect(ms).toBeLessThan(bound)
        }
        const reserve = await timed(() => stores.admission.admit(budgeted))
        expect(reserve.value).toMatchObject({
          allowed: true,
          budgets: [],
          ticket: { degraded: true },
        })
        expect(reserve.ms).toBeLessThan(bound)
        const [first, reserved] = [calls[0].value, reserve.value]
        if (!first.allowed || !reserved.allowed) throw new Error('admitted above')
        for (const step of [
          () => stores.admission.settle(first.ticket, { tokens: 50, costMicroUsd: 0 }),
          () => stores.admission.settle(reserved.ticket, { tokens: null, costMicroUsd: 500 }),
          () => stores.feed.publish({ kind: 'key', id: 'key-a' }),
        ]) {
          const { ms } = await timed(step)
          expect(ms).toBeLessThan(bound)
        }
        // A second wave, a while later: still the same incident.
        await new Promise((resolve) => setTimeout(resolve, 60))
        for (let index = 0; index < 5; index += 1) {
          const { ms } = await timed(() => stores.admission.admit(limited))
          expect(ms).toBeLessThan(bound)
        }
        expect(stores.feed.live()).toBe(false)
        expect(stores.logger.lines).toEqual([
          {
            level: 'warn',
            fields: expect.objectContaining({ mode: 'open', timeoutMs: 50 }),
            message:
              'Redis is unavailable: failing open (rate limits and budgets are not enforced) until it answers again',
          },
        ])
        // 20 + 5 acquires, a reservation and a publish; a degraded lease or reservation ends without Redis.
        expect(stores.guard.status()).toMatchObject({
          available: false,
          incidents: 1,
          failedOperations: 27,
        })
      } finally {
        await stores.feed.close()
      }
    })

    it(`peeks nothing within the timeout in either mode, and never throws for it (${client})`, async () => {
      for (const mode of ['open', 'closed'] as const) {
        const stores = storesOn(await connect(), mode)
        try {
          const peeks = await Promise.all(
            Array.from({ length: 10 }, () => timed(() => stores.admission.peek(limited)))
          )
          for (const { value, ms } of peeks) {
            expect(value).toBeNull()
            expect(ms).toBeLessThan(bound)
          }
          expect(stores.logger.lines.map((line) => line.level)).toEqual(['warn'])
        } finally {
          await stores.feed.close()
        }
      }
    })

    it(`fails closed within the timeout with a 503, with one log line for the incident (${client})`, async () => {
      const stores = storesOn(await connect(), 'closed')
      try {
        const failures = await Promise.all([
          ...Array.from({ length: 10 }, () => timedFailure(() => stores.admission.admit(limited))),
          ...Array.from({ length: 10 }, () => timedFailure(() => stores.admission.admit(budgeted))),
        ])
        for (const { error, ms } of failures) {
          expect(error).toBeInstanceOf(GatewayError)
          expect(error).toMatchObject({ status: 503, code: 'unavailable' })
          expect(ms).toBeLessThan(bound)
        }
        for (const { error } of failures)
          expect((error as Error).message).toMatch(/^Rate limits and budgets cannot be checked/)
        // Publishing a revocation is best effort in either mode: the key store already holds the change.
        await expect(stores.feed.publish({ kind: 'tenant', id: 'acme' })).resolves.toBeUndefined()
        expect(stores.logger.lines.map((line) => [line.level, line.message])).toEqual([
          [
            'warn',
            'Redis is unavailable: failing closed (limited requests are refused with 503) until it answers again',
          ],
        ])
      } finally {
        await stores.feed.close()
      }
    })
  }
})

/** A TCP proxy to `target` that can hold what clients send (in order) until resumed: Redis answering late. */
const createPausableProxy = async (target: string) => {
  const { hostname, port } = new URL(target)
  let paused = false
  let held: (() => void)[] = []
  const sockets = new Set<Socket>()
  const server = createServer((client) => {
    const upstream = connectSocket(Number(port || 6379), hostname)
    for (const socket of [client, upstream]) {
      sockets.add(socket)
      socket.on('error', () => {})
      socket.on('close', () => {
        client.destroy()
        upstream.destroy()
      })
    }
    client.on('data', (chunk) => {
      if (paused) held.push(() => upstream.write(chunk))
      else upstream.write(chunk)
    })
    upstream.pipe(client)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    url: `redis://127.0.0.1:${(server.address() as AddressInfo).port}`,
    pause: () => void (paused = true),
    resume: () => {
      paused = false
      for (const send of held) send()
      held = []
    },
    /** What was held never reaches Redis, and the connections break (the client reconnects). */
    drop: () => {
      held = []
      for (const socket of sockets) socket.destroy()
      sockets.clear()
    },
    close: () => {
      for (const socket of sockets) socket.destroy()
      return new Promise((resolve) => server.close(resolve))
    },
  }
}

/** An admission store on a Redis behind a pausable proxy (`createPausableProxy`), under a key prefix of its own. */
const openLateRedis = async (label: string, mode: RedisFailureMode) => {
  const proxy = await createPausableProxy(storeServiceUrl('redis'))
  const keys = createRedisTestPrefix({ label })
  const redis = await connectRedis({ url: proxy.url })
  const logger = createRecordingLogger()
  const guard = new RedisGuard({ mode, logger, probeIntervalMs: 10 })
  const admission = createRedisAdmissionStore({
    redis,
    guard,
    prefix: keys.prefix,
    clock: createFakeClock(),
    loadSpent: async () => 0,
  })
  return {
    proxy,
    redis,
    logger,
    admission,
    close: async () => {
      redis.disconnect()
      await proxy.close()
      await keys.cleanup()
    },
  }
}

describe('Redis answering late', () => {
  requireStoreService('redis')

  it('a settle lost in an outage frees its concurrency slot once Redis answers again', async () => {
    const { proxy, redis, logger, admission, close } = await openLateRedis(
      'outage-lost-settle',
      'open'
    )
    const one: AdmissionRequest = {
      tenant: { id: 'acme', limits: {}, budget: null },
      key: { id: 'key-a', limits: { concurrentRequests: 1 }, budget: null },
      tokens: 0,
      costMicroUsd: 0,
    }
    try {
      const first = await admission.admit(one)
      if (!first.allowed || first.ticket.degraded) throw new Error('not admitted by Redis')
      expect((await admission.admit(one)).allowed).toBe(false) // the slot is taken
      proxy.pause()
      await admission.settle(first.ticket, { tokens: null, costMicroUsd: 0 }) // times out: failing open
      proxy.drop() // the settle never reaches Redis
      proxy.resume()
      // The client reconnects (through the proxy again).
      for (let tries = 0; (await redis.ping().catch(() => null)) !== 'PONG'; tries += 1) {
        if (tries > 100) throw new Error('Redis did not come back')
        await new Promise((resolve) => setTimeout(resolve, 20))
      }
      await new Promise((resolve) => setTimeout(resolve, 15)) // past the probe interval
      // The probe that finds Redis back: the slot is still taken then (it is freed the turn after).
      expect(await admission.admit(one)).toMatchObject({ allowed: false })
      await new Promise((resolve) => setTimeout(resolve, 20))
      const again = await admission.admit(one)
      expect(again).toMatchObject({ allowed: true, ticket: { degraded: false } })
      expect(logger.lines.map((line) => line.level)).toEqual(['warn', 'info'])
    } finally {
      await close()
    }
  })

  it('a peek that times out answers null within the bound, fail-closed too, and leaves the window as it was', async () => {
    const { proxy, redis, logger, admission, close } = await openLateRedis(
      'outage-late-peek',
      'closed'
    )
    const rate: AdmissionRequest = {
      tenant: { id: 'acme', limits: {}, budget: null },
      key: { id: 'key-a', limits: { requestsPerMinute: 100 }, budget: null },
      tokens: 0,
      costMicroUsd: 0,
    }
    try {
      expect((await admission.admit(rate)).allowed).toBe(true)
      expect(await admission.peek(rate)).toMatchObject([{ remaining: 99 }])
      proxy.pause()
      const { value, ms } = await timed(() => admission.peek(rate))
      expect(value).toBeNull()
      expect(ms).toBeLessThan(bound)
      proxy.resume()
      expect(await redis.ping()).toBe('PONG') // sent after the late peek: it has run, and taken nothing
      await new Promise((resolve) => setTimeout(resolve, 15)) // past the probe interval
      expect(await admission.peek(rate)).toMatchObject([{ remaining: 99 }])
      expect(logger.lines.map((line) => line.level)).toEqual(['warn', 'info'])
    } finally {
      await close()
    }
  })

  it('a timed-out acquire and reservation free what they took once Redis runs them', async () => {
    const { proxy, redis, logger, admission, close } = await openLateRedis('outage-late', 'closed')
    const rate: AdmissionRequest = {
      tenant: { id: 'acme', limits: {}, budget: null },
      key: {
        id: 'key-a',
        limits: { concurrentRequests: 1, requestsPerMinute: 100 },
        budget: null,
      },
      tokens: 0,
      costMicroUsd: 0,
    }
    const budget: AdmissionRequest = {
      tenant: { id: 'acme', limits: {}, budget: null },
      key: { id: 'key-a', limits: {}, budget: { limitMicroUsd: 1_000, period: 'day' } },
      tokens: 0,
      costMicroUsd: 900,
    }
    try {
      // Warm: the scripts are loaded and the budget's counter seeded while Redis answers.
      const warm = await admission.admit(rate)
      if (!warm.allowed) throw new Error('refused while warming')
      await admission.settle(warm.ticket, { tokens: null, costMicroUsd: 0 })
      const warmBudget = await admission.admit({ ...budget, costMicroUsd: 0 })
      if (!warmBudget.allowed) throw new Error('refused while warming')
      await admission.settle(warmBudget.ticket, { tokens: null, costMicroUsd: 0 })

      proxy.pause()
      for (const call of [() => admission.admit(rate), () => admission.admit(budget)]) {
        await new Promise((resolve) => setTimeout(resolve, 15)) // past the probe interval
        const { error, ms } = await timedFailure(call)
        expect(error).toMatchObject({ status: 503, code: 'unavailable' })
        expect(ms).toBeLessThan(bound)
      }
      proxy.resume()
      expect(await redis.ping()).toBe('PONG') // sent after the late scripts and their cancels: they have run
      await new Promise((resolve) => setTimeout(resolve, 15))

      const again = await admission.admit(rate)
      expect(again.allowed).toBe(true) // the late admission's concurrency slot was freed...
      expect(again.rateLimits.find((state) => state.dimension === 'requests')?.remaining).toBe(97) // ...its request counts
      const reserved = await admission.admit(budget)
      expect(reserved.allowed).toBe(true) // the late reservation was released
      expect(reserved.budgets[0]).toMatchObject({ reservedMicroUsd: 900, spentMicroUsd: 0 })
      expect(logger.lines.map((line) => line.level)).toEqual(['warn', 'info'])
    } finally {
      await close()
    }
  })
})
