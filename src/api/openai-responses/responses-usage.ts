/**
 * Canonical usage ↔ the Responses API's `usage` object (`ResponseUsage`,
 * https://platform.openai.com/docs/api-reference/responses/object#responses/object-usage).
 *
 * Every figure is a required number on the wire, the detail objects included, so an unknown count (the upstream
 * reported none: `null`) is written as 0, as `openai-usage.ts` does for Chat Completions: the format leaves no other
 * choice, and the usage event the gateway records keeps the difference. `input_tokens` includes cached tokens, as the
 * canonical count does; `total_tokens` is input plus output.
 */
import type { Usage } from '../../../providers/spec/chat-types.ts'
import { isJsonObject } from '../is-json-object.ts'

export type ResponsesUsage = {
  input_tokens: number
  input_tokens_details: { cached_tokens: number; cache_write_tokens: number }
  output_tokens: number
  output_tokens_details: { reasoning_tokens: number }
  total_tokens: number
}

export const responsesUsage = (usage: Usage): ResponsesUsage => {
  const inputTokens = usage.inputTokens ?? 0
  const outputTokens = usage.outputTokens ?? 0
  return {
    input_tokens: inputTokens,
    input_tokens_details: {
      cached_tokens: usage.cachedInputTokens ?? 0,
      cache_write_tokens: usage.cacheWriteInputTokens ?? 0,
    },
    output_tokens: outputTokens,
    output_tokens_details: { reasoning_tokens: usage.reasoningTokens ?? 0 },
    total_tokens: inputTokens + outputTokens,
  }
}

const count = (value: unknown): number | null =>
  typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 ? value : null

const objectOf = (value: unknown): Record<string, unknown> | null =>
  isJsonObject(value) ? value : null

/**
 * A Responses API `usage` object (as OpenAI reports it in a `Response`) → canonical usage; `null` when there is none
 * (`usage: null` while a background response runs). A count it does not give stays `null`: unknown is not zero.
 */
export const readResponsesUsage = (wire: unknown): Usage | null => {
  const usage = objectOf(wire)
  if (usage === null) return null
  const input = objectOf(usage.input_tokens_details)
  const output = objectOf(usage.output_tokens_details)
  return {
    inputTokens: count(usage.input_tokens),
    outputTokens: count(usage.output_tokens),
    cachedInputTokens: count(input?.cached_tokens),
    cacheWriteInputTokens: count(input?.cache_write_tokens),
    reasoningTokens: count(output?.reasoning_tokens),
  }
}
