/**
 * Another gateway process on the same database, for the cases that need one: SQLite's locks are per process, and
 * better-sqlite3 waits for a lock synchronously, so two connections in one process would only block each other's
 * event loop. The child opens the database, says `ready`, waits for `go` (so several children and the test start
 * together), runs its command and prints the result as one JSON line.
 *
 * Run as `node --import tsx sql-child-process.ts <command> <url>`; `record` reads its batches of usage records,
 * `put-responses` its stored responses, `claim-settlements` the response ids and scope whose settlements it claims
 * (answering the ids it got), `take-polls` its queries (answering the ids each handed out), as the first line of
 * standard input.
 */
import { createInterface } from 'node:readline'
import { migrateSqlDatabase } from '../../src/stores/sql/migrate-sql-database.ts'
import { systemClock } from '../../src/core/clock.ts'
import type {
  ResponseScope,
  ResponseStore,
  StoredResponse,
} from '../../src/stores/response-store.ts'
import { openSqlDatabase } from '../../src/stores/sql/open-sql-database.ts'
import { createSqlResponseStore } from '../../src/stores/sql/sql-response-store.ts'
import { createSqlUsageStore } from '../../src/stores/sql/sql-usage-store.ts'
import type { UsageRecord } from '../../src/stores/usage-store.ts'

const [command, url] = process.argv.slice(2)
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]()
const nextLine = async (): Promise<string> => {
  const { value, done } = await lines.next()
  if (done) throw new Error('standard input ended early')
  return value as string
}

const payload: unknown = command === 'migrate' ? null : JSON.parse(await nextLine())
const database = openSqlDatabase({ url, cwd: process.cwd(), poolSize: 2 })
try {
  process.stdout.write('ready\n')
  await nextLine()
  let result: unknown
  if (command === 'migrate') result = await migrateSqlDatabase(database)
  else if (command === 'record') {
    const store = createSqlUsageStore({ database })
    const batches = payload as UsageRecord[][]
    for (const batch of batches) await store.record(batch)
    result = batches.length
  } else if (command === 'put-responses') {
    // Not awaited one by one: the puts overlap, on the pool's connections, as a busy gateway's would.
    const store = createSqlResponseStore({ database, clock: systemClock })
    const entries = payload as StoredResponse[]
    await Promise.all(entries.map((entry) => store.put(entry)))
    result = entries.length
  } else if (command === 'claim-settlements') {
    // All at once, as racing retrieves and pollers would.
    const store = createSqlResponseStore({ database, clock: systemClock })
    const { ids, scope } = payload as { ids: string[]; scope: ResponseScope }
    const claimed = await Promise.all(ids.map((id) => store.claimSettlement(id, scope)))
    result = ids.filter((_, index) => claimed[index] !== null)
  } else if (command === 'take-polls') {
    const store = createSqlResponseStore({ database, clock: systemClock })
    const queries = payload as Parameters<ResponseStore['takeDuePolls']>[0][]
    const taken = await Promise.all(queries.map((query) => store.takeDuePolls(query)))
    result = taken.flat().map((poll) => poll.id)
  } else throw new Error(`unknown command ${command}`)
  process.stdout.write(`${JSON.stringify(result)}\n`)
} finally {
  await database.close()
  lines.return?.()
  process.stdin.destroy()
}
