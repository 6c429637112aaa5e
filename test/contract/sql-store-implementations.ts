/**
 * The SQL backends of a store suite: SQLite in a temporary file (removed after the case) and PostgreSQL in a
 * throwaway database (dropped after it), each migrated before the case as the server does at start. `build` makes
 * the store from the open database; `open` lets a case reach the same data through a second connection, as another
 * gateway process would.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { migrateSqlDatabase } from '../../src/stores/sql/migrate-sql-database.ts'
import { openSqlDatabase, type SqlDatabase } from '../../src/stores/sql/open-sql-database.ts'
import { createThrowawayPostgresDatabase } from './create-throwaway-postgres-database.ts'
import type { CreatedStore, StoreImplementation } from './define-store-contract.ts'

export type SqlTarget = {
  /** The case's database, for another process. */
  url: string
}

/** A temporary folder for a SQLite file, and the URL of a database in it. */
export const createTemporarySqliteUrl = (): { url: string; directory: string; drop(): void } => {
  const directory = mkdtempSync(join(tmpdir(), 'gatehouse-sql-'))
  return {
    url: `sqlite:${join(directory, 'gatehouse.db')}`,
    directory,
    drop: () => rmSync(directory, { recursive: true, force: true }),
  }
}

const withDatabase = async <S>(
  url: string,
  cwd: string,
  drop: () => Promise<void> | void,
  build: (database: SqlDatabase, target: SqlTarget) => S
): Promise<CreatedStore<S>> => {
  const database = openSqlDatabase({ url, cwd, poolSize: 4 })
  const cleanup = async (): Promise<void> => {
    await database.close()
    await drop()
  }
  try {
    await migrateSqlDatabase(database)
    return { store: build(database, { url }), cleanup }
  } catch (error) {
    await cleanup()
    throw error
  }
}

export const sqlStoreImplementations = <S>(
  build: (database: SqlDatabase, target: SqlTarget) => S
): StoreImplementation<S>[] => [
  {
    name: 'sqlite',
    create: async () => {
      const sqlite = createTemporarySqliteUrl()
      return withDatabase(sqlite.url, sqlite.directory, sqlite.drop, build)
    },
  },
  {
    name: 'postgres',
    requires: 'postgres',
    create: async () => {
      const postgres = await createThrowawayPostgresDatabase()
      return withDatabase(postgres.url, process.cwd(), postgres.drop, build)
    },
  },
]
