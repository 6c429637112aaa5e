/**
 * Canonical usage → OpenAI's `usage` object (`CompletionUsage`,
 * https://platform.openai.com/docs/api-reference/chat/object#chat/object-usage).
 *
 * `prompt_tokens`, `completion_tokens` and `total_tokens` are required numbers on the wire, so an unknown count is
 * written there as 0: the only place we do, because the format leaves no other choice. The optional detail objects are
 * sent only when their main figure is known, with `audio_tokens`/prediction counts at 0 (a converted request has
 * neither audio nor predicted outputs: cross-dialect conversion refuses both).
 */
import type { Usage } from '../../../providers/spec/chat-types.ts'

export type OpenAIUsage = {
  prompt_tokens: number
  completion_tokens: number
  total_tokens: number
  prompt_tokens_details?: {
    cached_tokens: number
    audio_tokens: number
    cache_write_tokens?: number
  }
  completion_tokens_details?: {
    reasoning_tokens: number
    audio_tokens: number
    accepted_prediction_tokens: number
    rejected_prediction_tokens: number
  }
}

export const openAIUsage = (usage: Usage): OpenAIUsage => {
  const promptTokens = usage.inputTokens ?? 0
  const completionTokens = usage.outputTokens ?? 0
  const wire: OpenAIUsage = {
    prompt_tokens: promptTokens,
    completion_tokens: completionTokens,
    total_tokens: promptTokens + completionTokens,
  }
  if (usage.cachedInputTokens !== null || usage.cacheWriteInputTokens !== null) {
    wire.prompt_tokens_details = { cached_tokens: usage.cachedInputTokens ?? 0, audio_tokens: 0 }
    if (usage.cacheWriteInputTokens !== null)
      wire.prompt_tokens_details.cache_write_tokens = usage.cacheWriteInputTokens
  }
  if (usage.reasoningTokens !== null) {
    wire.completion_tokens_details = {
      reasoning_tokens: usage.reasoningTokens,
      audio_tokens: 0,
      accepted_prediction_tokens: 0,
      rejected_prediction_tokens: 0,
    }
  }
  return wire
}
