import { describe, expect, it } from 'vitest'
import { budgetPeriodBounds } from './budget-period-bounds.ts'

const utc = (iso: string): number => Date.parse(iso)

describe('budgetPeriodBounds', () => {
  it('gives the UTC day, ISO week (Monday to Sunday) and calendar month around an instant', () => {
    const now = utc('2026-03-01T23:59:59.999Z') // a Sunday, the last instant of the day
    expect(budgetPeriodBounds('day', now)).toEqual({
      period: 'day',
      key: 'day:2026-03-01',
      start: utc('2026-03-01T00:00:00Z'),
      end: utc('2026-03-02T00:00:00Z'),
    })
    expect(budgetPeriodBounds('week', now)).toEqual({
      period: 'week',
      key: 'week:2026-02-23',
      start: utc('2026-02-23T00:00:00Z'),
      end: utc('2026-03-02T00:00:00Z'),
    })
    expect(budgetPeriodBounds('month', now)).toEqual({
      period: 'month',
      key: 'month:2026-03',
      start: utc('2026-03-01T00:00:00Z'),
      end: utc('2026-04-01T00:00:00Z'),
    })
    expect(budgetPeriodBounds('total', now)).toEqual({
      period: 'total',
      key: 'total',
      start: null,
      end: null,
    })
  })

  it('starts the next period at the boundary itself', () => {
    const monday = utc('2026-03-02T00:00:00Z')
    expect(budgetPeriodBounds('week', monday).key).toBe('week:2026-03-02')
    expect(budgetPeriodBounds('week', monday - 1).key).toBe('week:2026-02-23')
    expect(budgetPeriodBounds('month', utc('2026-02-01T00:00:00Z')).key).toBe('month:2026-02')
    expect(budgetPeriodBounds('month', utc('2026-01-31T23:59:59.999Z')).key).toBe('month:2026-01')
  })

  it('crosses years, leap days and weeks that straddle a new year', () => {
    expect(budgetPeriodBounds('month', utc('2028-02-29T12:00:00Z'))).toMatchObject({
      start: utc('2028-02-01T00:00:00Z'),
      end: utc('2028-03-01T00:00:00Z'),
    })
    expect(budgetPeriodBounds('month', utc('2026-12-31T23:00:00Z')).end).toBe(
      utc('2027-01-01T00:00:00Z')
    )
    // 2027-01-01 is a Friday: its week began on Monday 2026-12-28.
    expect(budgetPeriodBounds('week', utc('2027-01-01T08:00:00Z'))).toMatchObject({
      key: 'week:2026-12-28',
      end: utc('2027-01-04T00:00:00Z'),
    })
  })
})

describe('budgetPeriodBounds, asked in any order', () => {
  it('answers each time with the period that holds it, across boundaries and back', () => {
    const january = Date.UTC(2026, 0, 31, 23, 59, 59, 999)
    const february = Date.UTC(2026, 1, 1)
    for (const now of [january, february, january, february + 1, january - 1])
      expect(budgetPeriodBounds('month', now).key).toBe(
        now < february ? 'month:2026-01' : 'month:2026-02'
      )
    expect(budgetPeriodBounds('day', february).key).toBe('day:2026-02-01')
    expect(budgetPeriodBounds('day', january).key).toBe('day:2026-01-31')
    expect(budgetPeriodBounds('total', january)).toEqual(budgetPeriodBounds('total', february))
  })
})
