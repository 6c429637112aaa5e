/**
 * Opens the SQL database the tenant and usage stores share (`database.url`, else the SQLite file under `./data/`) and
 * brings its schema to the latest version. Each gateway process does so at start; the primary of `serve --workers`
 * does it once before forking, so its workers find nothing left to apply.
 */
import type { Logger } from '../core/logger.ts'
import type { ResolvedConfig } from '../core/resolve-config.ts'
import { migrateSqlDatabase } from '../stores/sql/migrate-sql-database.ts'
import {
  DatabaseUrlError,
  defaultDatabaseUrl,
  openSqlDatabase,
  type SqlDatabase,
} from '../stores/sql/open-sql-database.ts'
import { StartupError } from './startup-error.ts'

/** Rejects with `StartupError` naming the database when it cannot be opened or migrated. */
export const openMigratedDatabase = async (options: {
  config: ResolvedConfig
  cwd: string
  logger: Logger
}): Promise<SqlDatabase> => {
  const { config, cwd, logger } = options
  let database: SqlDatabase
  try {
    database = openSqlDatabase({ url: config.database.url ?? defaultDatabaseUrl, cwd, logger })
  } catch (error) {
    if (error instanceof DatabaseUrlError)
      throw new StartupError([`database.url: ${error.message}`])
    throw error
  }
  try {
    // It logs what it applied ('database migrations applied'), once.
    await migrateSqlDatabase(database, { logger })
  } catch (error) {
    await database.close().catch(() => {})
    throw new StartupError([
      `database: cannot open or migrate ${database.location}: ${(error as Error).message}`,
    ])
  }
  return database
}
