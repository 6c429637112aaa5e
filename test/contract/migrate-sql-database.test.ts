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
