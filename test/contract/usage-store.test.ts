/**
 * The usage store contract, run on every backend. Summaries read roll-ups; every case that checks them compares with
 * the same figures computed here, by brute force, from the raw events the case wrote, so a roll-up that drifts from
 * its events (a lost upsert, a wrong bucket, a null turned into 0) fails whatever grouping or range shows it.
 */
import type { Insertable } from 'kysely'
import { describe, expect, it } from 'vitest'
import type { SqlDatabase } from '../../src/stores/sql/open-sql-database.ts'
import { readJsonColumn } from '../../src/stores/sql/read-json-column.ts'
import type { UsageEventsTable, UsageRollupTable } from '../../src/stores/sql/sql-schema.ts'
import { createSqlUsageStore } from '../../src/stores/sql/sql-usage-store.ts'
import {
  usageDimensions,
  type UsageDimension,
  type UsageQuery,
  type UsageRecord,
  type UsageRow,
  type UsageStore,
} from '../../src/stores/usage-store.ts'
import { seededRandom } from '../helpers/seeded-random.ts'
import { defineStoreContract } from './define-store-contract.ts'
import { sqlStoreImplementations } from './sql-store-implementations.ts'
import { startSqlChild, type SqlChild } from './start-sql-child.ts'

type Fixture = {
  store: UsageStore
  /** The store's database, for rows written as an older gateway wrote them. */
  database: SqlDatabase
  /** Starts another process that writes `batches` to the same store when told to go. */
  recordInAnotherProcess(batches: UsageRecord[][]): SqlChild
  /** Every stored raw event, by id. */
  storedEvents(): Promise<UsageRecord[]>
}

const hour = 3_600_000
const day = 86_400_000
const start = Date.UTC(2026, 2, 1)

const readStoredEvents = async (database: SqlDatabase): Promise<UsageRecord[]> => {
  const rows = await database.db.selectFrom('usage_events').selectAll().orderBy('id').execute()
  return rows.map((row) => ({
    id: row.id,
    kind: row.kind as UsageRecord['kind'],
    time: row.time,
    requestId: row.request_id,
    tenantId: row.tenant_id,
    keyId: row.key_id,
    userId: row.user_id,
    tags: readJsonColumn(row.tags, database.dialect) as string[],
    operation: row.operation,
    requestedModel: row.requested_model,
    provider: row.provider,
    model: row.model,
    attempts: row.attempts,
    status: row.status,
    stream: row.stream === 1,
    error: row.error,
    inputTokens: row.input_tokens,
    outputTokens: row.output_tokens,
    cachedTokens: row.cached_tokens,
    cacheWriteTokens: row.cache_write_tokens,
    reasoningTokens: row.reasoning_tokens,
    costMicroUsd: row.cost_micro_usd,
    latencyMs: row.latency_ms,
    ttfbMs: row.ttfb_ms,
    clientAborted: row.client_aborted === 1,
    cache: row.cache as UsageRecord['cache'],
    savedCostMicroUsd: row.saved_cost_micro_usd,
    estimated: Number(row.estimated) === 1,
  }))
}

let sequence = 0

const usageEvent = (overrides: Partial<UsageRecord> = {}): UsageRecord => {
  sequence += 1
  return {
    id: `evt_${sequence}_${crypto.randomUUID()}`,
    kind: 'request',
    time: start,
    requestId: `req_${sequence}`,
    tenantId: 'ten_acme',
    keyId: 'key_1',
    userId: null,
    tags: [],
    operation: 'chat-completions',
    requestedModel: 'gpt-4o-mini',
    provider: 'openai',
    model: 'gpt-4o-mini-2024-07-18',
    attempts: 1,
    status: 200,
    stream: false,
    error: null,
    inputTokens: 100,
    outputTokens: 20,
    cachedTokens: 0,
    cacheWriteTokens: null,
    reasoningTokens: null,
    costMicroUsd: 30,
    latencyMs: 250,
    ttfbMs: 120,
    clientAborted: false,
    cache: null,
    savedCostMicroUsd: null,
    estimated: false,
    ...overrides,
  }
}

/**
 * A few hundred varied events over five days: every dimension sometimes absent, every count sometimes unknown. About
 * one answered request in ten is a background response's: no tokens and no cost in its own event, a settlement event
 * with them (sometimes still unknown, sometimes failed or cancelled), shuffled in, so that some settlements are written
 * in a batch before their request's.
 */
const randomEvents = (count: number, seed: number): UsageRecord[] => {
  const random = seededRandom(seed)
  const events = randomRequests(count, random)
  const settlements: UsageRecord[] = []
  for (const [index, request] of events.entries()) {
    // A background response is never answered from the prompt cache.
    if (request.status !== 200 || request.cache === 'hit' || random() >= 0.1) continue
    const created = {
      ...request,
      inputTokens: null,
      outputTokens: null,
      cachedTokens: null,
      cacheWriteTokens: null,
      reasoningTokens: null,
      costMicroUsd: null,
    }
    events[index] = created
    const known = random() < 0.8
    const outcome = random()
    settlements.push(
      usageEvent({
        ...created,
        id: `evt_settle_${index}_${crypto.randomUUID()}`,
        kind: 'settlement',
        inputTokens: known ? Math.floor(random() * 5_000) : null,
        outputTokens: known ? Math.floor(random() * 1_000) : null,
        cachedTokens: known ? Math.floor(random() * 500) : null,
        reasoningTokens: known ? Math.floor(random() * 300) : null,
        // Sometimes the tokens stay unknown and the budget's charge is recorded, estimated.
        costMicroUsd: known || outcome < 0.5 ? Math.floor(random() * 20_000) : null,
        estimated: !known && outcome < 0.5,
        error: outcome < 0.1 ? 'background response failed' : null,
        clientAborted: outcome > 0.9,
        latencyMs: Math.floor(random() * 600_000),
        ttfbMs: null,
      })
    )
  }
  // Settlements among the requests, a few before their own.
  for (const settlement of settlements)
    events.splice(Math.floor(random() * (events.length + 1)), 0, settlement)
  return events
}

