/**
 * The prompt cache store contract, over memory and Redis: values by key with an age, each with its own TTL, and purges
 * by key, tenant, model and all. Real time (the TTLs are Redis's own): lifetimes of a few hundred ms. Then what only
 * one backend shows: the memory LRU's byte bound and order; Redis's TTLs, compression, a purge of everything that
 * leaves other deployments' keys alone, and an outage (a miss within the timeout, one log line).
 */
import { createServer, type AddressInfo } from 'node:net'
import { describe, expect, it } from 'vitest'
import { systemClock } from '../../src/core/clock.ts'
import type { CacheStore } from '../../src/stores/cache-store.ts'
import { createMemoryCacheStore } from '../../src/stores/memory/memory-cache-store.ts'
import { connectRedis } from '../../src/stores/redis/connect-redis.ts'
import { createRedisCacheStore } from '../../src/stores/redis/redis-cache-store.ts'
import { RedisGuard } from '../../src/stores/redis/redis-guard.ts'
import { createRecordingLogger } from '../helpers/fake-deps.ts'
import { defineStoreContract, requireStoreService } from './define-store-contract.ts'
import { openTestRedis, ttlsUnder, type TestRedis } from './open-test-redis.ts'

const wait = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

const labels = (tenant: string | null, model = 'openai/gpt-4o-mini', ttlMs = 60_000) => ({
  tenant,
  model,
  ttlMs,
})

const redisCacheStore = (test: TestRedis, prefix = test.prefix): CacheStore =>
  createRedisCacheStore({ redis: test.redis, guard: test.guard, clock: systemClock, prefix })

