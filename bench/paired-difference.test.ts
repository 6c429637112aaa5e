import { describe, expect, it } from 'vitest'
import { formatPairedDifference, pairedDifference } from './paired-difference.ts'

describe('pairedDifference', () => {
  it('takes the rounds pair by pair: a drift both halves share drops out of the differences', () => {
    // The machine slows down over the run; the first target is 2 µs dearer in every round.
    const drift = [100, 110, 125, 140, 160, 185]
    const paired = pairedDifference(
      drift.map((value) => value + 2),
      drift
    )
    expect(paired.differences).toEqual([2, 2, 2, 2, 2, 2])
    expect(paired.mean).toBe(2)
    expect(paired.halfWidth).toBe(0)
  })

  it('gives two standard errors of the mean as the half-width', () => {
    const paired = pairedDifference([3, 5, 1, 7], [0, 0, 0, 0])
    // Mean 4, sample variance ((1 + 1 + 9 + 9) / 3) = 20/3, standard error sqrt(20/3 / 4).
    expect(paired.mean).toBe(4)
    expect(paired.halfWidth).toBeCloseTo(2 * Math.sqrt(20 / 3 / 4), 12)
    expect(formatPairedDifference(paired)).toBe('+4.0 ± 2.6')
  })

  it('has no half-width with one round, and refuses rounds that do not pair', () => {
    expect(pairedDifference([1.5], [3])).toEqual({
      differences: [-1.5],
      mean: -1.5,
      halfWidth: null,
    })
    expect(formatPairedDifference(pairedDifference([1.5], [3]))).toBe('-1.5')
    expect(() => pairedDifference([1, 2], [1])).toThrow(/paired rounds/)
    expect(() => pairedDifference([], [])).toThrow(/paired rounds/)
  })
})
