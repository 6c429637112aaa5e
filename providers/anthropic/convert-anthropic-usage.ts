import type { Usage } from '../spec/chat-types.ts'
import type { AnthropicUsage } from './anthropic-api.ts'

const known = (value: number | null | undefined): number | null =>
  typeof value === 'number' ? value : null

/**
 * Anthropic usage → canonical. Anthropic's `input_tokens` excludes cache reads and writes, while the canonical
 * `inputTokens` includes them (OpenAI's convention), so the cache counts are added back when the upstream reports them.
 * https://docs.claude.com/en/api/messages (Usage), wire-notes §4.3.
 */
export const convertAnthropicUsage = (usage: AnthropicUsage | null | undefined): Usage => {
  const input = known(usage?.input_tokens)
  const cacheRead = known(usage?.cache_read_input_tokens)
  const cacheWrite = known(usage?.cache_creation_input_tokens)
  return {
    inputTokens: input === null ? null : input + (cacheRead ?? 0) + (cacheWrite ?? 0),
    outputTokens: known(usage?.output_tokens),
    cachedInputTokens: cacheRead,
    cacheWriteInputTokens: cacheWrite,
    reasoningTokens: known(usage?.output_tokens_details?.thinking_tokens),
  }
}

/**
 * Folds a `message_delta` usage into what `message_start` said: each count is a cumulative total, so a field that is
 * present overwrites, and a field that is absent keeps the earlier value.
 */
export const mergeAnthropicUsage = (
  earlier: AnthropicUsage | null | undefined,
  later: AnthropicUsage | null | undefined
): AnthropicUsage => {
  const merged: AnthropicUsage = { ...earlier }
  for (const [key, value] of Object.entries(later ?? {})) {
    if (value !== null && value !== undefined) (merged as Record<string, unknown>)[key] = value
  }
  return merged
}
