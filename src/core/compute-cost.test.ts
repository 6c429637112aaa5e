import { describe, expect, it } from 'vitest'
import { createPriceTable, type ModelPrice } from '../../config/price-table.ts'
import { convertAnthropicUsage } from '../../providers/anthropic/convert-anthropic-usage.ts'
import { convertOpenAIUsage } from '../../providers/openai/convert-openai-usage.ts'
import type { Usage } from '../../providers/spec/chat-types.ts'
import { computeCost, worstCaseCost } from './compute-cost.ts'

const prices = createPriceTable({
  providers: { openai: { type: 'openai' }, anthropic: { type: 'anthropic' } },
})
const openai = (model: string): ModelPrice | null => prices.priceFor('openai', model)
const anthropic = (model: string): ModelPrice | null => prices.priceFor('anthropic', model)

const openaiUsage = (wire: unknown): Usage => {
  const usage = convertOpenAIUsage(wire)
  if (!usage) throw new Error('not a usage object')
  return usage
}

const usage = (counts: Partial<Usage>): Usage => ({
  inputTokens: null,
  outputTokens: null,
  cachedInputTokens: null,
  cacheWriteInputTokens: null,
  reasoningTokens: null,
  ...counts,
})

type Case = [input: number, output: number, price: { input: number; output: number }]

/**
 * A cost in BigInt, written out apart from the code under test (rates in 10⁻⁶ USD per million tokens), rounded by
 * adding `roundUp` scaled units before the division: half up for `computeCost`, up for `worstCaseCost`. A cost past
 * the safe integers cannot be stored as one: unknown, never a rounded figure.
 */
const exactMicroUsd = ([input, output, price]: Case, roundUp: bigint): number | null => {
  const total =
    BigInt(input) * BigInt(Math.round(price.input * 1e6)) +
    BigInt(output) * BigInt(Math.round(price.output * 1e6))
  const micro = (total + roundUp) / 1_000_000n
  return micro <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(micro) : null
}

/** `cases`, then 200 more drawn from a seeded generator: counts and rates as large as real ones get. */
const withDrawnCases = (cases: Case[], seed: number): Case[] => {
  let state = seed
  const next = (bound: number): number => {
    state = (state * 1_103_515_245 + 12_345) % 2_147_483_648
    return Math.floor((state / 2_147_483_648) * bound)
  }
  for (let index = 0; index < 200; index += 1)
    cases.push([
      next(2_000_000_000),
      next(50_000_000),
      { input: next(200_000_000) / 1e6, output: next(600_000_000) / 1e6 },
    ])
  return cases
}

/** Products just under and just over 2^53 (9,007,199,254,740,992) in scaled units, and past the safe integers. */
const edgeCases: Case[] = [
  [9_007_199_254, 0, { input: 1, output: 1 }],
  [9_007_199_255, 0, { input: 1, output: 1 }],
  [4_503_599_627, 4_503_599_627, { input: 1, output: 1 }],
  [Number.MAX_SAFE_INTEGER, 0, { input: 0.000001, output: 0 }],
  [Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER, { input: 150, output: 600 }],
]

