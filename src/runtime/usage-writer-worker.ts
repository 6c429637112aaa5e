/**
 * The worker thread that writes usage events to a SQLite database (`createThreadedUsageWriter`). better-sqlite3 is
 * synchronous: a batch of a few hundred events with its roll-ups holds the thread for tens of milliseconds, which on
 * the main thread every request in flight would wait for. Here it holds only this thread. It opens its own connection
 * (SQLite in WAL mode takes one writer at a time; readers on the main thread are not blocked). The retention's prunes
 * run here too, a slice at a time between batches, for the same reason.
 */
import { parentPort, workerData } from 'node:worker_threads'
import { openSqlDatabase } from '../stores/sql/open-sql-database.ts'
import { createSqlUsageStore } from '../stores/sql/sql-usage-store.ts'
import { fromUsageRecordRow, type UsageRecordRow } from './usage-record-rows.ts'

export type UsageWriterRequest =
  | { type: 'record'; id: number; rows: UsageRecordRow[] }
  | { type: 'prune-events'; id: number; olderThan: number; limit?: number }
  | { type: 'prune-hourly'; id: number; olderThan: number; limit?: number }
  | { type: 'close'; id: number }

/** `deleted`: how many rows a prune deleted. */
export type UsageWriterReply = { id: number; error: string | null; deleted?: number }

const { url, cwd } = workerData as { url: string; cwd: string }
const database = openSqlDatabase({ url, cwd })
const store = createSqlUsageStore({ database })
const port = parentPort!

port.on('message', (request: UsageWriterRequest) => {
  const reply = (error: unknown, deleted?: number): void =>
    port.postMessage({
      id: request.id,
      error: error === null ? null : error instanceof Error ? error.message : String(error),
      deleted,
    } satisfies UsageWriterReply)
  if (request.type === 'close') {
    database.close().then(
      () => {
        reply(null)
        port.close()
      },
      (error: unknown) => reply(error)
    )
    return
  }
  if (request.type === 'prune-events' || request.type === 'prune-hourly') {
    const prune =
      request.type === 'prune-events'
        ? store.pruneEvents(request.olderThan, request.limit)
        : store.pruneHourlyRollups(request.olderThan, request.limit)
    prune.then(
      (deleted) => reply(null, deleted),
      (error: unknown) => reply(error)
    )
    return
  }
  store.record(request.rows.map(fromUsageRecordRow)).then(
    () => reply(null),
    (error: unknown) => reply(error)
  )
})