defineStoreContract<CacheStore>({
  name: 'cache store',
  implementations: [
    {
      name: 'memory',
      create: async () => ({ store: createMemoryCacheStore({ clock: systemClock }) }),
    },
    {
      name: 'redis',
      requires: 'redis',
      create: async () => {
        const test = await openTestRedis('cache')
        return { store: redisCacheStore(test), cleanup: () => test.cleanup() }
      },
    },
  ],
  cases: (getStore) => {
    it('has nothing under a key never set', async () => {
      expect(await getStore().get('a'.repeat(64))).toBeNull()
    })

    it('gives back what was set, byte for byte, with its age; a second set replaces it', async () => {
      const store = getStore()
      const value = JSON.stringify({ text: 'héllo 👋 "quoted" \\ \n', n: [1, 2.5] })
      await store.set('k1', value, labels('acme'))
      const first = await store.get('k1')
      expect(first?.value).toBe(value)
      expect(first?.ageMs).toBeGreaterThanOrEqual(0)
      expect(first?.ageMs).toBeLessThan(1_000)
      await wait(60)
      expect((await store.get('k1'))?.ageMs).toBeGreaterThanOrEqual(50)
      await store.set('k1', 'second', labels('acme'))
      expect(await store.get('k1')).toMatchObject({ value: 'second' })
      expect((await store.get('k1'))!.ageMs).toBeLessThan(50)
    })

    it('keeps large values whole', async () => {
      const store = getStore()
      const value = JSON.stringify({ text: 'lorem ipsum dolor '.repeat(5_000), tail: 'é' })
      await store.set('big', value, labels('acme'))
      expect((await store.get('big'))?.value).toBe(value)
    })

    it('forgets an entry once its TTL has passed, each entry on its own', async () => {
      const store = getStore()
      await store.set('short', 'a', labels('acme', 'openai/gpt-4o-mini', 150))
      await store.set('long', 'b', labels('acme', 'openai/gpt-4o-mini', 60_000))
      expect(await store.get('short')).not.toBeNull()
      await wait(300)
      expect(await store.get('short')).toBeNull()
      expect(await store.get('long')).toMatchObject({ value: 'b' })
    })

    it('stores nothing for a TTL of 0', async () => {
      const store = getStore()
      await store.set('zero', 'a', labels('acme', 'm', 0))
      expect(await store.get('zero')).toBeNull()
    })

    it('purges one key', async () => {
      const store = getStore()
      await store.set('k1', 'a', labels('acme'))
      await store.set('k2', 'b', labels('acme'))
      expect(await store.delete({ key: 'k1' })).toBe(1)
      expect(await store.delete({ key: 'k1' })).toBe(0)
      expect(await store.get('k1')).toBeNull()
      expect(await store.get('k2')).toMatchObject({ value: 'b' })
    })

    it('purges a tenant’s entries only', async () => {
      const store = getStore()
      await store.set('a1', 'a1', labels('acme'))
      await store.set('a2', 'a2', labels('acme', 'anthropic/claude'))
      await store.set('b1', 'b1', labels('beta'))
      await store.set('m1', 'm1', labels(null))
      expect(await store.delete({ tenant: 'acme' })).toBe(2)
      expect(await store.get('a1')).toBeNull()
      expect(await store.get('a2')).toBeNull()
      expect(await store.get('b1')).toMatchObject({ value: 'b1' })
      expect(await store.get('m1')).toMatchObject({ value: 'm1' })
      expect(await store.delete({ tenant: 'acme' })).toBe(0)
    })

    it('purges a model’s entries only, whatever their tenant', async () => {
      const store = getStore()
      await store.set('a1', 'a1', labels('acme', 'openai/gpt-4o'))
      await store.set('b1', 'b1', labels('beta', 'openai/gpt-4o'))
      await store.set('m1', 'm1', labels(null, 'openai/gpt-4o'))
      await store.set('c1', 'c1', labels('acme', 'anthropic/claude'))
      expect(await store.delete({ model: 'openai/gpt-4o' })).toBe(3)
      expect(await store.get('c1')).toMatchObject({ value: 'c1' })
      for (const key of ['a1', 'b1', 'm1']) expect(await store.get(key)).toBeNull()
    })

    it('purges everything, counting entries', async () => {
      const store = getStore()
      await store.set('a1', 'a1', labels('acme'))
      await store.set('b1', 'b1', labels('beta', 'anthropic/claude'))
      await store.set('m1', 'm1', labels(null))
      expect(await store.delete({ all: true })).toBe(3)
      for (const key of ['a1', 'b1', 'm1']) expect(await store.get(key)).toBeNull()
      expect(await store.delete({ all: true })).toBe(0)
    })

    it('counts a purged tenant’s entries that another purge already removed as gone', async () => {
      const store = getStore()
      await store.set('a1', 'a1', labels('acme', 'openai/gpt-4o'))
      await store.set('a2', 'a2', labels('acme', 'anthropic/claude'))
      expect(await store.delete({ model: 'openai/gpt-4o' })).toBe(1)
      expect(await store.delete({ tenant: 'acme' })).toBe(1)
    })
  },
})

describe('cache store (memory): the byte bound', () => {
  it('evicts the least recently used entries once the values pass maxBytes; a read counts as a use', async () => {
    // Three times the text (the text, the parsed answer, an encoded body) + 256 of overhead: 1,000 bytes.
    const value = (char: string) => char.repeat(248)
    const store = createMemoryCacheStore({ clock: systemClock, maxBytes: 3_000 })
    await store.set('a', value('a'), labels('t'))
    await store.set('b', value('b'), labels('t'))
    await store.set('c', value('c'), labels('t'))
    expect(await store.get('a')).not.toBeNull()
    await store.set('d', value('d'), labels('t'))
    expect(await store.get('b')).toBeNull()
    for (const key of ['a', 'c', 'd']) expect(await store.get(key)).not.toBeNull()
  })

  it('does not keep a value larger than the whole bound, and pushes nothing out for it', async () => {
    const store = createMemoryCacheStore({ clock: systemClock, maxBytes: 3_000 })
    await store.set('a', 'a', labels('t'))
    await store.set('huge', 'x'.repeat(10_000), labels('t'))
    expect(await store.get('huge')).toBeNull()
    expect(await store.get('a')).not.toBeNull()
  })

  it('counts text beyond Latin-1 at two bytes a character', async () => {
    const store = createMemoryCacheStore({ clock: systemClock, maxBytes: 3_000 })
    // 800 × 2 × 3 + 256 = 5,056 bytes: over the bound; 800 × 3 + 256 = 2,656: within it.
    await store.set('wide', '€'.repeat(800), labels('t'))
    await store.set('narrow', 'é'.repeat(800), labels('t'))
    expect(await store.get('wide')).toBeNull()
    expect(await store.get('narrow')).not.toBeNull()
  })
})

