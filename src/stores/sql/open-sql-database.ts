/**
 * Opens the SQL database the tenant and usage stores share, from a URL: SQLite by default (a file, created with its
 * folder on first start, nothing to set up) or PostgreSQL when the URL says so. One Kysely instance over either, so
 * the stores have one query layer; what the dialects do differently is handled where it matters (JSON columns in
 * `read-json-column.ts`, constraint errors in `constraint-violation.ts`, integers here).
 *
 * - `sqlite:./data/gatehouse.db`, `sqlite:///var/lib/gatehouse.db`, `./data/gatehouse.db` or `/abs/path.db`: SQLite
 *   (better-sqlite3), a relative path read from `cwd`; `sqlite::memory:` for a database that lives in the process.
 * - `postgres://…` or `postgresql://…`: PostgreSQL through a bounded `pg` pool.
 */
import { mkdirSync } from 'node:fs'
import { dirname, isAbsolute, resolve } from 'node:path'
import SqliteDatabase from 'better-sqlite3'
import {
  CompiledQuery,
  Kysely,
  PostgresDialect,
  SqliteAdapter,
  SqliteDialect,
  SqliteDriver,
  type DatabaseConnection,
  type DialectAdapter,
  type Driver,
  type SqliteDialectConfig,
} from 'kysely'
import pg from 'pg'
import type { Logger } from '../../core/logger.ts'
import type { Closable } from '../types.ts'
import type { SqlSchema } from './sql-schema.ts'

export type SqlDialectName = 'sqlite' | 'postgres'

export type SqlDatabase = Closable & {
  db: Kysely<SqlSchema>
  dialect: SqlDialectName
  /** Where it is, for logs: the file, or the PostgreSQL URL without its password. */
  location: string
  /**
   * SQLite's own connection, under `db`, for batch writes that a query builder would slow down (the usage store's);
   * used only inside `db.connection().execute(…)`, so that no Kysely query runs on it meanwhile.
   */
  sqlite?: SqliteDatabase.Database
}

export type SqlLocation =
  { dialect: 'sqlite'; file: string } | { dialect: 'postgres'; url: string; location: string }

/** The default when `DATABASE_URL` is unset: a file under `./data/`, next to the generated master key. */
export const defaultDatabaseUrl = 'sqlite:./data/gatehouse.db'

/** `Error`s a caller should show as they are: a URL that names no database Gatehouse speaks. */
export class DatabaseUrlError extends Error {
  override readonly name = 'DatabaseUrlError'
}

/** Where `url` points, without opening anything. */
export const parseDatabaseUrl = (url: string, cwd: string): SqlLocation => {
  const text = url.trim()
  if (text === '') throw new DatabaseUrlError('DATABASE_URL is empty')
  const scheme = /^([a-z][a-z0-9+.-]+):/i.exec(text)?.[1]?.toLowerCase()
  if (scheme === 'postgres' || scheme === 'postgresql') {
    let parsed: URL
    try {
      parsed = new URL(text)
    } catch {
      throw new DatabaseUrlError(`DATABASE_URL is not a valid PostgreSQL URL: ${redact(text)}`)
    }
    if (parsed.password !== '') parsed.password = '***'
    return { dialect: 'postgres', url: text, location: parsed.href }
  }
  // A one-letter "scheme" is a Windows drive (`C:\data\gatehouse.db`).
  if (scheme !== undefined && scheme !== 'sqlite' && scheme !== 'file')
    throw new DatabaseUrlError(
      `DATABASE_URL names a database Gatehouse does not speak (${scheme}:): use sqlite:<file> or postgres://…`
    )
  let path = scheme === undefined ? text : text.slice(scheme.length + 1)
  if (scheme === 'file') path = decodeURIComponent(new URL(text).pathname)
  else if (path.startsWith('//')) path = path.slice(2)
  if (path === '') throw new DatabaseUrlError(`DATABASE_URL names no SQLite file: ${text}`)
  if (path === ':memory:') return { dialect: 'sqlite', file: ':memory:' }
  return { dialect: 'sqlite', file: isAbsolute(path) ? path : resolve(cwd, path) }
}

/** `***` for a password, whatever else fails to parse. */
const redact = (text: string): string => text.replace(/\/\/([^:/@]*):[^@]*@/, '//$1:***@')

/**
 * PostgreSQL sends `bigint` (int8) as text, since it may exceed 2^53; every bigint here (epoch ms, micro-USD, token
 * sums) fits, and a value that does not is an error rather than a silently rounded number.
 */
const parseInt8 = (text: string): number => {
  const value = Number(text)
  if (!Number.isSafeInteger(value))
    throw new RangeError(`bigint ${text} is beyond Number.MAX_SAFE_INTEGER`)
  return value
}

/** Per pool, not `pg.types.setTypeParser`: a global parser would change every other `pg` user in the process. */
const pgTypes = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === pg.types.builtins.INT8 && format !== 'binary'
      ? parseInt8
      : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
}

/**
 * `BEGIN IMMEDIATE` instead of Kysely's plain `BEGIN`: a transaction takes the write lock when it starts, waiting for
 * another process's writer (`busy_timeout`). With a deferred `BEGIN`, a transaction that reads and then writes (read
 * the tenant, then insert the key) would fail at once with `SQLITE_BUSY_SNAPSHOT` when another process committed in
 * between, since waiting cannot help a stale snapshot. https://www.sqlite.org/lang_transaction.html
 */
