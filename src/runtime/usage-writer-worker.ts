/**
 * The worker thread that writes usage events to a SQLite database (`createThreadedUsageWriter`). better-sqlite3 is
 * synchronous: a batch of a few hundred events with its roll-ups holds the thread for tens of milliseconds, which on
 * the main thread every request in flight would wait for. Here it holds only this thread. It opens its own connection
 * (SQLite in WAL mode takes one writer at a time; readers on the main thread are not blocked). The retention's prunes
 * run here too, a slice at a time between batches, for the same reason.
 */
import { setPriority } from 'node:os'
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

/**
 * How much this thread yields to the request thread when both want one core (`nice`, 0 to 19): a batch is
 * background work, and on a core the two share (a container given one CPU, a process pinned to one) its tens of
 * milliseconds of SQLite would otherwise delay every chunk and answer in flight behind it. At 10 the kernel still
 * gives it about a tenth of a contended core, several times what writing every event needs (about 15 µs each), so
 * the queue never grows for want of time. On Linux this sets the calling thread's own priority; where the system
 * refuses, the thread runs at the process's.
 */
const usageWriterNice = 10

try {
  setPriority(usageWriterNice)
} catch {
  // Not allowed here (some sandboxes): the thread keeps the process's priority.
}

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
