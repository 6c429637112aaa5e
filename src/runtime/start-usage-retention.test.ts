import { describe, expect, it } from 'vitest'
import { createFakeClock, flushPromises } from '../../test/helpers/fake-clock.ts'
import { createRecordingLogger } from '../../test/helpers/fake-deps.ts'
import { startUsageRetention, type UsagePruner } from './start-usage-retention.ts'

const hour = 3_600_000
const day = 86_400_000
const now = Date.UTC(2026, 5, 15, 13, 30)

type Call = { what: 'events' | 'hourly'; olderThan: number; limit: number | undefined }

/**
 * A pruner over in-memory times, keeping the store's slice contract: at most `limit` events per call; whole hours of
 * roll-up rows, oldest first, at least `limit` unless fewer are left.
 */
const memoryPruner = (seed: { events: number[]; hourly: number[] }) => {
  const state = { events: [...seed.events], hourly: [...seed.hourly].sort((a, b) => a - b) }
  const calls: Call[] = []
  let failNext: Error | null = null
  let gate: Promise<void> | null = null
  const pruner: UsagePruner = {
    async pruneEvents(olderThan, limit = Infinity) {
      calls.push({ what: 'events', olderThan, limit })
      if (gate !== null) await gate
      if (failNext !== null) {
        const error = failNext
        failNext = null
        throw error
      }
      const doomed = state.events.filter((time) => time < olderThan).slice(0, limit)
      state.events = state.events.filter((time) => !doomed.includes(time))
      return doomed.length
    },
    async pruneHourlyRollups(olderThan, limit = Infinity) {
      calls.push({ what: 'hourly', olderThan, limit })
      const older = state.hourly.filter((time) => time < olderThan)
      const bound = older.length >= limit ? older[limit - 1] : olderThan - 1
      const before = state.hourly.length
      state.hourly = state.hourly.filter((time) => time >= olderThan || time > bound)
      return before - state.hourly.length
    },
  }
  return {
    pruner,
    state,
    calls,
    failOnce: (error: Error) => {
      failNext = error
    },
    hold: () => {
      let release = (): void => {}
      gate = new Promise<void>((resolve) => {
        release = () => {
          gate = null
          resolve()
        }
      })
      return release
    },
  }
}

const setup = (
  seed: { events: number[]; hourly: number[] },
  options: { eventsDays?: number | null; hourlyDays?: number | null } = {}
) => {
  const clock = createFakeClock(now)
  const logger = createRecordingLogger()
  const memory = memoryPruner(seed)
  const retention = startUsageRetention({
    store: memory.pruner,
    clock,
    logger,
    eventsDays: options.eventsDays === undefined ? 90 : options.eventsDays,
    hourlyDays: options.hourlyDays === undefined ? 400 : options.hourlyDays,
    sliceSize: 3,
  })
  return { clock, logger, retention, ...memory }
}

/** `count` distinct times, an hour apart, ending at `newest`. */
const timesUpTo = (newest: number, count: number): number[] =>
  Array.from({ length: count }, (_, index) => newest - index * hour)

