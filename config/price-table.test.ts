import { describe, expect, it } from 'vitest'
import {
  createPriceTable,
  defaultPrices,
  modelFamily,
  modelPriceSchema,
  priceOverridesSchema,
} from './price-table.ts'

const providers = {
  openai: { type: 'openai' },
  anthropic: { type: 'anthropic' },
  groq: { type: 'openai-compatible' },
  azure: { type: 'openai' },
} as const

describe('modelFamily', () => {
  it.each([
    ['gpt-4o-2024-08-06', 'gpt-4o'],
    ['gpt-4.1-mini-2025-04-14', 'gpt-4.1-mini'],
    ['o3-2025-04-16', 'o3'],
    ['gpt-5.1-2025-11-13', 'gpt-5.1'],
    ['gpt-5.4-pro-2026-03-05', 'gpt-5.4-pro'],
    ['gpt-6.1-terra', 'gpt-6.1-terra'],
    ['claude-sonnet-4-5-20250929', 'claude-sonnet-4-5'],
    ['claude-3-5-haiku-latest', 'claude-3-5-haiku'],
    ['claude-3-5-haiku@20241022', 'claude-3-5-haiku'],
    ['claude-3-7-sonnet-20250219-v1:0', 'claude-3-7-sonnet'],
    ['claude-opus-5-5-20260922', 'claude-opus-5-5'],
    ['claude-haiku-5-5@20261007', 'claude-haiku-5-5'],
    ['GPT-4o', 'gpt-4o'],
    ['o1-mini', 'o1-mini'],
  ])('%s → %s', (model, family) => {
    expect(modelFamily(model)).toBe(family)
  })
})