const randomRequests = (count: number, random: () => number): UsageRecord[] => {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]
  const maybe = (value: number): number | null => (random() < 0.2 ? null : value)
  const keysByTenant: Record<string, string[]> = {
    ten_acme: ['key_a1', 'key_a2'],
    ten_beta: ['key_b1'],
  }
  return Array.from({ length: count }, () => {
    const tenantId = pick(['ten_acme', 'ten_acme', 'ten_beta', null])
    const [provider, model] = pick([
      ['openai', 'gpt-4o-mini'],
      ['openai', 'gpt-4o'],
      ['anthropic', 'claude-sonnet-4-5'],
      [null, null],
    ] as const)
    const status = pick([200, 200, 200, 200, 429, 500, 401])
    // The prompt cache on some requests: a hit (status 200) went nowhere, cost nothing and saved what its answer had
    // cost, sometimes unknown; a miss can fail upstream like any request.
    const cache = pick(
      status === 200
        ? ([null, null, 'miss', 'miss', 'bypass', 'hit'] as const)
        : ([null, 'miss'] as const)
    )
    if (cache === 'hit')
      return usageEvent({
        time: start + Math.floor(random() * 5 * day),
        tenantId,
        keyId: tenantId === null ? null : pick(keysByTenant[tenantId]),
        userId: pick(['alice', 'bob', null]),
        provider,
        model,
        attempts: 0,
        inputTokens: 0,
        outputTokens: 0,
        cachedTokens: 0,
        cacheWriteTokens: 0,
        reasoningTokens: 0,
        costMicroUsd: 0,
        latencyMs: Math.floor(random() * 5),
        ttfbMs: 1,
        clientAborted: random() < 0.05,
        cache,
        savedCostMicroUsd: maybe(Math.floor(random() * 20_000)),
      })
    return usageEvent({
      time: start + Math.floor(random() * 5 * day),
      tenantId,
      keyId: tenantId === null ? null : pick(keysByTenant[tenantId]),
      userId: pick(['alice', 'bob', null]),
      tags: random() < 0.3 ? ['batch', 'eu'] : [],
      provider,
      model,
      status,
      error: status === 200 && random() < 0.1 ? 'stream-broken' : null,
      inputTokens: maybe(Math.floor(random() * 5_000)),
      outputTokens: maybe(Math.floor(random() * 1_000)),
      cachedTokens: maybe(Math.floor(random() * 500)),
      cacheWriteTokens: maybe(Math.floor(random() * 100)),
      reasoningTokens: maybe(Math.floor(random() * 300)),
      costMicroUsd: maybe(Math.floor(random() * 20_000)),
      latencyMs: Math.floor(random() * 3_000),
      clientAborted: random() < 0.1,
      cache,
      // A stream cut before its usage: counted by the gateway (a cost may still be unknown, without a price).
      estimated: status === 200 && random() < 0.15,
    })
  })
}

const floorTo = (time: number, unit: number): number => time - (time % unit)
const ceilTo = (time: number, unit: number): number => floorTo(time + unit - 1, unit)

const dimensionValue = (event: UsageRecord, dimension: UsageDimension): string | null =>
  ({
    tenant: event.tenantId,
    key: event.keyId,
    model: event.model,
    provider: event.provider,
    user: event.userId,
  })[dimension]

const dimensionField = {
  tenant: 'tenant_id',
  key: 'key_id',
  model: 'model',
  provider: 'provider',
  user: 'user_id',
} as const

const sumKnown = (values: (number | null)[]): number | null =>
  values.some((value) => value !== null)
    ? values.reduce<number>((total, value) => total + (value ?? 0), 0)
    : null

