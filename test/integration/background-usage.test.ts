/**
 * The tokens of background responses (`background: true`, forwarded to OpenAI), end to end: gateway instances as
 * shipped (`startNodeServer`) sharing one PostgreSQL and one Redis, a tenant key with a budget, the mock OpenAI
 * upstream running background responses as the API does (queued at once with `usage: null`, in progress, then done).
 * The create's usage event has no tokens and its budget reservation stays held; once the response finishes (seen by a
 * retrieve, a streamed replay, a cancel, or the gateway's own poller, on any instance, also after the one that made it
 * stopped), the usage store has its real tokens and cost, once, and the budget's spend is the real cost, once.
 *
 * Expected costs are worked out here from what the upstream reported and the prices this config sets (`prices:`), not
 * by the gateway's code.
 */
import { tmpdir } from 'node:os'
import OpenAI from 'openai'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { generateApiKey } from '../../src/core/generate-api-key.ts'
import { hashApiKey } from '../../src/core/hash-api-key.ts'
import { systemClock } from '../../src/core/clock.ts'
import type { NodeServer } from '../../src/runtime/node.ts'
import type { AdmissionStore } from '../../src/stores/admission-store.ts'
import type { BudgetState } from '../../src/stores/budgets.ts'
import { connectRedis } from '../../src/stores/redis/connect-redis.ts'
import { createRedisAdmissionStore } from '../../src/stores/redis/redis-admission-store.ts'
import { RedisGuard } from '../../src/stores/redis/redis-guard.ts'
import { migrateSqlDatabase } from '../../src/stores/sql/migrate-sql-database.ts'
import { openSqlDatabase, type SqlDatabase } from '../../src/stores/sql/open-sql-database.ts'
import { createSqlTenantStore } from '../../src/stores/sql/sql-tenant-store.ts'
import { createSqlUsageStore } from '../../src/stores/sql/sql-usage-store.ts'
import type { TenantStore } from '../../src/stores/tenant-store.ts'
import type { UsageStore } from '../../src/stores/usage-store.ts'
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
import { createRecordingLogger } from '../helpers/fake-deps.ts'
import { startMockOpenAIUpstream, MOCK_OPENAI_API_KEY } from '../helpers/mock-openai-upstream.ts'
import type { MockUpstream } from '../helpers/mock-upstream-server.ts'
import { startTestGateway } from '../helpers/start-test-gateway.ts'

requireStoreService('postgres')
requireStoreService('redis')

const masterKey = 'background-usage-master-key'
/** USD per million tokens, set in the config: a token of input costs 100 micro-USD, one of output 400. */
const inputRate = 100
const outputRate = 400
const keyBudget = 5_000_000
const tenantBudget = 50_000_000
/** Polled at once and often, or (for the cases that settle by other means) not before an hour. */
const fastPolling = { initialDelayMs: 100, maxDelayMs: 200, sweepIntervalMs: 200 }
const noPolling = { initialDelayMs: 3_600_000, maxDelayMs: 3_600_000, sweepIntervalMs: 3_600_000 }

let upstream: MockUpstream
let database: ThrowawayDatabase
let redisPrefix: RedisTestPrefix
let sql: SqlDatabase
let tenants: TenantStore
let usageStore: UsageStore
let admission: AdmissionStore
let closeRedis: () => Promise<void>
const gateways: NodeServer[] = []

const startGateway = async (polling: Record<string, number>): Promise<NodeServer> => {
  const gateway = await startTestGateway({
    config: [
      `auth: { masterKey: ${masterKey} }`,
      `redis: { keyPrefix: "${redisPrefix.prefix}" }`,
      `usage: { flushIntervalMs: 50, backgroundPolling: ${JSON.stringify(polling)} }`,
      'providers:',
      `  openai: { type: openai, apiKey: ${MOCK_OPENAI_API_KEY}, baseUrl: "${upstream.baseUrl}", discoverModels: false, models: [gpt-4o-mini] }`,
      'prices:',
      `  "gpt-4o-mini*": { input: ${inputRate}, output: ${outputRate} }`,
    ],
    env: { DATABASE_URL: database.url, REDIS_URL: storeServiceUrl('redis') },
  })
  gateways.push(gateway)
  return gateway
}