describe('the shipped defaults', () => {
  const table = createPriceTable({ providers })

  it('are valid prices', () => {
    for (const prices of Object.values(defaultPrices)) {
      for (const [model, price] of Object.entries(prices)) {
        expect(modelPriceSchema.safeParse(price).success, model).toBe(true)
      }
    }
  })

  it.each([
    ['gpt-4o', 2.5, 10],
    ['gpt-4o-2024-08-06', 2.5, 10],
    ['gpt-4o-2024-11-20', 2.5, 10],
    ['gpt-4o-2024-05-13', 5, 15],
    ['gpt-4o-mini-2024-07-18', 0.15, 0.6],
    ['gpt-4.1-2025-04-14', 2, 8],
    ['gpt-4.1-mini-2025-04-14', 0.4, 1.6],
    ['gpt-4.1-nano-2025-04-14', 0.1, 0.4],
    ['o1-2024-12-17', 15, 60],
    ['o3-2025-04-16', 2, 8],
    ['o3-mini-2025-01-31', 1.1, 4.4],
    ['o4-mini-2025-04-16', 1.1, 4.4],
    ['gpt-5-2025-08-07', 1.25, 10],
    ['gpt-5-mini-2025-08-07', 0.25, 2],
    ['gpt-5-nano-2025-08-07', 0.05, 0.4],
    ['text-embedding-3-small', 0.02, 0],
    ['gpt-5.1', 1.25, 10],
    ['gpt-5.1-2025-11-13', 1.25, 10],
    ['gpt-5-pro', 15, 120],
    ['gpt-5-pro-2025-10-06', 15, 120],
    ['gpt-5-codex', 1.25, 10],
    ['codex-mini-latest', 1.5, 6],
    ['gpt-5.4-nano', 0.2, 1.25],
    ['gpt-5.4-nano-2026-03-17', 0.2, 1.25],
    ['gpt-5.4-pro', 30, 180],
    ['gpt-5.4-pro-2026-03-05', 30, 180],
    ['gpt-5.6-terra', 2, 12],
    ['gpt-5.6-luna', 0.2, 1.2],
    ['gpt-6-sol', 2, 10],
    ['gpt-6-luna', 0.1, 0.5],
    ['gpt-6.1-terra', 1, 5],
    ['gpt-6.2-sol', 2, 10],
    ['GPT-6.2-Sol', 2, 10],
  ])('openai %s: $%d in, $%d out', (model, input, output) => {
    expect(table.priceFor('openai', model)).toMatchObject({ input, output })
  })

  it.each([
    ['claude-3-5-haiku-20241022', 0.8, 4],
    ['claude-3-5-haiku-latest', 0.8, 4],
    ['claude-3-7-sonnet-20250219', 3, 15],
    ['claude-3-7-sonnet-latest', 3, 15],
    ['claude-sonnet-4-20250514', 3, 15],
    ['claude-sonnet-4-0', 3, 15],
    ['claude-sonnet-4-5-20250929', 3, 15],
    ['claude-opus-4-20250514', 15, 75],
    ['claude-opus-4-0', 15, 75],
    ['claude-opus-4-1-20250805', 15, 75],
    ['claude-opus-4-5-20251101', 5, 25],
    ['claude-haiku-4-5-20251001', 1, 5],
    ['claude-opus-4-6', 5, 25],
    ['claude-opus-4-7', 5, 25],
    ['claude-opus-4-8', 5, 25],
    ['claude-opus-5', 5, 25],
    ['claude-opus-5-5', 4, 20],
    ['claude-opus-5-5-20260922', 4, 20],
    ['claude-sonnet-4-6', 3, 15],
    ['claude-sonnet-5', 2, 10],
    ['claude-sonnet-5-5', 2, 10],
    ['claude-haiku-5-5', 0.1, 0.5],
    ['claude-fable-5', 10, 50],
    ['claude-fable-5-1', 10, 50],
    ['claude-mythos-5', 10, 50],
    ['claude-mythos-5-1@20260901', 10, 50],
  ])('anthropic %s: $%d in, $%d out', (model, input, output) => {
    expect(table.priceFor('anthropic', model)).toMatchObject({ input, output })
  })

  it('carry Anthropic cache rates: 1.25× input for 5-minute writes, 2× for 1-hour, 0.1× for reads', () => {
    expect(table.priceFor('anthropic', 'claude-opus-4-5')).toEqual({
      input: 5,
      cacheWrite: 6.25,
      cacheWrite1h: 10,
      cachedInput: 0.5,
      output: 25,
    })
  })

  it('carry the Claude 5 cache rates that depart from 0.1 × input', () => {
    expect(table.priceFor('anthropic', 'claude-opus-5-5')).toEqual({
      input: 4,
      cacheWrite: 5,
      cacheWrite1h: 8,
      cachedInput: 0.2,
      output: 20,
    })
    expect(table.priceFor('anthropic', 'claude-fable-5-1')?.cachedInput).toBe(0.25)
    expect(table.priceFor('anthropic', 'claude-fable-5')?.cachedInput).toBe(1)
    // Unconfirmed officially, so left unpriced rather than guessed.
    expect(table.priceFor('anthropic', 'claude-sonnet-5-5')).not.toHaveProperty('cachedInput')
    expect(table.priceFor('anthropic', 'claude-sonnet-4-6')).toEqual({
      input: 3,
      cacheWrite: 3.75,
      cacheWrite1h: 6,
      cachedInput: 0.3,
      output: 15,
    })
  })

  it('bill Haiku 5.5 by prompt length: over 100K tokens, the whole request costs more', () => {
    expect(table.priceFor('anthropic', 'claude-haiku-5-5')).toEqual({
      input: 0.1,
      cacheWrite: 0.125,
      cacheWrite1h: 0.2,
      output: 0.5,
      longContext: {
        aboveInputTokens: 100_000,
        input: 0.5,
        cacheWrite: 0.625,
        cacheWrite1h: 1,
        output: 2.5,
      },
    })
  })

  it('do not price a Claude version by its neighbour', () => {
    expect(table.priceFor('anthropic', 'claude-opus-4-10')).toBeNull()
    expect(table.priceFor('anthropic', 'claude-opus-4-9')).toBeNull()
    expect(table.priceFor('anthropic', 'claude-sonnet-5-6')).toBeNull()
    expect(table.priceFor('anthropic', 'claude-opus-5-5-extra')).toBeNull()
    expect(table.priceFor('anthropic', 'claude-sonnet-5')?.cachedInput).toBe(0.2)
    expect(table.priceFor('anthropic', 'claude-fable-5-2')).toBeNull()
  })

  it('carry the cache-write rate OpenAI bills from GPT-5.6 on (1.25 × input), and no 1-hour rate', () => {
    expect(table.priceFor('openai', 'gpt-6-luna')).toEqual({
      input: 0.1,
      cachedInput: 0.01,
      cacheWrite: 0.125,
      output: 0.5,
      longContext: {
        aboveInputTokens: 272_000,
        input: 0.2,
        cachedInput: 0.02,
        cacheWrite: 0.25,
        output: 0.75,
      },
    })
    expect(table.priceFor('openai', 'gpt-6.1-terra')).toMatchObject({
      cachedInput: 0.05,
      cacheWrite: 1.25,
      longContext: { cachedInput: 0.1, cacheWrite: 2.5, output: 7.5 },
    })
    expect(table.priceFor('openai', 'gpt-6.2-sol')).toMatchObject({
      cachedInput: 0.1,
      cacheWrite: 2.5,
    })
    expect(table.priceFor('openai', 'gpt-5.6-luna')).toMatchObject({ cacheWrite: 0.25 })
    // Before GPT-5.6 writes are free: no rate, so a reported write count leaves the cost unknown.
    expect(table.priceFor('openai', 'gpt-5.4-nano')).not.toHaveProperty('cacheWrite')
    expect(table.priceFor('openai', 'gpt-5.1')).not.toHaveProperty('cacheWrite')
    // Anthropic's 1-hour rule is not OpenAI's.
    expect(table.priceFor('openai', 'gpt-6-sol')).not.toHaveProperty('cacheWrite1h')
    expect(table.priceFor('openai', 'gpt-6-sol')?.longContext).not.toHaveProperty('cacheWrite1h')
  })

  it('bill OpenAI requests over 272K input tokens at the long-context rates, only those the pages give', () => {
    expect(table.priceFor('openai', 'gpt-6-sol')?.longContext).toEqual({
      aboveInputTokens: 272_000,
      input: 4,
      cachedInput: 0.4,
      cacheWrite: 5,
      output: 15,
    })
    // GPT-5.6 and GPT-5.4 Pro: "2x input and 1.5x output"; the cache rates of that tier are not stated.
    expect(table.priceFor('openai', 'gpt-5.6-terra')?.longContext).toEqual({
      aboveInputTokens: 272_000,
      input: 4,
      output: 18,
    })
    expect(table.priceFor('openai', 'gpt-5.4-pro-2026-03-05')).toEqual({
      input: 30,
      output: 180,
      longContext: { aboveInputTokens: 272_000, input: 60, output: 270 },
    })
    expect(table.priceFor('openai', 'gpt-5.1')).not.toHaveProperty('longContext')
  })

  it('do not price an OpenAI model by its neighbour, nor one whose price was not confirmed', () => {
    // Neighbours of shipped ids.
    expect(table.priceFor('openai', 'gpt-6.3-sol')).toBeNull()
    expect(table.priceFor('openai', 'gpt-6.2-terra')).toBeNull()
    expect(table.priceFor('openai', 'gpt-6-sol-pro')).toBeNull()
    expect(table.priceFor('openai', 'gpt-5.4-nano-mini')).toBeNull()
    // Released, but no official page with their current price was found.
    expect(table.priceFor('openai', 'gpt-5.6-sol')).toBeNull()
    expect(table.priceFor('openai', 'gpt-5.6')).toBeNull()
    expect(table.priceFor('openai', 'gpt-6-astra')).toBeNull()
    expect(table.priceFor('openai', 'gpt-6.1-sol')).toBeNull()
    expect(table.priceFor('openai', 'gpt-6.2-astra')).toBeNull()
    expect(table.priceFor('openai', 'gpt-5.4')).toBeNull()
    expect(table.priceFor('openai', 'gpt-5.4-mini')).toBeNull()
    expect(table.priceFor('openai', 'gpt-5.2')).toBeNull()
    expect(table.priceFor('openai', 'gpt-5.5')).toBeNull()
  })

  it('do not confuse Opus 4 with Opus 4.5, or o1 with o1-mini', () => {
    expect(table.priceFor('anthropic', 'claude-opus-4')?.input).toBe(15)
    expect(table.priceFor('anthropic', 'claude-opus-4-5')?.input).toBe(5)
    expect(table.priceFor('openai', 'o1-mini')).toBeNull()
  })

  it('know nothing of other models', () => {
    expect(table.priceFor('openai', 'gpt-5-chat-latest')).toBeNull()
    expect(table.priceFor('openai', 'gpt-4o-realtime-preview')).toBeNull()
    expect(table.priceFor('anthropic', 'claude-haiku-5')).toBeNull()
    expect(table.priceFor('anthropic', 'claude-3-5-sonnet-20241022')).toBeNull()
  })

  it('apply per provider type', () => {
    // Any provider of type openai gets OpenAI's prices; an OpenAI-compatible server has its own.
    expect(table.priceFor('azure', 'gpt-4o')?.input).toBe(2.5)
    expect(table.priceFor('groq', 'gpt-4o')).toBeNull()
    expect(table.priceFor('openai', 'claude-haiku-4-5')).toBeNull()
    expect(table.priceFor('anthropic', 'gpt-4o')).toBeNull()
    expect(table.priceFor('unconfigured', 'gpt-4o')).toBeNull()
    expect(table.priceFor('constructor', 'gpt-4o')).toBeNull()
  })
})

