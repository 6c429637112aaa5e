/**
 * Prompt cache purges with the cache in Redis (`cache.backend: redis`), through real gateway processes: a purge made
 * through one instance removes the entries for every instance of the deployment (the next request misses on the
 * other), by tenant, key, model or all, and removes the Redis keys under the deployment's prefix; a Redis that cannot
 * be reached makes a purge a 503 in the admin error shape, not a 500. Runs under CI=true (never skipped there), with a
 * key prefix of its own.
 */
import { createServer, type AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { storeServiceUrl } from '../contract/check-store-service.ts'
import { connectRawRedis } from '../contract/connect-raw-redis.ts'
import {
  createRedisTestPrefix,
  type RedisTestPrefix,
} from '../contract/create-redis-test-prefix.ts'
import { requireStoreService } from '../contract/define-store-contract.ts'
import { MOCK_OPENAI_API_KEY, startMockOpenAIUpstream } from '../helpers/mock-openai-upstream.ts'
import type { MockUpstream } from '../helpers/mock-upstream-server.ts'
import { startTestGateway } from '../helpers/start-test-gateway.ts'

const masterKey = 'gh-cache-purge-redis-master'
let upstream: MockUpstream

const config = (redisUrl: string, prefix: string): string[] => [
  'retry: { maxRetries: 0 }',
  'auth:',
  `  masterKey: ${masterKey}`,
  'providers:',
  '  openai:',
  '    type: openai',
  `    apiKey: ${MOCK_OPENAI_API_KEY}`,
  `    baseUrl: ${upstream.baseUrl}`,
  'redis:',
  `  url: ${redisUrl}`,
  `  keyPrefix: "${prefix}"`,
  'cache:',
  '  enabled: true',
  '  backend: redis',
]

type Gateway = Awaited<ReturnType<typeof startTestGateway>>

const call = async (
  gateway: Gateway,
  method: string,
  path: string,
  body?: unknown,
  key = masterKey
) => {
  const response = await fetch(`${gateway.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  return {
    status: response.status,
    headers: response.headers,
    body: (await response.json()) as Record<string, unknown>,
  }
}

const ask = async (gateway: Gateway, content: string, key = masterKey, model = 'gpt-4o-mini') => {
  const reply = await call(
    gateway,
    'POST',
    '/v1/chat/completions',
    { model: `openai/${model}`, messages: [{ role: 'user', content }] },
    key
  )
  expect(reply.status).toBe(200)
  return {
    cache: reply.headers.get('x-gatehouse-cache'),
    key: reply.headers.get('x-gatehouse-cache-key'),
  }
}

/** Asks `gateway` until the answer is in Redis (written after the response): the entry's key. */
const cached = async (gateway: Gateway, content: string, key = masterKey, model?: string) => {
  for (let tries = 0; tries < 100; tries += 1) {
    const reply = await ask(gateway, content, key, model)
    if (reply.cache === 'hit') return reply.key!
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  throw new Error(`${content}: never stored`)
}

const entryKeys = async (prefix: string): Promise<string[]> => {
  const redis = await connectRawRedis({ url: storeServiceUrl('redis') })
  try {
    const found: string[] = []
    let cursor = '0'
    do {
      const [next, keys] = (await redis.command(
        'SCAN',
        cursor,
        'MATCH',
        `${prefix}cache:e:*`,
        'COUNT',
        1000
      )) as [string, string[]]
      found.push(...keys)
      cursor = next
    } while (cursor !== '0')
    return found
  } finally {
    await redis.close()
  }
}

beforeAll(async () => {
  upstream = await startMockOpenAIUpstream()
})
afterAll(() => upstream?.close())

describe('prompt cache purges in Redis', () => {
  requireStoreService('redis')
  let prefix: RedisTestPrefix
  let first: Gateway
  let second: Gateway

  beforeAll(async () => {
    prefix = createRedisTestPrefix({ label: 'cache-purge' })
    first = await startTestGateway({ config: config(storeServiceUrl('redis'), prefix.prefix) })
    second = await startTestGateway({ config: config(storeServiceUrl('redis'), prefix.prefix) })
  })
  afterAll(async () => {
    await first?.close()
    await second?.close()
    await prefix?.cleanup()
  })

  it('purges by key and by model through one instance, for every instance', async () => {
    const stamp = Date.now()
    const one = await cached(first, `one ${stamp}`)
    await cached(first, `two ${stamp}`)
    await cached(first, `three ${stamp}`, masterKey, 'gpt-4o')
    expect((await ask(second, `one ${stamp}`)).cache).toBe('hit')

    const byKey = await call(first, 'DELETE', `/admin/v1/cache/entries/${one}`)
    expect(byKey).toMatchObject({ status: 200, body: { selector: { key: one }, deleted: 1 } })
    expect((await ask(second, `one ${stamp}`)).cache).toBe('miss')
    expect((await ask(second, `two ${stamp}`)).cache).toBe('hit')

    const byModel = await call(second, 'POST', '/admin/v1/cache/purge', {
      model: 'openai/gpt-4o-mini',
    })
    // `one` was stored again by the miss above, as soon as its answer was complete (or very nearly).
    expect(byModel.status).toBe(200)
    expect(byModel.body.deleted).toBeGreaterThanOrEqual(1)
    expect((await ask(first, `two ${stamp}`)).cache).toBe('miss')
    expect((await ask(first, `three ${stamp}`, masterKey, 'gpt-4o')).cache).toBe('hit')
  })

  it("purges a tenant's entries only", async () => {
    const created = await call(first, 'POST', '/admin/v1/tenants', { name: 'acme' })
    expect(created.status).toBe(201)
    const made = await call(first, 'POST', '/admin/v1/keys', { tenant: 'acme' })
    const tenantKey = String(made.body.key)
    const stamp = Date.now()
    await cached(first, `tenant ${stamp}`, tenantKey)
    await cached(first, `tenant other ${stamp}`, tenantKey)
    await cached(first, `tenant ${stamp}`)

    const purged = await call(first, 'POST', '/admin/v1/cache/purge', { tenant: 'acme' })
    expect(purged).toMatchObject({
      status: 200,
      body: { selector: { tenant: created.body.id }, deleted: 2 },
    })
    expect((await ask(first, `tenant ${stamp}`, tenantKey)).cache).toBe('miss')
    expect((await ask(first, `tenant other ${stamp}`, tenantKey)).cache).toBe('miss')
    expect((await ask(first, `tenant ${stamp}`)).cache).toBe('hit')
  })

  it("purges everything under the deployment's prefix, and nothing of another deployment's", async () => {
    const other = createRedisTestPrefix({ label: 'cache-purge-other' })
    const neighbour = await startTestGateway({
      config: config(storeServiceUrl('redis'), other.prefix),
    })
    try {
      const stamp = Date.now()
      await cached(first, `all a ${stamp}`)
      await cached(second, `all b ${stamp}`)
      await cached(neighbour, `all a ${stamp}`)
      const stored = (await entryKeys(prefix.prefix)).length
      expect(stored).toBeGreaterThanOrEqual(2)

      const purged = await call(second, 'POST', '/admin/v1/cache/purge', { all: true })
      expect(purged).toMatchObject({ status: 200, body: { selector: { all: true } } })
      expect(purged.body.deleted).toBeGreaterThanOrEqual(stored)
      expect(await entryKeys(prefix.prefix)).toEqual([])
      expect((await ask(first, `all b ${stamp}`)).cache).toBe('miss')
      expect((await ask(neighbour, `all a ${stamp}`)).cache).toBe('hit')
      expect(await entryKeys(other.prefix)).toHaveLength(1)
    } finally {
      await neighbour.close()
      await other.cleanup()
    }
  })

  it('answers 503 in the admin error shape when Redis cannot be reached', async () => {
    const server = createServer()
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const { port } = server.address() as AddressInfo
    await new Promise((resolve) => server.close(resolve))
    const gone = await startTestGateway({
      config: config(`redis://127.0.0.1:${port}`, 'gatehouse-test:gone:'),
    })
    try {
      for (const [method, path, body] of [
        ['POST', '/admin/v1/cache/purge', { all: true }],
        ['POST', '/admin/v1/cache/purge', { model: 'openai/gpt-4o-mini' }],
        ['DELETE', `/admin/v1/cache/entries/${'a'.repeat(64)}`, undefined],
      ] as const) {
        const reply = await call(gone, method, path, body)
        expect([path, reply.status]).toEqual([path, 503])
        expect(reply.headers.get('retry-after')).toBe('1')
        expect(reply.body).toEqual({
          error: {
            message: expect.stringMatching(/store did not answer.*Retry shortly/),
            type: 'server_error',
            param: null,
            code: expect.any(String),
          },
        })
        expect(JSON.stringify(reply.body)).not.toContain(String(port))
      }
    } finally {
      await gone.close()
    }
  })
})

