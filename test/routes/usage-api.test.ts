/**
 * Usage reads through the whole app over a real SQLite usage store: `GET /admin/v1/usage` (everyone's, grouped,
 * bucketed, filtered, JSON or CSV) and `GET /v1/usage`, where a tenant key sees its own tenant's usage and nothing
 * of another's, whatever it asks for. The events are written through the store, as the usage sink writes them; the
 * expected figures are the sums of those events, written out by hand.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { UsageRecord } from '../../src/stores/usage-store.ts'
import { createAdminTestApp, type AdminTestApp } from '../helpers/create-admin-test-app.ts'

type Json = Record<string, unknown>
type UsageList = {
  object: string
  from: string
  to: string
  granularity: string | null
  group_by: string[]
  data: Json[]
}
type Key = { id: string; key: string }

let t: AdminTestApp
let acme: { id: string; keys: [Key, Key] }
let beta: { id: string; key: Key }

const metricsOf = (row: Json) => ({
  requests: row.requests,
  input_tokens: row.input_tokens,
  output_tokens: row.output_tokens,
  cached_tokens: row.cached_tokens,
  cost_micro_usd: row.cost_micro_usd,
})

let sequence = 0
const event = (overrides: Partial<UsageRecord>): UsageRecord => {
  sequence += 1
  return {
    id: `evt-${sequence}`,
    kind: 'request',
    time: Date.UTC(2025, 11, 31, 12),
    requestId: `req-${sequence}`,
    tenantId: null,
    keyId: null,
    userId: null,
    tags: [],
    operation: 'chat-completions',
    requestedModel: 'gpt-4o',
    provider: 'openai',
    model: 'gpt-4o',
    attempts: 1,
    status: 200,
    stream: false,
    error: null,
    inputTokens: 10,
    outputTokens: 5,
    cachedTokens: null,
    cacheWriteTokens: null,
    reasoningTokens: null,
    costMicroUsd: 100,
    latencyMs: 50,
    ttfbMs: 20,
    clientAborted: false,
    cache: null,
    savedCostMicroUsd: null,
    ...overrides,
  }
}

beforeEach(async () => {
  t = await createAdminTestApp()
  const makeTenant = async (name: string) =>
    (await t.ok<{ id: string }>('POST', '/admin/v1/tenants', { body: { name }, status: 201 })).id
  const makeKey = (tenant: string, name: string) =>
    t.ok<Key>('POST', '/admin/v1/keys', { body: { tenant, name }, status: 201 })
  const acmeId = await makeTenant('acme')
  const betaId = await makeTenant('beta')
  acme = { id: acmeId, keys: [await makeKey('acme', 'a1'), await makeKey('acme', 'a2')] }
  beta = { id: betaId, key: await makeKey('beta', 'b1') }
  const [a1, a2] = acme.keys
  await t.stores.usage.record([
    event({
      time: Date.UTC(2025, 11, 30, 10),
      tenantId: acme.id,
      keyId: a1.id,
      userId: 'alice',
      inputTokens: 100,
      outputTokens: 50,
      cachedTokens: 20,
      costMicroUsd: 1000,
    }),
    event({
      time: Date.UTC(2025, 11, 31, 11, 30),
      tenantId: acme.id,
      keyId: a1.id,
      userId: 'bob',
      costMicroUsd: 300,
    }),
    event({
      tenantId: acme.id,
      keyId: a2.id,
      userId: '=HYPERLINK("http://evil")',
      provider: 'anthropic',
      model: 'claude-sonnet-4-5',
      inputTokens: 7,
      outputTokens: 3,
      costMicroUsd: null,
    }),
    event({
      tenantId: beta.id,
      keyId: beta.key.id,
      userId: 'mallory',
      inputTokens: 1000,
      outputTokens: 1000,
      cachedTokens: 500,
      costMicroUsd: 99_999,
    }),
    event({ time: Date.UTC(2025, 11, 31, 13), costMicroUsd: 5 }),
  ])
})

afterEach(async () => {
  await t.close()
})

describe('GET /admin/v1/usage', () => {
  it('groups by tenant and model over a relative range, reporting the range read', async () => {
    const answer = await t.ok<UsageList>('GET', '/admin/v1/usage?from=7d&group_by=tenant,model')
    expect(answer).toMatchObject({
      object: 'list',
      from: '2025-12-25T00:00:00.000Z',
      to: '2026-01-01T00:00:00.000Z',
      granularity: null,
      group_by: ['tenant', 'model'],
    })
    const rows = answer.data.map((row) => [row.tenant_id, row.model, metricsOf(row)])
    expect(rows).toEqual(
      [
        [
          null,
          'gpt-4o',
          {
            requests: 1,
            input_tokens: 10,
            output_tokens: 5,
            cached_tokens: null,
            cost_micro_usd: 5,
          },
        ],
        [
          acme.id,
          'claude-sonnet-4-5',
          {
            requests: 1,
            input_tokens: 7,
            output_tokens: 3,
            cached_tokens: null,
            cost_micro_usd: null,
          },
        ],
        [
          acme.id,
          'gpt-4o',
          {
            requests: 2,
            input_tokens: 110,
            output_tokens: 55,
            cached_tokens: 20,
            cost_micro_usd: 1300,
          },
        ],
        [
          beta.id,
          'gpt-4o',
          {
            requests: 1,
            input_tokens: 1000,
            output_tokens: 1000,
            cached_tokens: 500,
            cost_micro_usd: 99_999,
          },
        ],
      ].sort((left, right) => String(left[0] ?? '').localeCompare(String(right[0] ?? '')))
    )
    const claude = answer.data.find((row) => row.model === 'claude-sonnet-4-5')
    expect(claude?.unpriced_requests).toBe(1)
    // The fields are the store's row, in a fixed order.
    expect(Object.keys(answer.data[0])).toEqual([
      'tenant_id',
      'model',
      'requests',
      'errors',
      'client_aborted',
      'input_tokens',
      'output_tokens',
      'cached_tokens',
      'cache_write_tokens',
      'reasoning_tokens',
      'cost_micro_usd',
      'unpriced_requests',
      'latency_ms_total',
      'cache_hits',
      'cache_misses',
      'saved_cost_micro_usd',
      'estimated_requests',
      'estimated_cost_micro_usd',
    ])
  })

  it('buckets by UTC day with ISO times, and filters by tenant name or id', async () => {
    for (const tenant of ['acme', acme.id]) {
      const answer = await t.ok<UsageList>(
        'GET',
        `/admin/v1/usage?from=2025-12-01&to=2026-01-01T00:00:00Z&granularity=day&tenant=${tenant}`
      )
      expect(
        answer.data.map((row) => [row.bucket_start, row.requests, row.cost_micro_usd])
      ).toEqual([
        ['2025-12-30T00:00:00.000Z', 1, 1000],
        ['2025-12-31T00:00:00.000Z', 2, 300],
      ])
    }
  })

  it('sums everything into one row without grouping, and answers no row for an empty range', async () => {
    const total = await t.ok<UsageList>('GET', '/admin/v1/usage?from=30d')
    expect(total.data.map(metricsOf)).toEqual([
      {
        requests: 5,
        input_tokens: 1127,
        output_tokens: 1063,
        cached_tokens: 520,
        cost_micro_usd: 101_304,
      },
    ])
    const since = await t.ok<UsageList>('GET', '/admin/v1/usage?from=12h&group_by=user')
    expect(since.data.map((row) => row.user_id)).toEqual([
      null,
      '=HYPERLINK("http://evil")',
      'mallory',
    ])
    const empty = await t.ok<UsageList>('GET', '/admin/v1/usage?from=2025-01-01&to=2025-02-01')
    expect(empty.data).toEqual([])
  })

  it('answers CSV whose header is the JSON field names, with empty cells for unknowns and formulas defused', async () => {
    const response = await t.call('GET', '/admin/v1/usage?tenant=acme&group_by=user&format=csv')
    expect(response.status).toBe(200)
    expect(response.headers.get('content-type')).toBe('text/csv; charset=utf-8')
    const json = await t.ok<UsageList>('GET', '/admin/v1/usage?tenant=acme&group_by=user')
    const lines = (await response.text()).split('\r\n')
    expect(lines[0].split(',')).toEqual(Object.keys(json.data[0]))
    expect(lines.slice(1)).toEqual([
      '"\'=HYPERLINK(""http://evil"")",1,0,0,7,3,,,,,1,50,0,0,,0,',
      'alice,1,0,0,100,50,20,,,1000,0,50,0,0,,0,',
      'bob,1,0,0,10,5,,,,300,0,50,0,0,,0,',
      '',
    ])
  })

  it('refuses bad parameters with a 400 naming each', async () => {
    const cases: [string, string][] = [
      ['group_by=color', 'group_by'],
      ['group_by=model,', 'group_by'],
      ['granularity=week', 'granularity'],
      ['from=yesterday', 'from'],
      ['to=2026-13-45', 'to'],
      ['from=2026-01-01&to=2025-12-01', 'from'],
      ['tenant=nobody', 'tenant'],
      ['format=xml', 'format'],
      ['groupby=model', 'groupby'],
    ]
    for (const [query, param] of cases) {
      const response = await t.call('GET', `/admin/v1/usage?${query}`)
      const body = (await response.json()) as { error: { param: string } }
      expect([query, response.status, body.error.param]).toEqual([query, 400, param])
    }
  })
})

describe('prompt cache figures', () => {
  /** A request the prompt cache answered: no tokens, no cost, what its answer had cost saved. */
  const hit = (overrides: Partial<UsageRecord>): UsageRecord =>
    event({
      attempts: 0,
      inputTokens: 0,
      outputTokens: 0,
      cachedTokens: 0,
      costMicroUsd: 0,
      cache: 'hit',
      ...overrides,
    })

  beforeEach(async () => {
    const [a1, a2] = acme.keys
    await t.stores.usage.record([
      hit({ tenantId: acme.id, keyId: a1.id, userId: 'alice', savedCostMicroUsd: 1000 }),
      hit({ tenantId: acme.id, keyId: a2.id, userId: 'alice', savedCostMicroUsd: 250 }),
      hit({ tenantId: acme.id, keyId: a2.id, userId: 'bob', savedCostMicroUsd: null }),
      event({
        tenantId: acme.id,
        keyId: a1.id,
        userId: 'alice',
        cache: 'miss',
        costMicroUsd: 1000,
      }),
      event({ tenantId: acme.id, keyId: a1.id, userId: 'bob', cache: 'bypass' }),
      hit({ tenantId: beta.id, keyId: beta.key.id, savedCostMicroUsd: 77_000 }),
      event({ tenantId: beta.id, keyId: beta.key.id, cache: 'miss' }),
    ])
  })

  const cacheOf = (row: Json) => [
    row.requests,
    row.cache_hits,
    row.cache_misses,
    row.saved_cost_micro_usd,
    row.cost_micro_usd,
  ]

  it('reports hits, misses and the saving per group, apart from the cost', async () => {
    const byTenant = await t.ok<UsageList>('GET', '/admin/v1/usage?from=30d&group_by=tenant')
    expect(byTenant.data.map((row) => [row.tenant_id, ...cacheOf(row)])).toEqual(
      [
        [null, 1, 0, 0, null, 5],
        // 3 requests before, 5 more: 3 hits (one saving unknown), a miss, a bypass.
        [acme.id, 8, 3, 1, 1250, 1300 + 1000 + 100],
        [beta.id, 3, 1, 1, 77_000, 99_999 + 100],
      ].sort((left, right) => String(left[0] ?? '').localeCompare(String(right[0] ?? '')))
    )
    const byUser = await t.ok<UsageList>(
      'GET',
      '/admin/v1/usage?from=30d&tenant=acme&group_by=user'
    )
    expect(
      Object.fromEntries(byUser.data.map((row) => [String(row.user_id), cacheOf(row).slice(1, 4)]))
    ).toEqual({
      '=HYPERLINK("http://evil")': [0, 0, null],
      alice: [2, 1, 1250],
      bob: [1, 0, null],
    })
  })

  it('gives the cache columns after the others, then the estimates, a saving nobody knew as an empty cell', async () => {
    const response = await t.call(
      'GET',
      '/admin/v1/usage?from=30d&tenant=acme&group_by=key&format=csv'
    )
    const [header, ...lines] = (await response.text()).trim().split('\r\n')
    expect(header.split(',').slice(-5)).toEqual([
      'cache_hits',
      'cache_misses',
      'saved_cost_micro_usd',
      'estimated_requests',
      'estimated_cost_micro_usd',
    ])
    const [a1, a2] = acme.keys
    expect(
      Object.fromEntries(lines.map((line) => [line.split(',')[0], line.split(',').slice(-5, -2)]))
    ).toEqual({ [a1.id]: ['1', '1', '1000'], [a2.id]: ['2', '0', '250'] })
  })

  it("shows a tenant key its own tenant's hits and savings only", async () => {
    const answer = await t.ok<UsageList>('GET', '/v1/usage?from=30d', { key: beta.key.key })
    expect(answer.data.map(cacheOf)).toEqual([[3, 1, 1, 77_000, 99_999 + 100]])
  })

  it('documents every field it answers in the OpenAPI schema of a row', async () => {
    const document = (await (await t.call('GET', '/openapi.json', { key: null })).json()) as {
      components: {
        schemas: Record<string, { properties: Record<string, unknown>; required: string[] }>
      }
    }
    const schema = document.components.schemas.UsageRow
    const answer = await t.ok<UsageList>(
      'GET',
      '/admin/v1/usage?from=30d&granularity=day&group_by=tenant,key,model,provider,user'
    )
    for (const field of Object.keys(answer.data[0]))
      expect(schema.properties, field).toHaveProperty(field)
    expect(schema.required).toEqual(
      expect.arrayContaining(['cache_hits', 'cache_misses', 'saved_cost_micro_usd'])
    )
    // OpenAPI 3.1: `null` is a type of its own.
    expect(schema.properties.saved_cost_micro_usd).toMatchObject({ type: ['integer', 'null'] })
    expect(schema.properties.cache_hits).toMatchObject({ type: 'integer' })
  })
})

