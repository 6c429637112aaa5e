/**
 * Writes records to a store in batches, off the request path, without losing them: the usage sink's engine. Records
 * queue in memory; a batch goes when `batchSize` are waiting or `flushIntervalMs` after the first of a partial one.
 * One write is in flight at a time. A write that fails is retried with doubling delays, and its records stay at the
 * head of the queue, so they are written first and in order; the store skips records it has already committed (a
 * write that committed but failed to answer), so a retry never counts twice. While the store stays out of reach the
 * queue is bounded by `maxBuffered`: past it the oldest records are dropped and counted, and that is logged once per
 * outage, as the failure and the recovery are, never once per record.
 */
import type { Clock } from './clock.ts'
import type { Logger } from './logger.ts'

export type BatchedStoreWriterOptions<R> = {
  /** Writes one batch, all or nothing. */
  write: (batch: readonly R[]) => Promise<void>
  clock: Clock
  logger: Logger
  /** For the log lines: `usage events`. */
  what: string
  batchSize: number
  flushIntervalMs: number
  maxBuffered: number
  /** Delay before the first retry of a failed write, doubled each time up to `maxRetryDelayMs`. */
  initialRetryDelayMs?: number
  maxRetryDelayMs?: number
}

export type BatchedStoreWriterStats = {
  /** Waiting to be written. */
  buffered: number
  written: number
  /** Dropped because the queue was full while the store could not be written to. */
  dropped: number
  failedWrites: number
}

export type BatchedStoreWriter<R> = {
  /** Queues a record; never blocks, never throws. */
  add(record: R): void
  /**
   * Writes everything queued so far, retrying failed writes until they succeed or `deadlineMs` has passed;
   * resolves with how many records are still unwritten.
   */
  flush(options?: { deadlineMs?: number }): Promise<number>
  stats(): BatchedStoreWriterStats
}

export const createBatchedStoreWriter = <R>(
  options: BatchedStoreWriterOptions<R>
): BatchedStoreWriter<R> => {
  const { clock, logger, what, batchSize, flushIntervalMs, maxBuffered } = options
  const initialRetryDelayMs = options.initialRetryDelayMs ?? 200
  const maxRetryDelayMs = options.maxRetryDelayMs ?? 30_000
  let queue: R[] = []
  /** How many records have left the head of the queue (written or dropped): the position of `queue[0]`. */
  let removed = 0
  let timer: unknown = null
  let timerDue = 0
  /** The write in flight, if any. */
  let writing: Promise<boolean> | null = null
  let retryDelayMs = 0
  /** The store is failing: set at the first failure, cleared (and logged) at the next success. */
  let failingSince: number | null = null
  let droppingLogged = false
  const stats = { written: 0, dropped: 0, failedWrites: 0 }

  /** Arms the timer for `delayMs` from now, unless it is due sooner already. */
  const schedule = (delayMs: number): void => {
    const due = clock.now() + delayMs
    if (timer !== null) {
      if (timerDue <= due) return
      clock.clearTimeout(timer)
    }
    timerDue = due
    timer = clock.setTimeout(() => {
      timer = null
      void writeBatch()
    }, delayMs)
    // A pending write must not keep a Node process alive on its own; shutdown flushes explicitly.
    ;(timer as { unref?: () => void } | null)?.unref?.()
  }

  /** Writes the head of the queue once; resolves `true` when it was written. */
  const writeBatch = (): Promise<boolean> => {
    if (writing !== null) return writing
    if (queue.length === 0) return Promise.resolve(true)
    const batch = queue.slice(0, batchSize)
    const batchEnd = removed + batch.length
    const attempt = (async (): Promise<boolean> => {
      try {
        await options.write(batch)
      } catch (error) {
        stats.failedWrites += 1
        if (failingSince === null) {
          failingSince = clock.now()
          logger.warn(
            { err: error, buffered: queue.length },
            `${what}: the store cannot be written to; keeping them and retrying`
          )
        }
        retryDelayMs =
          retryDelayMs === 0 ? initialRetryDelayMs : Math.min(retryDelayMs * 2, maxRetryDelayMs)
        return false
      }
      // Records dropped meanwhile came off the head: remove only what is still there of this batch.
      const written = Math.max(0, batchEnd - removed)
      queue = queue.slice(written)
      removed += written
      stats.written += batch.length
      retryDelayMs = 0
      if (failingSince !== null) {
        logger.info(
          {
            failedForMs: clock.now() - failingSince,
            dropped: stats.dropped,
            buffered: queue.length,
          },
          `${what}: the store can be written to again`
        )
        failingSince = null
        droppingLogged = false
      }
      return true
    })()
    writing = attempt
    void attempt.then((ok) => {
      writing = null
      if (queue.length === 0) return
      if (!ok) schedule(retryDelayMs)
      else if (queue.length >= batchSize) void writeBatch()
      else schedule(flushIntervalMs)
    })
    return attempt
  }

  return {
    add(record) {
      queue.push(record)
      if (queue.length > maxBuffered) {
        queue.shift()
        removed += 1
        stats.dropped += 1
        if (!droppingLogged) {
          droppingLogged = true
          logger.error(
            { maxBuffered },
            `${what}: the queue is full while the store cannot be written to; dropping the oldest (counted)`
          )
        }
      }
      if (writing !== null) return
      if (queue.length >= batchSize && failingSince === null) void writeBatch()
      else schedule(failingSince === null ? flushIntervalMs : retryDelayMs)
    },
    async flush(flushOptions = {}) {
      const deadline = clock.now() + (flushOptions.deadlineMs ?? Number.POSITIVE_INFINITY)
      if (timer !== null) {
        clock.clearTimeout(timer)
        timer = null
      }
      while (queue.length > 0) {
        const ok = await writeBatch()
        if (ok) continue
        const wait = Math.min(retryDelayMs, deadline - clock.now())
        if (wait <= 0) break
        await new Promise<void>((resolve) => clock.setTimeout(resolve, wait))
        if (timer !== null) {
          clock.clearTimeout(timer)
          timer = null
        }
      }
      return queue.length
    },
    stats: () => ({ buffered: queue.length, ...stats }),
  }
}
