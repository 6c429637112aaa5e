/**
 * What a model's tokens cost: the shipped default prices, the operator's overrides, and the one lookup that merges
 * them (`createPriceTable`). Prices are USD per million tokens, as the providers publish them; `computeCost`
 * (src/core/compute-cost.ts) turns them and a request's usage into integer micro-USD.
 *
 * A model without a price has no price: `priceFor` answers `null`, and its requests are recorded with an unknown
 * cost, never as free. A model is in the defaults only when its price was confirmed from the provider's own pricing
 * page; everything else is left to the operator's `prices` overrides.
 */
import { z } from 'zod'
import type { ProviderType } from './provider-types.ts'

/**
 * USD per million tokens of each kind, for one model. A kind left out has no known price: a request that used tokens
 * of that kind gets an unknown cost. `0` is a real price (a free or self-hosted model, or output of an embedding
 * model, which has none).
 */
export type TokenRates = {
  /** Input tokens read neither from nor into a prompt cache. */
  input: number
  /** Output tokens, reasoning (thinking) tokens included: providers bill them as output. */
  output: number
  /** Input tokens read from the prompt cache (OpenAI "cached input", Anthropic "cache hits"). */
  cachedInput?: number
  /** Input tokens written to the prompt cache; for Anthropic, the 5-minute cache (its default). */
  cacheWrite?: number
  /**
   * Input tokens written to Anthropic's 1-hour cache, which costs more than the 5-minute one. Left out where
   * `cacheWrite` is given, it is twice `input`, Anthropic's rule (`createPriceTable` fills it in).
   */
  cacheWrite1h?: number
}

/**
 * A model's price. `longContext` replaces every rate for a request whose input (cache reads and writes included)
 * exceeds `aboveInputTokens`: Anthropic bills the whole request at its long-context rates then, output included.
 */
export type ModelPrice = TokenRates & {
  longContext?: TokenRates & { aboveInputTokens: number }
}

/**
 * Operator prices, keyed by model: `gpt-4o` (that model on any provider), `groq/llama-3.1-8b-instant` (on the
 * provider named `groq`), or a pattern with `*` (`openrouter/*`, `anthropic/claude-*`).
 */
export type PriceOverrides = Readonly<Record<string, ModelPrice>>

/**
 * One price figure: a finite (zod numbers are), non-negative USD amount with at most 6 decimals, which is what
 * micro-USD arithmetic keeps.
 */
const usdPerMillion = z
  .number()
  .min(0)
  .refine(
    (value) => Math.abs(value * 1e6 - Math.round(value * 1e6)) < 1e-3,
    'at most 6 decimal places (USD per million tokens)'
  )

const tokenRatesShape = {
  input: usdPerMillion,
  output: usdPerMillion,
  cachedInput: usdPerMillion.optional(),
  cacheWrite: usdPerMillion.optional(),
  cacheWrite1h: usdPerMillion.optional(),
}

export const modelPriceSchema = z.strictObject({
  ...tokenRatesShape,
  longContext: z
    .strictObject({ ...tokenRatesShape, aboveInputTokens: z.number().int().positive() })
    .optional(),
})

/** The `prices` section of the config; the lead wires it into config-schema.ts. */
export const priceOverridesSchema = z.record(z.string().min(1), modelPriceSchema)

/**
 * Drops what varies within a model family: an Anthropic snapshot date (`-20250929`, Vertex `@20250929`), an OpenAI
 * one (`-2025-04-14`), `-latest`, and a Bedrock-style version suffix (`-v1:0`). Same rules as config/model-table.ts,
 * plus OpenAI's dashed dates.
 */
export const modelFamily = (model: string): string =>
  model
    .toLowerCase()
    .replace(/-v\d+(:\d+)?$/, '')
    .replace(/-\d{4}-\d{2}-\d{2}$/, '')
    .replace(/[-@]\d{8}$/, '')
    .replace(/-v\d+(:\d+)?$/, '')
    .replace(/-latest$/, '')

