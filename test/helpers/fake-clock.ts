/**
 * A clock whose time moves only when a test says so, so retries, timeouts and breaker windows run instantly and
 * deterministically. Callbacks run in due order; pending promise callbacks are flushed between them.
 */
import type { Clock } from '../../src/core/clock.ts'

export type FakeClock = Clock & {
  /** Moves time forward by `ms`, firing every timer due on the way. */
  advance(ms: number): Promise<void>
  /**
   * Fires timers in order until `promise` settles, then returns (or throws) its outcome. Fails when nothing is left
   * to fire (the code under test is stuck) or after `limitMs` of fake time.
   */
  settle<T>(promise: Promise<T>, limitMs?: number): Promise<T>
  /** Timers scheduled and not yet fired or cleared. */
  pendingTimers(): number
}

type Timer = { id: number; at: number; callback: () => void }

/** Lets every queued promise callback (and stream internals) run. */
export const flushPromises = async (): Promise<void> => {
  for (let round = 0; round < 3; round += 1)
    await new Promise<void>((resolve) => setImmediate(resolve))
}

export const createFakeClock = (start = Date.UTC(2026, 0, 1)): FakeClock => {
  let now = start
  let nextId = 1
  let timers: Timer[] = []

  const nextDue = (): Timer | undefined =>
    timers.reduce<Timer | undefined>(
      (best, timer) => (best === undefined || timer.at < best.at ? timer : best),
      undefined
    )
  const fire = (timer: Timer): void => {
    timers = timers.filter((item) => item !== timer)
    now = Math.max(now, timer.at)
    timer.callback()
  }

  return {
    now: () => now,
    setTimeout: (callback, ms) => {
      const timer = { id: nextId++, at: now + Math.max(0, ms), callback }
      timers.push(timer)
      return timer.id
    },
    clearTimeout: (handle) => {
      timers = timers.filter((timer) => timer.id !== handle)
    },
    pendingTimers: () => timers.length,
    advance: async (ms) => {
      const target = now + ms
      for (;;) {
        await flushPromises()
        const timer = nextDue()
        if (timer === undefined || timer.at > target) break
        fire(timer)
      }
      now = target
      await flushPromises()
    },
    settle: async <T>(promise: Promise<T>, limitMs = 3_600_000): Promise<T> => {
      const limit = now + limitMs
      let settled = false
      const observed = promise.then(
        (value) => {
          settled = true
          return value
        },
        (error: unknown) => {
          settled = true
          throw error
        }
      )
      observed.catch(() => {})
      for (;;) {
        await flushPromises()
        if (settled) return observed
        const timer = nextDue()
        if (timer === undefined)
          throw new Error('fake clock: the promise is stuck and no timer is pending')
        if (timer.at > limit)
          throw new Error(`fake clock: the promise did not settle within ${limitMs} ms`)
        fire(timer)
      }
    },
  }
}