describe('computeCost on real usages', () => {
  it('OpenAI: prompt_tokens include the cached ones, which are billed at the cached rate', () => {
    const wire = {
      prompt_tokens: 2000,
      completion_tokens: 300,
      total_tokens: 2300,
      prompt_tokens_details: { cached_tokens: 1500, audio_tokens: 0 },
      completion_tokens_details: { reasoning_tokens: 0 },
    }
    // gpt-4o: 500 × $2.50 + 1500 × $1.25 + 300 × $10 per million = 1250 + 1875 + 3000 µUSD
    expect(computeCost(openaiUsage(wire), openai('gpt-4o'))).toBe(6125)
  })

  it('Anthropic: input_tokens exclude cache reads and writes, each billed at its own rate', () => {
    const converted = convertAnthropicUsage({
      input_tokens: 50,
      cache_read_input_tokens: 10_000,
      cache_creation_input_tokens: 2000,
      output_tokens: 400,
    })
    expect(converted.inputTokens).toBe(12_050)
    // Sonnet 4.5: 50 × $3 + 10,000 × $0.30 + 2000 × $3.75 + 400 × $15 = 150 + 3000 + 7500 + 6000
    expect(computeCost(converted, anthropic('claude-sonnet-4-5-20250929'))).toBe(16_650)
  })

  it('Anthropic: 1-hour cache writes cost more than 5-minute ones when the split is known', () => {
    const converted = convertAnthropicUsage({
      input_tokens: 50,
      cache_read_input_tokens: 10_000,
      cache_creation_input_tokens: 2000,
      output_tokens: 400,
    })
    // 1500 × $3.75 + 500 × $6 instead of 2000 × $3.75
    const cost = computeCost(
      { ...converted, cacheWrite1hInputTokens: 500 },
      anthropic('claude-sonnet-4-5')
    )
    expect(cost).toBe(150 + 3000 + 5625 + 3000 + 6000)
    expect(
      computeCost({ ...converted, cacheWrite1hInputTokens: 2001 }, anthropic('claude-sonnet-4-5'))
    ).toBe(null)
  })

  it('reasoning tokens are part of the output and billed once', () => {
    const wire = {
      prompt_tokens: 1000,
      completion_tokens: 5000,
      prompt_tokens_details: { cached_tokens: 0 },
      completion_tokens_details: { reasoning_tokens: 4000 },
    }
    const reasoned = openaiUsage(wire)
    expect(reasoned.reasoningTokens).toBe(4000)
    // o3: 1000 × $2 + 5000 × $8
    expect(computeCost(reasoned, openai('o3-2025-04-16'))).toBe(42_000)
    expect(computeCost({ ...reasoned, reasoningTokens: null }, openai('o3'))).toBe(42_000)

    const thinking = convertAnthropicUsage({
      input_tokens: 100,
      cache_read_input_tokens: 0,
      cache_creation_input_tokens: 0,
      output_tokens: 300,
      output_tokens_details: { thinking_tokens: 200 },
    })
    // Opus 4.1: 100 × $15 + 300 × $75
    expect(computeCost(thinking, anthropic('claude-opus-4-1-20250805'))).toBe(1500 + 22_500)
  })

  it('embeddings have no output tokens: an unreported output count costs nothing', () => {
    const embedded = openaiUsage({ prompt_tokens: 1000, total_tokens: 1000 })
    expect(embedded.outputTokens).toBeNull()
    expect(computeCost(embedded, openai('text-embedding-3-small'))).toBe(20)
    expect(computeCost(embedded, openai('text-embedding-3-large'))).toBe(130)
  })

  it('bills a whole request over 200K input tokens at Sonnet 4 long-context rates', () => {
    const sonnet = anthropic('claude-sonnet-4-20250514')
    const at = (inputTokens: number) =>
      computeCost(
        usage({ inputTokens, outputTokens: 1000, cachedInputTokens: 0, cacheWriteInputTokens: 0 }),
        sonnet
      )
    expect(at(200_000)).toBe(200_000 * 3 + 1000 * 15)
    expect(at(200_001)).toBe(200_001 * 6 + 22_500)
    // The threshold counts cache reads and writes too, and they get long-context rates as well.
    expect(
      computeCost(
        usage({
          inputTokens: 250_000,
          outputTokens: 0,
          cachedInputTokens: 200_000,
          cacheWriteInputTokens: 40_000,
        }),
        sonnet
      )
    ).toBe(480_000) // 10,000 × $6 + 200,000 × $0.60 + 40,000 × $7.50
  })
})

