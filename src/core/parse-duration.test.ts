import { describe, expect, it } from 'vitest'
import { parseDuration } from './parse-duration.ts'

describe('parseDuration', () => {
  it('reads a whole number and a unit', () => {
    expect(parseDuration('90s')).toBe(90_000)
    expect(parseDuration('15m')).toBe(900_000)
    expect(parseDuration('12h')).toBe(43_200_000)
    expect(parseDuration('7d')).toBe(604_800_000)
    expect(parseDuration('2w')).toBe(1_209_600_000)
    expect(parseDuration(' 30d ')).toBe(2_592_000_000)
    expect(parseDuration('0s')).toBe(0)
  })

  it('refuses what it would have to guess at', () => {
    for (const text of ['', '7', 'd', '1.5d', '1d12h', '-1d', '7 d', '7D', '7days', '1y', '1e3s'])
      expect(parseDuration(text), text).toBeNull()
  })
})
