/**
 * A request's cost in integer micro-USD, from its canonical usage and its model's price (config/price-table.ts).
 *
 * The canonical `Usage` counts input the OpenAI way (../shared/specs/wire-notes.md §4.3): `inputTokens` is every
 * input token, cache reads (`cachedInputTokens`) and cache writes (`cacheWriteInputTokens`) included. OpenAI's
 * `prompt_tokens` already is that total (providers/openai/convert-openai-usage.ts copies it); Anthropic's
 * `input_tokens` excludes both cache counts, so providers/anthropic/convert-anthropic-usage.ts adds them back. The
 * tokens billed at the plain input rate are therefore `inputTokens - cachedInputTokens - cacheWriteInputTokens`.
 * `outputTokens` includes reasoning tokens in both dialects (OpenAI `completion_tokens` contains
 * `reasoning_tokens`; Anthropic `output_tokens` contains the thinking), so `reasoningTokens` is never billed again.
 * Cache writes are billed at the 5-minute rate (`cacheWrite`) except `cacheWrite1hInputTokens`, the writes to
 * Anthropic's 1-hour cache (`usage.cache_creation.ephemeral_1h_input_tokens`), at `cacheWrite1h`; absent or `null`,
 * every write is a 5-minute write, the API's default.
 *
 * Arithmetic is exact: each rate becomes an integer count of 10⁻⁶ USD per million tokens (prices have at most 6
 * decimals), products and sums are exact integers (plain numbers while below 2^53, BigInt past it), and the total is
 * rounded once, at the end.
 */
import type { Usage } from '../../providers/spec/chat-types.ts'
import type { ModelPrice, TokenRates } from '../../config/price-table.ts'

/** Micro-USD per million tokens → the scaled integer unit (10⁻⁶ micro-USD per token). */
const scale = 1_000_000n

/** A rate in scaled units, or `undefined` for one that is no price (negative, not finite): never a negative cost. */
const rateUnits = (usdPerMillion: number): bigint | undefined =>
  Number.isFinite(usdPerMillion) && usdPerMillion >= 0
    ? BigInt(Math.round(usdPerMillion * 1e6))
    : undefined

const isCount = (value: number): boolean => Number.isSafeInteger(value) && value >= 0
/** A price per million tokens that is one: finite and not negative (`rateUnits` gives it units). */
const isRate = (usdPerMillion: number): boolean =>
  Number.isFinite(usdPerMillion) && usdPerMillion >= 0
const isCountOrNull = (value: number | null): boolean => value === null || isCount(value)

/** Total in scaled units → micro-USD, rounded half up (or up), or `null` beyond the safe integer range. */
const toMicroUsd = (scaled: bigint, rounding: 'half-up' | 'up'): number | null => {
  const micro = (scaled + (rounding === 'up' ? scale - 1n : scale / 2n)) / scale
  return micro <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(micro) : null
}

const ratesFor = (price: ModelPrice, inputTokens: number): TokenRates =>
  price.longContext && inputTokens > price.longContext.aboveInputTokens ? price.longContext : price

/**
 * One kind of tokens × its rate. A count of `null` (the provider did not report it) is fine only when its kind has
 * no rate or a rate of 0, so it cannot change the bill; tokens of a kind without a rate make the cost unknown.
 * `undefined` (returned) means unknown.
 */
const charge = (count: number | null, rate: number | undefined): bigint | undefined => {
  if (count === null) return rate === undefined || rate === 0 ? 0n : undefined
  if (count === 0) return 0n
  const units = rate === undefined ? undefined : rateUnits(rate)
  return units === undefined ? undefined : BigInt(count) * units
}

/**
 * The cost of one request in micro-USD, rounded half up; `null` when it cannot be known: no price, or a count the
 * bill depends on is unreported (`null`), contradicts the others (cache counts above the input total) or is not a
 * non-negative integer, or tokens were used of a kind the price does not cover.
 */
/**
 * `charge` in a plain number, for the usual case where the sum is exact there: `NaN` for a count with no price (it
 * carries through the sum). Products and sums of integers below 2^53 are exact doubles, and one that is not comes out
 * at 2^53 or above (rounding is monotone), which sends `computeCost` to the BigInt sum. Every priced request is costed;
 * BigInt arithmetic allocates a heap number per operation.
 */