describe('GET /v1/usage', () => {
  const tenantIds = (answer: UsageList) => [...new Set(answer.data.map((row) => row.tenant_id))]

  it("shows a tenant key its own tenant's usage and nothing of another's", async () => {
    const [a1] = acme.keys
    const answer = await t.ok<UsageList>('GET', '/v1/usage?from=30d&group_by=tenant,key,user', {
      key: a1.key,
    })
    expect(tenantIds(answer)).toEqual([acme.id])
    expect(answer.data.map((row) => row.user_id).sort()).toEqual(
      ['=HYPERLINK("http://evil")', 'alice', 'bob'].sort()
    )
    const betaAnswer = await t.ok<UsageList>('GET', '/v1/usage?from=30d&group_by=tenant,user', {
      key: beta.key.key,
    })
    expect(betaAnswer.data.map((row) => [row.tenant_id, row.user_id, row.cost_micro_usd])).toEqual([
      [beta.id, 'mallory', 99_999],
    ])
    // Filtering on another tenant's key finds nothing rather than that key's usage.
    const foreignKey = await t.ok<UsageList>(`GET`, `/v1/usage?from=30d&key=${beta.key.id}`, {
      key: a1.key,
    })
    expect(foreignKey.data).toEqual([])
  })

  it("refuses a tenant key another tenant's usage by name or id, and accepts its own", async () => {
    const [, a2] = acme.keys
    for (const other of ['beta', beta.id, 'nobody']) {
      const response = await t.call('GET', `/v1/usage?tenant=${other}`, { key: a2.key })
      const body = (await response.json()) as { error: { type: string; param: string } }
      expect([other, response.status, body.error.type, body.error.param]).toEqual([
        other,
        403,
        'permission_error',
        'tenant',
      ])
    }
    for (const own of ['acme', acme.id]) {
      const answer = await t.ok<UsageList>(
        'GET',
        `/v1/usage?from=30d&tenant=${own}&group_by=tenant`,
        {
          key: a2.key,
        }
      )
      expect(answer.data.map((row) => [row.tenant_id, row.requests])).toEqual([[acme.id, 3]])
    }
  })

  it("keeps CSV to the tenant's own rows too", async () => {
    const response = await t.call('GET', '/v1/usage?from=30d&group_by=tenant,key,user&format=csv', {
      key: acme.keys[0].key,
    })
    expect(response.status).toBe(200)
    const text = await response.text()
    expect(text).toContain(acme.id)
    expect(text).not.toContain(beta.id)
    expect(text).not.toContain('mallory')
    expect(text.trim().split('\r\n')).toHaveLength(1 + 3)
  })

  it("shows the master key everything, the master's own requests included", async () => {
    const answer = await t.ok<UsageList>('GET', '/v1/usage?from=30d&group_by=tenant')
    expect(answer.data.map((row) => [row.tenant_id, row.requests])).toEqual(
      [
        [null, 1],
        [acme.id, 3],
        [beta.id, 1],
      ].sort((left, right) => String(left[0] ?? '').localeCompare(String(right[0] ?? '')))
    )
  })

  it('answers 401 without a key', async () => {
    expect((await t.call('GET', '/v1/usage', { key: null })).status).toBe(401)
  })
})