describe('cache store (memory): the memo beside each value', () => {
  it('gives every read of a stored value the same memo, and a new one to a value that replaces it', async () => {
    const store = createMemoryCacheStore({ clock: systemClock })
    await store.set('k', 'first', labels('t'))
    const first = await store.get('k')
    first!.memo!.derived = 'parsed first'
    expect((await store.get('k'))!.memo).toBe(first!.memo)
    await store.set('k', 'second', labels('t'))
    const second = await store.get('k')
    expect(second!.value).toBe('second')
    expect(second!.memo).not.toBe(first!.memo)
    expect(second!.memo!.derived).toBeUndefined()
  })
})

describe('cache store (redis): what Redis holds', () => {
  requireStoreService('redis')

  it('gives each entry its TTL, files it under its tenant and model, and writes nothing outside its prefix', async () => {
    const test = await openTestRedis('cache-ttl')
    try {
      const store = redisCacheStore(test)
      await store.set('k1', 'v', labels('acme', 'openai/gpt-4o', 30_000))
      await store.set('k2', 'v', labels(null, 'openai/gpt-4o', 90_000))
      const ttls = await ttlsUnder(test.redis, test.prefix)
      expect([...ttls.keys()].sort()).toEqual(
        [
          `${test.prefix}cache:e:k1`,
          `${test.prefix}cache:e:k2`,
          `${test.prefix}cache:m:openai/gpt-4o`,
          `${test.prefix}cache:t:acme`,
        ].sort()
      )
      expect(ttls.get(`${test.prefix}cache:e:k1`)).toBeGreaterThan(29_000)
      expect(ttls.get(`${test.prefix}cache:e:k1`)).toBeLessThanOrEqual(30_000)
      expect(ttls.get(`${test.prefix}cache:t:acme`)).toBeGreaterThan(29_000)
      // The model's index lives as long as its longest entry.
      expect(ttls.get(`${test.prefix}cache:m:openai/gpt-4o`)).toBeGreaterThan(89_000)
    } finally {
      await test.cleanup()
    }
  })

  it('gzips a large value when that pays, and keeps a small one as it is', async () => {
    const test = await openTestRedis('cache-gzip')
    try {
      const store = redisCacheStore(test)
      const large = JSON.stringify({ text: 'the same words again and again '.repeat(400) })
      const small = JSON.stringify({ text: 'short' })
      await store.set('large', large, labels('t'))
      await store.set('small', small, labels('t'))
      const raw = async (key: string) =>
        (await test.redis.getBuffer(`${test.prefix}cache:e:${key}`))!
      expect((await raw('large'))[0]).toBe(0x67)
      expect((await raw('large')).length).toBeLessThan(large.length / 10)
      expect((await raw('small'))[0]).toBe(0x70)
      expect((await store.get('large'))?.value).toBe(large)
    } finally {
      await test.cleanup()
    }
  })

  it('keeps a memo of what it read while Redis holds the same bytes: never past a replacement, a purge or an expiry', async () => {
    const test = await openTestRedis('cache-memo')
    try {
      const store = redisCacheStore(test)
      const other = redisCacheStore(test)
      const large = JSON.stringify({ text: 'gzipped words, again and again '.repeat(400) })
      await store.set('k', large, labels('acme'))
      const first = await store.get('k')
      first!.memo!.derived = 'parsed'
      const again = await store.get('k')
      expect(again!.value).toBe(large)
      expect(again!.memo).toBe(first!.memo)
      // Another process replaces the value: this one reads the new bytes, with a memo of their own.
      await other.set('k', 'replaced', labels('acme'))
      const replaced = await store.get('k')
      expect(replaced).toMatchObject({ value: 'replaced' })
      expect(replaced!.memo).not.toBe(first!.memo)
      replaced!.memo!.derived = 'parsed again'
      // Purged elsewhere: a miss, whatever this process read before; stored again: a new memo.
      expect(await other.delete({ key: 'k' })).toBe(1)
      expect(await store.get('k')).toBeNull()
      await other.set('k', 'replaced', labels('acme', 'openai/gpt-4o-mini', 150))
      const fresh = await store.get('k')
      expect(fresh!.memo!.derived).toBeUndefined()
      await wait(300)
      expect(await store.get('k')).toBeNull()
    } finally {
      await test.cleanup()
    }
  })

  it('bounds its memo by bytes: what falls out is read from Redis again, whole', async () => {
    const test = await openTestRedis('cache-memo-bound')
    try {
      const store = createRedisCacheStore({
        redis: test.redis,
        guard: test.guard,
        clock: systemClock,
        prefix: test.prefix,
        memoMaxBytes: 5_000,
      })
      const value = (char: string) => char.repeat(1_000)
      for (const key of ['a', 'b', 'c']) await store.set(key, value(key), labels('t'))
      const a = await store.get('a')
      await store.get('b')
      await store.get('c')
      const later = await store.get('a')
      expect(later!.value).toBe(value('a'))
      expect(later!.memo).not.toBe(a!.memo)
    } finally {
      await test.cleanup()
    }
  })

  it('purges everything under its own prefix only: another deployment’s entries stay', async () => {
    const ours = await openTestRedis('cache-ours')
    const theirs = await openTestRedis('cache-theirs')
    try {
      const store = redisCacheStore(ours)
      const other = redisCacheStore(theirs)
      await store.set('k', 'ours', labels('acme'))
      await other.set('k', 'theirs', labels('acme'))
      expect(await store.delete({ all: true })).toBe(1)
      expect(await store.delete({ tenant: 'acme' })).toBe(0)
      expect(await other.get('k')).toMatchObject({ value: 'theirs' })
      expect((await ttlsUnder(ours.redis, ours.prefix)).size).toBe(0)
    } finally {
      await ours.cleanup()
      await theirs.cleanup()
    }
  })
})

