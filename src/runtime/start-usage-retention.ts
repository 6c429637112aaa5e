/**
 * Usage retention on Node: deletes raw usage events older than `usage.retentionDays` and hourly roll-ups older than
 * `usage.hourlyRetentionDays` (the daily roll-ups are kept for good), and stored Responses API responses past their
 * expiry (they already read as absent), once soon after start and then every hour.
 *
 * It never holds anything up: the first run is a timer, not part of the start; each run deletes a slice at a time
 * (`UsageStore.pruneEvents` / `pruneHourlyRollups` with a limit), so no statement holds locks for long and shutdown
 * waits for one slice at most; the timer does not keep the process alive. A run that deleted anything logs one line
 * with the counts; a failure is logged and the next run tries again. Several processes on one database each prune:
 * the deletes are idempotent, so they only share the work.
 */
import type { Clock } from '../core/clock.ts'
import type { Logger } from '../core/logger.ts'
import type { ResponseStore } from '../stores/response-store.ts'
import type { Closable } from '../stores/types.ts'
import type { UsageStore } from '../stores/usage-store.ts'

const dayMs = 86_400_000

export type UsagePruner = Pick<UsageStore, 'pruneEvents' | 'pruneHourlyRollups'>

export type UsageRetentionOptions = {
  /** On SQLite the usage writer's thread, so the deletes do not hold the event loop; on PostgreSQL the store. */
  store: UsagePruner
  clock: Clock
  logger: Logger
  /** Days raw events are kept; `null`: for good. */
  eventsDays: number | null
  /** Days hourly roll-ups are kept; `null`: for good. */
  hourlyDays: number | null
  /** Stored responses, whose expired entries go too. */
  responses?: Pick<ResponseStore, 'pruneExpired'>
  /** Between the end of one run and the start of the next (default one hour). */
  intervalMs?: number
  /** Rows per delete statement (default 5,000). */
  sliceSize?: number
}

export type UsageRetentionRun = {
  /** Raw events and hourly roll-up rows deleted by the run. */
  events: number
  hourlyRollups: number
  /** Expired stored responses deleted. */
  responses: number
  /** Whether a prune failed (and was logged). */
  failed: boolean
}

export type UsageRetention = Closable & {
  /** Runs a prune now (after the one in progress, if any); resolves with what it deleted. */
  runNow(): Promise<UsageRetentionRun>
}

export const startUsageRetention = (options: UsageRetentionOptions): UsageRetention => {
  const { store, clock, logger, eventsDays, hourlyDays } = options
  const intervalMs = options.intervalMs ?? 3_600_000
  const sliceSize = options.sliceSize ?? 5_000
  let stopped = false
  let timer: unknown = null
  let running: Promise<UsageRetentionRun> | null = null

  const prune = async (): Promise<UsageRetentionRun> => {
    const startedAt = clock.now()
    const run: UsageRetentionRun = { events: 0, hourlyRollups: 0, responses: 0, failed: false }
    const fields: Record<string, unknown> = {}
    const attempt = async (
      what: 'events' | 'hourlyRollups' | 'responses',
      days: number | null,
      slice: (olderThan: number, limit: number) => Promise<number>,
      roundTo: number
    ): Promise<void> => {
      if (days === null) return
      // Hourly roll-ups go by whole UTC days, so a day is never half in the hourly table.
      const cutoff = startedAt - days * dayMs
      const olderThan = cutoff - (((cutoff % roundTo) + roundTo) % roundTo)
      try {
        // Slice after slice until a short one says nothing older is left, or until closed.
        while (!stopped) {
          const deleted = await slice(olderThan, sliceSize)
          run[what] += deleted
          if (deleted < sliceSize) break
        }
      } catch (error) {
        if (stopped) return // the database closed under a slice at shutdown: nothing to report
        run.failed = true
        logger.error(
          { err: error, [what]: run[what], before: new Date(olderThan).toISOString() },
          `usage retention: pruning ${what === 'events' ? 'raw events' : what === 'responses' ? 'expired responses' : 'hourly roll-ups'} failed`
        )
        return
      }
      if (run[what] > 0 && what !== 'responses')
        fields[`${what}Before`] = new Date(olderThan).toISOString()
    }
    await attempt(
      'events',
      eventsDays,
      (olderThan, limit) => store.pruneEvents(olderThan, limit),
      1
    )
    await attempt(
      'hourlyRollups',
      hourlyDays,
      (olderThan, limit) => store.pruneHourlyRollups(olderThan, limit),
      dayMs
    )
    const responses = options.responses
    if (responses !== undefined)
      await attempt('responses', 0, (now, limit) => responses.pruneExpired(now, limit), 1)
    if (run.events + run.hourlyRollups + run.responses > 0)
      logger.info(
        {
          events: run.events,
          hourlyRollups: run.hourlyRollups,
          ...(responses === undefined ? {} : { responses: run.responses }),
          ...fields,
          ms: clock.now() - startedAt,
        },
        'usage retention: pruned'
      )
    return run
  }

  const runNow = (): Promise<UsageRetentionRun> => {
    const previous = running ?? Promise.resolve(null)
    const next = previous.then(prune)
    running = next
    void next.finally(() => {
      if (running === next) running = null
    })
    return next
  }

  const schedule = (delayMs: number): void => {
    if (stopped) return
    timer = clock.setTimeout(() => {
      timer = null
      void runNow().then(() => schedule(intervalMs))
    }, delayMs)
    // Retention must not keep a Node process alive on its own.
    ;(timer as { unref?: () => void } | null)?.unref?.()
  }

  if (eventsDays !== null || hourlyDays !== null || options.responses !== undefined) schedule(0)

  return {
    name: 'usage retention',
    runNow,
    close: async () => {
      stopped = true
      if (timer !== null) clock.clearTimeout(timer)
      timer = null
      await running?.catch(() => {})
    },
  }
}
