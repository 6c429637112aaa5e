/**
 * The prompt cache in Redis (`cache.backend: redis`): two gateway processes share it (one stores, the other answers
 * from it), under the deployment's key prefix; and a Redis that is gone is a miss for every request (answered from
 * upstream), logged once.
 */
import { createServer, type AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { MOCK_OPENAI_API_KEY, startMockOpenAIUpstream } from '../helpers/mock-openai-upstream.ts'
import type { MockUpstream } from '../helpers/mock-upstream-server.ts'
import { startTestGateway } from '../helpers/start-test-gateway.ts'
import { storeServiceUrl } from '../contract/check-store-service.ts'
import {
  createRedisTestPrefix,
  type RedisTestPrefix,
} from '../contract/create-redis-test-prefix.ts'
import { requireStoreService } from '../contract/define-store-contract.ts'
import { connectRawRedis } from '../contract/connect-raw-redis.ts'

const masterKey = 'gh-cache-redis-master'
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

const ask = async (url: string, content: string) => {
  const response = await fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${masterKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content }] }),
  })
  return {
    status: response.status,
    cache: response.headers.get('x-gatehouse-cache'),
    body: await response.json(),
  }
}

beforeAll(async () => {
  upstream = await startMockOpenAIUpstream()
})
afterAll(() => upstream?.close())

describe('prompt cache in Redis', () => {
  requireStoreService('redis')
  let prefix: RedisTestPrefix

  beforeAll(() => {
    prefix = createRedisTestPrefix({ label: 'gateway-cache' })
  })
  afterAll(() => prefix?.cleanup())

  it('is shared by two gateway processes, under the deployment’s prefix', async () => {
    const first = await startTestGateway({
      config: config(storeServiceUrl('redis'), prefix.prefix),
    })
    const second = await startTestGateway({
      config: config(storeServiceUrl('redis'), prefix.prefix),
    })
    try {
      const content = `shared ${Date.now()}`
      const miss = await ask(first.url, content)
      expect(miss.cache).toBe('miss')
      const calls = upstream.requests.length
      let hit = await ask(second.url, content)
      for (let tries = 0; hit.cache !== 'hit' && tries < 50; tries += 1) {
        await new Promise((resolve) => setTimeout(resolve, 20))
        hit = await ask(second.url, content)
      }
      expect(hit.cache).toBe('hit')
      // The canonical answer: upstream extras such as `system_fingerprint` are not replayed.
      expect(hit.body).toMatchObject({
        id: miss.body.id,
        model: miss.body.model,
        choices: miss.body.choices,
        usage: miss.body.usage,
      })
      expect(upstream.requests.length).toBe(calls)
      const redis = await connectRawRedis({ url: storeServiceUrl('redis') })
      try {
        const [, keys] = (await redis.command(
          'SCAN',
          '0',
          'MATCH',
          `${prefix.prefix}cache:e:*`,
          'COUNT',
          1000
        )) as [string, string[]]
        expect(keys.length).toBeGreaterThanOrEqual(1)
      } finally {
        await redis.close()
      }
    } finally {
      await first.close()
      await second.close()
    }
  })

  it('goes upstream when Redis is gone, and logs the outage once', async () => {
    const server = createServer()
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const { port } = server.address() as AddressInfo
    await new Promise((resolve) => server.close(resolve))
    const lines: string[] = []
    const gateway = await startTestGateway({
      config: config(`redis://127.0.0.1:${port}`, 'gatehouse-test:gone:'),
      env: { LOG_LEVEL: 'warn' },
      stdout: (line) => lines.push(line),
    })
    try {
      const replies = await Promise.all(
        Array.from({ length: 10 }, (_, index) => ask(gateway.url, `no redis ${index}`))
      )
      for (const reply of replies) {
        expect(reply.status).toBe(200)
        expect(reply.cache).toBe('miss')
      }
      const outages = lines.filter((line) => line.includes('the prompt cache is bypassed'))
      expect(outages).toHaveLength(1)
    } finally {
      await gateway.close()
    }
  })
})
