/**
 * Brings the database's schema to the latest version: at start-up and from `gatehouse migrate`. Idempotent (a
 * database that is current applies nothing) and safe when several processes start at once: each reads the applied
 * versions and applies the rest in one transaction, under a lock another process waits for, and then finds nothing
 * to do.
 *
 * - PostgreSQL: Kysely's Migrator holds a session advisory lock (`pg_advisory_lock`) around that transaction.
 * - SQLite: Kysely's lock is per connection, which does not stop another process; the transaction does, since it
 *   begins `IMMEDIATE` (see `open-sql-database.ts`) and so holds the database's write lock from its first statement.
 *
 * The bookkeeping tables are `gatehouse_migrations` and `gatehouse_migration_lock`, so a database shared with another
 * Kysely application does not mix the two histories.
 */
import { Migrator } from 'kysely'
import type { Logger } from '../../core/logger.ts'
import { defaultDatabaseUrl, openSqlDatabase, type SqlDatabase } from './open-sql-database.ts'
import { sqlMigrations } from './sql-migrations.ts'

export const migrationTableName = 'gatehouse_migrations'
export const migrationLockTableName = 'gatehouse_migration_lock'

const describe = (error: unknown): string =>
  error instanceof Error ? error.message : String(error)

/** Applies every pending migration; resolves with the names applied, in order (empty when the schema is current). */
export const migrateSqlDatabase = async (
  database: SqlDatabase,
  options: { logger?: Logger } = {}
): Promise<string[]> => {
  const migrations = sqlMigrations(database.dialect)
  const migrator = new Migrator({
    db: database.db,
    provider: { getMigrations: async () => migrations },
    migrationTableName,
    migrationLockTableName,
  })
  const { error, results = [] } = await migrator.migrateToLatest()
  if (error !== undefined) {
    const failed = results.find((result) => result.status === 'Error')?.migrationName
    throw new Error(
      failed === undefined
        ? `Cannot migrate the database at ${database.location}: ${describe(error)}`
        : `Database migration ${failed} failed at ${database.location}: ${describe(error)}`,
      { cause: error }
    )
  }
  const applied = results
    .filter((result) => result.status === 'Success')
    .map((result) => result.migrationName)
  if (applied.length > 0)
    options.logger?.info({ database: database.location, applied }, 'database migrations applied')
  return applied
}

/**
 * `gatehouse migrate`: opens the database at `url` (`DATABASE_URL`; unset or empty, the default SQLite file; a
 * relative SQLite path read from `cwd`), applies what is pending and closes it.
 */
export const migrateDatabaseUrl = async (options: {
  url: string | undefined
  cwd: string
}): Promise<{ location: string; applied: string[]; versions: string[] }> => {
  const url = options.url || defaultDatabaseUrl
  const database = openSqlDatabase({ url, cwd: options.cwd, poolSize: 1 })
  try {
    const applied = await migrateSqlDatabase(database)
    return {
      location: database.location,
      applied,
      versions: Object.keys(sqlMigrations(database.dialect)),
    }
  } finally {
    await database.close()
  }
}