/** What `summarize(query)` must answer, computed from the raw events by brute force. */
const expectedSummary = (events: readonly UsageRecord[], query: UsageQuery): UsageRow[] => {
  const from = floorTo(query.from, hour)
  const to = ceilTo(query.to, hour)
  const groupBy = query.groupBy ?? []
  const groups = new Map<string, UsageRecord[]>()
  for (const event of events) {
    if (event.time < from || event.time >= to) continue
    if (query.tenantId !== undefined && event.tenantId !== query.tenantId) continue
    if (query.keyId !== undefined && event.keyId !== query.keyId) continue
    if (query.userId !== undefined && event.userId !== query.userId) continue
    if (query.model !== undefined && event.model !== query.model) continue
    if (query.provider !== undefined && event.provider !== query.provider) continue
    const bucket =
      query.granularity === 'hour'
        ? floorTo(event.time, hour)
        : query.granularity === 'day'
          ? floorTo(event.time, day)
          : null
    const id = JSON.stringify([bucket, ...groupBy.map((d) => dimensionValue(event, d))])
    groups.set(id, [...(groups.get(id) ?? []), event])
  }
  const rows = [...groups.values()].map((members) => {
    const row: Record<string, unknown> = {}
    const first = members[0]
    if (query.granularity === 'hour') row.bucket_start = floorTo(first.time, hour)
    if (query.granularity === 'day') row.bucket_start = floorTo(first.time, day)
    for (const dimension of groupBy)
      row[dimensionField[dimension]] = dimensionValue(first, dimension)
    // A settlement adds its figures to its request's, and is no request itself (`UsageRecord.kind`).
    const requests = members.filter((event) => event.kind === 'request')
    const settlements = members.filter((event) => event.kind === 'settlement')
    Object.assign(row, {
      requests: requests.length,
      errors: members.filter(
        (event) => !event.clientAborted && (event.status >= 400 || event.error !== null)
      ).length,
      client_aborted: members.filter((event) => event.clientAborted).length,
      input_tokens: sumKnown(members.map((event) => event.inputTokens)),
      output_tokens: sumKnown(members.map((event) => event.outputTokens)),
      cached_tokens: sumKnown(members.map((event) => event.cachedTokens)),
      cache_write_tokens: sumKnown(members.map((event) => event.cacheWriteTokens)),
      reasoning_tokens: sumKnown(members.map((event) => event.reasoningTokens)),
      cost_micro_usd: sumKnown(members.map((event) => event.costMicroUsd)),
      unpriced_requests:
        requests.filter((event) => event.costMicroUsd === null).length -
        settlements.filter((event) => event.costMicroUsd !== null).length,
      latency_ms_total: requests.reduce((total, event) => total + event.latencyMs, 0),
      cache_hits: requests.filter((event) => event.cache === 'hit').length,
      cache_misses: requests.filter((event) => event.cache === 'miss').length,
      saved_cost_micro_usd: sumKnown(
        requests.filter((event) => event.cache === 'hit').map((event) => event.savedCostMicroUsd)
      ),
      estimated_requests: members.filter((event) => event.estimated === true).length,
      estimated_cost_micro_usd: sumKnown(
        members.filter((event) => event.estimated === true).map((event) => event.costMicroUsd)
      ),
    })
    return row as UsageRow
  })
  return rows
}

/** Rows in a canonical order, for comparing sets of rows whatever order each side produced. */
const canonical = (rows: readonly UsageRow[]): string[] =>
  rows.map((row) => JSON.stringify(Object.entries(row).sort())).sort()

