/**
 * Another gateway process on the same database, for the cases that need one: SQLite's locks are per process, and
 * better-sqlite3 waits for a lock synchronously, so two connections in one process would only block each other's
 * event loop. The child opens the database, says `ready`, waits for `go` (so several children and the test start
 * together), runs its command and prints the result as one JSON line.
 *
 * Run as `node --import tsx sql-child-process.ts <migrate|record> <url>`; `record` reads its batches of usage
 * records as the first line of standard input.
 */
import { createInterface } from 'node:readline'
import { migrateSqlDatabase } from '../../src/stores/sql/migrate-sql-database.ts'
import { openSqlDatabase } from '../../src/stores/sql/open-sql-database.ts'
import { createSqlUsageStore } from '../../src/stores/sql/sql-usage-store.ts'
import type { UsageRecord } from '../../src/stores/usage-store.ts'

const [command, url] = process.argv.slice(2)
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]()
const nextLine = async (): Promise<string> => {
  const { value, done } = await lines.next()
  if (done) throw new Error('standard input ended early')
  return value as string
}

const payload = command === 'record' ? (JSON.parse(await nextLine()) as UsageRecord[][]) : []
const database = openSqlDatabase({ url, cwd: process.cwd(), poolSize: 2 })
try {
  process.stdout.write('ready\n')
  await nextLine()
  let result: unknown
  if (command === 'migrate') result = await migrateSqlDatabase(database)
  else if (command === 'record') {
    const store = createSqlUsageStore({ database })
    for (const batch of payload) await store.record(batch)
    result = payload.length
  } else throw new Error(`unknown command ${command}`)
  process.stdout.write(`${JSON.stringify(result)}\n`)
} finally {
  await database.close()
  lines.return?.()
  process.stdin.destroy()
}