/*
 * Shipped defaults, per provider type, keyed by model id or family (see `modelFamily`). An exact id wins over its
 * family, so a snapshot priced differently from its family (gpt-4o-2024-05-13) is listed on its own.
 * Checked against LiteLLM's model_prices_and_context_window.json (github.com/BerriAI/litellm) as a second source.
 * Standard-tier prices: OpenAI's Batch, Flex and Priority tiers, and regional or data-residency surcharges, are not
 * modelled.
 */

/**
 * OpenAI, Standard tier: https://platform.openai.com/docs/pricing (now https://developers.openai.com/api/docs/pricing)
 * and each model's page, https://developers.openai.com/api/docs/models/<model> ("Text tokens, Per 1M tokens"; a
 * localized copy, developers.openai.com/<locale>/api/docs/models/<model>, where the English one was not at hand).
 * Cache writes: free before the GPT-5.6 family, so none is listed for those models (a reported write count on them
 * then makes the cost unknown); "For GPT-5.6 models and later model families, cache writes cost 1.25× the uncached
 * input token rate", reported in `cache_write_tokens` (https://developers.openai.com/api/docs/guides/prompt-caching).
 * Those writes are priced at the 30-minute retention rate, the one the model pages list: GPT-6.1 Terra's and GPT-6.2
 * Sol's pages price a 12-hour write at 2 × that, which this table cannot tell apart. As for Anthropic, a write count
 * the answer does not report is unknown, not zero: such a request to one of these models has an unknown cost.
 * Long context: a request with more than 272K input tokens is billed at the page's higher rates throughout. Where a
 * page names only input and output for that tier (GPT-5.4 Pro, GPT-5.6), the tier leaves cache reads and writes
 * unpriced, so such a request that used the cache has an unknown cost.
 */
