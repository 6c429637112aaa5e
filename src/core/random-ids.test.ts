import { describe, expect, it } from 'vitest'
import { randomFromAlphabet, randomHex, takeRandomBytes } from './random-ids.ts'

describe('random ids', () => {
  it('gives hex digits, two per byte, different every time, across refills of the pool', () => {
    const seen = new Set<string>()
    // 600 × 24 bytes: several refills of the 4 KiB pool.
    for (let index = 0; index < 600; index += 1) {
      const id = randomHex(24)
      expect(id).toMatch(/^[0-9a-f]{48}$/)
      seen.add(id)
    }
    expect(seen.size).toBe(600)
  })

  it('uses every hex digit in every position, about evenly', () => {
    const counts = new Map<string, number>()
    for (let index = 0; index < 2_000; index += 1)
      for (const digit of randomHex(8)) counts.set(digit, (counts.get(digit) ?? 0) + 1)
    expect(counts.size).toBe(16)
    // 32,000 digits: 2,000 of each expected; far outside chance below 1,700 or above 2,300.
    for (const count of counts.values()) expect(count).toBeGreaterThan(1_700)
    for (const count of counts.values()) expect(count).toBeLessThan(2_300)
  })

  it('draws from the alphabet given', () => {
    expect(randomFromAlphabet(200, 'ab')).toMatch(/^[ab]{200}$/)
    expect(new Set(randomFromAlphabet(200, 'ab')).size).toBe(2)
  })

  it('never hands out the same bytes twice before a refill', () => {
    const starts = new Set<number>()
    let previous = takeRandomBytes(10)
    for (let index = 0; index < 50; index += 1) {
      const at = takeRandomBytes(10)
      if (at > previous) break // refilled
      expect(at).toBe(previous - 10)
      expect(starts.has(at)).toBe(false)
      starts.add(at)
      previous = at
    }
  })
})
