import type { Usage } from '../spec/chat-types.ts'
import type { AnthropicUsage } from './anthropic-api.ts'

const known = (value: number | null | undefined): number | null =>
  typeof value === 'number' ? value : null

/**
 * Anthropic usage → canonical. Anthropic's `input_tokens` excludes cache reads and writes, while the canonical
 * `inputTokens` includes them (OpenAI's convention), so the cache counts are added back when the upstream reports them.
 * `cache_creation` splits the writes by cache lifetime: its 1-hour count becomes `cacheWrite1hInputTokens` (priced
 * higher), and it stands for the total when `cache_creation_input_tokens` is missing.
 * https://docs.claude.com/en/api/messages (Usage), wire-notes §4.3.
 */
export const convertAnthropicUsage = (usage: AnthropicUsage | null | undefined): Usage => {
  const input = known(usage?.input_tokens)
  const cacheRead = known(usage?.cache_read_input_tokens)
  const write5m = known(usage?.cache_creation?.ephemeral_5m_input_tokens)
  const write1h = known(usage?.cache_creation?.ephemeral_1h_input_tokens)
  const cacheWrite =
    known(usage?.cache_creation_input_tokens) ??
    (write5m === null || write1h === null ? null : write5m + write1h)
  const converted: Usage = {
    inputTokens: input === null ? null : input + (cacheRead ?? 0) + (cacheWrite ?? 0),
    outputTokens: known(usage?.output_tokens),
    cachedInputTokens: cacheRead,
    cacheWriteInputTokens: cacheWrite,
    reasoningTokens: known(usage?.output_tokens_details?.thinking_tokens),
  }
  if (write1h !== null) converted.cacheWrite1hInputTokens = write1h
  return converted
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