const openaiPrices: Record<string, ModelPrice> = {
  /*
   * GPT-6 (no dated snapshots): https://developers.openai.com/api/docs/models/gpt-6.2-sol,
   * .../gpt-6.1-terra, https://developers.openai.com/docs/models/gpt-6-sol and
   * https://developers.openai.com/ja-JP/api/docs/models/gpt-6-luna. Over 272K input tokens, "2x input and cache
   * rates and 1.5x output for the full request".
   */
  'gpt-6.2-sol': {
    input: 2,
    cachedInput: 0.1,
    cacheWrite: 2.5,
    output: 10,
    longContext: {
      aboveInputTokens: 272_000,
      input: 4,
      cachedInput: 0.2,
      cacheWrite: 5,
      output: 15,
    },
  },
  'gpt-6.1-terra': {
    input: 1,
    cachedInput: 0.05,
    cacheWrite: 1.25,
    output: 5,
    longContext: {
      aboveInputTokens: 272_000,
      input: 2,
      cachedInput: 0.1,
      cacheWrite: 2.5,
      output: 7.5,
    },
  },
  'gpt-6-sol': {
    input: 2,
    cachedInput: 0.2,
    cacheWrite: 2.5,
    output: 10,
    longContext: {
      aboveInputTokens: 272_000,
      input: 4,
      cachedInput: 0.4,
      cacheWrite: 5,
      output: 15,
    },
  },
  'gpt-6-luna': {
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
  },
  /*
   * GPT-5.6 Terra and Luna, at their prices since the July 2026 cut:
   * https://developers.openai.com/de-DE/api/docs/models/gpt-5.6-terra and
   * https://developers.openai.com/api/docs/models/gpt-5.6-luna (cache writes "1.25x the uncached input token rate";
   * over 272K input tokens "2x input and 1.5x output for the full request"). GPT-5.6 Sol
   * (and the `gpt-5.6` alias, which routes to it) is left out: its page gives promotional rates "at least until
   * November 21, 2026", and no newer official page was found to say what it costs now.
   */
  'gpt-5.6-terra': {
    input: 2,
    cachedInput: 0.2,
    cacheWrite: 2.5,
    output: 12,
    longContext: { aboveInputTokens: 272_000, input: 4, output: 18 },
  },
  'gpt-5.6-luna': {
    input: 0.2,
    cachedInput: 0.02,
    cacheWrite: 0.25,
    output: 1.2,
    longContext: { aboveInputTokens: 272_000, input: 0.4, output: 1.8 },
  },
  /*
   * GPT-5.4 Pro (snapshot -2026-03-05; Responses API only), no cached-input rate:
   * https://developers.openai.com/ko-KR/api/docs/models/gpt-5.4-pro, over 272K input tokens 2× input and 1.5× output
   * for the whole request. GPT-5.4 nano (snapshot -2026-03-17):
   * https://developers.openai.com/api/docs/models/gpt-5.4-nano.
   */
  'gpt-5.4-pro': {
    input: 30,
    output: 180,
    longContext: { aboveInputTokens: 272_000, input: 60, output: 270 },
  },
  'gpt-5.4-nano': { input: 0.2, cachedInput: 0.02, output: 1.25 },
  // GPT-5.1 (snapshot -2025-11-13, deprecated): https://developers.openai.com/api/docs/models/gpt-5.1.
  'gpt-5.1': { input: 1.25, cachedInput: 0.125, output: 10 },
  // GPT-5 family (snapshots -2025-08-07).
  'gpt-5': { input: 1.25, cachedInput: 0.125, output: 10 },
  'gpt-5-mini': { input: 0.25, cachedInput: 0.025, output: 2 },
  'gpt-5-nano': { input: 0.05, cachedInput: 0.005, output: 0.4 },
  // GPT-5 Pro (snapshot -2025-10-06; Responses API only), no cached-input rate:
  // https://developers.openai.com/ko-KR/api/docs/models/gpt-5-pro.
  'gpt-5-pro': { input: 15, output: 120 },
  // Codex (Responses API only; GPT-5-Codex is shut down): https://developers.openai.com/api/docs/models/gpt-5-codex
  // and https://developers.openai.com/api/docs/models/codex-mini-latest.
  'gpt-5-codex': { input: 1.25, cachedInput: 0.125, output: 10 },
  'codex-mini-latest': { input: 1.5, cachedInput: 0.375, output: 6 },
  // GPT-4.1 family (snapshots -2025-04-14).
  'gpt-4.1': { input: 2, cachedInput: 0.5, output: 8 },
  'gpt-4.1-mini': { input: 0.4, cachedInput: 0.1, output: 1.6 },
  'gpt-4.1-nano': { input: 0.1, cachedInput: 0.025, output: 0.4 },
  // GPT-4o (snapshots -2024-08-06, -2024-11-20); the first snapshot kept its launch price and has no cached rate.
  'gpt-4o': { input: 2.5, cachedInput: 1.25, output: 10 },
  'gpt-4o-2024-05-13': { input: 5, output: 15 },
  'gpt-4o-mini': { input: 0.15, cachedInput: 0.075, output: 0.6 },
  // o-series reasoning models; reasoning tokens are billed as output (and counted in completion_tokens).
  o1: { input: 15, cachedInput: 7.5, output: 60 },
  // o3's price since its June 2025 cut, for the alias and its only snapshot o3-2025-04-16 alike.
  o3: { input: 2, cachedInput: 0.5, output: 8 },
  'o3-mini': { input: 1.1, cachedInput: 0.55, output: 4.4 },
  'o4-mini': { input: 1.1, cachedInput: 0.275, output: 4.4 },
  // Embeddings: input only, no output tokens exist.
  'text-embedding-3-small': { input: 0.02, output: 0 },
  'text-embedding-3-large': { input: 0.13, output: 0 },
}

