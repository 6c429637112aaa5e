/**
 * Migrations on every SQL backend: an empty database gets every version once, a current one gets nothing, several
 * processes starting together apply each version exactly once (PostgreSQL: the advisory lock; SQLite: the write
 * lock of a `BEGIN IMMEDIATE` transaction), and a migration that fails leaves no part of itself behind.
 */
import { sql, Migrator } from 'kysely'
import { describe, expect, it } from 'vitest'
import {
  migrateSqlDatabase,
  migrationLockTableName,
  migrationTableName,
} from '../../src/stores/sql/migrate-sql-database.ts'
import { openSqlDatabase, type SqlDatabase } from '../../src/stores/sql/open-sql-database.ts'
import { sqlMigrations } from '../../src/stores/sql/sql-migrations.ts'
import { createSqlUsageStore } from '../../src/stores/sql/sql-usage-store.ts'
import { createThrowawayPostgresDatabase } from './create-throwaway-postgres-database.ts'
import { defineStoreContract, requireStoreService } from './define-store-contract.ts'
import { createTemporarySqliteUrl } from './sql-store-implementations.ts'
import { startSqlChild } from './start-sql-child.ts'

/** An empty database: its URL, and connections opened on it (closed after the case). */
type EmptyDatabase = { url: string; open(): SqlDatabase }

const allVersions = Object.keys(sqlMigrations('sqlite'))

const emptyDatabase = async (
  url: string,
  drop: () => Promise<void> | void
): Promise<{ store: EmptyDatabase; cleanup: () => Promise<void> }> => {
  const opened: SqlDatabase[] = []
  return {
    store: {
      url,
      open: () => {
        const database = openSqlDatabase({ url, cwd: process.cwd(), poolSize: 2 })
        opened.push(database)
        return database
      },
    },
    cleanup: async () => {
      for (const database of opened.splice(0)) await database.close()
      await drop()
    },
  }
}

const appliedVersions = async (database: SqlDatabase): Promise<string[]> => {
  const { rows } = await sql<{
    name: string
  }>`select name from ${sql.table(migrationTableName)} order by name`.execute(database.db)
  return rows.map((row) => row.name)
}

/** A Migrator over the shipped migrations, to go to (and back to) a given version. */
const shippedMigrator = (database: SqlDatabase): Migrator =>
  new Migrator({
    db: database.db,
    migrationTableName,
    migrationLockTableName,
    provider: { getMigrations: async () => sqlMigrations(database.dialect) },
  })

const columnNames = async (database: SqlDatabase, table: string): Promise<string[]> =>
  (await database.db.introspection.getTables())
    .find((candidate) => candidate.name === table)!
    .columns.map((column) => column.name)

const tableNames = async (database: SqlDatabase): Promise<string[]> =>
  (await database.db.introspection.getTables({ withInternalKyselyTables: true }))
    .map((table) => table.name)
    .sort()

