/**
 * The usage store's reads at scale on PostgreSQL, small enough to run with every test run: 200,000 events over 30
 * days, generated in SQL with their roll-ups (`bench/generate-usage-in-postgres.ts`), read through `summarize()`.
 * `bench/usage-query-bench.ts` measures the same queries over 10 million events.
 */
import { sql as sqlText } from 'kysely'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  generateUsageInPostgres,
  modelTotalsFromEvents,
} from '../../bench/generate-usage-in-postgres.ts'
import { migrateSqlDatabase } from '../../src/stores/sql/migrate-sql-database.ts'
import { openSqlDatabase, type SqlDatabase } from '../../src/stores/sql/open-sql-database.ts'
import { createSqlUsageStore } from '../../src/stores/sql/sql-usage-store.ts'
import type { UsageStore } from '../../src/stores/usage-store.ts'
import { checkStoreService } from './check-store-service.ts'
import {
  createThrowawayPostgresDatabase,
  type ThrowawayDatabase,
} from './create-throwaway-postgres-database.ts'
import { requireStoreService } from './define-store-contract.ts'

const day = 86_400_000
const end = Date.UTC(2026, 2, 31, 14, 37, 12)
const last30Days = { from: end - 30 * day, to: end }

describe('usage store at scale (postgres)', () => {
  requireStoreService('postgres')
  let database: ThrowawayDatabase | undefined
  let sql: SqlDatabase | undefined
  let store: UsageStore

  beforeAll(async () => {
    if ((await checkStoreService('postgres')) !== null) return
    database = await createThrowawayPostgresDatabase()
    sql = openSqlDatabase({ url: database.url, cwd: process.cwd(), poolSize: 2 })
    await migrateSqlDatabase(sql)
    await generateUsageInPostgres(sql.db, {
      events: 200_000,
      start: end - 30 * day,
      spanMs: 30 * day,
    })
    store = createSqlUsageStore({ database: sql })
  }, 120_000)

  afterAll(async () => {
    await sql?.close()
    await database?.drop()
  })

  it('answers 30 days by model and day in well under a second, equal to the raw events', async () => {
    const begun = performance.now()
    const rows = await store.summarize({ ...last30Days, groupBy: ['model'], granularity: 'day' })
    const elapsedMs = performance.now() - begun
    expect(elapsedMs).toBeLessThan(1_000)
    expect(rows).toHaveLength(10 * 31)

    const truth = await modelTotalsFromEvents(sql!.db, last30Days)
    const totals: typeof truth = {}
    for (const row of rows) {
      const total = (totals[row.model!] ??= { requests: 0, cost: 0, input: 0 })
      total.requests += row.requests
      total.cost! += row.cost_micro_usd ?? 0
      total.input! += row.input_tokens ?? 0
    }
    expect(totals).toEqual(truth)
    expect(Object.values(truth).reduce((sum, model) => sum + model.requests, 0)).toBe(200_000)
  })

  it('adds newly recorded events onto the generated roll-ups', async () => {
    const query = { ...last30Days, tenantId: 'ten_3', groupBy: ['key' as const] }
    const before = await store.summarize(query)
    const row = before.find((item) => item.key_id === 'key_3')!
    await store.record([
      {
        id: 'evt_new',
        kind: 'request',
        time: end - day,
        requestId: 'req_new',
        tenantId: 'ten_3',
        keyId: 'key_3',
        userId: 'user_3_0',
        tags: [],
        operation: 'chat-completions',
        requestedModel: 'model-3',
        provider: 'provider-0',
        model: 'model-3',
        attempts: 1,
        status: 200,
        stream: false,
        error: null,
        inputTokens: 1_000,
        outputTokens: 10,
        cachedTokens: null,
        cacheWriteTokens: null,
        reasoningTokens: null,
        costMicroUsd: 777,
        latencyMs: 5,
        ttfbMs: 1,
        clientAborted: false,
        cache: 'miss',
        savedCostMicroUsd: null,
      },
    ])
    const after = (await store.summarize(query)).find((item) => item.key_id === 'key_3')!
    expect(after).toEqual({
      ...row,
      requests: row.requests + 1,
      input_tokens: row.input_tokens! + 1_000,
      output_tokens: row.output_tokens! + 10,
      cost_micro_usd: row.cost_micro_usd! + 777,
      latency_ms_total: row.latency_ms_total + 5,
      cache_misses: row.cache_misses + 1,
    })
    // The generated roll-ups, which name no cache column, hold the columns' defaults: no hit, no miss, no saving.
    expect(row).toMatchObject({ cache_hits: 0, cache_misses: 0, saved_cost_micro_usd: null })
    const since = end - 2 * day
    const { rows } = await sqlText<{ cost: number }>`
      select sum(cost_micro_usd)::bigint as cost from usage_events
      where key_id = 'key_3' and time >= ${since - (since % 3_600_000)}
    `.execute(sql!.db)
    expect(await store.spent({ keyId: 'key_3' }, since)).toBe(rows[0].cost)
  })
})