const claudeSonnet4: ModelPrice = {
  input: 3,
  cacheWrite: 3.75,
  cacheWrite1h: 6,
  cachedInput: 0.3,
  output: 15,
  /**
   * With the 1M-token context window (beta), a request over 200K input tokens is billed at these rates throughout
   * (https://www.anthropic.com/news/1m-context; pricing page, "Long context pricing"). The 1-hour cache write rate
   * in this tier is not stated there: like the 5-minute one (1.25 × 6), it follows the cache multipliers, so it is
   * filled in as 2 × the tier's input, $12.
   */
  longContext: {
    aboveInputTokens: 200_000,
    input: 6,
    cacheWrite: 7.5,
    cachedInput: 0.6,
    output: 22.5,
  },
}

/**
 * Anthropic: https://platform.claude.com/docs/en/docs/about-claude/pricing ("Model pricing": base input, 5-minute
 * and 1-hour cache writes, cache hits, output). Ids: https://platform.claude.com/docs/en/about-claude/models/overview.
 * Keyed by exact family (`claude-opus-4-6`, never a pattern): an id not listed here (`claude-opus-4-10`) has no
 * price rather than a neighbour's.
 */
const claudeOpus45: ModelPrice = {
  input: 5,
  cacheWrite: 6.25,
  cacheWrite1h: 10,
  cachedInput: 0.5,
  output: 25,
}

/**
 * Claude Fable 5 and Mythos 5 (limited availability; "shares Claude Fable 5's specifications and pricing",
 * https://platform.claude.com/docs/en/models/fable-5/overview), from the pricing page's "Model pricing" table.
 */
const claudeFable5: ModelPrice = {
  input: 10,
  cacheWrite: 12.5,
  cacheWrite1h: 20,
  cachedInput: 1,
  output: 50,
}

/** Claude Fable 5.1 and Mythos 5.1: Fable 5's rates with cache hits at a quarter (pricing page, "Model pricing"). */
const claudeFable51: ModelPrice = { ...claudeFable5, cachedInput: 0.25 }