describe('computeCost: unknown stays unknown', () => {
  it('is null without a price', () => {
    expect(prices.priceFor('openai', 'gpt-9-imaginary')).toBeNull()
    expect(computeCost(usage({ inputTokens: 10, outputTokens: 10 }), null)).toBeNull()
  })

  it('is null when a count the bill depends on is unreported', () => {
    const gpt4o = openai('gpt-4o')
    const complete = { inputTokens: 10, outputTokens: 5, cachedInputTokens: 0 }
    expect(computeCost(usage(complete), gpt4o)).toBe(10 * 2.5 + 5 * 10)
    expect(computeCost(usage({ ...complete, inputTokens: null }), gpt4o)).toBeNull()
    expect(computeCost(usage({ ...complete, outputTokens: null }), gpt4o)).toBeNull()
    // gpt-4o has a cached rate: without the cached count the split is unknown.
    expect(computeCost(usage({ ...complete, cachedInputTokens: null }), gpt4o)).toBeNull()
    // The first gpt-4o snapshot has no cached rate, so the count is not needed, but cached tokens are unpriced.
    const first = openai('gpt-4o-2024-05-13')
    expect(computeCost(usage({ ...complete, cachedInputTokens: null }), first)).toBe(
      10 * 5 + 5 * 15
    )
    expect(computeCost(usage({ ...complete, cachedInputTokens: 4 }), first)).toBeNull()
  })

  it('is null for tokens of a kind the price does not cover', () => {
    const reported = { inputTokens: 100, outputTokens: 5, cachedInputTokens: 0 }
    // OpenAI lists no cache-write rate for gpt-4.1: zero writes are fine, some writes are unpriced.
    expect(computeCost(usage({ ...reported, cacheWriteInputTokens: 0 }), openai('gpt-4.1'))).toBe(
      100 * 2 + 5 * 8
    )
    expect(
      computeCost(usage({ ...reported, cacheWriteInputTokens: 10 }), openai('gpt-4.1'))
    ).toBeNull()
    // An operator's model with input and output prices only: its cache writes, of either lifetime, are unpriced.
    const plain = { input: 1, output: 2 }
    const written = usage({ ...reported, cacheWriteInputTokens: 10, cacheWrite1hInputTokens: 10 })
    expect(computeCost(written, plain)).toBeNull()
  })

  it("prices 1-hour writes in Sonnet 4's long-context tier at twice its input rate", () => {
    const long = usage({
      inputTokens: 300_000,
      outputTokens: 0,
      cachedInputTokens: 0,
      cacheWriteInputTokens: 1000,
    })
    const sonnet = anthropic('claude-sonnet-4')
    expect(computeCost(long, sonnet)).toBe(299_000 * 6 + 1000 * 7.5)
    expect(computeCost({ ...long, cacheWrite1hInputTokens: 1000 }, sonnet)).toBe(
      299_000 * 6 + 1000 * 12
    )
  })
})

describe('computeCost arithmetic', () => {
  it('rounds once, at the end, half up', () => {
    const nano = openai('gpt-5-nano') // $0.05 input, $0.005 cached
    const cost = (input: number, cached: number) =>
      computeCost(usage({ inputTokens: input, outputTokens: 0, cachedInputTokens: cached }), nano)
    expect(cost(9, 0)).toBe(0) // 0.45 µUSD
    expect(cost(10, 0)).toBe(1) // 0.5 µUSD
    // 6 × 0.05 + 40 × 0.005 = 0.3 + 0.2 = 0.5: rounding each part first would give 0
    expect(cost(46, 40)).toBe(1)
  })

  it('does not drift where float arithmetic does', () => {
    const mini = openai('gpt-4o-mini') // $0.15 input, $0.075 cached, $0.60 output
    // 1 × 0.15 + 18 × 0.075 = 1.5 µUSD exactly; summed as float USD it comes out at 1.4999999999999998 µUSD
    const naive = Math.round((0.15 / 1e6 + (18 * 0.075) / 1e6) * 1e6)
    expect(naive).toBe(1)
    expect(
      computeCost(usage({ inputTokens: 19, outputTokens: 0, cachedInputTokens: 18 }), mini)
    ).toBe(2)
    // 36 × 0.075 + 3 × 0.6 = 4.5
    expect(
      computeCost(usage({ inputTokens: 36, outputTokens: 3, cachedInputTokens: 36 }), mini)
    ).toBe(5)
  })

  it('stays exact for large counts', () => {
    // 987,654,321 output tokens of Opus 4.1 at $75: 74,074,074,075 µUSD
    expect(
      computeCost(
        usage({
          inputTokens: 0,
          outputTokens: 987_654_321,
          cachedInputTokens: 0,
          cacheWriteInputTokens: 0,
        }),
        anthropic('claude-opus-4-1')
      )
    ).toBe(74_074_074_075)
  })

  it('gives the exact half-up total on both sides of 2^53, where plain numbers stop being exact', () => {
    const cases = withDrawnCases(
      [
        ...edgeCases,
        [900_719_925_474, 1, { input: 0.01, output: 75 }],
        // Totals that end in exactly half a micro-USD round up.
        [1, 0, { input: 0.5, output: 0 }],
        [3, 0, { input: 0.5, output: 0 }],
      ],
      7
    )
    for (const [input, output, price] of cases)
      expect(computeCost(usage({ inputTokens: input, outputTokens: output }), price)).toBe(
        exactMicroUsd([input, output, price], 500_000n)
      )
  })

  it('never answers a negative cost', () => {
    const gpt41 = openai('gpt-4.1')
    expect(
      computeCost(usage({ inputTokens: 10, outputTokens: 0, cachedInputTokens: 11 }), gpt41)
    ).toBeNull()
    expect(
      computeCost(usage({ inputTokens: -5, outputTokens: 0, cachedInputTokens: 0 }), gpt41)
    ).toBeNull()
    expect(
      computeCost(usage({ inputTokens: 5, outputTokens: -1, cachedInputTokens: 0 }), gpt41)
    ).toBeNull()
    expect(
      computeCost(usage({ inputTokens: 1.5, outputTokens: 0, cachedInputTokens: 0 }), gpt41)
    ).toBeNull()
    expect(
      computeCost(usage({ inputTokens: 5, outputTokens: 1 }), { input: -1, output: 1 })
    ).toBeNull()
    expect(
      computeCost(usage({ inputTokens: 0, outputTokens: 0, cachedInputTokens: 0 }), gpt41)
    ).toBe(0)
  })
})

