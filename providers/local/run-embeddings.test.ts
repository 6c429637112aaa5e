/**
 * The batching plan of an embeddings request: as few forward passes as the bound allows, each padding little (inputs
 * sorted by length), every input in exactly one, and an input longer than the bound alone in its own.
 */
import { describe, expect, it } from 'vitest'
import { planBatches } from './run-embeddings.ts'

describe('planBatches', () => {
  it('groups inputs longest first within the padded-token bound, each input once', () => {
    const lengths = [3, 10, 7, 10, 2, 9]
    const batches = planBatches(lengths, 30)
    expect(batches).toEqual([
      [1, 3, 5],
      [2, 0, 4],
    ])
    for (const batch of batches) {
      const padded = batch.length * Math.max(...batch.map((index) => lengths[index]))
      expect(padded).toBeLessThanOrEqual(30)
    }
    expect(batches.flat().sort()).toEqual([0, 1, 2, 3, 4, 5])
  })

  it('puts an input longer than the bound alone, and sixteen short inputs in one pass', () => {
    expect(planBatches([50, 5, 5], 30)).toEqual([[0], [1, 2]])
    expect(planBatches(Array.from({ length: 16 }, () => 32))).toHaveLength(1)
    expect(planBatches([])).toEqual([])
  })
})