const anthropicPrices: Record<string, ModelPrice> = {
  // Fable and Mythos: https://platform.claude.com/docs/en/about-claude/pricing ("Model pricing"), and
  // https://platform.claude.com/docs/en/models/fable-5-1/overview.
  'claude-fable-5-1': claudeFable51,
  'claude-mythos-5-1': claudeFable51,
  'claude-fable-5': claudeFable5,
  'claude-mythos-5': claudeFable5,
  // Opus 5.5: https://platform.claude.com/docs/zh-CN/models/opus-5-5/overview ("Pricing"): cache hits at 0.05 × input.
  'claude-opus-5-5': { input: 4, cacheWrite: 5, cacheWrite1h: 8, cachedInput: 0.2, output: 20 },
  // Opus 4.5 to Opus 5: pricing page ("Model pricing") and https://platform.claude.com/docs/en/models/opus-5/overview.
  'claude-opus-5': claudeOpus45,
  'claude-opus-4-8': claudeOpus45,
  'claude-opus-4-7': claudeOpus45,
  'claude-opus-4-6': claudeOpus45,
  'claude-opus-4-5': claudeOpus45,
  'claude-opus-4-1': {
    input: 15,
    cacheWrite: 18.75,
    cacheWrite1h: 30,
    cachedInput: 1.5,
    output: 75,
  },
  'claude-opus-4': { input: 15, cacheWrite: 18.75, cacheWrite1h: 30, cachedInput: 1.5, output: 75 },
  'claude-opus-4-0': {
    input: 15,
    cacheWrite: 18.75,
    cacheWrite1h: 30,
    cachedInput: 1.5,
    output: 75,
  },
  /*
   * Sonnet 5.5: https://platform.claude.com/docs/zh-CN/models/sonnet-5-5/overview ("Pricing"). No cache-hit rate:
   * that page (from before Haiku 5.5's release) says $0.20, and a cut to $0.10 from 2026-10-07 is reported, but no
   * newer official page was found to confirm either, so a request that reads the cache gets an unknown cost.
   */
  'claude-sonnet-5-5': { input: 2, cacheWrite: 2.5, cacheWrite1h: 4, output: 10 },
  // Sonnet 5: https://platform.claude.com/docs/zh-CN/models/sonnet-5/overview ("Pricing").
  'claude-sonnet-5': { input: 2, cacheWrite: 2.5, cacheWrite1h: 4, cachedInput: 0.2, output: 10 },
  /*
   * Sonnet 4.6: the pricing page's "Model pricing" row (https://platform.claude.com/docs/en/docs/about-claude/pricing)
   * and https://platform.claude.com/docs/en/models/sonnet-4-6/overview. No long-context tier: none is stated for it
   * on those pages (Sonnet 4 and 4.5 keep theirs, above).
   */
  'claude-sonnet-4-6': {
    input: 3,
    cacheWrite: 3.75,
    cacheWrite1h: 6,
    cachedInput: 0.3,
    output: 15,
  },
  'claude-sonnet-4-5': claudeSonnet4,
  'claude-sonnet-4': claudeSonnet4,
  'claude-sonnet-4-0': claudeSonnet4,
  'claude-3-7-sonnet': {
    input: 3,
    cacheWrite: 3.75,
    cacheWrite1h: 6,
    cachedInput: 0.3,
    output: 15,
  },
  /*
   * Haiku 5.5: https://platform.claude.com/docs/en/models/haiku-5-5/overview ("Pricing"), priced by prompt length:
   * every rate is given "for prompts up to 100,000 tokens" and "for prompts over 100,000 tokens", output included,
   * so a longer prompt bills the whole request at the second rates. The 1-hour write over 100K is filled in by the
   * cache multipliers (2 × $0.50); cache hits are left unpriced, their rate not being legible on the official page.
   */
  'claude-haiku-5-5': {
    input: 0.1,
    cacheWrite: 0.125,
    cacheWrite1h: 0.2,
    output: 0.5,
    longContext: { aboveInputTokens: 100_000, input: 0.5, cacheWrite: 0.625, output: 2.5 },
  },
  'claude-haiku-4-5': { input: 1, cacheWrite: 1.25, cacheWrite1h: 2, cachedInput: 0.1, output: 5 },
  'claude-3-5-haiku': {
    input: 0.8,
    cacheWrite: 1,
    cacheWrite1h: 1.6,
    cachedInput: 0.08,
    output: 4,
  },
}

/** The shipped defaults, per provider type. An OpenAI-compatible server has none: its prices are its own. */
export const defaultPrices: Readonly<Partial<Record<ProviderType, Record<string, ModelPrice>>>> = {
  openai: openaiPrices,
  anthropic: anthropicPrices,
}

/** Resolves the price of a model served by a configured provider. */
export interface PriceTable {
  /**
   * `provider` is the configured provider name (the `openai` of `openai/gpt-4o`), `model` the upstream model name.
   * `null`: no price is known.
   */
  priceFor(provider: string, model: string): ModelPrice | null
}

/** Anthropic bills a 1-hour cache write at twice the base input rate (a 5-minute one at 1.25 times). */
const oneHourWriteFactor = 2

const withOneHourRate = <R extends TokenRates>(rates: R): R =>
  rates.cacheWrite === undefined || rates.cacheWrite1h !== undefined
    ? rates
    : { ...rates, cacheWrite1h: rates.input * oneHourWriteFactor }

/**
 * A price with its 1-hour cache write rate filled in, in each tier, where the tier prices cache writes but not that
 * one: a model that bills 5-minute writes (Claude, wherever it is served) bills 1-hour ones by the same rule. A model
 * without a cache-write price gets none, and neither do the shipped OpenAI prices: OpenAI has no 1-hour cache, and a
 * rate made up for one would raise a budget's worst-case reservation (`worstCaseCost`) above any real charge.
 */
const withOneHourWrites = (price: ModelPrice): ModelPrice => {
  const filled = withOneHourRate(price)
  return price.longContext === undefined
    ? filled
    : { ...filled, longContext: withOneHourRate(price.longContext) }
}