describe('worstCaseCost', () => {
  it('prices input at the dearest input rate and the whole output bound', () => {
    // Sonnet 4.5: the 1-hour cache write ($6) is its dearest input rate.
    expect(
      worstCaseCost(anthropic('claude-sonnet-4-5'), {
        estimatedInputTokens: 1000,
        maxOutputTokens: 4096,
      })
    ).toBe(1000 * 6 + 4096 * 15)
    // gpt-4o: no cache-write rate, so the plain input rate.
    expect(
      worstCaseCost(openai('gpt-4o'), { estimatedInputTokens: 1000, maxOutputTokens: 100 })
    ).toBe(1000 * 2.5 + 100 * 10)
  })

  it('is never below the settled cost of a request within its bounds', () => {
    const price = anthropic('claude-haiku-4-5')
    const worst = worstCaseCost(price, { estimatedInputTokens: 5000, maxOutputTokens: 2000 })
    for (const [cached, written] of [
      [0, 0],
      [5000, 0],
      [0, 5000],
      [2500, 2500],
    ]) {
      const settled = computeCost(
        usage({
          inputTokens: 5000,
          outputTokens: 2000,
          cachedInputTokens: cached,
          cacheWriteInputTokens: written,
          cacheWrite1hInputTokens: written,
        }),
        price
      )
      expect(settled).not.toBeNull()
      expect(worst).toBeGreaterThanOrEqual(settled ?? Infinity)
    }
  })

  it('uses the long-context rates when the estimate is over their threshold', () => {
    expect(
      worstCaseCost(anthropic('claude-sonnet-4'), {
        estimatedInputTokens: 250_000,
        maxOutputTokens: 1000,
      })
    ).toBe(250_000 * 12 + 1000 * 22.5)
  })

  it('rounds up', () => {
    expect(
      worstCaseCost(openai('gpt-5-nano'), { estimatedInputTokens: 1, maxOutputTokens: 0 })
    ).toBe(1)
  })

  it('gives the exact total rounded up on both sides of 2^53, where plain numbers stop being exact', () => {
    const cases = withDrawnCases(
      [
        ...edgeCases,
        [9_007_199_253, 0, { input: 0.999999, output: 0 }],
        // Any fraction of a micro-USD rounds up, and a whole one stays.
        [1, 0, { input: 0.000001, output: 0 }],
        [1, 0, { input: 1, output: 0 }],
        [0, 0, { input: 3, output: 15 }],
      ],
      11
    )
    for (const [input, output, price] of cases)
      expect(worstCaseCost(price, { estimatedInputTokens: input, maxOutputTokens: output })).toBe(
        exactMicroUsd([input, output, price], 999_999n)
      )
    expect(
      worstCaseCost({ input: 1, output: -1 }, { estimatedInputTokens: 1, maxOutputTokens: 1 })
    ).toBeNull()
    expect(
      worstCaseCost(
        { input: 1, output: Number.POSITIVE_INFINITY },
        { estimatedInputTokens: 1, maxOutputTokens: 1 }
      )
    ).toBeNull()
  })

  it('is null without a price or without an output bound', () => {
    expect(worstCaseCost(null, { estimatedInputTokens: 10, maxOutputTokens: 10 })).toBeNull()
    expect(
      worstCaseCost(openai('gpt-4o'), { estimatedInputTokens: 10, maxOutputTokens: null })
    ).toBeNull()
    expect(
      worstCaseCost(openai('gpt-4o'), { estimatedInputTokens: -1, maxOutputTokens: 10 })
    ).toBeNull()
  })
})