describe('cache store (redis): Redis unreachable', () => {
  const closedPort = async (): Promise<number> => {
    const server = createServer()
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const { port } = server.address() as AddressInfo
    await new Promise((resolve) => server.close(resolve))
    return port
  }

  it('answers a read with a miss and drops a write within the timeout, logging the incident once', async () => {
    const redis = await connectRedis({
      url: `redis://127.0.0.1:${await closedPort()}`,
      readyTimeoutMs: 100,
    })
    try {
      const logger = createRecordingLogger()
      const guard = new RedisGuard({
        mode: 'open',
        logger,
        timeoutMs: 50,
        outageMessage: 'Redis is unavailable: the prompt cache is bypassed',
      })
      const store = createRedisCacheStore({
        redis,
        guard,
        clock: systemClock,
        prefix: 'gatehouse-test:gone:',
      })
      const started = performance.now()
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, index) =>
          index % 2 === 0 ? store.get('k') : store.set('k', 'v', labels('acme'))
        )
      )
      expect(performance.now() - started).toBeLessThan(50 + 60)
      expect(results.filter((result) => result !== null && result !== undefined)).toEqual([])
      expect(logger.lines.map((line) => [line.level, line.message])).toEqual([
        ['warn', 'Redis is unavailable: the prompt cache is bypassed'],
      ])
      await expect(store.delete({ all: true })).rejects.toMatchObject({ status: 503 })
    } finally {
      redis.disconnect()
    }
  })
})
