import { describe, expect, it } from 'vitest'
import { GatewayError } from '../../core/errors.ts'
import { parseUsageTime } from './parse-usage-time.ts'

const now = Date.UTC(2026, 2, 15, 12, 30)

describe('parseUsageTime', () => {
  it('reads ISO times with their zone, UTC dates, `now` and durations back from now', () => {
    expect(parseUsageTime('2026-03-01T00:00:00Z', now, 'from')).toBe(Date.UTC(2026, 2, 1))
    expect(parseUsageTime('2026-03-01T02:00:00+02:00', now, 'from')).toBe(Date.UTC(2026, 2, 1))
    expect(parseUsageTime('2026-03-01T00:00:00.250Z', now, 'from')).toBe(Date.UTC(2026, 2, 1) + 250)
    expect(parseUsageTime('2026-03-01', now, 'from')).toBe(Date.UTC(2026, 2, 1))
    expect(parseUsageTime('now', now, 'to')).toBe(now)
    expect(parseUsageTime('7d', now, 'from')).toBe(now - 7 * 86_400_000)
    expect(parseUsageTime('90m', now, 'from')).toBe(now - 5_400_000)
  })

  it('refuses a time without its zone, an impossible date and words, naming the parameter', () => {
    for (const text of [
      '2026-03-01T00:00:00',
      '2026-13-01',
      // Days the month does not have: `Date.parse` would roll them over into the next month.
      '2026-02-30',
      '2026-04-31T00:00:00Z',
      'yesterday',
      '1710000000000',
      '',
    ]) {
      let thrown: unknown
      try {
        parseUsageTime(text, now, 'to')
      } catch (error) {
        thrown = error
      }
      expect(thrown, text).toBeInstanceOf(GatewayError)
      expect((thrown as GatewayError).param).toBe('to')
      expect((thrown as GatewayError).status).toBe(400)
    }
  })
})
