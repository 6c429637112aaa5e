/**
 * Usage retention in a running gateway: started on a store holding old usage, the gateway deletes the raw events
 * past `usage.retentionDays` and the hourly roll-ups past `usage.hourlyRetentionDays` by itself, soon after start and
 * without holding the start up, keeps the daily roll-ups, and logs one line with the counts. On SQLite the deletes run
 * on the usage writer's thread; on PostgreSQL through the store.
 */
import { tmpdir } from 'node:os'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { migrateSqlDatabase } from '../../src/stores/sql/migrate-sql-database.ts'
import { openSqlDatabase, type SqlDatabase } from '../../src/stores/sql/open-sql-database.ts'
import { createSqlUsageStore } from '../../src/stores/sql/sql-usage-store.ts'
import type { UsageRecord } from '../../src/stores/usage-store.ts'
import { createThrowawayPostgresDatabase } from '../contract/create-throwaway-postgres-database.ts'
import { requireStoreService } from '../contract/define-store-contract.ts'
import { createTemporarySqliteUrl } from '../contract/sql-store-implementations.ts'
import { startTestGateway } from '../helpers/start-test-gateway.ts'

const hour = 3_600_000
const day = 86_400_000

let sequence = 0
const event = (time: number): UsageRecord => {
  sequence += 1
  return {
    id: `retention_${sequence}_${crypto.randomUUID()}`,
    kind: 'request',
    time,
    requestId: `req_${sequence}`,
    tenantId: 'ten_acme',
    keyId: 'key_1',
    userId: null,
    tags: [],
    operation: 'chat-completions',
    requestedModel: 'gpt-4o-mini',
    provider: 'openai',
    model: 'gpt-4o-mini',
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
  }
}

type Target = { url: string; drop(): Promise<void> | void }

const backends: { name: string; requires?: 'postgres'; create(): Promise<Target> }[] = [
  { name: 'sqlite', create: async () => createTemporarySqliteUrl() },
  { name: 'postgres', requires: 'postgres', create: () => createThrowawayPostgresDatabase() },
]

for (const backend of backends) {
  describe(`usage retention in a running gateway (${backend.name})`, () => {
    if (backend.requires !== undefined) requireStoreService(backend.requires)
    let target: Target
    let database: SqlDatabase

    beforeAll(async () => {
      target = await backend.create()
      database = openSqlDatabase({ url: target.url, cwd: tmpdir() })
      await migrateSqlDatabase(database)
    })

    afterAll(async () => {
      await database?.close()
      await target?.drop()
    })

    it('prunes old raw events and hourly roll-ups soon after start, keeps the daily totals, logs the counts', async () => {
      const now = Date.now()
      const store = createSqlUsageStore({ database })
      const ancient = [now - 500 * day, now - 500 * day + 2 * hour] // past both retentions
      const old = [now - 120 * day, now - 100 * day, now - 95 * day] // raw events past 90 days
      const recent = [now - 2 * hour, now - hour]
      await store.record([...ancient, ...old, ...recent].map(event))
      const total = { from: 0, to: now + day }
      const [before] = await store.summarize(total)
      expect(before.requests).toBe(7)

      const lines: string[] = []
      const gateway = await startTestGateway({
        config: ['auth: { masterKey: retention-master-key }', 'providers: {}'],
        env: { DATABASE_URL: target.url, LOG_LEVEL: 'info' },
        stdout: (line) => lines.push(line),
      })
      try {
        const pruned = async () =>
          lines
            .map((line) => JSON.parse(line) as Record<string, unknown>)
            .find((entry) => entry.msg === 'usage retention: pruned')
        await expect.poll(pruned, { timeout: 10_000 }).toBeDefined()
        expect(await pruned()).toMatchObject({ level: 'info', events: 5, hourlyRollups: 2 })

        const times = await database.db.selectFrom('usage_events').select('time').execute()
        expect(times.map((row) => Number(row.time)).sort()).toEqual(recent)
        // Whole-day totals are read from the daily roll-ups, which stay.
        expect(
          await store.summarize({ ...total, from: Math.floor((now - 600 * day) / day) * day })
        ).toEqual([before])
        // By the hour, the ancient hours are gone; the rest are there.
        const hourly = await store.summarize({ ...total, granularity: 'hour' })
        expect(hourly.reduce((sum, row) => sum + row.requests, 0)).toBe(5)
      } finally {
        await gateway.close()
      }
    }, 30_000)
  })
}
