/**
 * A PostgreSQL database that lives for one store under test: `CREATE DATABASE gatehouse_test_<random>` on the test
 * server, `DROP ... WITH (FORCE)` at the end (connections the store left open are closed, so a store that forgot to
 * close cannot keep its database alive). Each store gets an empty schema and runs its own migrations, and suites in
 * parallel never see each other's tables.
 *
 * Runs the statements through `psql` (the PostgreSQL client, installed with the server and on CI runners): the
 * repository has no PostgreSQL driver yet. Once the SQL stores bring `pg`, this can use it instead.
 */
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { promisify } from 'node:util'
import { storeServiceUrl } from './check-store-service.ts'

const run = promisify(execFile)

export type ThrowawayDatabase = {
  /** `gatehouse_test_<12 hex digits>`. */
  name: string
  /** The server's URL with this database as its path: what the store under test connects to. */
  url: string
  /** Drops the database (idempotent). */
  drop(): Promise<void>
}

/** Runs one statement as the URL's user against its database. */
export const runPostgresStatement = async (options: {
  url: string
  sql: string
}): Promise<string> => {
  const url = new URL(options.url)
  const args = [
    '-X',
    '-q',
    '-A',
    '-t',
    '-v',
    'ON_ERROR_STOP=1',
    '-h',
    url.hostname,
    '-p',
    url.port || '5432',
  ]
  args.push(
    '-U',
    decodeURIComponent(url.username || 'postgres'),
    '-d',
    decodeURIComponent(url.pathname.slice(1) || 'postgres')
  )
  const env = {
    ...process.env,
    PGCONNECT_TIMEOUT: '5',
    PGPASSWORD: decodeURIComponent(url.password),
  }
  try {
    const { stdout } = await run('psql', [...args, '-c', options.sql], { env, timeout: 30_000 })
    return stdout.trim()
  } catch (error) {
    const failure = error as { code?: string; stderr?: string; message: string }
    if (failure.code === 'ENOENT')
      throw new Error('psql is not installed: apt-get install postgresql-client')
    throw new Error(
      `psql failed on ${JSON.stringify(options.sql)}: ${failure.stderr?.trim() || failure.message}`
    )
  }
}

export const createThrowawayPostgresDatabase = async (
  options: { url?: string } = {}
): Promise<ThrowawayDatabase> => {
  const server = options.url ?? storeServiceUrl('postgres')
  const name = `gatehouse_test_${randomBytes(6).toString('hex')}`
  await runPostgresStatement({ url: server, sql: `CREATE DATABASE ${name}` })
  const url = new URL(server)
  url.pathname = `/${name}`
  let dropped: Promise<void> | undefined
  return {
    name,
    url: url.href,
    drop: () =>
      (dropped ??= runPostgresStatement({
        url: server,
        sql: `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`,
      }).then(() => {})),
  }
}
