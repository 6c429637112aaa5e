/**
 * The `x-ratelimit-*` headers on every response of a tenant key, through a real gateway on PostgreSQL and Redis (the
 * Redis admission store, behind quota blocks, as deployed): the responses that take no admission (a 400 from
 * validation, a 403 for a model outside the key's list, a 404, the model list, a usage read) carry the key's limits as
 * they stand, and take nothing from them: the next call counts down from where the last one left. The master key's
 * responses carry none.
 */
import { tmpdir } from 'node:os'
import OpenAI from 'openai'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { systemClock } from '../../src/core/clock.ts'
import { generateApiKey } from '../../src/core/generate-api-key.ts'
import { hashApiKey } from '../../src/core/hash-api-key.ts'
import type { NodeServer } from '../../src/runtime/node.ts'
import { migrateSqlDatabase } from '../../src/stores/sql/migrate-sql-database.ts'
import { openSqlDatabase, type SqlDatabase } from '../../src/stores/sql/open-sql-database.ts'
import { createSqlTenantStore } from '../../src/stores/sql/sql-tenant-store.ts'
import type { TenantStore } from '../../src/stores/tenant-store.ts'
import { storeServiceUrl } from '../contract/check-store-service.ts'
import {
  createThrowawayPostgresDatabase,
  type ThrowawayDatabase,
} from '../contract/create-throwaway-postgres-database.ts'
import {
  createRedisTestPrefix,
  type RedisTestPrefix,
} from '../contract/create-redis-test-prefix.ts'
import { requireStoreService } from '../contract/define-store-contract.ts'
import { startMockOpenAIUpstream, MOCK_OPENAI_API_KEY } from '../helpers/mock-openai-upstream.ts'
import type { MockUpstream } from '../helpers/mock-upstream-server.ts'
import { startTestGateway } from '../helpers/start-test-gateway.ts'

requireStoreService('postgres')
requireStoreService('redis')

const masterKey = 'rate-limit-headers-master-key'

let upstream: MockUpstream
let database: ThrowawayDatabase
let redisPrefix: RedisTestPrefix
let sql: SqlDatabase
let tenants: TenantStore
let gateway: NodeServer

beforeAll(async () => {
  upstream = await startMockOpenAIUpstream()
  database = await createThrowawayPostgresDatabase()
  redisPrefix = createRedisTestPrefix({ label: 'rate-limit-headers' })
  sql = openSqlDatabase({ url: database.url, cwd: tmpdir() })
  await migrateSqlDatabase(sql)
  tenants = createSqlTenantStore({ database: sql, clock: systemClock })
  gateway = await startTestGateway({
    config: [
      `auth: { masterKey: ${masterKey} }`,
      `redis: { keyPrefix: "${redisPrefix.prefix}" }`,
      'providers:',
      `  openai: { type: openai, apiKey: ${MOCK_OPENAI_API_KEY}, baseUrl: "${upstream.baseUrl}", discoverModels: false, models: [gpt-4o-mini, gpt-4o] }`,
    ],
    env: { DATABASE_URL: database.url, REDIS_URL: storeServiceUrl('redis') },
  })
}, 60_000)

afterAll(async () => {
  await gateway?.close()
  await sql?.close()
  await database?.drop()
  await redisPrefix?.cleanup()
  await upstream?.close()
}, 60_000)

/** A key of its own tenant, written straight to the store; answers the key, shown once. */
const createKey = async (options: {
  limits: { rpm?: number | null; tpm?: number | null; concurrency?: number | null }
  allowedModels?: string[]
}): Promise<string> => {
  const tenant = await tenants.createTenant({
    name: `t-${Math.random().toString(36).slice(2, 10)}`,
  })
  const generated = generateApiKey()
  await tenants.createKey({
    tenantId: tenant.id,
    name: 'ci',
    hash: await hashApiKey(generated.key),
    displayPrefix: generated.displayPrefix,
    limits: options.limits,
    allowedModels: options.allowedModels ?? null,
  })
  return generated.key
}

const send = (
  key: string,
  path: string,
  init: { method?: string; body?: unknown; headers?: Record<string, string> } = {}
): Promise<Response> =>
  fetch(`${gateway.url}${path}`, {
    method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
    headers: {
      authorization: `Bearer ${key}`,
      ...(init.body === undefined ? {} : { 'content-type': 'application/json' }),
      ...init.headers,
    },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  })