beforeAll(async () => {
  upstream = await startMockOpenAIUpstream({ backgroundPolls: 2, cancelledUsage: true })
  database = await createThrowawayPostgresDatabase()
  redisPrefix = createRedisTestPrefix({ label: 'background-usage' })
  sql = openSqlDatabase({ url: database.url, cwd: tmpdir() })
  await migrateSqlDatabase(sql)
  tenants = createSqlTenantStore({ database: sql, clock: systemClock })
  usageStore = createSqlUsageStore({ database: sql })
  const redis = await connectRedis({ url: storeServiceUrl('redis') })
  admission = createRedisAdmissionStore({
    redis,
    guard: new RedisGuard({ mode: 'closed', logger: createRecordingLogger(), timeoutMs: 2_000 }),
    clock: systemClock,
    prefix: redisPrefix.prefix,
    loadSpent: (query) =>
      usageStore.spent(
        query.scope === 'tenant' ? { tenantId: query.id } : { keyId: query.id },
        query.start ?? 0
      ),
  })
  closeRedis = async () => {
    await redis.quit()
  }
}, 60_000)

afterAll(async () => {
  await Promise.all(gateways.map((gateway) => gateway.close()))
  await closeRedis?.()
  await sql?.close()
  await database?.drop()
  await redisPrefix?.cleanup()
  await upstream?.close()
}, 60_000)

type Key = { key: string; keyId: string; tenantId: string }

/** A tenant and a key, each with a monthly budget. */
const createKey = async (name: string): Promise<Key> => {
  const tenant = await tenants.createTenant({
    name,
    budget: { microUsd: tenantBudget, period: 'month' },
  })
  const generated = generateApiKey()
  const record = await tenants.createKey({
    tenantId: tenant.id,
    name: 'app',
    hash: await hashApiKey(generated.key),
    displayPrefix: generated.displayPrefix,
    budget: { microUsd: keyBudget, period: 'month' },
  })
  return { key: generated.key, keyId: record.id, tenantId: tenant.id }
}

const client = (gateway: NodeServer, key: Key): OpenAI =>
  new OpenAI({ apiKey: key.key, baseURL: `${gateway.url}/v1`, maxRetries: 0 })

const createBackground = (gateway: NodeServer, key: Key, input: string) =>
  client(gateway, key).responses.create({
    model: 'gpt-4o-mini',
    input,
    background: true,
    max_output_tokens: 500,
  })

/** The key's and the tenant's budgets as Redis holds them: spent, and reserved by requests in flight. */
const budgets = async (key: Key): Promise<{ key: BudgetState; tenant: BudgetState }> => {
  const decision = await admission.admit({
    tenant: {
      id: key.tenantId,
      limits: {},
      budget: { limitMicroUsd: tenantBudget, period: 'month' },
    },
    key: { id: key.keyId, limits: {}, budget: { limitMicroUsd: keyBudget, period: 'month' } },
    tokens: 0,
    costMicroUsd: 0,
  })
  if (!decision.allowed) throw new Error('the budget refused a request reserving nothing')
  await admission.settle(decision.ticket, { tokens: 0, costMicroUsd: 0 })
  const of = (scope: 'key' | 'tenant') => decision.budgets.find((state) => state.scope === scope)!
  return { key: of('key'), tenant: of('tenant') }
}

type EventRow = {
  kind: string
  request_id: string
  input_tokens: number | null
  output_tokens: number | null
  reasoning_tokens: number | null
  cost_micro_usd: number | null
  client_aborted: number
  error: string | null
}

const eventsOf = async (key: Key): Promise<EventRow[]> =>
  (await sql.db
    .selectFrom('usage_events')
    .select([
      'kind',
      'request_id',
      'input_tokens',
      'output_tokens',
      'reasoning_tokens',
      'cost_micro_usd',
      'client_aborted',
      'error',
    ])
    .where('key_id', '=', key.keyId)
    .orderBy('kind')
    .execute()) as EventRow[]

const summaryOf = async (key: Key) => {
  const rows = await usageStore.summarize({
    from: 0,
    to: Date.now() + 86_400_000,
    keyId: key.keyId,
  })
  expect(rows).toHaveLength(1)
  return rows[0]
}

