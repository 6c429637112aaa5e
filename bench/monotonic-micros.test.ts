import { describe, expect, it } from 'vitest'
import { monotonicMicros } from './monotonic-micros.ts'

describe('monotonicMicros', () => {
  it('reads the shared monotonic clock, within the bracket of two direct readings', () => {
    // Best of several tries: this process may be descheduled between readings too.
    let closest = Number.POSITIVE_INFINITY
    for (let attempt = 0; attempt < 20; attempt += 1) {
      const before = Number(process.hrtime.bigint() / 1_000n)
      const reading = monotonicMicros()
      const after = Number(process.hrtime.bigint() / 1_000n)
      const outside = Math.max(before - reading, reading - after, 0)
      closest = Math.min(closest, outside)
    }
    expect(closest).toBeLessThanOrEqual(5)
  })
})
