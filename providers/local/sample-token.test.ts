import { describe, expect, it } from 'vitest'
import { createSeededRandom } from './create-seeded-random.ts'
import { sampleToken } from './sample-token.ts'

/** Logits whose softmax is `probabilities` (at temperature 1). */
const logitsOf = (probabilities: number[]): Float32Array =>
  Float32Array.from(probabilities, (probability) =>
    probability === 0 ? Number.NEGATIVE_INFINITY : Math.log(probability)
  )

/** How often each token is drawn in `draws` samples. */
const frequencies = (
  logits: Float32Array,
  settings: { temperature: number; topK: number; topP: number },
  draws = 20_000
): number[] => {
  const random = createSeededRandom(123)
  const counts = new Array<number>(logits.length).fill(0)
  for (let draw = 0; draw < draws; draw += 1)
    counts[sampleToken(logits, { ...settings, random })] += 1
  return counts.map((count) => count / draws)
}

const probabilities = [0.05, 0.4, 0.3, 0.15, 0.1]
const logits = logitsOf(probabilities)

describe('sampleToken', () => {
  it('is greedy at temperature 0, whatever the generator says', () => {
    expect(sampleToken(logits, { temperature: 0, topK: 0, topP: 1, random: () => 0.99 })).toBe(1)
  })

  it('draws each token with its probability at temperature 1', () => {
    const drawn = frequencies(logits, { temperature: 1, topK: 0, topP: 1 })
    drawn.forEach((frequency, index) => expect(frequency).toBeCloseTo(probabilities[index], 1.5))
  })

  it('sharpens with a low temperature and flattens with a high one', () => {
    const cold = frequencies(logits, { temperature: 0.25, topK: 0, topP: 1 })
    const hot = frequencies(logits, { temperature: 2, topK: 0, topP: 1 })
    expect(cold[1]).toBeGreaterThan(0.7)
    expect(hot[1]).toBeLessThan(0.4)
    expect(hot[0]).toBeGreaterThan(0.05)
  })

  it('keeps the k most likely with top_k, renormalised', () => {
    const drawn = frequencies(logits, { temperature: 1, topK: 2, topP: 1 })
    expect(drawn[0] + drawn[3] + drawn[4]).toBe(0)
    expect(drawn[1]).toBeCloseTo(0.4 / 0.7, 1.5)
  })

  it('keeps the smallest set reaching top_p, after top_k', () => {
    // 0.4 + 0.3 = 0.7 reaches 0.65: tokens 1 and 2 only.
    const drawn = frequencies(logits, { temperature: 1, topK: 0, topP: 0.65 })
    expect(drawn[0] + drawn[3] + drawn[4]).toBe(0)
    expect(drawn[2]).toBeCloseTo(0.3 / 0.7, 1.5)
    // A set that reaches it exactly stops there: 0.4 + 0.3 + 0.15 = 0.85.
    const exact = frequencies(logits, { temperature: 1, topK: 0, topP: 0.85 })
    expect(exact[0] + exact[4]).toBe(0)
    expect(exact[3]).toBeGreaterThan(0.1)
    // top_k 1 leaves one token, whatever top_p.
    expect(frequencies(logits, { temperature: 1, topK: 1, topP: 0.5 })[1]).toBe(1)
  })

  it('matches a full sort on a large vocabulary, where only the likely tokens are sorted', () => {
    const random = createSeededRandom(5)
    const large = Float32Array.from({ length: 20_000 }, () => random() * 12 - 6)
    const order = Array.from(large.keys()).sort((a, b) => large[b] - large[a])
    const max = large[order[0]]
    const weights = order.map((index) => Math.exp(large[index] - max))
    const total = weights.reduce((sum, weight) => sum + weight, 0)
    let cumulative = 0
    const kept = new Set<number>()
    for (const [position, index] of order.entries()) {
      kept.add(index)
      cumulative += weights[position]
      if (cumulative >= 0.9 * total) break
    }
    const draws = createSeededRandom(9)
    const drawn = Array.from({ length: 300 }, () =>
      sampleToken(large, { temperature: 1, topK: 0, topP: 0.9, random: draws })
    )
    expect(drawn.filter((index) => !kept.has(index))).toEqual([])
    // Right at the cut: 0.45 + 0.4499 falls short of 0.9, so the 0.05 token is kept and the 1,997 others are not.
    const cut = logitsOf([0.45, 0.4499, 0.05, ...new Array<number>(1_997).fill(0.0501 / 1_997)])
    const atCut = frequencies(cut, { temperature: 1, topK: 0, topP: 0.9 }, 4_000)
    expect(atCut[2]).toBeCloseTo(0.05 / 0.9499, 1.5)
    expect(atCut.slice(3).every((frequency) => frequency === 0)).toBe(true)
  })

  it('never draws a token ruled out with -Infinity', () => {
    const ruledOut = logitsOf([0.5, 0, 0.5, 0])
    const drawn = frequencies(ruledOut, { temperature: 1.5, topK: 0, topP: 1 }, 5_000)
    expect(drawn[1] + drawn[3]).toBe(0)
  })
})

describe('createSeededRandom', () => {
  it('repeats its sequence for a seed, differs across seeds (beyond 32 bits too), stays in [0, 1)', () => {
    const take = (seed: number): number[] => {
      const random = createSeededRandom(seed)
      return Array.from({ length: 1_000 }, () => random())
    }
    expect(take(42)).toEqual(take(42))
    expect(take(42)).not.toEqual(take(43))
    expect(take(2 ** 40)).not.toEqual(take(0))
    expect(take(-1)).not.toEqual(take(1))
    const values = take(7)
    expect(values.every((value) => value >= 0 && value < 1)).toBe(true)
    const mean = values.reduce((sum, value) => sum + value, 0) / values.length
    expect(mean).toBeGreaterThan(0.45)
    expect(mean).toBeLessThan(0.55)
  })
})
