/**
 * The prompt cache's accounting end to end: a real Node server with the cache on, tenant keys, requests that miss,
 * hit (whole and streamed) and bypass the cache, and `GET /v1/usage` read back as each tenant: the hits, the misses
 * and what the hits saved arrive in the usage store (SQLite through the usage writer's thread; PostgreSQL directly)
 * and in the answer, each tenant seeing its own only. The expected figures are what the gateway told each client
 * (`x-gatehouse-cache`) and what the upstream was asked, not constants.
 */
import { rmSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { NodeServer } from '../../src/runtime/node.ts'
import { requireStoreService } from '../contract/define-store-contract.ts'
import {
  createThrowawayPostgresDatabase,
  type ThrowawayDatabase,
} from '../contract/create-throwaway-postgres-database.ts'
import { MOCK_OPENAI_API_KEY, startMockOpenAIUpstream } from '../helpers/mock-openai-upstream.ts'
import type { MockUpstream } from '../helpers/mock-upstream-server.ts'
import { startTestGateway } from '../helpers/start-test-gateway.ts'

const masterKey = 'gh-cache-usage-master-key'
const inputRate = 150
const outputRate = 600

type UsageRow = Record<string, number | string | null>

describe.each(['sqlite', 'postgres'] as const)('prompt cache usage (%s)', (backend) => {
  if (backend === 'postgres') requireStoreService('postgres')
  let upstream: MockUpstream
  let gateway: NodeServer & { cwd: string }
  let database: ThrowawayDatabase | undefined

  beforeAll(async () => {
    upstream = await startMockOpenAIUpstream({ streamChunks: 5 })
    database = backend === 'postgres' ? await createThrowawayPostgresDatabase() : undefined
    gateway = await startTestGateway({
      config: [
        `auth: { masterKey: ${masterKey} }`,
        'usage: { flushIntervalMs: 20 }',
        'retry: { maxRetries: 0 }',
        'cache: { enabled: true, ttlSeconds: 600 }',
        'providers:',
        `  openai: { type: openai, apiKey: ${MOCK_OPENAI_API_KEY}, baseUrl: "${upstream.baseUrl}", discoverModels: false, models: [gpt-4o-mini] }`,
        'prices:',
        `  "gpt-4o-mini*": { input: ${inputRate}, output: ${outputRate} }`,
      ],
      env: database === undefined ? {} : { DATABASE_URL: database.url },
    })
  }, 60_000)

  afterAll(async () => {
    await gateway?.close()
    await upstream?.close()
    await database?.drop()
    if (gateway) rmSync(gateway.cwd, { recursive: true, force: true })
  })

  const call = async (
    path: string,
    options: { key: string; body?: unknown; headers?: Record<string, string> }
  ): Promise<Response> =>
    fetch(`${gateway.url}${path}`, {
      method: options.body === undefined ? 'GET' : 'POST',
      headers: {
        authorization: `Bearer ${options.key}`,
        ...(options.body === undefined ? {} : { 'content-type': 'application/json' }),
        ...options.headers,
      },
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
    })

  const createTenantKey = async (tenant: string): Promise<{ tenantId: string; key: string }> => {
    const created = await call('/admin/v1/tenants', { key: masterKey, body: { name: tenant } })
    expect(created.status).toBe(201)
    const tenantId = ((await created.json()) as { id: string }).id
    const key = await call('/admin/v1/keys', { key: masterKey, body: { tenant, name: 'app' } })
    expect(key.status).toBe(201)
    return { tenantId, key: ((await key.json()) as { key: string }).key }
  }

  /** What the gateway told the client it did, per outcome. */
  const told = { hit: 0, miss: 0, bypass: 0 }
  const chat = async (
    key: string,
    body: Record<string, unknown>,
    headers: Record<string, string> = {}
  ): Promise<string> => {
    const response = await call('/v1/chat/completions', { key, body, headers })
    expect(response.status).toBe(200)
    await response.text()
    const outcome = response.headers.get('x-gatehouse-cache') as keyof typeof told
    told[outcome] += 1
    return outcome
  }

  /** The tenant's usage as its own key reads it, once the store holds `requests` requests. */
  const usageOnce = async (key: string, requests: number): Promise<UsageRow> => {
    const deadline = Date.now() + 5_000
    for (;;) {
      const response = await call('/v1/usage?from=1h', { key })
      expect(response.status).toBe(200)
      const { data } = (await response.json()) as { data: UsageRow[] }
      if (data.length === 1 && data[0].requests === requests) return data[0]
      if (Date.now() > deadline)
        throw new Error(`usage never reached ${requests} requests: ${JSON.stringify(data)}`)
      await new Promise((resolve) => setTimeout(resolve, 25))
    }
  }

  it("shows a tenant its cache hits, misses and the cost they saved in GET /v1/usage, and another tenant's none", async () => {
    const acme = await createTenantKey('acme')
    const beta = await createTenantKey('beta')
    const body = {
      model: 'openai/gpt-4o-mini',
      messages: [{ role: 'user', content: `what the cache saves ${backend}` }],
    }
    expect(await chat(acme.key, body)).toBe('miss')
    // The answer is stored after the response: until it is, a repeat misses too (and is counted so).
    const deadline = Date.now() + 3_000
    while ((await chat(acme.key, body)) !== 'hit')
      if (Date.now() > deadline) throw new Error('the answer was never stored')
    // A streamed repeat is a hit too, replayed from the stored answer.
    expect(await chat(acme.key, { ...body, stream: true })).toBe('hit')
    expect(await chat(acme.key, body, { 'cache-control': 'no-store' })).toBe('bypass')
    const acmeTold = { ...told }
    // Another tenant's identical request does not read acme's answer.
    expect(await chat(beta.key, body)).toBe('miss')

    const upstreamCalls = upstream.requests.filter(
      (request) => request.path === '/v1/chat/completions'
    ).length
    expect(upstreamCalls).toBe(acmeTold.miss + acmeTold.bypass + 1)

    const acmeRequests = acmeTold.hit + acmeTold.miss + acmeTold.bypass
    const row = await usageOnce(acme.key, acmeRequests)
    expect(row).toMatchObject({
      requests: acmeRequests,
      errors: 0,
      cache_hits: acmeTold.hit,
      cache_misses: acmeTold.miss,
    })
    // Every request that went upstream was the same prompt with the same answer, so each cost the same; a hit cost
    // nothing and saved what one of them cost.
    const cost = row.cost_micro_usd as number
    const each = cost / (acmeTold.miss + acmeTold.bypass)
    expect(each).toBeGreaterThan(0)
    expect(Number.isInteger(each)).toBe(true)
    expect(row.saved_cost_micro_usd).toBe(acmeTold.hit * each)

    const betaRow = await usageOnce(beta.key, 1)
    expect(betaRow).toMatchObject({
      requests: 1,
      cache_hits: 0,
      cache_misses: 1,
      saved_cost_micro_usd: null,
      cost_micro_usd: each,
    })

    // The admin's view by tenant says the same, and the CSV carries the columns.
    const csv = await (
      await call('/admin/v1/usage?from=1h&group_by=tenant&format=csv', { key: masterKey })
    ).text()
    const [header, ...lines] = csv.trim().split('\r\n')
    const columns = header.split(',')
    const byTenant = new Map(
      lines.map((line) => {
        const cells = line.split(',')
        return [
          cells[0],
          Object.fromEntries(columns.map((column, index) => [column, cells[index]])),
        ]
      })
    )
    expect(byTenant.get(acme.tenantId)).toMatchObject({
      cache_hits: String(acmeTold.hit),
      cache_misses: String(acmeTold.miss),
      saved_cost_micro_usd: String(acmeTold.hit * each),
    })
    expect(byTenant.get(beta.tenantId)).toMatchObject({
      cache_hits: '0',
      cache_misses: '1',
      saved_cost_micro_usd: '',
    })
  })
})
