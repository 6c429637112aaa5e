/**
 * Canonical usage → the Responses API's `usage` object (`ResponseUsage`,
 * https://platform.openai.com/docs/api-reference/responses/object#responses/object-usage).
 *
 * Every figure is a required number on the wire, the detail objects included, so an unknown count (the upstream
 * reported none: `null`) is written as 0, as `openai-usage.ts` does for Chat Completions: the format leaves no other
 * choice, and the usage event the gateway records keeps the difference. `input_tokens` includes cached tokens, as the
 * canonical count does; `total_tokens` is input plus output.
 */
import type { Usage } from '../../../providers/spec/chat-types.ts'

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