describe('1-hour cache write rates', () => {
  it('default to twice the input rate, per tier, for a model that prices cache writes', () => {
    const table = createPriceTable({
      providers,
      overrides: {
        'bedrock/claude-*': {
          input: 3,
          output: 15,
          cacheWrite: 3.75,
          longContext: { aboveInputTokens: 200_000, input: 6, output: 22.5, cacheWrite: 7.5 },
        },
        'my-model': { input: 0.8, output: 4, cacheWrite: 1, cacheWrite1h: 1.5 },
        'plain-model': { input: 1, output: 2 },
      },
    })
    expect(table.priceFor('bedrock', 'claude-sonnet-4')).toMatchObject({
      cacheWrite1h: 6,
      longContext: { cacheWrite1h: 12 },
    })
    // Given, it stays; without any cache-write price (OpenAI's writes are free), there is none.
    expect(table.priceFor('openai', 'my-model')?.cacheWrite1h).toBe(1.5)
    expect(table.priceFor('openai', 'plain-model')).not.toHaveProperty('cacheWrite1h')
    expect(table.priceFor('openai', 'gpt-4o')).not.toHaveProperty('cacheWrite1h')
  })

  it('fill the shipped Sonnet 4 long-context tier, whose 1-hour rate the pricing page leaves out', () => {
    const table = createPriceTable({ providers })
    expect(table.priceFor('anthropic', 'claude-sonnet-4-5')).toMatchObject({
      cacheWrite1h: 6,
      longContext: { input: 6, cacheWrite: 7.5, cacheWrite1h: 12 },
    })
  })
})