describe('prompt cache purges of in-process caches, relayed through Redis', () => {
  requireStoreService('redis')
  let prefix: RedisTestPrefix
  let first: Gateway
  let second: Gateway

  beforeAll(async () => {
    prefix = createRedisTestPrefix({ label: 'cache-purge-memory' })
    const memory = (): string[] =>
      config(storeServiceUrl('redis'), prefix.prefix).map((line) =>
        line === '  backend: redis' ? '  backend: memory' : line
      )
    first = await startTestGateway({ config: memory() })
    second = await startTestGateway({ config: memory() })
  })
  afterAll(async () => {
    await first?.close()
    await second?.close()
    await prefix?.cleanup()
  })

  it('purges every process’s own cache through the one that received the purge', async () => {
    const stamp = Date.now()
    // Each process keeps its own answers: nothing of them is in Redis.
    await cached(first, `kept a ${stamp}`)
    await cached(second, `kept a ${stamp}`)
    await cached(second, `kept b ${stamp}`, masterKey, 'gpt-4o')
    expect(await entryKeys(prefix.prefix)).toEqual([])

    const byModel = await call(first, 'POST', '/admin/v1/cache/purge', {
      model: 'openai/gpt-4o-mini',
    })
    expect(byModel).toMatchObject({ status: 200, body: { deleted: 1 } })
    // The relay is asynchronous: the other process purges its own as it hears it.
    const deadline = Date.now() + 2_000
    let after = await ask(second, `kept a ${stamp}`)
    while (after.cache === 'hit' && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20))
      after = await ask(second, `kept a ${stamp}`)
    }
    expect(after.cache).toBe('miss')
    expect((await ask(second, `kept b ${stamp}`, masterKey, 'gpt-4o')).cache).toBe('hit')

    await call(first, 'POST', '/admin/v1/cache/purge', { all: true })
    const end = Date.now() + 2_000
    let other = await ask(second, `kept b ${stamp}`, masterKey, 'gpt-4o')
    while (other.cache === 'hit' && Date.now() < end) {
      await new Promise((resolve) => setTimeout(resolve, 20))
      other = await ask(second, `kept b ${stamp}`, masterKey, 'gpt-4o')
    }
    expect(other.cache).toBe('miss')
  })
})