const numberCharge = (count: number | null, rate: number | undefined): number => {
  if (count === null) return rate === undefined || rate === 0 ? 0 : Number.NaN
  if (count === 0) return 0
  if (rate === undefined || !Number.isFinite(rate) || rate < 0) return Number.NaN
  return count * Math.round(rate * 1e6)
}

export const computeCost = (usage: Usage, price: ModelPrice | null): number | null => {
  if (price === null) return null
  const { inputTokens, outputTokens, cachedInputTokens, cacheWriteInputTokens } = usage
  const write1h = usage.cacheWrite1hInputTokens ?? 0
  if (
    inputTokens === null ||
    !isCount(inputTokens) ||
    !isCountOrNull(outputTokens) ||
    !isCountOrNull(cachedInputTokens) ||
    !isCountOrNull(cacheWriteInputTokens) ||
    !isCount(write1h)
  )
    return null

  const rates = ratesFor(price, inputTokens)
  const uncached = inputTokens - (cachedInputTokens ?? 0) - (cacheWriteInputTokens ?? 0)
  if (uncached < 0 || write1h > (cacheWriteInputTokens ?? 0)) return null

  const fiveMinuteWrites = cacheWriteInputTokens === null ? null : cacheWriteInputTokens - write1h
  const sum =
    numberCharge(uncached, rates.input) +
    numberCharge(outputTokens, rates.output) +
    numberCharge(cachedInputTokens, rates.cachedInput) +
    numberCharge(fiveMinuteWrites, rates.cacheWrite) +
    numberCharge(write1h, rates.cacheWrite1h)
  if (Number.isNaN(sum)) return null
  // Half-up to whole micro-USD, exactly: `%` of integers is exact, and so is the division after it.
  const rounded = sum + 500_000
  if (rounded <= Number.MAX_SAFE_INTEGER) return (rounded - (rounded % 1e6)) / 1e6
  const parts = [
    charge(uncached, rates.input),
    charge(outputTokens, rates.output),
    charge(cachedInputTokens, rates.cachedInput),
    // 5-minute writes are what remains of the writes once the 1-hour ones are taken out.
    charge(fiveMinuteWrites, rates.cacheWrite),
    charge(write1h, rates.cacheWrite1h),
  ]
  let total = 0n
  for (const part of parts) {
    if (part === undefined) return null
    total += part
  }
  return toMicroUsd(total, 'half-up')
}

/**
 * The most a request can cost before it is sent, for a budget reservation, in micro-USD rounded up: every input
 * token at the dearest input rate the model has (a 1-hour cache write, for Claude), and `maxOutputTokens` at the
 * output rate. The long-context rates apply when the estimate is over their threshold. `null`: no price, or no
 * output bound (`maxOutputTokens: null`), or invalid counts.
 */
export const worstCaseCost = (
  price: ModelPrice | null,
  request: { estimatedInputTokens: number; maxOutputTokens: number | null }
): number | null => {
  const { estimatedInputTokens, maxOutputTokens } = request
  if (price === null || maxOutputTokens === null) return null
  if (!isCount(estimatedInputTokens) || !isCount(maxOutputTokens)) return null
  const rates = ratesFor(price, estimatedInputTokens)
  const inputRate = Math.max(
    rates.input,
    rates.cachedInput ?? 0,
    rates.cacheWrite ?? 0,
    rates.cacheWrite1h ?? 0
  )
  // Every tenant-key request with a budget is reserved through here: the sum in plain numbers while it is exact, as
  // `computeCost` does (the same argument), BigInt past 2^53.
  if (!isRate(inputRate) || !isRate(rates.output)) return null
  const sum =
    estimatedInputTokens * Math.round(inputRate * 1e6) +
    maxOutputTokens * Math.round(rates.output * 1e6)
  const roundedUp = sum + 999_999
  if (roundedUp <= Number.MAX_SAFE_INTEGER) return (roundedUp - (roundedUp % 1e6)) / 1e6
  const inputUnits = rateUnits(inputRate)
  const outputUnits = rateUnits(rates.output)
  if (inputUnits === undefined || outputUnits === undefined) return null
  const total = BigInt(estimatedInputTokens) * inputUnits + BigInt(maxOutputTokens) * outputUnits
  return toMicroUsd(total, 'up')
}