const mapValues = <T>(record: Record<string, T>, map: (value: T) => T): Record<string, T> =>
  Object.fromEntries(Object.entries(record).map(([key, value]) => [key, map(value)]))

type PatternPrice = { pattern: RegExp; literalLength: number; price: ModelPrice }

const compilePattern = (key: string, price: ModelPrice): PatternPrice => {
  const source = key
    .toLowerCase()
    .split('*')
    .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
    .join('.*')
  return { pattern: new RegExp(`^${source}$`), literalLength: key.replace(/\*/g, '').length, price }
}

/**
 * The price table: operator overrides over the shipped defaults. Lookup order, first hit wins:
 * 1. an override for `provider/model`, then `model`, then `provider/family`, then `family`;
 * 2. an override pattern matching `provider/model` or `model` (the one with the most literal characters, then the
 *    first written);
 * 3. the default for the provider's type: the exact model, then its family.
 * Model ids compare case-insensitively. The overrides are validated here too, so a bad table fails at start-up.
 */
export const createPriceTable = (options: {
  /** Configured providers by name (`config.providers` fits). */
  providers: Readonly<Record<string, { type: ProviderType }>>
  overrides?: PriceOverrides
  /** Replaces the shipped defaults (tests). */
  defaults?: Readonly<Partial<Record<ProviderType, Record<string, ModelPrice>>>>
}): PriceTable => {
  const overrides = mapValues(
    priceOverridesSchema.parse(options.overrides ?? {}) as Record<string, ModelPrice>,
    withOneHourWrites
  )
  const exact = new Map<string, ModelPrice>()
  const patterns: PatternPrice[] = []
  for (const [key, price] of Object.entries(overrides)) {
    if (key.includes('*')) patterns.push(compilePattern(key, price))
    else exact.set(key.toLowerCase(), price)
  }
  // Stable sort: equal specificity keeps the order the operator wrote.
  patterns.sort((a, b) => b.literalLength - a.literalLength)

  const defaults = new Map<ProviderType, Map<string, ModelPrice>>()
  for (const [type, prices] of Object.entries(options.defaults ?? defaultPrices)) {
    defaults.set(
      type as ProviderType,
      new Map(
        Object.entries(prices).map(([model, price]) => [
          model.toLowerCase(),
          type === 'openai' ? price : withOneHourWrites(price),
        ])
      )
    )
  }

  const lookUp = (provider: string, model: string): ModelPrice | null => {
    const id = model.toLowerCase()
    const qualified = `${provider.toLowerCase()}/${id}`
    const family = modelFamily(id)
    const fromOverrides =
      exact.get(qualified) ??
      exact.get(id) ??
      exact.get(`${provider.toLowerCase()}/${family}`) ??
      exact.get(family) ??
      patterns.find((entry) => entry.pattern.test(qualified) || entry.pattern.test(id))?.price
    if (fromOverrides) return fromOverrides
    const type = Object.hasOwn(options.providers, provider)
      ? options.providers[provider]?.type
      : undefined
    const shipped = type === undefined ? undefined : defaults.get(type)
    return shipped?.get(id) ?? shipped?.get(family) ?? null
  }

  // Every request looks up its model's price: remembered per provider and model, as the table never changes. Two
  // levels, not one key of both names, which would be a new string to make and hash on every request. Model names
  // come from upstream answers, so the memory is bounded (emptied when full) rather than trusted to stay small.
  const remembered = new Map<string, Map<string, ModelPrice | null>>()
  let rememberedCount = 0
  return {
    priceFor(provider, model) {
      let byModel = remembered.get(provider)
      let price = byModel?.get(model)
      if (price === undefined) {
        price = lookUp(provider, model)
        if (rememberedCount >= 1_000) {
          remembered.clear()
          rememberedCount = 0
          byModel = undefined
        }
        if (byModel === undefined) remembered.set(provider, (byModel = new Map()))
        byModel.set(model, price)
        rememberedCount += 1
      }
      return price
    },
  }
}