describe('startUsageRetention', () => {
  it('prunes once at start, off the start path, with cutoffs from the clock, and logs one line with the counts', async () => {
    const oldEvents = timesUpTo(now - 91 * day, 7)
    const oldHours = timesUpTo(now - 401 * day, 4)
    const { clock, logger, state, calls, retention } = setup({
      events: [...oldEvents, now - 89 * day, now - hour],
      hourly: [...oldHours, now - 399 * day],
    })
    // Nothing ran while starting: the first run is a timer.
    expect(calls).toEqual([])
    await clock.advance(0)

    // Events: exactly 90 days back. Hourly roll-ups: 400 days back, rounded down to a UTC midnight.
    const eventsCutoff = now - 90 * day
    const hourlyCutoff = Date.UTC(2025, 4, 11)
    expect(hourlyCutoff).toBe(Math.floor((now - 400 * day) / day) * day)
    // Slices of 3 until a short one: 3, 3, 1 events; 3, 1 hourly rows.
    expect(calls).toEqual([
      ...[1, 2, 3].map(() => ({ what: 'events', olderThan: eventsCutoff, limit: 3 })),
      ...[1, 2].map(() => ({ what: 'hourly', olderThan: hourlyCutoff, limit: 3 })),
    ])
    expect(state.events).toEqual([now - 89 * day, now - hour])
    expect(state.hourly).toEqual([now - 399 * day])
    const lines = logger.lines.filter((line) => line.message.startsWith('usage retention'))
    expect(lines).toEqual([
      {
        level: 'info',
        message: 'usage retention: pruned',
        fields: {
          events: 7,
          hourlyRollups: 4,
          eventsBefore: new Date(eventsCutoff).toISOString(),
          hourlyRollupsBefore: new Date(hourlyCutoff).toISOString(),
          ms: 0,
        },
      },
    ])
    await retention.close()
  })

  it('runs again every hour, logs only runs that deleted something, and stops when closed', async () => {
    const { clock, logger, state, calls, retention } = setup({ events: [], hourly: [] })
    await clock.advance(0)
    expect(calls).toHaveLength(2)
    expect(logger.lines).toEqual([])

    // An event crosses the 90-day line during the next hour.
    state.events.push(now - 90 * day + 30 * 60_000)
    await clock.advance(hour - 1)
    expect(calls).toHaveLength(2)
    await clock.advance(1)
    expect(calls).toHaveLength(4)
    expect(calls[2]).toEqual({ what: 'events', olderThan: now + hour - 90 * day, limit: 3 })
    expect(state.events).toEqual([])
    expect(logger.lines.map((line) => line.fields.events)).toEqual([1])

    await retention.close()
    expect(clock.pendingTimers()).toBe(0)
    await clock.advance(5 * hour)
    expect(calls).toHaveLength(4)
  })

  it('logs a failure, never throws, and tries again at the next run', async () => {
    const { clock, logger, state, failOnce, retention } = setup({
      events: [now - 100 * day],
      hourly: [now - 500 * day],
    })
    failOnce(new Error('database is locked'))
    await clock.advance(0)
    expect(logger.lines).toEqual([
      expect.objectContaining({
        level: 'error',
        message: 'usage retention: pruning raw events failed',
      }),
      // The hourly roll-ups are pruned all the same.
      expect.objectContaining({ level: 'info', fields: expect.objectContaining({ events: 0 }) }),
    ])
    expect((logger.lines[0].fields.err as Error).message).toBe('database is locked')
    expect(state.events).toHaveLength(1)
    expect(state.hourly).toEqual([])

    await clock.advance(hour)
    expect(state.events).toEqual([])
    expect(logger.lines.at(-1)).toMatchObject({ level: 'info', fields: { events: 1 } })
    await retention.close()
  })

  it('waits for the slice in flight when closed, and deletes no further slice', async () => {
    const { clock, state, calls, hold, retention } = setup({
      events: timesUpTo(now - 100 * day, 9),
      hourly: [],
    })
    const release = hold()
    await clock.advance(0)
    expect(calls).toHaveLength(1)
    let closed = false
    const closing = retention.close().then(() => {
      closed = true
    })
    await flushPromises()
    expect(closed).toBe(false)
    release()
    await closing
    // The first slice finished; the six events after it wait for the next start.
    expect(calls).toHaveLength(1)
    expect(state.events).toHaveLength(6)
    expect(clock.pendingTimers()).toBe(0)
  })

  it('keeps everything with `forever`: no run, no timer', async () => {
    const { clock, calls, retention } = setup(
      { events: [now - 9_000 * day], hourly: [now - 9_000 * day] },
      { eventsDays: null, hourlyDays: null }
    )
    expect(clock.pendingTimers()).toBe(0)
    await clock.advance(10 * hour)
    expect(calls).toEqual([])
    await retention.close()
  })

  it('prunes only what has a retention: raw events forever, hourly roll-ups not', async () => {
    const { clock, calls, state, retention } = setup(
      { events: [now - 9_000 * day], hourly: [now - 9_000 * day] },
      { eventsDays: null }
    )
    await clock.advance(0)
    expect(calls.map((call) => call.what)).toEqual(['hourly'])
    expect(state).toEqual({ events: [now - 9_000 * day], hourly: [] })
    await retention.close()
  })

  it('also deletes expired stored responses, a slice at a time, and counts them in its line', async () => {
    const clock = createFakeClock(Date.UTC(2026, 11, 3))
    const logger = createRecordingLogger()
    const slices: { now: number; limit: number | undefined }[] = []
    let left = 5
    const retention = startUsageRetention({
      store: { pruneEvents: async () => 0, pruneHourlyRollups: async () => 0 },
      clock,
      logger,
      eventsDays: null,
      hourlyDays: null,
      sliceSize: 2,
      responses: {
        pruneExpired: async (now, limit) => {
          slices.push({ now, limit })
          const deleted = Math.min(left, limit ?? left)
          left -= deleted
          return deleted
        },
      },
    })
    const run = await retention.runNow()
    expect(run.responses).toBe(5)
    expect(slices).toEqual([2, 2, 2].map(() => ({ now: clock.now(), limit: 2 })))
    expect(
      logger.lines.find((line) => line.message === 'usage retention: pruned')?.fields
    ).toMatchObject({
      events: 0,
      hourlyRollups: 0,
      responses: 5,
    })
    await retention.close()
  })
})