const chatBody = (model: string) => ({
  model,
  messages: [{ role: 'user', content: 'Say hello.' }],
  max_tokens: 50,
})

/** The OpenAI-style limit headers of a response, as the SDKs read them. */
const limitsOf = (response: Response) => ({
  status: response.status,
  limitRequests: response.headers.get('x-ratelimit-limit-requests'),
  remainingRequests: response.headers.get('x-ratelimit-remaining-requests'),
  resetRequests: response.headers.get('x-ratelimit-reset-requests'),
  limitTokens: response.headers.get('x-ratelimit-limit-tokens'),
  remainingTokens: response.headers.get('x-ratelimit-remaining-tokens'),
  resetTokens: response.headers.get('x-ratelimit-reset-tokens'),
})

describe("a tenant key's responses that take no admission", () => {
  it('carry its limits as they stand, and take nothing from them', async () => {
    const key = await createKey({
      limits: { rpm: 10, tpm: 100_000 },
      allowedModels: ['openai/gpt-4o-mini'],
    })
    // Before any call: the whole minute is left, and nothing to wait for.
    expect(limitsOf(await send(key, '/v1/models'))).toMatchObject({
      status: 200,
      limitRequests: '10',
      remainingRequests: '10',
      resetRequests: '0ms',
      limitTokens: '100000',
      remainingTokens: '100000',
    })
    await new OpenAI({
      apiKey: key,
      baseURL: `${gateway.url}/v1`,
      maxRetries: 0,
    }).chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'Say hello.' }],
      max_tokens: 50,
    })
    // Its tokens are settled to the real count once its response has ended.
    await new Promise((resolve) => setTimeout(resolve, 100))

    const refusals = [
      // Body validation: no messages.
      await send(key, '/v1/chat/completions', { body: { model: 'gpt-4o-mini' } }),
      // A model outside the key's list.
      await send(key, '/v1/chat/completions', { body: chatBody('gpt-4o') }),
      // An unknown endpoint under /v1.
      await send(key, '/v1/nothing-here'),
      // Malformed JSON.
      await fetch(`${gateway.url}/v1/embeddings`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: '{"model":',
      }),
    ]
    expect(refusals.map((response) => response.status)).toEqual([400, 403, 404, 400])
    const answers = [await send(key, '/v1/models'), await send(key, '/v1/usage')]
    expect(answers.map((response) => response.status)).toEqual([200, 200])
    const tokensLeft = Number(limitsOf(refusals[0]).remainingTokens)
    expect(tokensLeft).toBeGreaterThan(0)
    expect(tokensLeft).toBeLessThan(100_000)
    for (const response of [...refusals, ...answers]) {
      const limits = limitsOf(response)
      expect(limits).toMatchObject({
        limitRequests: '10',
        remainingRequests: '9',
        limitTokens: '100000',
        remainingTokens: String(tokensLeft),
      })
      // OpenAI's duration format, the window's rest for the one request in it.
      expect(limits.resetRequests).toMatch(/^(\d+s|1m0s)$/)
      expect(limits.resetTokens).toMatch(/^(\d+s|1m0s)$/)
    }

    // Nothing was taken by the six: the next call is the second of ten.
    expect(
      (await send(key, '/v1/chat/completions', { body: chatBody('gpt-4o-mini') })).status
    ).toBe(200)
    const after = limitsOf(await send(key, '/v1/usage'))
    expect(after).toMatchObject({ status: 200, remainingRequests: '8' })
    expect(Number(after.remainingTokens)).toBeLessThan(tokensLeft)
  })

  it('a key with only a concurrency limit, and the master key, get none', async () => {
    const concurrent = await createKey({ limits: { concurrency: 5 } })
    for (const key of [concurrent, masterKey]) {
      for (const response of [
        await send(key, '/v1/chat/completions', { body: { model: 'gpt-4o-mini' } }),
        await send(key, '/v1/models'),
        await send(key, '/v1/usage'),
      ]) {
        expect(response.status).toBeLessThan(500)
        expect(
          [...response.headers.keys()].filter((name) => name.startsWith('x-ratelimit-'))
        ).toEqual([])
      }
    }
  })
})
