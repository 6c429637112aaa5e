import { describe, expect, it } from 'vitest'
import { timeOrderedId } from './time-ordered-id.ts'

describe('timeOrderedId', () => {
  it('is a version 7 UUID whose first 48 bits are the time', () => {
    const now = Date.UTC(2026, 11, 2, 19, 40)
    const id = timeOrderedId(now)
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
    expect(Number.parseInt(id.replace(/-/g, '').slice(0, 12), 16)).toBe(now)
  })

  it('sorts by time, and differs within the same millisecond', () => {
    const ids = [1, 2, 3, 1_000_000].map((offset) => timeOrderedId(Date.UTC(2026, 0, 1) + offset))
    expect([...ids].sort()).toEqual(ids)
    const same = new Set(Array.from({ length: 1_000 }, () => timeOrderedId(Date.UTC(2026, 0, 1))))
    expect(same.size).toBe(1_000)
  })
})