describe('operator overrides', () => {
  const price = (input: number) => ({ input, output: input * 2 })

  it('win over the shipped defaults, snapshots included', () => {
    const table = createPriceTable({ providers, overrides: { 'gpt-4o': price(1) } })
    expect(table.priceFor('openai', 'gpt-4o')?.input).toBe(1)
    expect(table.priceFor('openai', 'gpt-4o-2024-08-06')?.input).toBe(1)
    expect(table.priceFor('openai', 'gpt-4o-mini')?.input).toBe(0.15)
  })

  it('price any provider, OpenAI-compatible ones included, by provider/model or by pattern', () => {
    const table = createPriceTable({
      providers,
      overrides: {
        'groq/llama-3.1-8b-instant': price(0.05),
        'groq/*': price(0.5),
        'openai/*': price(9),
        'anthropic/claude-*': price(7),
        'anthropic/claude-haiku-*': price(0.7),
      },
    })
    expect(table.priceFor('groq', 'llama-3.1-8b-instant')?.input).toBe(0.05)
    expect(table.priceFor('groq', 'mixtral-8x7b')?.input).toBe(0.5)
    expect(table.priceFor('openai', 'gpt-4o')?.input).toBe(9)
    // The most specific pattern wins, whatever the order they were written in.
    expect(table.priceFor('anthropic', 'claude-haiku-4-5')?.input).toBe(0.7)
    expect(table.priceFor('anthropic', 'claude-opus-4-5')?.input).toBe(7)
  })

  it('prefer provider/model over model, and an exact id over a pattern', () => {
    const table = createPriceTable({
      providers,
      overrides: {
        '*': price(100),
        'gpt-4o': price(1),
        'azure/gpt-4o': price(2),
        'azure/gpt-4o-2024-08-06': price(3),
      },
    })
    expect(table.priceFor('openai', 'gpt-4o')?.input).toBe(1)
    expect(table.priceFor('azure', 'gpt-4o')?.input).toBe(2)
    expect(table.priceFor('azure', 'gpt-4o-2024-08-06')?.input).toBe(3)
    expect(table.priceFor('azure', 'gpt-4o-2024-11-20')?.input).toBe(2)
    expect(table.priceFor('groq', 'anything')?.input).toBe(100)
  })

  it('keep model ids with slashes whole', () => {
    const table = createPriceTable({
      providers: { openrouter: { type: 'openai-compatible' } },
      overrides: { 'openrouter/meta-llama/*': price(0.2), 'meta-llama/llama-3.1-8b': price(0.1) },
    })
    expect(table.priceFor('openrouter', 'meta-llama/llama-3.1-8b')?.input).toBe(0.1)
    expect(table.priceFor('openrouter', 'meta-llama/llama-3.1-70b')?.input).toBe(0.2)
    expect(table.priceFor('openrouter', 'mistralai/mistral-7b')).toBeNull()
  })

  it('may declare a model free: 0 is a price', () => {
    const table = createPriceTable({ providers, overrides: { 'groq/*': { input: 0, output: 0 } } })
    expect(table.priceFor('groq', 'llama')).toEqual({ input: 0, output: 0 })
  })

  it('are validated, naming the model', () => {
    const bad = (entry: unknown) =>
      priceOverridesSchema.safeParse({ 'gpt-4o': entry }).error?.issues[0]?.path
    expect(bad({ input: -1, output: 1 })).toEqual(['gpt-4o', 'input'])
    expect(bad({ input: 'ten', output: 1 })).toEqual(['gpt-4o', 'input'])
    expect(bad({ input: 1, output: 0.0000001 })).toEqual(['gpt-4o', 'output'])
    expect(bad({ input: 1, output: Infinity })).toEqual(['gpt-4o', 'output'])
    expect(bad({ input: 1 })).toEqual(['gpt-4o', 'output'])
    expect(bad({ input: 1, output: 1, cacheRead: 1 })).toEqual(['gpt-4o'])
    expect(bad({ input: 1, output: 1, longContext: { input: 2, output: 2 } })).toEqual([
      'gpt-4o',
      'longContext',
      'aboveInputTokens',
    ])
    expect(bad({ input: 0.000001, output: 18.75, cachedInput: 0.275 })).toBeUndefined()
    expect(() =>
      createPriceTable({ providers, overrides: { 'gpt-4o': { input: -1, output: 1 } } })
    ).toThrow()
  })
})