defineStoreContract<EmptyDatabase>({
  name: 'sql migrations',
  implementations: [
    {
      name: 'sqlite',
      create: async () => {
        const sqlite = createTemporarySqliteUrl()
        return emptyDatabase(sqlite.url, sqlite.drop)
      },
    },
    {
      name: 'postgres',
      requires: 'postgres',
      create: async () => {
        const postgres = await createThrowawayPostgresDatabase()
        return emptyDatabase(postgres.url, postgres.drop)
      },
    },
  ],
  cases: (getDatabase) => {
    it('applies every version to an empty database, then nothing', async () => {
      const database = getDatabase().open()
      expect(await migrateSqlDatabase(database)).toEqual(allVersions)
      expect(await migrateSqlDatabase(database)).toEqual([])
      expect(await appliedVersions(database)).toEqual(allVersions)
      expect(await tableNames(database)).toEqual(
        [
          'api_key_secrets',
          'api_keys',
          migrationLockTableName,
          migrationTableName,
          'model_activations',
          'response_items',
          'responses',
          'tenants',
          'usage_daily',
          'usage_events',
          'usage_hourly',
        ].sort()
      )
    })

    it('applies each version once when two processes start at the same time', async () => {
      const { url, open } = getDatabase()
      const children = Array.from({ length: 2 }, () => startSqlChild({ command: 'migrate', url }))
      await Promise.all(children.map((child) => child.ready))
      for (const child of children) child.go()
      const results = (await Promise.all(children.map((child) => child.result))) as string[][]
      expect(results.flat().sort()).toEqual(allVersions)
      expect(await appliedVersions(open())).toEqual(allVersions)
    })

    it('adds the prompt cache columns to a usage history written before them, which reads as no hit', async () => {
      const database = getDatabase().open()
      const migrator = shippedMigrator(database)
      expect((await migrator.migrateTo('0004_background_usage')).error).toBeUndefined()
      // What the gateway wrote at that version: an event and its hourly and daily roll-ups.
      const time = Date.UTC(2026, 2, 1, 10)
      const day = Date.UTC(2026, 2, 1)
      await sql`
        insert into usage_events (id, kind, time, request_id, tenant_id, key_id, user_id, tags, operation,
          requested_model, provider, model, attempts, status, stream, error, input_tokens, output_tokens,
          cached_tokens, cache_write_tokens, reasoning_tokens, cost_micro_usd, latency_ms, ttfb_ms, client_aborted)
        values ('evt_old', 'request', ${time}, 'req_old', 'ten_acme', 'key_1', null, '[]', 'chat-completions',
          'gpt-4o-mini', 'openai', 'gpt-4o-mini', 1, 200, 0, null, 100, 20, null, null, null, 30, 250, 120, 0)
      `.execute(database.db)
      for (const [table, bucket] of [
        ['usage_hourly', time],
        ['usage_daily', day],
      ] as const)
        await sql`
          insert into ${sql.table(table)} (bucket_start, tenant_id, key_id, model, provider, user_id, requests,
            errors, client_aborted, input_tokens, output_tokens, cached_tokens, cache_write_tokens, reasoning_tokens,
            cost_micro_usd, unpriced_requests, latency_ms_total)
          values (${bucket}, 'ten_acme', 'key_1', 'gpt-4o-mini', 'openai', '', 1, 0, 0, 100, 20, null, null, null,
            30, 0, 250)
        `.execute(database.db)

      expect(await migrateSqlDatabase(database)).toEqual(
        allVersions.filter((name) => name > '0004_background_usage')
      )
      const [event] = await database.db.selectFrom('usage_events').selectAll().execute()
      expect(event).toMatchObject({ id: 'evt_old', cache: null, saved_cost_micro_usd: null })
      const store = createSqlUsageStore({ database })
      const query = { from: day, to: day + 86_400_000, groupBy: ['model' as const] }
      for (const granularity of [null, 'hour'] as const)
        expect(await store.summarize({ ...query, granularity })).toEqual([
          expect.objectContaining({
            model: 'gpt-4o-mini',
            requests: 1,
            cost_micro_usd: 30,
            cache_hits: 0,
            cache_misses: 0,
            saved_cost_micro_usd: null,
          }),
        ])
      // New events add onto the old rows.
      const base = {
        kind: 'request' as const,
        time: time + 60_000,
        tenantId: 'ten_acme',
        keyId: 'key_1',
        userId: null,
        tags: [],
        operation: 'chat-completions',
        requestedModel: 'gpt-4o-mini',
        provider: 'openai',
        model: 'gpt-4o-mini',
        status: 200,
        stream: false,
        error: null,
        cachedTokens: null,
        cacheWriteTokens: null,
        reasoningTokens: null,
        latencyMs: 5,
        ttfbMs: 5,
        clientAborted: false,
      }
      await store.record([
        {
          ...base,
          id: 'evt_hit',
          requestId: 'req_hit',
          attempts: 0,
          inputTokens: 0,
          outputTokens: 0,
          costMicroUsd: 0,
          cache: 'hit',
          savedCostMicroUsd: 30,
        },
        {
          ...base,
          id: 'evt_miss',
          requestId: 'req_miss',
          attempts: 1,
          inputTokens: 10,
          outputTokens: 2,
          costMicroUsd: 3,
          cache: 'miss',
          savedCostMicroUsd: null,
        },
      ])
      for (const granularity of [null, 'hour'] as const)
        expect(await store.summarize({ ...query, granularity })).toEqual([
          expect.objectContaining({
            requests: 3,
            cost_micro_usd: 33,
            cache_hits: 1,
            cache_misses: 1,
            saved_cost_micro_usd: 30,
          }),
        ])

      // And it can be taken back: the columns go, the history stays.
      expect((await migrator.migrateTo('0004_background_usage')).error).toBeUndefined()
      const columns = (table: string) => columnNames(database, table)
      expect(await columns('usage_events')).not.toContain('cache')
      expect(await columns('usage_daily')).not.toContain('cache_hits')
      expect(await database.db.selectFrom('usage_events').select('id').execute()).toHaveLength(3)
    })

    it('adds the estimated-usage columns to a usage history written before them, which reads as reported', async () => {
      const database = getDatabase().open()
      const migrator = shippedMigrator(database)
      expect((await migrator.migrateTo('0006_model_activations')).error).toBeUndefined()
      const time = Date.UTC(2026, 2, 1, 10)
      const day = Date.UTC(2026, 2, 1)
      const base = {
        kind: 'request' as const,
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
        stream: true,
        error: null,
        cachedTokens: null,
        cacheWriteTokens: null,
        reasoningTokens: null,
        latencyMs: 5,
        ttfbMs: 5,
        clientAborted: false,
        cache: null,
        savedCostMicroUsd: null,
      }
      // What the gateway wrote at that version: an event and its roll-ups, through the store as it was then (the
      // columns it inserts are the ones that existed).
      await sql`
        insert into usage_events (id, kind, time, request_id, tenant_id, key_id, user_id, tags, operation,
          requested_model, provider, model, attempts, status, stream, error, input_tokens, output_tokens,
          cached_tokens, cache_write_tokens, reasoning_tokens, cost_micro_usd, latency_ms, ttfb_ms, client_aborted,
          cache, saved_cost_micro_usd)
        values ('evt_old', 'request', ${time}, 'req_old', 'ten_acme', 'key_1', null, '[]', 'chat-completions',
          'gpt-4o-mini', 'openai', 'gpt-4o-mini', 1, 200, 1, null, 100, 20, null, null, null, 30, 250, 120, 0,
          null, null)
      `.execute(database.db)
      for (const [table, bucket] of [
        ['usage_hourly', time],
        ['usage_daily', day],
      ] as const)
        await sql`
          insert into ${sql.table(table)} (bucket_start, tenant_id, key_id, model, provider, user_id, requests,
            errors, client_aborted, input_tokens, output_tokens, cached_tokens, cache_write_tokens, reasoning_tokens,
            cost_micro_usd, unpriced_requests, latency_ms_total, cache_hits, cache_misses, saved_cost_micro_usd)
          values (${bucket}, 'ten_acme', 'key_1', 'gpt-4o-mini', 'openai', '', 1, 0, 0, 100, 20, null, null, null,
            30, 0, 250, 0, 0, null)
        `.execute(database.db)

      expect(await migrateSqlDatabase(database)).toEqual(
        allVersions.filter((name) => name > '0006_model_activations')
      )
      const [event] = await database.db.selectFrom('usage_events').selectAll().execute()
      expect(Number(event.estimated)).toBe(0)
      const store = createSqlUsageStore({ database })
      const query = { from: day, to: day + 86_400_000, groupBy: ['key' as const] }
      for (const granularity of [null, 'hour'] as const)
        expect(await store.summarize({ ...query, granularity })).toEqual([
          expect.objectContaining({
            requests: 1,
            cost_micro_usd: 30,
            estimated_requests: 0,
            estimated_cost_micro_usd: null,
          }),
        ])
      // An estimated event adds onto the old rows, and a budget's spend counts it.
      await store.record([
        {
          ...base,
          id: 'evt_cut',
          requestId: 'req_cut',
          time: time + 60_000,
          inputTokens: 40,
          outputTokens: 7,
          costMicroUsd: 11,
          clientAborted: true,
          estimated: true,
        },
      ])
      for (const granularity of [null, 'hour'] as const)
        expect(await store.summarize({ ...query, granularity })).toEqual([
          expect.objectContaining({
            requests: 2,
            input_tokens: 140,
            output_tokens: 27,
            cost_micro_usd: 41,
            estimated_requests: 1,
            estimated_cost_micro_usd: 11,
          }),
        ])
      expect(await store.spent({ keyId: 'key_1' }, day)).toBe(41)

      // And it can be taken back: the columns go, the history stays.
      expect((await migrator.migrateTo('0006_model_activations')).error).toBeUndefined()
      const columns = (table: string) => columnNames(database, table)
      expect(await columns('usage_events')).not.toContain('estimated')
      expect(await columns('usage_hourly')).not.toContain('estimated_requests')
      expect(await columns('usage_daily')).not.toContain('estimated_cost_micro_usd')
      expect(await database.db.selectFrom('usage_events').select('id').execute()).toHaveLength(2)
    })

    it('takes back every part of a migration that fails', async () => {
      const database = getDatabase().open()
      const migrator = new Migrator({
        db: database.db,
        migrationTableName,
        migrationLockTableName,
        provider: {
          getMigrations: async () => ({
            '0001_half': {
              up: async (db) => {
                await db.schema.createTable('half_done').addColumn('id', 'integer').execute()
                await sql`insert into half_done (id) values (1)`.execute(db)
                await sql`select * from no_such_table`.execute(db)
              },
            },
          }),
        },
      })
      const { error, results } = await migrator.migrateToLatest()
      expect(error).toBeDefined()
      expect(results).toEqual([{ migrationName: '0001_half', direction: 'Up', status: 'Error' }])
      expect(await tableNames(database)).not.toContain('half_done')
      expect(await appliedVersions(database)).toEqual([])
    })
  },
})

describe('sql migrations (postgres, two migrators in one process)', () => {
  requireStoreService('postgres')

  it('applies each version once when two pools migrate at the same time', async () => {
    for (let round = 0; round < 3; round += 1) {
      const postgres = await createThrowawayPostgresDatabase()
      const { store, cleanup } = await emptyDatabase(postgres.url, postgres.drop)
      try {
        const [left, right] = [store.open(), store.open()]
        const results = await Promise.all([migrateSqlDatabase(left), migrateSqlDatabase(right)])
        expect(results.flat().sort()).toEqual(allVersions)
        expect(await appliedVersions(left)).toEqual(allVersions)
      } finally {
        await cleanup()
      }
    }
  })
})