class ImmediateSqliteDriver extends SqliteDriver {
  override async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('begin immediate'))
  }
}

/**
 * SQLite's DDL is transactional, though Kysely's adapter says otherwise: saying so makes the Migrator apply
 * migrations inside one transaction, so a failed migration leaves nothing half-done, and (with `BEGIN IMMEDIATE`) a
 * second process waits for the first instead of applying the same migration again.
 */
class TransactionalDdlSqliteAdapter extends SqliteAdapter {
  override get supportsTransactionalDdl(): boolean {
    return true
  }
}

class ImmediateSqliteDialect extends SqliteDialect {
  readonly #config: SqliteDialectConfig
  constructor(config: SqliteDialectConfig) {
    super(config)
    this.#config = config
  }
  override createDriver(): Driver {
    return new ImmediateSqliteDriver(this.#config)
  }
  override createAdapter(): DialectAdapter {
    return new TransactionalDdlSqliteAdapter()
  }
}

/** Prepared statements kept: the stores' queries, with room for the batch sizes multi-row inserts come in. */
const statementCacheSize = 200

/**
 * Kysely prepares every query anew; preparing a join costs more than running it by its index. Statements are kept
 * by their SQL (least recently used dropped first). Reusing one is safe: Kysely runs one query at a time on SQLite's
 * single connection.
 */
const cachingStatements = (sqlite: SqliteDatabase.Database): SqliteDialectConfig['database'] => {
  const statements = new Map<string, SqliteDatabase.Statement>()
  return {
    close: () => sqlite.close(),
    prepare: (text: string) => {
      let statement = statements.get(text)
      if (statement === undefined) {
        statement = sqlite.prepare(text)
        if (statements.size >= statementCacheSize)
          statements.delete(statements.keys().next().value as string)
      } else statements.delete(text)
      statements.set(text, statement)
      return statement
    },
  }
}

/**
 * Switches the file to WAL. The switch needs the file to itself, and while another process is opening or migrating
 * it SQLite can answer "database is locked" at once, without waiting out `busy_timeout` (two gateways starting
 * together on one file, seen in CI). Start-up only: retried for up to 5 s, sleeping between tries.
 */
const setWalMode = (sqlite: InstanceType<typeof SqliteDatabase>): void => {
  const deadline = Date.now() + 5_000
  for (;;) {
    try {
      sqlite.pragma('journal_mode = WAL')
      return
    } catch (error) {
      const busy = /SQLITE_BUSY|database is locked/i.test(
        `${(error as { code?: string }).code ?? ''} ${(error as Error).message}`
      )
      if (!busy || Date.now() >= deadline) throw error
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20)
    }
  }
}

const openSqlite = (file: string): SqlDatabase => {
  // 0700, as for the master key beside it: the file holds key hashes and every tenant's usage.
  if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true, mode: 0o700 })
  const sqlite = new SqliteDatabase(file)
  // WAL: readers do not block the writer, and several processes can share the file. `busy_timeout`: a writer waits
  // for another process's transaction instead of failing at once. SQLite leaves foreign keys off unless asked.
  sqlite.pragma('busy_timeout = 5000')
  setWalMode(sqlite)
  sqlite.pragma('foreign_keys = ON')
  // Safe with WAL (a power cut may lose the last transactions, never corrupt the file), and far fewer fsyncs.
  sqlite.pragma('synchronous = NORMAL')
  const db = new Kysely<SqlSchema>({
    dialect: new ImmediateSqliteDialect({ database: cachingStatements(sqlite) }),
  })
  return { name: 'sql', dialect: 'sqlite', location: file, db, sqlite, close: () => db.destroy() }
}

const openPostgres = (
  location: Extract<SqlLocation, { dialect: 'postgres' }>,
  options: { poolSize: number; logger?: Logger }
): SqlDatabase => {
  const pool = new pg.Pool({
    connectionString: location.url,
    max: options.poolSize,
    idleTimeoutMillis: 30_000,
    connectionTimeoutMillis: 5_000,
    types: pgTypes,
  })
  // An idle client whose connection drops emits `error` on the pool; without a listener it would end the process.
  // The next query gets a fresh connection.
  pool.on('error', (error) =>
    options.logger?.warn(
      { database: location.location, error: error.message },
      'idle PostgreSQL connection lost'
    )
  )
  const db = new Kysely<SqlSchema>({ dialect: new PostgresDialect({ pool }) })
  return {
    name: 'sql',
    dialect: 'postgres',
    location: location.location,
    db,
    close: () => db.destroy(),
  }
}

export const openSqlDatabase = (options: {
  url: string
  /** What a relative SQLite path is read from. */
  cwd: string
  /** PostgreSQL connections at most (default 10). */
  poolSize?: number
  logger?: Logger
}): SqlDatabase => {
  const location = parseDatabaseUrl(options.url, options.cwd)
  return location.dialect === 'sqlite'
    ? openSqlite(location.file)
    : openPostgres(location, { poolSize: options.poolSize ?? 10, logger: options.logger })
}