defineStoreContract<Fixture>({
  name: 'usage store',
  implementations: sqlStoreImplementations((database, target) => ({
    store: createSqlUsageStore({ database }),
    database,
    recordInAnotherProcess: (batches) =>
      startSqlChild({ command: 'record', url: target.url, payload: batches }),
    storedEvents: () => readStoredEvents(database),
  })),
  cases: (getFixture) => {
    describe('roll-ups against raw events', () => {
      const events = randomEvents(600, 11)
      const record = async (store: UsageStore): Promise<void> => {
        // In batches, as the sink writes them: later batches upsert onto rows earlier ones made.
        for (let index = 0; index < events.length; index += 150)
          await store.record(events.slice(index, index + 150))
      }

      it('match for every grouping, with and without buckets, over the whole range', async () => {
        const { store } = getFixture()
        await record(store)
        const groupings: UsageDimension[][] = [
          [],
          ...usageDimensions.map((dimension) => [dimension]),
          ['tenant', 'key'],
          ['model', 'provider'],
          ['tenant', 'user', 'model'],
          [...usageDimensions],
        ]
        for (const groupBy of groupings)
          for (const granularity of [null, 'day', 'hour'] as const) {
            const query = { from: start, to: start + 5 * day, groupBy, granularity }
            const actual = await store.summarize(query)
            expect(canonical(actual), JSON.stringify(query)).toEqual(
              canonical(expectedSummary(events, query))
            )
          }
      })

      it('match over ranges that start and end inside days and hours, and with filters', async () => {
        const { store } = getFixture()
        await record(store)
        const ranges: [number, number][] = [
          [start + 7 * hour + 1_234, start + 3 * day + 5 * hour + 17], // partial day, whole days, partial day
          [start + day + 2 * hour, start + day + 9 * hour], // inside one day
          [start + 23 * hour, start + day + hour], // across midnight, no whole day
          [start + day, start + 3 * day], // whole days only
          [start - 10 * day, start + 20 * day], // beyond the data on both sides
          [start + 3 * hour + 5, start + 3 * hour + 6], // within one hour: that whole hour
        ]
        const filters: Partial<UsageQuery>[] = [
          {},
          { tenantId: 'ten_acme' },
          { keyId: 'key_a2' },
          { userId: 'alice', model: 'gpt-4o' },
          { provider: 'anthropic' },
        ]
        for (const [from, to] of ranges)
          for (const filter of filters)
            for (const granularity of [null, 'day', 'hour'] as const) {
              const query = {
                from,
                to,
                groupBy: ['model'] as UsageDimension[],
                granularity,
                ...filter,
              }
              expect(canonical(await store.summarize(query)), JSON.stringify(query)).toEqual(
                canonical(expectedSummary(events, query))
              )
            }
      })
    })

    it("sums runs of one key's calls as the raw events say: across an hour's end, a run resumed, a key of none", async () => {
      const { store } = getFixture()
      // Runs of identical dimensions (how a busy key's batch looks), each broken by an hour's end or another key.
      const run = (count: number, first: number, overrides: Partial<UsageRecord>): UsageRecord[] =>
        Array.from({ length: count }, (_, index) =>
          usageEvent({ time: first + index * 60_000, inputTokens: 10 + index, ...overrides })
        )
      const events = [
        ...run(4, start + hour - 2 * 60_000, { keyId: 'key_run' }), // two in one hour, two in the next
        ...run(3, start + hour + 10 * 60_000, { keyId: 'key_other' }),
        ...run(3, start + hour + 20 * 60_000, { keyId: 'key_run', costMicroUsd: null }),
        ...run(2, start + hour + 30 * 60_000, { keyId: null, tenantId: null }),
        ...run(2, start + hour + 40 * 60_000, { keyId: 'key_run', userId: 'alice' }),
        ...run(2, start + day - 60_000, { keyId: 'key_run', status: 500, error: 'upstream' }),
      ]
      await store.record(events)
      for (const granularity of [null, 'day', 'hour'] as const) {
        const query = {
          from: start,
          to: start + 2 * day,
          groupBy: ['tenant', 'key', 'user'] as UsageDimension[],
          granularity,
        }
        expect(canonical(await store.summarize(query)), JSON.stringify(query)).toEqual(
          canonical(expectedSummary(events, query))
        )
      }
    })

    it('adds a settlement to its request: one request with its real tokens and cost, priced, counted once', async () => {
      const { store, storedEvents } = getFixture()
      const created = usageEvent({
        model: 'bg',
        operation: 'responses',
        inputTokens: null,
        outputTokens: null,
        cachedTokens: null,
        cacheWriteTokens: null,
        reasoningTokens: null,
        costMicroUsd: null,
        latencyMs: 30,
      })
      const settlement = usageEvent({
        ...created,
        id: 'evt_settlement',
        kind: 'settlement',
        inputTokens: 1_200,
        outputTokens: 300,
        cachedTokens: 200,
        reasoningTokens: 64,
        costMicroUsd: 4_567,
        latencyMs: 95_000,
        ttfbMs: null,
      })
      const query = { from: start, to: start + day, groupBy: ['model'] as UsageDimension[] }
      await store.record([created])
      // Before: the request, its figures unknown.
      expect(await store.summarize(query)).toEqual([
        expect.objectContaining({
          model: 'bg',
          requests: 1,
          input_tokens: null,
          cost_micro_usd: null,
          unpriced_requests: 1,
          latency_ms_total: 30,
        }),
      ])
      await store.record([settlement])
      // Written twice (a retried batch): counted once.
      await store.record([settlement])
      const after = {
        model: 'bg',
        requests: 1,
        errors: 0,
        client_aborted: 0,
        input_tokens: 1_200,
        output_tokens: 300,
        cached_tokens: 200,
        cache_write_tokens: null,
        reasoning_tokens: 64,
        cost_micro_usd: 4_567,
        unpriced_requests: 0,
        latency_ms_total: 30,
        cache_hits: 0,
        cache_misses: 0,
        saved_cost_micro_usd: null,
        estimated_requests: 0,
        estimated_cost_micro_usd: null,
      }
      expect(await store.summarize(query)).toEqual([after])
      expect(await store.summarize({ ...query, granularity: 'hour' })).toEqual([
        { bucket_start: start, ...after },
      ])
      expect(await store.spent({ keyId: created.keyId! }, start)).toBe(4_567)
      // Both raw events stay, the settlement marked as such.
      expect((await storedEvents()).map((event) => [event.id, event.kind]).sort()).toEqual(
        [
          [created.id, 'request'],
          ['evt_settlement', 'settlement'],
        ].sort()
      )

      // A settlement written before its request (another instance's batch), failed and cancelled ones, and one whose
      // figures stayed unknown: the sums come out the same whatever the order.
      const later = usageEvent({ ...created, id: 'evt_late', model: 'late' })
      await store.record([
        usageEvent({
          ...later,
          id: 'evt_late_settle',
          kind: 'settlement',
          inputTokens: 9,
          costMicroUsd: 3,
          error: 'background response failed',
        }),
      ])
      await store.record([later])
      const cancelled = usageEvent({ ...created, id: 'evt_cancel', model: 'cancel' })
      await store.record([
        cancelled,
        usageEvent({
          ...cancelled,
          id: 'evt_cancel_settle',
          kind: 'settlement',
          clientAborted: true,
        }),
      ])
      expect(
        await store
          .summarize({ ...query, model: undefined, groupBy: ['model'] })
          .then((rows) => rows.filter((row) => row.model !== 'bg'))
      ).toEqual([
        expect.objectContaining({
          model: 'cancel',
          requests: 1,
          client_aborted: 1,
          errors: 0,
          input_tokens: null,
          cost_micro_usd: null,
          unpriced_requests: 1,
        }),
        expect.objectContaining({
          model: 'late',
          requests: 1,
          errors: 1,
          input_tokens: 9,
          cost_micro_usd: 3,
          unpriced_requests: 0,
        }),
      ])
    })

    it('refuses a record of no known kind, writing nothing', async () => {
      const { store, storedEvents } = getFixture()
      await expect(
        store.record([usageEvent(), usageEvent({ kind: 'other' as UsageRecord['kind'] })])
      ).rejects.toThrow(/kind/)
      expect(await storedEvents()).toEqual([])
    })

    it('keeps unknown counts unknown: null only while no request of the row reported one', async () => {
      const { store } = getFixture()
      await store.record([
        usageEvent({ inputTokens: null, outputTokens: null, costMicroUsd: null, model: 'a' }),
        usageEvent({ inputTokens: null, outputTokens: 7, costMicroUsd: null, model: 'a' }),
        usageEvent({ inputTokens: 0, outputTokens: null, costMicroUsd: 0, model: 'b' }),
      ])
      // A later batch adds a known count onto a row whose count was unknown so far.
      await store.record([usageEvent({ inputTokens: 5, costMicroUsd: 12, model: 'a' })])
      const rows = await store.summarize({ from: start, to: start + hour, groupBy: ['model'] })
      expect(rows).toEqual([
        expect.objectContaining({
          model: 'a',
          requests: 3,
          input_tokens: 5,
          output_tokens: 27,
          cost_micro_usd: 12,
          unpriced_requests: 2,
          cache_write_tokens: null,
          reasoning_tokens: null,
        }),
        expect.objectContaining({
          model: 'b',
          requests: 1,
          input_tokens: 0,
          output_tokens: null,
          cost_micro_usd: 0,
          unpriced_requests: 0,
        }),
      ])
    })

    it("counts the prompt cache's hits and misses and sums the hits' savings, apart from the cost", async () => {
      const { store, storedEvents } = getFixture()
      const hit = (savedCostMicroUsd: number | null, overrides: Partial<UsageRecord> = {}) =>
        usageEvent({
          attempts: 0,
          inputTokens: 0,
          outputTokens: 0,
          cachedTokens: 0,
          costMicroUsd: 0,
          cache: 'hit',
          savedCostMicroUsd,
          ...overrides,
        })
      const events = [
        usageEvent({ model: 'a', cache: 'miss', costMicroUsd: 700 }),
        hit(700, { model: 'a' }),
        hit(null, { model: 'a' }), // a model without a price: a hit, its saving unknown
        usageEvent({ model: 'a', cache: 'bypass', costMicroUsd: 650 }),
        usageEvent({ model: 'a', cache: null, costMicroUsd: 50 }),
        usageEvent({ model: 'b', cache: 'miss', costMicroUsd: 30 }),
        hit(null, { model: 'c' }),
      ]
      await store.record(events)
      // A later batch adds onto the rows the first made.
      await store.record([hit(25, { model: 'a', time: start + 2 * hour })])
      const query: UsageQuery = { from: start, to: start + day, groupBy: ['model'] }
      expect(
        (await store.summarize(query)).map((row) => [
          row.model,
          row.requests,
          row.cache_hits,
          row.cache_misses,
          row.saved_cost_micro_usd,
          row.cost_micro_usd,
        ])
      ).toEqual([
        ['a', 6, 3, 1, 725, 1_400],
        // Misses only: no hit, nothing saved (unknown is not zero, and no hit reported a saving).
        ['b', 1, 0, 1, null, 30],
        ['c', 1, 1, 0, null, 0],
      ])
      expect(
        (await store.summarize({ ...query, groupBy: [], granularity: 'hour' })).map((row) => [
          row.bucket_start,
          row.cache_hits,
          row.cache_misses,
          row.saved_cost_micro_usd,
        ])
      ).toEqual([
        [start, 3, 2, 700],
        [start + 2 * hour, 1, 0, 25],
      ])
      // A saving is no spend.
      expect(await store.spent({ tenantId: 'ten_acme' }, start)).toBe(1_430)
      const stored = new Map((await storedEvents()).map((event) => [event.id, event]))
      expect(events.map((event) => stored.get(event.id)?.cache)).toEqual(
        events.map((event) => event.cache)
      )
      expect(stored.get(events[1].id)?.savedCostMicroUsd).toBe(700)
    })

    it('refuses a cache outcome it does not know, or a saving on anything but a hit, writing nothing', async () => {
      const { store, storedEvents } = getFixture()
      const refusals: [Partial<UsageRecord>, RegExp][] = [
        [{ cache: 'stale' as UsageRecord['cache'] }, /cache is/],
        [{ cache: undefined }, /cache is/],
        [{ cache: 'miss', savedCostMicroUsd: 10 }, /savedCostMicroUsd is for a cache hit/],
        [{ cache: null, savedCostMicroUsd: 10 }, /savedCostMicroUsd is for a cache hit/],
        [{ cache: 'hit', savedCostMicroUsd: 2.5 }, /savedCostMicroUsd/],
        [{ cache: 'hit', savedCostMicroUsd: -1 }, /savedCostMicroUsd/],
      ]
      for (const [overrides, message] of refusals)
        await expect(
          store.record([usageEvent(), usageEvent(overrides)]),
          JSON.stringify(overrides)
        ).rejects.toThrow(message)
      expect(await storedEvents()).toEqual([])
    })

    it('reads events and roll-up rows an older gateway wrote, without the cache columns, as no hit and no saving', async () => {
      const { store, database, storedEvents } = getFixture()
      // As the store wrote them before it knew the prompt cache: the cache columns left to their defaults.
      const legacyEvent = {
        id: 'evt_legacy',
        kind: 'request',
        time: start,
        request_id: 'req_legacy',
        tenant_id: 'ten_acme',
        key_id: 'key_1',
        user_id: null,
        tags: '[]',
        operation: 'chat-completions',
        requested_model: 'gpt-4o-mini',
        provider: 'openai',
        model: 'legacy',
        attempts: 1,
        status: 200,
        stream: 0,
        error: null,
        input_tokens: 100,
        output_tokens: 20,
        cached_tokens: null,
        cache_write_tokens: null,
        reasoning_tokens: null,
        cost_micro_usd: 30,
        latency_ms: 250,
        ttfb_ms: 120,
        client_aborted: 0,
      }
      await database.db
        .insertInto('usage_events')
        .values(legacyEvent as Insertable<UsageEventsTable>)
        .execute()
      const legacyRollup = {
        bucket_start: start,
        tenant_id: 'ten_acme',
        key_id: 'key_1',
        model: 'legacy',
        provider: 'openai',
        user_id: '',
        requests: 1,
        errors: 0,
        client_aborted: 0,
        input_tokens: 100,
        output_tokens: 20,
        cached_tokens: null,
        cache_write_tokens: null,
        reasoning_tokens: null,
        cost_micro_usd: 30,
        unpriced_requests: 0,
        latency_ms_total: 250,
      }
      for (const table of ['usage_hourly', 'usage_daily'] as const)
        await database.db
          .insertInto(table)
          .values(legacyRollup as Insertable<UsageRollupTable>)
          .execute()
      const [legacy] = await storedEvents()
      expect(legacy).toMatchObject({ id: 'evt_legacy', cache: null, savedCostMicroUsd: null })
      const query: UsageQuery = { from: start, to: start + 2 * day, groupBy: ['model'] }
      expect(await store.summarize(query)).toEqual([
        expect.objectContaining({
          model: 'legacy',
          requests: 1,
          cache_hits: 0,
          cache_misses: 0,
          saved_cost_micro_usd: null,
        }),
      ])
      // The first hit on such a row: counted, its saving now known, both tables (whole days read the daily one).
      await store.record([
        usageEvent({
          model: 'legacy',
          costMicroUsd: 0,
          cache: 'hit',
          savedCostMicroUsd: 30,
          time: start + 5,
        }),
      ])
      for (const granularity of [null, 'hour'] as const)
        expect(await store.summarize({ ...query, granularity })).toEqual([
          expect.objectContaining({
            requests: 2,
            cache_hits: 1,
            cache_misses: 0,
            saved_cost_micro_usd: 30,
            cost_micro_usd: 30,
          }),
        ])
    })

    it("counts estimated requests and their part of the cost apart, in the sums and in a budget's spend", async () => {
      const { store, storedEvents } = getFixture()
      await store.record([
        usageEvent({ model: 'est', costMicroUsd: 500 }),
        // A stream the client left: its tokens counted from what passed, its cost from them.
        usageEvent({
          model: 'est',
          stream: true,
          clientAborted: true,
          inputTokens: 80,
          outputTokens: 12,
          costMicroUsd: 40,
          estimated: true,
        }),
        // Nothing counted, a budget charged: the charge, with no tokens.
        usageEvent({
          model: 'est',
          inputTokens: null,
          outputTokens: null,
          cachedTokens: null,
          costMicroUsd: 9_000,
          estimated: true,
        }),
        // Counted, but the model has no price: estimated tokens, an unknown cost.
        usageEvent({
          model: 'free',
          inputTokens: 5,
          outputTokens: 5,
          costMicroUsd: null,
          estimated: true,
        }),
      ])
      const query: UsageQuery = { from: start, to: start + day, groupBy: ['model'] }
      expect(
        (await store.summarize(query)).map((row) => [
          row.model,
          row.requests,
          row.input_tokens,
          row.output_tokens,
          row.cost_micro_usd,
          row.unpriced_requests,
          row.estimated_requests,
          row.estimated_cost_micro_usd,
        ])
      ).toEqual([
        ['est', 3, 180, 32, 9_540, 0, 2, 9_040],
        ['free', 1, 5, 5, null, 1, 1, null],
      ])
      // A budget's counter, seeded again from the store, keeps what was charged.
      expect(await store.spent({ keyId: 'key_1' }, start)).toBe(9_540)
      const stored = new Map((await storedEvents()).map((event) => [event.requestId, event]))
      expect([...stored.values()].filter((event) => event.estimated)).toHaveLength(3)
    })

    it('counts a client that went away as client_aborted, not as an error', async () => {
      const { store } = getFixture()
      const gone = 'The client closed the request.'
      await store.record([
        // A stream the client left after its first chunks, and a call it left before the answer.
        usageEvent({ model: 'abort', stream: true, status: 200, error: gone, clientAborted: true }),
        usageEvent({ model: 'abort', status: 499, error: gone, clientAborted: true }),
        usageEvent({ model: 'abort', status: 502, error: 'upstream failed' }),
      ])
      const [row] = await store.summarize({
        from: start,
        to: start + day,
        model: 'abort',
        groupBy: ['model'],
      })
      expect(row).toMatchObject({ requests: 3, client_aborted: 2, errors: 1 })
    })

    it('stores every field of an event as given, nulls as null', async () => {
      const { store, storedEvents } = getFixture()
      const full = usageEvent({
        userId: 'alice',
        tags: ['nightly', 'eu'],
        stream: true,
        error: 'client-gone',
        cacheWriteTokens: 40,
        reasoningTokens: 12,
        costMicroUsd: 9_007_199_254_740, // large micro-USD amounts survive as exact integers
        clientAborted: true,
        time: start + 123,
        cache: 'hit',
        savedCostMicroUsd: 9_007_199_254_741,
      })
      const sparse = usageEvent({
        tenantId: null,
        keyId: null,
        operation: null,
        requestedModel: null,
        provider: null,
        model: null,
        status: 401,
        attempts: 0,
        inputTokens: null,
        outputTokens: null,
        cachedTokens: null,
        costMicroUsd: null,
        ttfbMs: null,
      })
      await store.record([full, sparse])
      expect(await storedEvents()).toEqual([full, sparse].sort((a, b) => (a.id < b.id ? -1 : 1)))
    })

    it("stores a client's text that PostgreSQL cannot hold (a NUL, half a surrogate pair) with U+FFFD in its place", async () => {
      const { store, storedEvents } = getFixture()
      // What a client can send: `user: "bob\u0000"`, a model name cut mid-emoji. PostgreSQL refuses a NUL in text
      // and a lone surrogate in JSON, and a refused event would hold back every event queued behind it.
      const event = usageEvent({
        userId: 'bob\u0000',
        tags: ['eu\ud83d'],
        requestedModel: 'gpt\u0000\ude00',
        model: 'gpt\u0000',
        error: 'no model "gpt\u0000"',
      })
      await store.record([event])
      expect(await storedEvents()).toEqual([
        {
          ...event,
          userId: 'bob\ufffd',
          tags: ['eu\ufffd'],
          requestedModel: 'gpt\ufffd\ufffd',
          model: 'gpt\ufffd',
          error: 'no model "gpt\ufffd"',
        },
      ])
      // A filter with the same text finds the row, rather than failing the query.
      const range = { from: start, to: start + day }
      for (const filter of [{ userId: 'bob\u0000' }, { model: 'gpt\u0000' }])
        expect(await store.summarize({ ...range, ...filter, groupBy: ['user'] })).toEqual([
          expect.objectContaining({ user_id: 'bob\ufffd', requests: 1 }),
        ])
    })

    it('counts an event once: a batch written again, an id repeated within a batch', async () => {
      const { store, storedEvents } = getFixture()
      const batch = [usageEvent(), usageEvent({ costMicroUsd: 70 })]
      await store.record(batch)
      await store.record(batch)
      await store.record([batch[0], usageEvent({ id: batch[1].id }), batch[1]])
      const fresh = usageEvent({ costMicroUsd: 1 })
      await store.record([fresh, fresh])
      expect(await store.summarize({ from: start, to: start + day })).toEqual([
        expect.objectContaining({ requests: 3, cost_micro_usd: 101, input_tokens: 300 }),
      ])
      expect(await storedEvents()).toHaveLength(3)
    })

    it('writes a batch all or nothing: a failing event leaves no event and no roll-up', async () => {
      const { store, storedEvents } = getFixture()
      // Past the first few hundred rows, so earlier statements of the transaction did write before the failure.
      const batch = Array.from({ length: 450 }, (_, index) =>
        usageEvent({ time: start + index * 60_000 })
      )
      const broken = [...batch]
      broken[420] = { ...batch[420], requestId: null as unknown as string }
      await expect(store.record(broken)).rejects.toThrow()
      expect(await store.summarize({ from: start, to: start + day })).toEqual([])
      expect(await storedEvents()).toEqual([])
      expect(await store.spent({ tenantId: 'ten_acme' }, start)).toBe(0)

      await store.record(batch.filter((_, index) => index !== 420))
      expect(await store.summarize({ from: start, to: start + day })).toEqual([
        expect.objectContaining({ requests: 449, cost_micro_usd: 449 * 30 }),
      ])
    })

    it('refuses a fractional or negative count or cost before writing anything', async () => {
      const { store, storedEvents } = getFixture()
      await expect(store.record([usageEvent(), usageEvent({ costMicroUsd: 1.5 })])).rejects.toThrow(
        /costMicroUsd/
      )
      await expect(store.record([usageEvent({ inputTokens: -5 })])).rejects.toThrow(/inputTokens/)
      expect(await storedEvents()).toEqual([])
    })

    it('loses nothing when two processes write the same roll-up rows at once', async () => {
      const { store, recordInAnotherProcess } = getFixture()
      const batches = (count: number, seed: number): UsageRecord[][] =>
        Array.from({ length: count }, (_, index) => randomEvents(40, seed * 1_000 + index))
      const ours = batches(30, 1)
      const theirs = batches(30, 2)
      const child = recordInAnotherProcess(theirs)
      await child.ready
      child.go()
      for (const batch of ours) await store.record(batch)
      expect(await child.result).toBe(theirs.length)
      const all = [...ours, ...theirs].flat()
      const query: UsageQuery = {
        from: start,
        to: start + 5 * day,
        groupBy: ['tenant', 'key', 'model', 'provider', 'user'],
        granularity: 'hour',
      }
      expect(canonical(await store.summarize(query))).toEqual(
        canonical(expectedSummary(all, query))
      )
    })

    it('reports known spend since a period start, per tenant and per key', async () => {
      const { store } = getFixture()
      await store.record([
        usageEvent({ time: start - 1, costMicroUsd: 1_000 }), // before the period
        usageEvent({ time: start, costMicroUsd: 10 }),
        usageEvent({ time: start + 3 * day + 5 * hour, costMicroUsd: 20, keyId: 'key_2' }),
        usageEvent({ time: start + 40 * day, costMicroUsd: 40 }),
        usageEvent({ time: start + day, costMicroUsd: null }), // unknown price: not counted as spent
        usageEvent({ time: start + day, costMicroUsd: 500, tenantId: 'ten_other', keyId: 'key_o' }),
      ])
      expect(await store.spent({ tenantId: 'ten_acme' }, start)).toBe(70)
      expect(await store.spent({ keyId: 'key_1' }, start)).toBe(50)
      expect(await store.spent({ keyId: 'key_2' }, start)).toBe(20)
      expect(await store.spent({ tenantId: 'ten_acme' }, start + 3 * day)).toBe(60)
      expect(await store.spent({ tenantId: 'ten_acme' }, start - day)).toBe(1_070)
      expect(await store.spent({ tenantId: 'ten_none' }, start)).toBe(0)
    })

    it('prunes raw events older than a time and keeps the roll-ups whole', async () => {
      const { store, storedEvents } = getFixture()
      const events = Array.from({ length: 30 }, (_, index) =>
        usageEvent({ time: start + index * 6 * hour })
      )
      await store.record(events)
      const query: UsageQuery = { from: start, to: start + 10 * day, granularity: 'day' }
      const before = await store.summarize(query)
      const cutoff = start + 2 * day + 1
      expect(await store.pruneEvents(cutoff)).toBe(events.filter((e) => e.time < cutoff).length)
      expect(await store.pruneEvents(cutoff)).toBe(0)
      expect((await storedEvents()).map((event) => event.id).sort()).toEqual(
        events
          .filter((event) => event.time >= cutoff)
          .map((event) => event.id)
          .sort()
      )
      expect(await store.summarize(query)).toEqual(before)
    })

    it('prunes raw events a slice at a time: a short slice means none older is left', async () => {
      const { store, storedEvents } = getFixture()
      const events = Array.from({ length: 25 }, (_, index) =>
        usageEvent({ time: start + index * hour })
      )
      await store.record(events)
      const cutoff = start + 23 * hour // 23 events are older
      expect(await store.pruneEvents(cutoff, 10)).toBe(10)
      expect(await store.pruneEvents(cutoff, 10)).toBe(10)
      expect(await store.pruneEvents(cutoff, 10)).toBe(3)
      expect(await store.pruneEvents(cutoff, 10)).toBe(0)
      expect((await storedEvents()).map((event) => event.time).sort()).toEqual([
        start + 23 * hour,
        start + 24 * hour,
      ])
      await expect(store.pruneEvents(cutoff, 0)).rejects.toThrow(/limit/)
      await expect(store.pruneEvents(cutoff + 0.5)).rejects.toThrow(/olderThan/)
    })

    it('prunes hourly roll-ups before a time and keeps the daily ones: whole-day totals and spend stay', async () => {
      const { store, storedEvents } = getFixture()
      // Ten days, four events a day at 00:00, 06:00, 12:00 and 18:00, on two models: 8 hourly rows a day.
      const events = Array.from({ length: 40 }, (_, index) =>
        usageEvent({
          time: start + index * 6 * hour,
          model: index % 2 === 0 ? 'a' : 'b',
          costMicroUsd: 10 + index,
        })
      )
      await store.record(events)
      const whole: UsageQuery = { from: start, to: start + 10 * day, groupBy: ['model'] }
      const daily: UsageQuery = { ...whole, granularity: 'day' }
      const [totalBefore, dailyBefore] = [
        await store.summarize(whole),
        await store.summarize(daily),
      ]
      const spentBefore = await store.spent({ tenantId: 'ten_acme' }, start)

      const cutoff = start + 4 * day
      expect(await store.pruneHourlyRollups(cutoff)).toBe(4 * 4)
      expect(await store.pruneHourlyRollups(cutoff)).toBe(0)

      expect(await store.summarize(whole)).toEqual(totalBefore)
      expect(await store.summarize(daily)).toEqual(dailyBefore)
      expect(await store.spent({ tenantId: 'ten_acme' }, start)).toBe(spentBefore)
      // The pruned hours answer nothing by the hour; the hours kept answer as before.
      const hourly = await store.summarize({ ...whole, granularity: 'hour' })
      expect(hourly.every((row) => row.bucket_start! >= cutoff)).toBe(true)
      expect(canonical(hourly)).toEqual(
        canonical(expectedSummary(events, { ...whole, granularity: 'hour', from: cutoff }))
      )
      // Raw events are not the roll-ups' business.
      expect(await storedEvents()).toHaveLength(events.length)
    })

    it('prunes hourly roll-ups in slices of whole hours, oldest first', async () => {
      const { store } = getFixture()
      // Hours 0..5, three rows each (three models); hour 2 also a fourth.
      await store.record([
        ...Array.from({ length: 18 }, (_, index) =>
          usageEvent({ time: start + Math.floor(index / 3) * hour, model: `m${index % 3}` })
        ),
        usageEvent({ time: start + 2 * hour, model: 'm3' }),
      ])
      const hours = async (): Promise<number[]> =>
        [
          ...new Set(
            (await store.summarize({ from: start, to: start + day, granularity: 'hour' })).map(
              (row) => (row.bucket_start! - start) / hour
            )
          ),
        ].sort()
      const cutoff = start + 5 * hour
      // The 5th oldest row is in hour 1: hours 0 and 1 go, whole (6 rows, at least the 5 asked for).
      expect(await store.pruneHourlyRollups(cutoff, 5)).toBe(6)
      expect(await hours()).toEqual([2, 3, 4, 5])
      // The 5th oldest row left is in hour 3: hours 2 (4 rows) and 3 (3 rows) go.
      expect(await store.pruneHourlyRollups(cutoff, 5)).toBe(7)
      // Hour 4 alone is left before the cutoff: a short slice, the last.
      expect(await store.pruneHourlyRollups(cutoff, 5)).toBe(3)
      expect(await store.pruneHourlyRollups(cutoff, 5)).toBe(0)
      expect(await hours()).toEqual([5])
    })

    it('orders rows by bucket, then by dimension with none first; answers nothing for nothing', async () => {
      const { store } = getFixture()
      expect(await store.summarize({ from: start, to: start + day })).toEqual([])
      expect(await store.summarize({ from: start, to: start })).toEqual([])
      await store.record([
        usageEvent({ time: start + day + 1, model: 'b' }),
        usageEvent({ time: start + day, model: null }),
        usageEvent({ time: start + 2, model: 'c' }),
        usageEvent({ time: start + 1, model: 'a' }),
      ])
      const rows = await store.summarize({
        from: start,
        to: start + 2 * day,
        groupBy: ['model'],
        granularity: 'day',
      })
      expect(rows.map((row) => [row.bucket_start, row.model])).toEqual([
        [start, 'a'],
        [start, 'c'],
        [start + day, null],
        [start + day, 'b'],
      ])
      expect(Object.keys(rows[0]).slice(0, 2)).toEqual(['bucket_start', 'model'])
      expect(Object.keys(rows[0])).not.toContain('tenant_id')
      await expect(
        store.summarize({ from: start, to: start + day, groupBy: ['colour' as UsageDimension] })
      ).rejects.toThrow(/groups by/)
    })
  },
})