const waitFor = async <T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs = 15_000
): Promise<T> => {
  const until = Date.now() + timeoutMs
  for (;;) {
    const value = await probe()
    if (value !== undefined) return value
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

/** Resolves once the key's settlement event is in the store; fails if there is ever more than one. */
const settlement = (key: Key): Promise<EventRow> =>
  waitFor('the settlement event', async () => {
    const settled = (await eventsOf(key)).filter((event) => event.kind === 'settlement')
    expect(settled.length).toBeLessThanOrEqual(1)
    return settled[0]
  })

/** What the upstream itself says the response used (asked directly, once it has finished). */
const upstreamUsage = async (id: string) => {
  const response = await fetch(`${upstream.baseUrl}/responses/${id}`, {
    headers: { authorization: `Bearer ${MOCK_OPENAI_API_KEY}` },
  })
  const body = (await response.json()) as {
    status: string
    usage: { input_tokens: number; output_tokens: number; input_tokens_details: object } | null
  }
  expect(body.usage).not.toBeNull()
  return { status: body.status, ...body.usage! }
}

/** Asks the upstream directly (advancing a background response one step, as any retrieve does). */
const upstreamStatus = async (id: string): Promise<string> => {
  const response = await fetch(`${upstream.baseUrl}/responses/${id}`, {
    headers: { authorization: `Bearer ${MOCK_OPENAI_API_KEY}` },
  })
  return ((await response.json()) as { status: string }).status
}

const costOf = (usage: { input_tokens: number; output_tokens: number }): number =>
  usage.input_tokens * inputRate + usage.output_tokens * outputRate

/** Retrieves through `gateway` until the response has finished. */
const retrieveUntilDone = async (gateway: NodeServer, key: Key, id: string) => {
  const seen: string[] = []
  for (let attempt = 0; attempt < 10; attempt += 1) {
    const response = await client(gateway, key).responses.retrieve(id)
    seen.push(response.status!)
    if (response.status !== 'queued' && response.status !== 'in_progress') return { response, seen }
  }
  throw new Error(`not done after 10 retrieves: ${seen.join(', ')}`)
}

/** The one response's record as the store holds it (whether it still owes usage). */
const recordOf = (id: string) =>
  sql.db
    .selectFrom('responses')
    .select(['settled_at', 'poll_at', 'pending_usage'])
    .where('id', '=', id)
    .executeTakeFirstOrThrow()

const expectSettledOnce = async (
  key: Key,
  cost: number,
  usage: { input_tokens: number; output_tokens: number }
) => {
  const settled = await settlement(key)
  expect(settled).toMatchObject({
    input_tokens: usage.input_tokens,
    output_tokens: usage.output_tokens,
    cost_micro_usd: cost,
  })
  // One request, with the real figures; no cost left unknown.
  expect(await summaryOf(key)).toMatchObject({
    requests: 1,
    input_tokens: usage.input_tokens,
    output_tokens: usage.output_tokens,
    cost_micro_usd: cost,
    unpriced_requests: 0,
  })
  // The budget's spend is the real cost, once, and nothing is held any more.
  const held = await budgets(key)
  expect(held.key).toMatchObject({ spentMicroUsd: cost, reservedMicroUsd: 0 })
  expect(held.tenant).toMatchObject({ spentMicroUsd: cost, reservedMicroUsd: 0 })
}

describe('background responses: their tokens reach the usage store and the budget once they finish', () => {
  it('by a retrieve through another instance: the reservation is held until then, then settled to the real cost', async () => {
    const [here, there] = await Promise.all([startGateway(noPolling), startGateway(noPolling)])
    const key = await createKey('bg-retrieve')
    const queued = await createBackground(here, key, 'count to three')
    expect(queued).toMatchObject({ status: 'queued', usage: null })

    // The create: an event without tokens, the worst case held (not spent), for as long as it runs.
    const created = await waitFor('the create event', async () => (await eventsOf(key))[0])
    expect(created).toMatchObject({
      kind: 'request',
      input_tokens: null,
      output_tokens: null,
      cost_micro_usd: null,
    })
    const during = await budgets(key)
    expect(during.key.spentMicroUsd).toBe(0)
    expect(during.key.reservedMicroUsd).toBeGreaterThanOrEqual(500 * outputRate)
    expect((await recordOf(queued.id)).settled_at).toBeNull()

    const { response, seen } = await retrieveUntilDone(there, key, queued.id)
    expect(seen).toEqual(['in_progress', 'in_progress', 'completed'])
    expect(response.usage).not.toBeNull()
    const usage = response.usage!
    const cost = costOf(usage)
    expect(settledRequestId(await settlement(key), created)).toBe(true)
    await expectSettledOnce(key, cost, usage)
    expect((await recordOf(queued.id)).settled_at).not.toBeNull()

    // Retrieved again, on either instance: nothing more is counted.
    await client(here, key).responses.retrieve(queued.id)
    await client(there, key).responses.retrieve(queued.id)
    await new Promise((resolve) => setTimeout(resolve, 300))
    await expectSettledOnce(key, cost, usage)

    // The tenant reads it through the API too: one request with its tokens and cost.
    const read = await fetch(`${here.url}/v1/usage?from=7d`, {
      headers: { authorization: `Bearer ${key.key}` },
    })
    const rows = ((await read.json()) as { data: Record<string, unknown>[] }).data
    expect(rows).toEqual([
      expect.objectContaining({
        requests: 1,
        input_tokens: usage.input_tokens,
        output_tokens: usage.output_tokens,
        cost_micro_usd: cost,
      }),
    ])
  })

  it('by the poller, with no retrieve at all', async () => {
    const gateway = await startGateway(fastPolling)
    const key = await createKey('bg-poller')
    const queued = await createBackground(gateway, key, 'write a haiku')
    await settlement(key)
    const usage = await upstreamUsage(queued.id)
    expect(usage.status).toBe('completed')
    await expectSettledOnce(key, costOf(usage), usage)
    // The gateway asked the provider itself, with the provider's credential.
    const polls = upstream.requests.filter(
      (request) => request.method === 'GET' && request.path === `/v1/responses/${queued.id}`
    )
    expect(polls.length).toBeGreaterThanOrEqual(3)
    expect(polls[0].headers.authorization).toBe(`Bearer ${MOCK_OPENAI_API_KEY}`)
  })

  it('once when retrieves on two instances race their two pollers', async () => {
    const [one, two] = await Promise.all([startGateway(fastPolling), startGateway(fastPolling)])
    const key = await createKey('bg-race')
    for (let round = 0; round < 3; round += 1) {
      const queued = await createBackground(one, key, `race ${round}`)
      // Clients polling as fast as they can on both instances, while both pollers poll too.
      await Promise.all(
        [one, two, one, two].map(async (gateway) => {
          for (let attempt = 0; attempt < 6; attempt += 1)
            await client(gateway, key).responses.retrieve(queued.id)
        })
      )
    }
    const settled = await waitFor('three settlements', async () => {
      const events = (await eventsOf(key)).filter((event) => event.kind === 'settlement')
      return events.length >= 3 ? events : undefined
    })
    await new Promise((resolve) => setTimeout(resolve, 500))
    const events = await eventsOf(key)
    expect(events.filter((event) => event.kind === 'settlement')).toHaveLength(3)
    expect(events.filter((event) => event.kind === 'request')).toHaveLength(3)
    expect(new Set(settled.map((event) => event.request_id)).size).toBe(3)
    const cost = settled.reduce((total, event) => total + event.cost_micro_usd!, 0)
    const summary = await summaryOf(key)
    expect(summary).toMatchObject({ requests: 3, cost_micro_usd: cost, unpriced_requests: 0 })
    expect((await budgets(key)).key).toMatchObject({ spentMicroUsd: cost, reservedMicroUsd: 0 })
  })

  it('by a cancel, with the partial usage the provider reports', async () => {
    const gateway = await startGateway(noPolling)
    const key = await createKey('bg-cancel')
    const queued = await createBackground(gateway, key, 'a long story')
    expect((await client(gateway, key).responses.retrieve(queued.id)).status).toBe('in_progress')
    const cancelled = await client(gateway, key).responses.cancel(queued.id)
    expect(cancelled.status).toBe('cancelled')
    const usage = cancelled.usage!
    expect(usage.output_tokens).toBeGreaterThan(0)
    const settled = await settlement(key)
    expect(settled).toMatchObject({ client_aborted: 1, error: null })
    await expectSettledOnce(key, costOf(usage), usage)
    expect(await summaryOf(key)).toMatchObject({ client_aborted: 1, errors: 0 })
  })

  it('by a streamed replay that reaches its terminal event', async () => {
    const gateway = await startGateway(noPolling)
    const key = await createKey('bg-replay')
    const queued = await createBackground(gateway, key, 'stream it to me later')
    const replay = await fetch(`${gateway.url}/v1/responses/${queued.id}?stream=true`, {
      headers: { authorization: `Bearer ${key.key}` },
    })
    expect(replay.headers.get('content-type')).toContain('text/event-stream')
    const text = await replay.text()
    expect(text).toContain('event: response.completed')
    const usage = await upstreamUsage(queued.id)
    await expectSettledOnce(key, costOf(usage), usage)
  })

  it('with store: false too (OpenAI keeps a background response for polling all the same)', async () => {
    const gateway = await startGateway(fastPolling)
    const key = await createKey('bg-unstored')
    const queued = await client(gateway, key).responses.create({
      model: 'gpt-4o-mini',
      input: 'keep nothing',
      background: true,
      store: false,
      max_output_tokens: 500,
    })
    expect(queued).toMatchObject({ status: 'queued', store: false })
    await settlement(key)
    const usage = await upstreamUsage(queued.id)
    await expectSettledOnce(key, costOf(usage), usage)
  })

  it('for a background stream cut short before its terminal event: recorded then, settled by the poller', async () => {
    const gateway = await startGateway(fastPolling)
    const key = await createKey('bg-cut-stream')
    // The connection to the upstream breaks after `response.created` and `.in_progress`: the response runs on.
    upstream.enqueue({ dropAfterChunks: 2, path: '/v1/responses' })
    const streamed = await fetch(`${gateway.url}/v1/responses`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key.key}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        model: 'gpt-4o-mini',
        input: 'stream in background',
        background: true,
        stream: true,
        max_output_tokens: 500,
      }),
    })
    const text = await streamed.text()
    expect(text).toContain('event: response.created')
    expect(text).not.toContain('event: response.completed')
    const id = /"id":"(resp_[^"]+)"/.exec(text)![1]
    await settlement(key)
    const usage = await upstreamUsage(id)
    await expectSettledOnce(key, costOf(usage), usage)
  })

  it('by a delete: settled when it had finished, charged its reservation when it had not', async () => {
    const gateway = await startGateway(noPolling)
    const done = await createKey('bg-delete-done')
    const finishedFirst = await createBackground(gateway, done, 'done before the delete')
    // Finished upstream (asked directly, not through the gateway), then deleted through it.
    for (let attempt = 0; attempt < 3; attempt += 1) await upstreamStatus(finishedFirst.id)
    const usage = await upstreamUsage(finishedFirst.id)
    await client(gateway, done).responses.delete(finishedFirst.id)
    await expectSettledOnce(done, costOf(usage), usage)

    const running = await createKey('bg-delete-running')
    const unfinished = await createBackground(gateway, running, 'deleted while it runs')
    const reserved = (await budgets(running)).key.reservedMicroUsd
    expect(reserved).toBeGreaterThan(0)
    await client(gateway, running).responses.delete(unfinished.id)
    // Its usage can no longer be learned: the reservation is spent in full, its tokens stay unknown, and the charge is
    // recorded (a settlement, estimated), so that a budget counter seeded again from the usage store keeps it.
    await waitFor('the reservation charged', async () =>
      (await budgets(running)).key.reservedMicroUsd === 0 ? true : undefined
    )
    expect((await budgets(running)).key.spentMicroUsd).toBe(reserved)
    await waitFor('the charge recorded', async () =>
      (await eventsOf(running)).length === 2 ? true : undefined
    )
    expect((await eventsOf(running)).map((event) => event.kind).sort()).toEqual([
      'request',
      'settlement',
    ])
    expect(await summaryOf(running)).toMatchObject({
      requests: 1,
      input_tokens: null,
      cost_micro_usd: reserved,
      unpriced_requests: 0,
      estimated_requests: 1,
      estimated_cost_micro_usd: reserved,
    })
  })

  it('by another instance once the one that made it stopped (the record is the source of truth)', async () => {
    const maker = await startGateway({ ...fastPolling, initialDelayMs: 2_000 })
    const key = await createKey('bg-restart')
    const queued = await createBackground(maker, key, 'outlive me')
    await maker.close()
    // Stopped before its first poll was due: nothing was settled, the record still owes it.
    const record = await recordOf(queued.id)
    expect(record.settled_at).toBeNull()
    expect(record.pending_usage).not.toBeNull()
    expect((await eventsOf(key)).filter((event) => event.kind === 'settlement')).toEqual([])

    await startGateway(fastPolling)
    await settlement(key)
    const usage = await upstreamUsage(queued.id)
    await expectSettledOnce(key, costOf(usage), usage)
  })
})

/** Whether the settlement names the create's request. */
const settledRequestId = (settled: EventRow, created: EventRow): boolean =>
  settled.request_id === created.request_id