describe('remembered prices', () => {
  it('answers the same for a model asked again, under each provider, before and after the memory is emptied', () => {
    const table = createPriceTable({
      providers,
      overrides: { 'groq/llama-3.3-70b': { input: 0.59, output: 0.79 } },
    })
    const first = {
      openai: table.priceFor('openai', 'gpt-4o-mini'),
      groq: table.priceFor('groq', 'llama-3.3-70b'),
      anthropic: table.priceFor('anthropic', 'gpt-4o-mini'),
    }
    expect(first.openai).toEqual(defaultPrices.openai?.['gpt-4o-mini'])
    expect(first.groq).toMatchObject({ input: 0.59, output: 0.79 })
    // The same name under another provider is another price: Anthropic ships none for it.
    expect(first.anthropic).toBeNull()
    // More distinct models than the memory keeps (model names come from upstream answers).
    for (let index = 0; index < 2_500; index += 1)
      expect(table.priceFor('groq', `unknown-${index}`)).toBeNull()
    expect(table.priceFor('openai', 'gpt-4o-mini')).toEqual(first.openai)
    expect(table.priceFor('groq', 'llama-3.3-70b')).toEqual(first.groq)
    expect(table.priceFor('anthropic', 'gpt-4o-mini')).toBeNull()
  })
})
